"""SSMCausalLMPreprocessor: keras-hub's causal LM preprocessing for an `SSMBackbone`."""

import keras
import keras_hub

from keras_ssm.hub.backbone import SSMBackbone
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
        **kwargs: forwarded to `keras_hub.models.CausalLMPreprocessor`.

    Example:

    ```python
    preprocessor = keras_ssm.hub.SSMCausalLMPreprocessor(
        keras_ssm.hub.SSMByteTokenizer(), sequence_length=64)
    x, y, sample_weight = preprocessor(["import os"])
    ```
    """

    backbone_cls = SSMBackbone
    tokenizer_cls = SSMByteTokenizer
