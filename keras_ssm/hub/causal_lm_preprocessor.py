"""SSMCausalLMPreprocessor: keras-hub's causal LM preprocessing for an `SSMBackbone`."""

import keras
import keras_hub

from keras_ssm.hub.backbone import SSMBackbone
from keras_ssm.hub.sequences import packed_language_model_batch
from keras_ssm.hub.tokenizer import SSMByteTokenizer


@keras.saving.register_keras_serializable(package="keras_ssm")
class SSMCausalLMPreprocessor(keras_hub.models.CausalLMPreprocessor):
    """Strings to (token_ids, padding_mask) inputs and next-token labels for `SSMCausalLM`.

    keras-hub's `CausalLMPreprocessor` (start id, text, end id, padding to
    `sequence_length`; labels are the inputs shifted by one; `sample_weight` masks the
    padding), tied to `SSMBackbone` and `SSMByteTokenizer` for presets.

    Args:
        tokenizer: a keras-hub tokenizer with start, end and padding ids
            (`SSMByteTokenizer`).
        sequence_length: int, the padded length of training inputs.
        add_start_token, add_end_token: bool.
        packing: bool; if True, a batch of documents is packed into rows instead of
            one padded row each: the documents (with their start and end tokens) are
            concatenated and cut into rows of `sequence_length` (+ 1 for the labels),
            so a document may continue in the next row; the inputs gain
            "segment_ids" (int32, the document's index + 1 in the batch, 0 on padding),
            which an `SSMBackbone(packed=True)` consumes so that no state crosses a
            document boundary, and a label counts (`sample_weight` 1) only when it is
            the next token of the same document. The number of rows is that of the
            packed text, not of the documents: pack a corpus once and fit on the
            arrays (the model with `preprocessor=None`).
        **kwargs: forwarded to `keras_hub.models.CausalLMPreprocessor`.

    Example:

    ```python
    preprocessor = keras_ssm.hub.SSMCausalLMPreprocessor(
        keras_ssm.hub.SSMByteTokenizer(), sequence_length=64)
    x, y, sample_weight = preprocessor(["import os"])
    packer = keras_ssm.hub.SSMCausalLMPreprocessor(
        keras_ssm.hub.SSMByteTokenizer(), sequence_length=16, packing=True)
    x, y, sample_weight = packer(["import os", "import sys", "x = 1"])   # 2 rows of 16
    ```
    """

    backbone_cls = SSMBackbone
    tokenizer_cls = SSMByteTokenizer

    def __init__(
        self,
        tokenizer,
        sequence_length=1024,
        add_start_token=True,
        add_end_token=True,
        packing=False,
        **kwargs,
    ):
        super().__init__(
            tokenizer=tokenizer,
            sequence_length=sequence_length,
            add_start_token=add_start_token,
            add_end_token=add_end_token,
            **kwargs,
        )
        self.packing = bool(packing)

    def _call_python(self, x, y=None, sample_weight=None, sequence_length=None):
        if not self.packing:
            return super()._call_python(
                x, y=y, sample_weight=sample_weight, sequence_length=sequence_length
            )
        if y is not None or sample_weight is not None:
            raise ValueError(
                "A packing SSMCausalLMPreprocessor makes its own labels and sample weights "
                "(the next token of each document); pass the texts alone."
            )
        if isinstance(x, str):
            x = [x]
        tokenizer = self.tokenizer
        x, y, sample_weight = packed_language_model_batch(
            tokenizer(x),
            sequence_length or self.sequence_length,
            start_id=tokenizer.start_token_id if self.add_start_token else None,
            end_id=tokenizer.end_token_id if self.add_end_token else None,
            pad_id=tokenizer.pad_token_id,
        )
        return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)

    def get_config(self):
        config = super().get_config()
        config.update(packing=self.packing)
        return config
