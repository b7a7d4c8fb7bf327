"""Model builders, streaming inference, multi-device training and export for keras-ssm models.

- `build_classifier` / `SequenceClassifier`, `build_tagger` / `SequenceTagger`,
  `build_retrieval_classifier`: the paper architectures as ordinary functional
  `keras.Model`s (encoder → `SSMBlock`s → final norm → head).
- `StreamingModel`, `stream`: run a causal per-position model chunk by chunk or step by
  step with every SSM state carried (bounded memory on unbounded streams).
- `distribution_scope`: data-parallel training on JAX (`keras.distribution`) or
  TensorFlow (`tf.distribute`), see docs/distribution.md.
- `export_model`: `model.export` with the traceable reference op paths.
"""

from keras_ssm.models.attention import build_attention_tagger
from keras_ssm.models.builders import RetrievalClassifier
from keras_ssm.models.builders import SequenceClassifier
from keras_ssm.models.builders import SequenceTagger
from keras_ssm.models.builders import build_classifier
from keras_ssm.models.builders import build_retrieval_classifier
from keras_ssm.models.builders import build_tagger
from keras_ssm.models.distribution import DistributionScope
from keras_ssm.models.distribution import distribution_scope
from keras_ssm.models.export import export_model
from keras_ssm.models.export import missing_requirements
from keras_ssm.models.export import reference_implementations
from keras_ssm.models.heads import LastPosition
from keras_ssm.models.heads import TakeLast
from keras_ssm.models.streaming import StreamingModel
from keras_ssm.models.streaming import stream

__all__ = [
    "DistributionScope",
    "LastPosition",
    "RetrievalClassifier",
    "SequenceClassifier",
    "SequenceTagger",
    "StreamingModel",
    "TakeLast",
    "build_attention_tagger",
    "build_classifier",
    "build_retrieval_classifier",
    "build_tagger",
    "distribution_scope",
    "export_model",
    "missing_requirements",
    "reference_implementations",
    "stream",
]
