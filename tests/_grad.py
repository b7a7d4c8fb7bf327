"""Helpers for the ops tests: gradients on the current backend, forced implementations.

- `value_and_grad(fn, *arrays)` converts numpy arrays to backend tensors, calls
  `fn(*tensors)` (a scalar built with keras.ops) and returns the value and the gradient
  with respect to every input, as numpy arrays. One small helper per backend:
  jax.value_and_grad, tf.GradientTape, torch autograd.
- `call_forced(op, name, call, *args, **kwargs)` runs `call()` with one implementation
  forced; when it does not apply to the arguments, it asserts that forcing it raises
  ValueError and returns `NotApplicable`.

Example:

```python
value, (g,) = value_and_grad(lambda x: keras.ops.sum(x * x), np.ones(3, "float32"))
# g == 2 * ones
```
"""

import keras
import numpy as np


def value_and_grad(fn, *arrays):
    """(fn(*arrays), [d fn / d array for each array]) as numpy (float inputs only)."""
    backend = keras.config.backend()
    if backend == "jax":
        return _jax(fn, arrays)
    if backend == "tensorflow":
        return _tensorflow(fn, arrays)
    if backend == "torch":
        return _torch(fn, arrays)
    raise NotImplementedError(f"No gradient helper for the {backend} backend.")


def _jax(fn, arrays):
    import jax

    tensors = [keras.ops.convert_to_tensor(x) for x in arrays]
    value, grads = jax.value_and_grad(fn, argnums=tuple(range(len(tensors))))(*tensors)
    return np.asarray(value), [np.asarray(g) for g in grads]


def _tensorflow(fn, arrays):
    import tensorflow as tf

    tensors = [tf.constant(x) for x in arrays]
    with tf.GradientTape() as tape:
        for t in tensors:
            tape.watch(t)
        value = fn(*tensors)
    grads = tape.gradient(value, tensors)
    grads = [np.zeros_like(x) if g is None else g.numpy() for g, x in zip(grads, arrays)]
    return value.numpy(), grads


def _torch(fn, arrays):
    tensors = [keras.ops.convert_to_tensor(x).detach().requires_grad_(True) for x in arrays]
    value = fn(*tensors)
    value.backward()
    grads = [
        np.zeros_like(x) if t.grad is None else t.grad.detach().cpu().numpy()
        for t, x in zip(tensors, arrays)
    ]
    return value.detach().cpu().numpy(), grads


# --------------------------------------------------------------------------------------
# Forcing one implementation of an op


class NotApplicable:
    """Returned by `call_forced` when the implementation does not apply (and raised)."""


def call_forced(op, name, call, *canonical_args, **canonical_kwargs):
    """Run `call()` with implementation `name` of `op` forced.

    When `registry.get(op, name).reason_not_applicable(*canonical_args,
    **canonical_kwargs)` gives a reason (a CUDA kernel on CPU tensors, say), forcing
    it must raise ValueError naming the implementation: this is asserted, and
    `NotApplicable` is returned so the test can stop there.

    Args:
        op: the op name.
        name: the implementation name.
        call: a zero-argument callable running the op (or a gradient of it).
        canonical_args, canonical_kwargs: the arguments as the registry sees them
            (complex values as (real, imag) pairs of float32 tensors).

    Returns:
        What `call()` returns, or `NotApplicable`.
    """
    import pytest

    from keras_ssm import config
    from keras_ssm.ops import registry

    reason = registry.get(op, name).reason_not_applicable(*canonical_args, **canonical_kwargs)
    with config.use_implementation(op, name):
        if reason is not None:
            with pytest.raises(ValueError, match=name):
                call()
            return NotApplicable
        return call()
