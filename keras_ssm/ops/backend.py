"""The backend-specific helpers of the layers and models, one small function each.

Outside ``keras_ssm/ops/`` the library never branches on the Keras backend nor imports
jax, tensorflow or torch: it calls these functions, which load the running backend's
``keras_ssm/ops/<backend>/core.py`` on first use (running on JAX never imports torch or
TensorFlow). A helper that a backend's ``core.py`` does not define has the default
written here (also the behaviour on other Keras backends, such as numpy).

- `name()`: the running Keras backend.
- `remat(fn)`: recompute `fn`'s intermediates in the backward pass (default: `fn`).
- `scan_chunks(...)`: a chunked scan's full chunks (JAX: one `lax.scan`).
- `replicas_in_sync()`, `replica_sum(*tensors)`: `tf.distribute` replicas (default: one).
- `compiles_by_default()`, `inference_function(fn, variables, jit_compile)`: the
  streaming step, compiled (JAX, TensorFlow) or under `torch.no_grad`.
- `data_parallel(kind, devices)`: a multi-device training setup (JAX, TensorFlow; torch:
  `DistributedDataParallel` over a process group, :mod:`keras_ssm.ops.torch.ddp`).
- `fori_loop(lower, upper, body, init)`: `keras.ops.fori_loop`, bounds may be tensors.
- `is_tf_tensor(x)`, `tf_feature_sequence(...)`, `tf_pack_documents(...)`,
  `tf_where(...)`: tensors of a tf.data
  pipeline (keras-hub's preprocessing), whatever the Keras backend
  (:mod:`keras_ssm.ops.tf_data`).

Example:

```python
from keras_ssm.ops import backend
double = backend.remat(lambda x: 2.0 * x)     # recomputed in the backward pass
y = double(keras.ops.ones((3,)))
backend.replicas_in_sync()                     # 1 outside a tf.distribute strategy
```
"""

import importlib
import sys

import keras

_CORES = {
    "jax": "keras_ssm.ops.jax.core",
    "tensorflow": "keras_ssm.ops.tensorflow.core",
    "torch": "keras_ssm.ops.torch.core",
}


def name():
    """The running Keras backend ("jax", "tensorflow", "torch", ...)."""
    return keras.config.backend()


def _core_function(function):
    """The running backend's `core.<function>`, or None where it has none."""
    module = _CORES.get(name())
    if module is None:
        return None
    return getattr(importlib.import_module(module), function, None)


def remat(fn):
    """`fn` whose intermediate values are recomputed in the backward pass instead of
    being kept (`jax.checkpoint`, `torch.utils.checkpoint`, `tf.recompute_grad`).

    Args:
        fn: a function of tensors returning tensors.

    Returns:
        A function with `fn`'s signature and values.
    """
    own = _core_function("remat")
    return fn if own is None else own(fn)


def scan_chunks(block, u, state, params, chunk, reverse):
    """Run the full chunks of `u` through `block`, carrying the state from chunk to chunk.

    On JAX one `lax.scan` over the chunks (one chunk compiled, not L / chunk of them);
    elsewhere a Python loop.

    Args:
        block: callable(u_chunk, *state, *params) -> (y_chunk, *state).
        u: (batch, length, features); its first `length // chunk` chunks are run (the
            steps after them are left to the caller).
        state: tuple of tensors, the state entering the first processed chunk.
        params: tuple of tensors passed to every call of `block`.
        chunk: int, steps per chunk.
        reverse: run the chunks from the last to the first.

    Returns:
        (y, state): y (batch, (length // chunk) * chunk, ...) in time order, and the state
        after the last processed chunk.
    """
    own = _core_function("scan_chunks")
    if own is not None:
        return own(block, u, state, params, chunk, reverse)
    count = u.shape[1] // chunk
    ys = [None] * count
    for i in reversed(range(count)) if reverse else range(count):
        ys[i], *state = block(u[:, i * chunk : (i + 1) * chunk], *state, *params)
    y = ys[0] if count == 1 else keras.ops.concatenate(ys, axis=1)
    return y, tuple(state)


def replicas_in_sync():
    """The replicas that share this batch under a `tf.distribute` strategy (1 outside
    one, and on the other backends)."""
    own = _core_function("replicas_in_sync")
    return 1 if own is None else own()


def replica_sum(*tensors):
    """Each tensor summed over the replicas (`replicas_in_sync`); as is with one.

    Returns:
        A tuple with one tensor per argument.
    """
    own = _core_function("replica_sum")
    return tuple(tensors) if own is None else own(*tensors)


def compiles_by_default():
    """Whether streaming compiles its step by default (JAX and TensorFlow do)."""
    module = _CORES.get(name())
    return module is not None and importlib.import_module(module).COMPILES_BY_DEFAULT


def inference_function(fn, variables, jit_compile):
    """`fn(chunk, states)` prepared for repeated inference calls.

    Args:
        fn: callable(chunk, states) -> (outputs, states), reading `variables`.
        variables: the model's variables.
        jit_compile: compile it (`jax.jit` with the variables passed in, `tf.function`).

    Returns:
        callable(chunk, states): compiled when asked (JAX, TensorFlow), without autograd
        on torch, else `fn`.
    """
    own = _core_function("inference_function")
    return fn if own is None else own(fn, variables, jit_compile)


def data_parallel(kind, devices):
    """The multi-device data-parallel setup of `kind` on the running backend.

    Args:
        kind: "auto", "data_parallel", "mirrored", "tpu" or "ddp"
            (`keras_ssm.models.distribution_scope`).
        devices: None (every device of the preferred kind) or a list of device names.

    Returns:
        The keyword arguments of a `keras_ssm.models.DistributionScope` (kind,
        num_replicas, and a `strategy`, a `distribution`, or torch's process `group`
        and `rank`), or None for one device.

    Raises:
        ValueError: a kind this backend does not support (every kind but "auto" on
            backends without multi-device training).
    """
    own = _core_function("data_parallel")
    if own is not None:
        return own(kind, devices)
    if kind == "auto":
        return None
    raise ValueError(
        f"kind={kind!r} is not supported on the {name()} backend; use the JAX or "
        "TensorFlow backend for multi-device training, or kind='none'."
    )


def fori_loop(lower, upper, body, init):
    """`keras.ops.fori_loop(lower, upper, body, init)`; the bounds may be scalar tensors
    (torch runs it as a Python loop)."""
    own = _core_function("fori_loop") or keras.ops.fori_loop
    return own(lower, upper, body, init)


def is_tf_tensor(x):
    """True for a TensorFlow tensor or variable, as a tf.data pipeline hands out under
    any Keras backend. Never imports TensorFlow (no tf tensor exists without it)."""
    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(x, (tf.Tensor, tf.Variable, tf.RaggedTensor))


def tf_feature_sequence(x, scale=1.0, offset=0.0):
    """`keras_ssm.ops.tf_data.feature_sequence` for a TensorFlow tensor `x`."""
    return importlib.import_module("keras_ssm.ops.tf_data").feature_sequence(x, scale, offset)


def tf_pack_documents(tokens, row_length, start_id=None, end_id=None, pad_id=0):
    """`keras_ssm.ops.tf_data.pack_documents` for a TensorFlow (ragged) tensor."""
    module = importlib.import_module("keras_ssm.ops.tf_data")
    return module.pack_documents(tokens, row_length, start_id, end_id, pad_id)


def tf_where(condition, x, y):
    """`tf.where(condition, x, y)` for TensorFlow tensors (a tf.data pipeline's)."""
    return importlib.import_module("keras_ssm.ops.tf_data").where(condition, x, y)
