"""SSMSequenceClassifierPreprocessor: text, images or audio to the backbone's inputs."""

import keras
import keras_hub

from keras_ssm.hub.preprocessor import SSMPreprocessor


@keras.saving.register_keras_serializable(package="keras_ssm")
class SSMSequenceClassifierPreprocessor(
    SSMPreprocessor, keras_hub.models.TextClassifierPreprocessor
):
    """Text to padded token ids, or images and audio to feature sequences; labels pass through.

    A `keras_hub.models.TextClassifierPreprocessor`, so keras-hub's base-class lookups
    find it (`keras_hub.models.TextClassifierPreprocessor.from_preset(dir)` on a saved
    `SSMSequenceClassifier` preset). One text segment per example (keras-hub's sentence
    pairs need `segment_ids`, which an `SSMBackbone` does not take).

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

    def __init__(
        self,
        tokenizer=None,
        sequence_length=512,
        add_start_token=False,
        add_end_token=False,
        scale=1.0,
        offset=0.0,
        **kwargs,
    ):
        super().__init__(
            tokenizer=tokenizer,
            sequence_length=sequence_length,
            scale=scale,
            offset=offset,
            **kwargs,
        )
        self.add_start_token = bool(add_start_token)
        self.add_end_token = bool(add_end_token)

    def special_token_values(self):
        """The tokenizer's start and end ids where `add_start_token` / `add_end_token`."""
        return {
            "start_value": self.tokenizer.start_token_id if self.add_start_token else None,
            "end_value": self.tokenizer.end_token_id if self.add_end_token else None,
        }

    def get_config(self):
        config = super().get_config()
        config.update(add_start_token=self.add_start_token, add_end_token=self.add_end_token)
        return config
