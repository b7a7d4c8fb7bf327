"""LRA Text and Retrieval inputs through keras-hub's byte tokenizer and packer.

`LRABytePreprocessor` gives exactly the ids of `keras_ssm.data.lra` (id = byte + 3,
<pad> 0, <eos> 2, at most L - 1 bytes then <eos>), from keras-hub's `ByteTokenizer`
(through `SSMByteTokenizer`) and `StartEndPacker` instead of the hand-written encoder.
"""

import keras
import keras_hub

from keras_ssm.hub.sequences import tf
from keras_ssm.hub.tokenizer import SSMByteTokenizer

BYTE_OFFSET = 3
EOS_ID = 2
# The input names of keras_ssm.models.build_retrieval_classifier.
PAIR_KEYS = ("document_1", "document_2")


@keras.saving.register_keras_serializable(package="keras_ssm")
class LRABytePreprocessor(keras_hub.models.Preprocessor):
    """Documents to LRA byte ids: byte + 3, then <eos> = 2, zero padding to `sequence_length`.

    One text per example (LRA Text, IMDB): {"token_ids", "padding_mask"}, the inputs
    of an `SSMBackbone` with `vocabulary_size=259`. A pair (LRA Retrieval, AAN):
    `x = {"document_1": texts, "document_2": texts}` gives the same dict of token ids,
    the named inputs of `keras_ssm.models.build_retrieval_classifier`. Labels pass
    through.

    Args:
        sequence_length: int, L (4096 for Text, 4000 per Retrieval document).
        **kwargs: forwarded to `keras_hub.models.Preprocessor`.

    Example:

    ```python
    preprocessor = keras_ssm.hub.lra.LRABytePreprocessor(sequence_length=4)
    preprocessor(["ab"])["token_ids"]      # [[100, 101, 2, 0]]
    ```
    """

    tokenizer_cls = SSMByteTokenizer

    def __init__(self, tokenizer=None, sequence_length=4096, **kwargs):
        super().__init__(**kwargs)
        self.tokenizer = tokenizer or SSMByteTokenizer()
        self.sequence_length = int(sequence_length)
        # The packer's end id is <eos> - offset, so that the shift below maps it to <eos>.
        self.packer = keras_hub.layers.StartEndPacker(
            sequence_length=self.sequence_length, end_value=EOS_ID - BYTE_OFFSET, pad_value=0,
            return_padding_mask=True)

    def _encode(self, texts):
        token_ids, padding_mask = self.packer(self.tokenizer(texts))
        if tf is not None and isinstance(token_ids, tf.Tensor):
            token_ids = tf.where(padding_mask, token_ids + BYTE_OFFSET, 0)
        else:
            mask = keras.ops.convert_to_numpy(padding_mask)
            token_ids = keras.ops.convert_to_numpy(token_ids)
            token_ids = (token_ids + BYTE_OFFSET) * mask
        return token_ids, padding_mask

    def call(self, x, y=None, sample_weight=None):
        if isinstance(x, dict) and set(x) == set(PAIR_KEYS):
            x = {key: self._encode(x[key])[0] for key in PAIR_KEYS}
        else:
            token_ids, padding_mask = self._encode(x)
            x = {"token_ids": token_ids, "padding_mask": padding_mask}
        return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)

    def get_config(self):
        config = super().get_config()
        config.update(sequence_length=self.sequence_length)
        return config
