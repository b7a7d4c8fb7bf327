"""SSMSequenceClassifierPreprocessor: text, images or audio to the backbone's inputs."""

import keras
import keras_hub

from keras_ssm.hub.backbone import SSMBackbone
from keras_ssm.hub.sequences import feature_sequence
from keras_ssm.hub.tokenizer import SSMByteTokenizer


@keras.saving.register_keras_serializable(package="keras_ssm")
class SSMSequenceClassifierPreprocessor(keras_hub.models.Preprocessor):
    """Text to padded token ids, or images and audio to feature sequences; labels pass through.

    With a `tokenizer` (text): tokenize, optionally add the start/end ids, truncate and
    pad to `sequence_length` → {"token_ids", "padding_mask"}. Without one (features):
    (batch, length) audio or pixels, (batch, length, features) or (batch, height,
    width, channels) images → (batch, length, features) · scale + offset →
    {"features", "padding_mask"} (every position valid).

    Args:
        tokenizer: a keras-hub tokenizer (e.g. `SSMByteTokenizer`,
            `keras_hub.tokenizers.ByteTokenizer`, a `WordPieceTokenizer` with a
            vocabulary built from train), or None for feature inputs.
        sequence_length: int, the padded length of token ids (text only).
        add_start_token, add_end_token: bool, add the tokenizer's start/end ids (text).
        scale, offset: floats, features · scale + offset (e.g. 1/255 for pixels).
        **kwargs: forwarded to `keras_hub.models.Preprocessor`.

    Call arguments:
        x: strings (text) or an array of features.
        y, sample_weight: passed through.

    Example:

    ```python
    import keras_ssm.hub
    text = keras_ssm.hub.SSMSequenceClassifierPreprocessor(
        keras_ssm.hub.SSMByteTokenizer(), sequence_length=64)
    text(["a review", "another"])        # {"token_ids": (2, 64), "padding_mask": (2, 64)}
    pixels = keras_ssm.hub.SSMSequenceClassifierPreprocessor(scale=1 / 255)
    images = np.zeros((3, 28, 28, 1), "uint8")
    pixels(images)                       # {"features": (3, 784, 1), "padding_mask": (3, 784)}
    ```
    """

    backbone_cls = SSMBackbone
    tokenizer_cls = SSMByteTokenizer

    def __init__(self, tokenizer=None, sequence_length=512, add_start_token=False,
                 add_end_token=False, scale=1.0, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.tokenizer = tokenizer
        self.sequence_length = int(sequence_length)
        self.add_start_token = bool(add_start_token)
        self.add_end_token = bool(add_end_token)
        self.scale = float(scale)
        self.offset = float(offset)
        self.packer = None

    def build(self, input_shape):
        if self.tokenizer is not None:
            self.packer = keras_hub.layers.StartEndPacker(
                sequence_length=self.sequence_length,
                start_value=self.tokenizer.start_token_id if self.add_start_token else None,
                end_value=self.tokenizer.end_token_id if self.add_end_token else None,
                pad_value=getattr(self.tokenizer, "pad_token_id", None) or 0,
                return_padding_mask=True,
            )
        self.built = True

    def call(self, x, y=None, sample_weight=None):
        if not self.built:
            self.build(None)
        if self.tokenizer is None:
            features, padding_mask = feature_sequence(x, self.scale, self.offset)
            x = {"features": features, "padding_mask": padding_mask}
        else:
            token_ids, padding_mask = self.packer(self.tokenizer(x))
            x = {"token_ids": token_ids, "padding_mask": padding_mask}
        return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)

    def get_config(self):
        config = super().get_config()
        config.update(
            sequence_length=self.sequence_length,
            add_start_token=self.add_start_token,
            add_end_token=self.add_end_token,
            scale=self.scale,
            offset=self.offset,
        )
        return config
