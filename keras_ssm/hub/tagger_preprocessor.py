"""SSMTokenTaggerPreprocessor: inputs to the backbone's sequences, labels to one per position."""

import keras
import keras_hub

from keras_ssm.hub.backbone import SSMBackbone
from keras_ssm.hub.sequences import feature_sequence
from keras_ssm.hub.tokenizer import SSMByteTokenizer


@keras.saving.register_keras_serializable(package="keras_ssm")
class SSMTokenTaggerPreprocessor(keras_hub.models.Preprocessor):
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

    backbone_cls = SSMBackbone
    tokenizer_cls = SSMByteTokenizer

    def __init__(self, tokenizer=None, sequence_length=512, scale=1.0, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.tokenizer = tokenizer
        self.sequence_length = int(sequence_length)
        self.scale = float(scale)
        self.offset = float(offset)
        self.packer = None
        self.label_packer = None

    def build(self, input_shape):
        if self.tokenizer is not None:
            pad = getattr(self.tokenizer, "pad_token_id", None) or 0
            self.packer = keras_hub.layers.StartEndPacker(
                sequence_length=self.sequence_length, pad_value=pad, return_padding_mask=True)
            self.label_packer = keras_hub.layers.StartEndPacker(
                sequence_length=self.sequence_length, pad_value=0)
        self.built = True

    def call(self, x, y=None, sample_weight=None):
        if not self.built:
            self.build(None)
        if self.tokenizer is None:
            features, padding_mask = feature_sequence(x, self.scale, self.offset)
            x = {"features": features, "padding_mask": padding_mask}
            return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)
        token_ids, padding_mask = self.packer(self.tokenizer(x))
        x = {"token_ids": token_ids, "padding_mask": padding_mask}
        if y is not None:
            y = self.label_packer(y)
            if sample_weight is None:
                sample_weight = padding_mask
        return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)

    def get_config(self):
        config = super().get_config()
        config.update(sequence_length=self.sequence_length, scale=self.scale,
                      offset=self.offset)
        return config
