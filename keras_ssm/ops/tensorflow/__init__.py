"""TensorFlow paths of the hot ops, one module per op family (as
``keras/src/backend/tensorflow/``).

- :mod:`~keras_ssm.ops.tensorflow.recurrence`: ``linear_recurrence`` ("associative",
  "chunked", "sequential"), all XLA-safe with hand-written gradients;
- :mod:`~keras_ssm.ops.tensorflow.core`: TensorFlow's side of :mod:`keras_ssm.ops.backend`.

Imported by the registry on the TensorFlow backend only; importing the package
registers its paths.
"""

from keras_ssm.ops import registry

registry.import_op_modules(__name__, __path__)
