"""SSMPreprocessor: what the classifier and tagger preprocessors share (text or features in)."""

import keras
import keras_hub

from keras_ssm.hub.backbone import SSMBackbone
from keras_ssm.hub.sequences import feature_sequence
from keras_ssm.hub.tokenizer import SSMByteTokenizer


class SSMPreprocessor(keras_hub.models.Preprocessor):
    """Text or features to an `SSMBackbone`'s input dict; the base of the task preprocessors.

    With a `tokenizer` (text): tokenize, add the start/end ids the subclass asks for
    (`special_token_values`), truncate and pad to `sequence_length` → {"token_ids",
    "padding_mask"}. Without one (features): (batch, length) audio or pixels,
    (batch, length, features) or (batch, height, width, channels) images →
    (batch, length, features) · scale + offset → {"features", "padding_mask"} (every
    position valid). Labels pass through; subclasses override `call` for more. Setting
    `sequence_length` takes effect at the next call, also after a first one.

    Args:
        tokenizer: a keras-hub tokenizer, or None for feature inputs.
        sequence_length: int, the padded length of token ids (text only).
        scale, offset: floats, features · scale + offset (e.g. 1/255 for pixels).
        **kwargs: forwarded to `keras_hub.models.Preprocessor`.

    Example:

    ```python
    from keras_ssm.hub.preprocessor import SSMPreprocessor
    text = SSMPreprocessor(keras_ssm.hub.SSMByteTokenizer(), sequence_length=6)
    text(["ab"])["token_ids"]                           # [[97, 98, 0, 0, 0, 0]]
    SSMPreprocessor()(np.zeros((1, 5)))["features"].shape   # (1, 5, 1)
    ```
    """

    backbone_cls = SSMBackbone
    tokenizer_cls = SSMByteTokenizer

    def __init__(self, tokenizer=None, sequence_length=512, scale=1.0, offset=0.0, **kwargs):
        # keras-hub's Preprocessor itself, also under a task base with a packer of its own
        # (TextClassifierPreprocessor): this class builds its packers in `build`.
        keras_hub.models.Preprocessor.__init__(self, **kwargs)
        self.tokenizer = tokenizer
        self.packer = None
        self.sequence_length = sequence_length
        self.scale = float(scale)
        self.offset = float(offset)

    @property
    def sequence_length(self):
        """The padded length of the token ids (text); setting it resizes the packers."""
        return self._padded_length

    @sequence_length.setter
    def sequence_length(self, value):
        self._padded_length = int(value)
        # The packers built by a first call (a subclass's label packer too) pad to it.
        for packer in (self.packer, getattr(self, "label_packer", None)):
            if packer is not None:
                packer.sequence_length = self._padded_length

    def special_token_values(self):
        """{"start_value": id or None, "end_value": id or None} for the packer (none here)."""
        return {}

    def build(self, input_shape):
        if self.tokenizer is not None:
            self.packer = keras_hub.layers.StartEndPacker(
                sequence_length=self.sequence_length,
                pad_value=getattr(self.tokenizer, "pad_token_id", None) or 0,
                return_padding_mask=True,
                **self.special_token_values(),
            )
        self.built = True

    def backbone_inputs(self, x):
        """The backbone's input dict of a batch of texts (or of features).

        Args:
            x: strings with a tokenizer, else an array of features.

        Returns:
            {"token_ids", "padding_mask"} (batch, sequence_length), or {"features"
            (batch, length, features), "padding_mask" (batch, length)}.
        """
        if not self.built:
            self.build(None)
        if self.tokenizer is None:
            features, padding_mask = feature_sequence(x, self.scale, self.offset)
            return {"features": features, "padding_mask": padding_mask}
        token_ids, padding_mask = self.packer(self.tokenizer(x))
        return {"token_ids": token_ids, "padding_mask": padding_mask}

    def call(self, x, y=None, sample_weight=None):
        return keras.utils.pack_x_y_sample_weight(self.backbone_inputs(x), y, sample_weight)

    def get_config(self):
        config = keras_hub.models.Preprocessor.get_config(self)
        config.update(sequence_length=self.sequence_length, scale=self.scale, offset=self.offset)
        return config
