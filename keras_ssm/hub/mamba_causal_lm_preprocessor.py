"""MambaCausalLMPreprocessor: keras-hub's causal LM preprocessing for `MambaBackbone`."""

import keras
import keras_hub

from keras_ssm.hub import mamba_transformers
from keras_ssm.hub.mamba_backbone import MambaBackbone
from keras_ssm.hub.mamba_tokenizer import MambaTokenizer


@keras.saving.register_keras_serializable(package="keras_ssm")
class MambaCausalLMPreprocessor(keras_hub.models.CausalLMPreprocessor):
    """Strings to (token_ids, padding_mask) inputs and next-token labels for `MambaCausalLM`.

    keras-hub's `CausalLMPreprocessor` (optional start token, text, end token, padding
    to `sequence_length`; labels are the inputs shifted by one, `sample_weight` masks
    the padding) for `MambaBackbone` and `MambaTokenizer`. Without a start token by
    default: the released models are prompted with the text alone (transformers'
    tokenizer adds no "<|endoftext|>" before it).

    Args:
        tokenizer: a `MambaTokenizer`.
        sequence_length: int, the padded length of training inputs.
        add_start_token: bool (False), add_end_token: bool (True).
        **kwargs: forwarded to `keras_hub.models.CausalLMPreprocessor`.

    Example:

    ```python
    import keras_ssm.hub
    vocabulary = {"<|endoftext|>": 0, "a": 1, "b": 2, "ab": 3, "Ġ": 4, "Ġab": 5}
    tokenizer = keras_ssm.hub.MambaTokenizer(vocabulary, ["a b", "Ġ ab"])
    preprocessor = keras_ssm.hub.MambaCausalLMPreprocessor(tokenizer, sequence_length=4)
    x, y, sample_weight = preprocessor(["ab ab"])     # x["token_ids"]: [[3, 5, 0, 0]]
    ```
    """

    backbone_cls = MambaBackbone
    tokenizer_cls = MambaTokenizer

    def __init__(self, tokenizer, sequence_length=1024, add_start_token=False, **kwargs):
        super().__init__(
            tokenizer, sequence_length=sequence_length, add_start_token=add_start_token, **kwargs
        )

    @classmethod
    def from_preset(cls, preset, **kwargs):
        """A keras-hub preset, or the tokenizer of a transformers Mamba folder."""
        if mamba_transformers.is_model_folder(preset):
            return cls(MambaTokenizer.from_preset(preset), **kwargs)
        return super().from_preset(preset, **kwargs)
