"""JAX paths of the hot ops, one module per op family (as ``keras/src/backend/jax/``).

- :mod:`~keras_ssm.ops.jax.recurrence`: ``linear_recurrence`` ("sequential",
  "associative"), with :mod:`~keras_ssm.ops.jax.walk`, the in-place step-by-step scan;
- :mod:`~keras_ssm.ops.jax.convolution`: ``causal_conv`` ("fft");
- :mod:`~keras_ssm.ops.jax.core`: JAX's side of :mod:`keras_ssm.ops.backend`.

Imported by the registry on the JAX backend only; importing the package registers
its paths.
"""

from keras_ssm.ops import registry

registry.import_op_modules(__name__, __path__)
