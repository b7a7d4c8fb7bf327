"""MambaTokenizer: the GPT-NeoX byte-level BPE of the released Mamba models, in keras-hub."""

import keras
import keras_hub

from keras_ssm.hub import mamba_transformers
from keras_ssm.hub.mamba_backbone import MambaBackbone

END_OF_TEXT = "<|endoftext|>"


@keras.saving.register_keras_serializable(package="keras_ssm")
class MambaTokenizer(keras_hub.tokenizers.BytePairTokenizer):
    """keras-hub's `BytePairTokenizer` with "<|endoftext|>" as start, end and padding token.

    The released Mamba models read the GPT-NeoX-20B tokenizer (50277 ids; id 0
    "<|endoftext|>" is their bos, eos and padding token). `from_preset` of a
    transformers folder reads its tokenizer.json (vocabulary, merges and added tokens,
    which are kept whole: `unsplittable_tokens`).

    Args:
        vocabulary: dict {token: id} or the path of a vocab.json.
        merges: list of "a b" merge rules or the path of a merges.txt.
        **kwargs: `keras_hub.tokenizers.BytePairTokenizer` arguments
            (sequence_length, add_prefix_space, unsplittable_tokens, dtype, name).

    Example:

    ```python
    import keras_ssm.hub
    vocabulary = {"<|endoftext|>": 0, "a": 1, "b": 2, "ab": 3, "Ġ": 4, "Ġab": 5}
    tokenizer = keras_ssm.hub.MambaTokenizer(vocabulary, ["a b", "Ġ ab"])
    tokenizer("ab ab")                 # [3, 5]
    ```
    """

    backbone_cls = MambaBackbone

    def __init__(self, vocabulary=None, merges=None, **kwargs):
        self._add_special_token(END_OF_TEXT, "start_token")
        self._add_special_token(END_OF_TEXT, "end_token")
        self._add_special_token(END_OF_TEXT, "pad_token")
        super().__init__(vocabulary=vocabulary, merges=merges, **kwargs)

    @classmethod
    def from_preset(cls, preset, **kwargs):
        """A keras-hub preset, or the tokenizer.json of a transformers Mamba folder."""
        if mamba_transformers.is_model_folder(preset):
            return cls(**mamba_transformers.tokenizer_arguments(preset), **kwargs)
        return super().from_preset(preset, **kwargs)
