"""SSMTokenTaggerPreprocessor: inputs to the backbone's sequences, labels to one per position."""

import keras
import keras_hub

from keras_ssm.hub.preprocessor import SSMPreprocessor


@keras.saving.register_keras_serializable(package="keras_ssm")
class SSMTokenTaggerPreprocessor(SSMPreprocessor):
    """Text or features to the backbone's inputs; per-position labels padded to match.

    Text (with a `tokenizer`): tokenize, truncate and pad to `sequence_length` →
    {"token_ids", "padding_mask"}; labels (one int per token, ragged lists or an
    array) are truncated and padded with 0 the same way, and `sample_weight` is the
    padding mask, so padded positions count neither in the loss nor in the metrics.
    Features (no tokenizer): as `SSMSequenceClassifierPreprocessor`, labels
    (batch, length) as given.

    Args:
        tokenizer: a keras-hub tokenizer, or None for feature inputs.
        sequence_length: int, the padded length (text).
        scale, offset: floats, features · scale + offset (features).
        **kwargs: forwarded to `keras_hub.models.Preprocessor`.

    Example:

    ```python
    preprocessor = keras_ssm.hub.SSMTokenTaggerPreprocessor(
        keras_ssm.hub.SSMByteTokenizer(), sequence_length=8)
    x, y, w = preprocessor(["ab1"], [[0, 0, 1]])   # y (1, 8), w = padding mask
    ```
    """

    def build(self, input_shape):
        super().build(input_shape)
        self.label_packer = None
        if self.tokenizer is not None:
            self.label_packer = keras_hub.layers.StartEndPacker(
                sequence_length=self.sequence_length, pad_value=0
            )

    def call(self, x, y=None, sample_weight=None):
        x = self.backbone_inputs(x)
        if y is not None and self.tokenizer is not None:
            y = self.label_packer(y)
            if sample_weight is None:
                sample_weight = x["padding_mask"]
        return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)
