"""Model builders, streaming inference, multi-device training and export for keras-ssm models.

- `build_classifier` / `SequenceClassifier`, `build_tagger` / `SequenceTagger`,
  `build_retrieval_classifier`: the paper architectures as ordinary functional
  `keras.Model`s (encoder → `SSMBlock`s → final norm → head); the part before the
  head is `trunk.Trunk`, shared with `keras_ssm.hub.SSMBackbone`.
- `StreamingModel`, `stream`: run a causal per-position model chunk by chunk or step by
  step with every SSM state carried (bounded memory on unbounded streams).
- `distribution_scope`: data-parallel training on JAX (`keras.distribution`) or
  TensorFlow (`tf.distribute`), see docs/distribution.md.
- `export_model`: `model.export` with the traceable reference op paths.
- `TakeLast`, `LastPosition`: the heads' layers (imported eagerly: they register with
  Keras serialization); the rest is imported on first use.

The DLR paper's attention baseline is an example model: ``examples/attention_baseline.py``.
"""

import importlib

# The heads register with Keras serialization (saved models use them): imported now.
from keras_ssm.models.heads import LastPosition
from keras_ssm.models.heads import TakeLast

# Everything else is imported on first use (`import keras_ssm` stays light).
_LAZY = {
    "RetrievalClassifier": "builders",
    "SequenceClassifier": "builders",
    "SequenceTagger": "builders",
    "build_classifier": "builders",
    "build_retrieval_classifier": "builders",
    "build_tagger": "builders",
    "DistributionScope": "distribution",
    "distribution_scope": "distribution",
    "export_model": "export",
    "missing_requirements": "export",
    "reference_implementations": "export",
    "StreamingModel": "streaming",
    "stream": "streaming",
}

__all__ = sorted(["LastPosition", "TakeLast", *_LAZY])


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(f"keras_ssm.models.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
