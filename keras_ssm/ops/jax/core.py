"""JAX's side of :mod:`keras_ssm.ops.backend`: the helpers the layers and models call.

Each function here has the name and the contract of the one in ``keras_ssm.ops.backend``
that loads it; a helper missing here takes that module's default.

Example:

```python
from keras_ssm.ops.jax import core
double = core.remat(lambda x: 2.0 * x)    # recomputed, not stored, for the gradient
double(jax.numpy.ones(3))                  # [2, 2, 2]
```
"""

import jax
import jax.numpy as jnp
import keras

# Streaming compiles its chunk function (`inference_function`) unless told otherwise.
COMPILES_BY_DEFAULT = True


def remat(fn):
    """`fn` whose intermediate values are recomputed in the backward pass."""
    return jax.checkpoint(fn)


def scan_chunks(block, u, state, params, chunk, reverse):
    """The full chunks of `u` through `block` under one `lax.scan` (one chunk compiled,
    not L / chunk of them); see `keras_ssm.ops.backend.scan_chunks`."""
    batch, length, features = u.shape
    count = length // chunk
    if count == 1:
        y, *state = block(u[:, :chunk], *state, *params)
        return y, tuple(state)
    blocks = jnp.moveaxis(u[:, : count * chunk].reshape(batch, count, chunk, features), 1, 0)

    def body(carry, u_block):
        y, *carry = block(u_block, *carry, *params)
        return tuple(carry), y

    last, ys = jax.lax.scan(body, tuple(state), blocks, reverse=reverse)
    # y may have other features than u (a packed u carries one more channel)
    return jnp.moveaxis(ys, 0, 1).reshape((batch, count * chunk) + ys.shape[3:]), last


def inference_function(fn, variables, jit_compile):
    """`fn(chunk, states)` under `jax.jit` (when `jit_compile`), the variables' values
    passed in as arguments (a stateless call) so that the compiled function sees their
    current values."""
    if not jit_compile:
        return fn
    variables = list(variables)

    def pure(values, states, chunk):
        with keras.StatelessScope(state_mapping=list(zip(variables, values))):
            return fn(chunk, states)

    jitted = jax.jit(pure)

    def compiled(chunk, states):
        return jitted([v.value for v in variables], states, chunk)

    return compiled


def data_parallel(kind, devices):
    """`keras.distribution.DataParallel` over `devices` (default: every device).

    Returns:
        The keyword arguments of a `keras_ssm.models.DistributionScope`, or None for
        one device ("auto" with fewer than two devices).
    """
    if kind == "ddp":
        raise ValueError(
            "kind='ddp' is torch's DistributedDataParallel; on JAX use kind='data_parallel'."
        )
    if kind == "mirrored":
        raise ValueError(
            "kind='mirrored' is TensorFlow's strategy; on JAX use kind='data_parallel'."
        )
    devices = devices or keras.distribution.list_devices()
    if kind == "auto" and len(devices) < 2:
        return None
    distribution = keras.distribution.DataParallel(devices=devices)
    return {"kind": "data_parallel", "num_replicas": len(devices), "distribution": distribution}
