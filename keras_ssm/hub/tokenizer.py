"""SSMByteTokenizer: keras-hub's byte tokenizer with padding, start and end ids."""

import keras
import keras_hub

from keras_ssm.hub.backbone import SSMBackbone


@keras.saving.register_keras_serializable(package="keras_ssm")
class SSMByteTokenizer(keras_hub.tokenizers.ByteTokenizer):
    """Raw UTF-8 bytes as ids 0-255, with three bytes reserved as special tokens.

    keras-hub's `ByteTokenizer` (id = byte value, `lowercase=False` by default here:
    a byte-level language model sees the text as it is) plus the ids that
    keras-hub's packers and `CausalLM.generate` read: padding 0 (NUL), start 2 (STX),
    end 3 (ETX). These control bytes do not occur in ordinary text; a text holding
    them would be read as padding, start or end.

    Args:
        lowercase: bool, casefold the text first (False).
        pad_token_id, start_token_id, end_token_id: ints in [0, 256).
        **kwargs: `keras_hub.tokenizers.ByteTokenizer` arguments (sequence_length,
            normalization_form, errors, replacement_char, dtype, name).

    Example:

    ```python
    tokenizer = keras_ssm.hub.SSMByteTokenizer()
    tokenizer("def f():")            # [100, 101, 102, 32, 102, 40, 41, 58]
    tokenizer.detokenize([100, 101, 102])   # "def"
    ```
    """

    backbone_cls = SSMBackbone  # keras_hub.tokenizers.Tokenizer.from_preset finds it

    def __init__(self, lowercase=False, pad_token_id=0, start_token_id=2, end_token_id=3, **kwargs):
        super().__init__(lowercase=lowercase, **kwargs)
        ids = {
            "pad_token_id": pad_token_id,
            "start_token_id": start_token_id,
            "end_token_id": end_token_id,
        }
        for name, value in ids.items():
            if not 0 <= int(value) < 256:
                raise ValueError(f"`{name}` must be a byte value in [0, 256), got {value!r}.")
        self.pad_token_id = int(pad_token_id)
        self.start_token_id = int(start_token_id)
        self.end_token_id = int(end_token_id)

    @property
    def special_tokens(self):
        return [chr(i) for i in self.special_token_ids]

    @property
    def special_token_ids(self):
        return sorted({self.pad_token_id, self.start_token_id, self.end_token_id})

    def save_assets(self, dir_path):
        """No files: a byte tokenizer is its config. (keras-hub 0.32's own
        `ByteTokenizer` lacks this method, so its `save_to_preset` fails.)"""

    def load_preset_assets(self, preset):
        """No files to load (see `save_assets`)."""

    def get_config(self):
        config = super().get_config()
        config.update(
            pad_token_id=self.pad_token_id,
            start_token_id=self.start_token_id,
            end_token_id=self.end_token_id,
        )
        return config
