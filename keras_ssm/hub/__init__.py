"""keras-hub integration: SSM backbones, tasks, preprocessors and presets (optional extra).

`pip install keras-ssm[hub]`. Importing `keras_ssm` never imports this package (nor
keras_hub); `import keras_ssm.hub` does, and registers every class with Keras, so
presets saved with `save_to_preset` load with `from_preset` after it.

- `SSMBackbone`: a `keras_hub.models.Backbone`, the stack of `SSMBlock`s over any layer
  family (DSS, DLR, S5, ...; token or feature input), the trunk of `keras_ssm.models`.
- `SSMSequenceClassifier` (+ `SSMSequenceClassifierPreprocessor`: text through a
  tokenizer, or images and audio as feature sequences).
- `SSMTokenTagger` (+ `SSMTokenTaggerPreprocessor`): a label per position.
- `SSMCausalLM` (+ `SSMCausalLMPreprocessor`): `generate()` carries the SSM state as its
  cache, constant memory and time per generated token.
- `SSMByteTokenizer`: keras-hub's `ByteTokenizer` with start, end and padding ids.
- `MambaBackbone`, `MambaCausalLM` (+ `MambaCausalLMPreprocessor`, `MambaTokenizer`): the
  Mamba language model; `MambaCausalLM.from_preset` also reads the released checkpoints
  (a transformers folder, `mamba_transformers`).
- `convert.classifier_from_model` / `tagger_from_model`: a trained `keras_ssm.models`
  classifier or tagger (the examples' checkpoints) as a task, to save as a preset.
- `lra.LRABytePreprocessor`, `lra.load`: LRA Text / Retrieval ids through keras-hub's
  tokenizer and packer, equal to `keras_ssm.data.lra`'s encoding (the released files
  read and encoded that way: `examples/lra.py`'s path when keras-hub is installed).
- `preprocessor.SSMPreprocessor`: the text-or-features base of the task preprocessors.
"""

from keras_ssm.hub.requirements import require_keras_hub

require_keras_hub()

from keras_ssm.hub import convert  # noqa: E402,F401  (example models as tasks)
from keras_ssm.hub import lra  # noqa: E402,F401  (LRABytePreprocessor, registered for presets)
from keras_ssm.hub.backbone import SSMBackbone  # noqa: E402
from keras_ssm.hub.causal_lm import SSMCausalLM  # noqa: E402
from keras_ssm.hub.causal_lm_preprocessor import SSMCausalLMPreprocessor  # noqa: E402
from keras_ssm.hub.classifier import SSMSequenceClassifier  # noqa: E402
from keras_ssm.hub.classifier_preprocessor import SSMSequenceClassifierPreprocessor  # noqa: E402
from keras_ssm.hub.mamba_backbone import MambaBackbone  # noqa: E402
from keras_ssm.hub.mamba_causal_lm import MambaCausalLM  # noqa: E402
from keras_ssm.hub.mamba_causal_lm_preprocessor import MambaCausalLMPreprocessor  # noqa: E402
from keras_ssm.hub.mamba_tokenizer import MambaTokenizer  # noqa: E402
from keras_ssm.hub.tagger import SSMTokenTagger  # noqa: E402
from keras_ssm.hub.tagger_preprocessor import SSMTokenTaggerPreprocessor  # noqa: E402
from keras_ssm.hub.tokenizer import SSMByteTokenizer  # noqa: E402

__all__ = [
    "MambaBackbone",
    "MambaCausalLM",
    "MambaCausalLMPreprocessor",
    "MambaTokenizer",
    "SSMBackbone",
    "SSMByteTokenizer",
    "SSMCausalLM",
    "SSMCausalLMPreprocessor",
    "SSMSequenceClassifier",
    "SSMSequenceClassifierPreprocessor",
    "SSMTokenTagger",
    "SSMTokenTaggerPreprocessor",
]
