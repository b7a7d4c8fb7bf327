"""The layer benchmark's timed functions: layers, inputs, forward and forward+backward calls,
which op implementations run, memory estimates, compiling candidates in turns."""

import math

import numpy as np
from keras import ops

import keras_ssm
from benchmarks import _timing as T

SECTIONS = ("sweep", "auto", "s5")


LAYER_KINDS = ("DSS", "DLR")


MODES = ("convolution", "recurrence")


DIRECTIONS = ("fwd", "fwdbwd")


DIRECTION_NAMES = {"fwd": "forward", "fwdbwd": "forward+backward"}


MIB = float(1 << 20)


AGREEMENT_TOLERANCE = 1e-3  # relative difference above which two paths are flagged


def make_layer(kind, state_size, mode="auto", seed=0):
    """A DSS (variant "exp") or DLR layer, not built."""
    cls = keras_ssm.layers.families.layer_class(kind)
    return cls(state_size=state_size, mode=mode, seed=seed)


def random_inputs(rng, shape):
    """(x, g): the input and the cotangent of the output, float32 backend tensors."""
    x = rng.standard_normal(shape).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    return T.to_device(x), T.to_device(g)


def layer_functions(layer, x, g):
    """Forward and forward+backward of a built Keras layer, the way its backend runs them.

    Returns:
        ((fwd, fwd_args), (fwdbwd, fwdbwd_args)); fwdbwd returns the gradients of
        sum(layer(x) * g) with respect to the trainable weights and x.
    """
    name = T.backend()
    if name == "jax":
        import jax
        import jax.numpy as jnp

        trainable = [v.value for v in layer.trainable_variables]
        non_trainable = [v.value for v in layer.non_trainable_variables]

        def fwd(trainable, non_trainable, x):
            return layer.stateless_call(trainable, non_trainable, x)[0]

        def loss(trainable, non_trainable, x, g):
            return jnp.sum(fwd(trainable, non_trainable, x) * g)

        fwdbwd = jax.grad(loss, argnums=(0, 2))
        return (fwd, (trainable, non_trainable, x)), (fwdbwd, (trainable, non_trainable, x, g))
    if name == "tensorflow":
        import tensorflow as tf

        weights = list(layer.trainable_weights)

        def fwd(x):
            return layer(x)

        def fwdbwd(x, g):
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = tf.reduce_sum(layer(x) * g)
            return tape.gradient(loss, [x] + weights)

        return (fwd, (x,)), (fwdbwd, (x, g))
    if name == "torch":
        import torch

        params = [v.value for v in layer.trainable_variables]

        def fwd(x):
            with torch.no_grad():
                return layer(x)

        def fwdbwd(x, g):
            x = x.detach().requires_grad_(True)
            return torch.autograd.grad((layer(x) * g).sum(), params + [x])

        return (fwd, (x,)), (fwdbwd, (x, g))
    raise NotImplementedError(f"No benchmark for the {name} backend.")


def to_numpy(x):
    return np.asarray(ops.convert_to_numpy(x), dtype=np.float64)


def rel_diff(got, expected):
    got, expected = to_numpy(got), to_numpy(expected)
    return float(np.max(np.abs(got - expected)) / max(float(np.max(np.abs(expected))), 1e-30))


def fmt_rel(err):
    if err is None:
        return "—"
    return f"{err:.1e}" + (" MISMATCH" if not err <= AGREEMENT_TOLERANCE else "")


def _zeros_pair(shape):
    return (ops.zeros(shape, "float32"), ops.zeros(shape, "float32"))


def recurrence_implementation(batch, length, state_shape):
    """Name of the linear_recurrence implementation for these shapes.

    Resolved on zero tensors of the real shape when small, else of length 1024
    (the registry chooses by device and dtype, not by length).
    """
    elements = batch * length * math.prod(state_shape)
    probe = length if elements * 8 <= 64 * MIB else min(length, 1024)
    a = _zeros_pair(state_shape)
    b = _zeros_pair((batch, probe) + tuple(state_shape))
    return keras_ssm.ops.resolve("linear_recurrence", a, b)


def convolution_implementations(batch, length, features, state_size, shared_lambda):
    """Names of the causal_conv and vandermonde_kernel implementations for these shapes."""
    u = ops.zeros((batch, length, features), "float32")
    kernel = ops.zeros((features, length), "float32")
    lam_shape = (state_size,) if shared_lambda else (features, state_size)
    conv = keras_ssm.ops.resolve("causal_conv", u, kernel)
    vander = keras_ssm.ops.resolve(
        "vandermonde_kernel", _zeros_pair(lam_shape), _zeros_pair((features, state_size)), length
    )
    return conv, vander


def recurrence_memory_estimate(batch, length, features, state_size, implementation):
    """Rough bytes a channel-layout recurrence needs for forward+backward.

    The state x is (B, L, H, N) complex64 = 8 bytes per element; a log-depth scan
    (the reference) keeps about 2 log2(L) + 4 such tensors for its gradient, the
    chunked torch scan about 8 (measured 30-35 and 5 on this machine).
    """
    state = batch * length * features * state_size * 8
    if implementation == "reference":
        return state * (3 * math.ceil(math.log2(max(length, 2))) + 6)
    return state * 8


def prepare(calls, args, report, section, label):
    """Compile and warm up each (fn, args); return {key: (compiled, args)} and modes.

    Failures are noted and left out.
    """
    ready, modes = {}, {}
    for key, (fn, fargs) in calls.items():
        fallbacks = []
        try:
            compiled, mode = T.compile_and_warm(fn, fargs, warmup=args.warmup, fallbacks=fallbacks)
        except Exception as e:  # noqa: BLE001 - record and go on
            report.note(section, f"{label} {key}: failed: {T.short_error(e)}")
            continue
        for text in fallbacks:
            report.note(section, f"{label} {key}: fell back from {text}")
        ready[key] = (compiled, fargs)
        modes[key] = mode
    return ready, modes
