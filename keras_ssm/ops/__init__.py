"""The hot ops of keras-ssm, each dispatched through the implementation registry.

- :func:`linear_recurrence`: h_t = a_t * h_{t-1} + b_t (diagonal, real or complex).
- :func:`causal_conv`: causal convolution by FFT.
- :func:`vandermonde_kernel`: K[h, l] = Re(sum_n c[h, n] lambda[(h,) n]^l), chunked.
- :func:`selective_scan`: Mamba's S6, h_t = exp(Δ_t A) h_{t-1} + Δ_t B_t u_t,
  y_t = C_t h_t + D u_t (gated by silu(z)), in chunks of time.

`implementations(op)` lists the registered names, `resolve(op, *args)` names the one
that would run; `keras_ssm.config` forces a choice.

Like `keras.ops`, each op also takes symbolic inputs (`keras.Input` tensors): it then
returns `KerasTensor`s and records a `keras.Operation` (`LinearRecurrence`,
`CausalConv`, `VandermondeKernel`, `SelectiveScan`), so the ops build functional models
on every backend. Eager calls go straight to the implementation.

The package: one public module per op (``linear_recurrence.py``, ...: the function, its
checks, its `keras.Operation`), re-exported here for every op the registry lists;
``registry.py``; ``reference/`` (the ``keras.ops`` ground truth); one package per backend
(``jax/``, ``tensorflow/``, ``torch/``), imported lazily; ``common.py`` (canonical
arguments and the complex arithmetic on (real, imag) pairs); ``backend.py`` (the
backend-specific helpers the rest of the library uses).

Example:

```python
inputs = keras.Input((None, 8))                       # (batch, length, state)
h = keras_ssm.ops.linear_recurrence(keras.ops.full((8,), 0.9), inputs)
model = keras.Model(inputs, h)
y = model(np.ones((2, 5, 8), "float32"))              # (2, 5, 8)
```
"""

import importlib as _importlib

from keras_ssm.ops import registry as _registry
from keras_ssm.ops.registry import OPS
from keras_ssm.ops.registry import implementations
from keras_ssm.ops.registry import register


def _op_module(op):
    """The public module of `op` (``keras_ssm/ops/<op>.py``), whose function shadows
    its name as an attribute of this package."""
    return _importlib.import_module(f"{__name__}.{op}")


def resolve(op, *args, **kwargs):
    """Name of the implementation that `op` would use for these arguments.

    Arguments are checked and canonicalized exactly as the op itself does.

    Example:

    ```python
    a = keras.ops.full((4,), 0.9)
    b = keras.ops.ones((2, 16, 4))
    keras_ssm.ops.resolve("linear_recurrence", a, b)
    ```
    """
    _registry.check_op(op)
    args, kwargs = _op_module(op).canonical_arguments(*args, **kwargs)
    return _registry.resolve(op, *args, **kwargs)


__all__ = ["OPS", "implementations", "register", "resolve"]

# Every op's public names (its function and its keras.Operation), from its own module.
for _op in OPS:
    _module = _op_module(_op)
    globals().update({name: getattr(_module, name) for name in _module.__all__})
    __all__ += _module.__all__
del _op, _module
__all__ = sorted(__all__)

# The running backend's paths register now rather than at the first call, which
# torch.compile may be tracing (an import there would break its graph).
_registry.load_backend()
