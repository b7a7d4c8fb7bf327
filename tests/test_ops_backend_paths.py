"""Backend-specific fast paths of `linear_recurrence` (keras_ssm/ops/jax/recurrence.py,
tensorflow/recurrence.py).

Each path is checked against a numpy loop written here (values and final state), against
the gradients of the `reference` implementation and against numpy finite differences;
the TensorFlow paths also inside `tf.function(jit_compile=True)` (XLA) and with an
unknown batch size. The shared op tests (tests/test_linear_recurrence.py) cover the
public op; this module covers what only one backend has: compilation modes, the
automatic choice, and each path called directly.
"""

import keras
import numpy as np
import pytest

from keras_ssm import config
from keras_ssm import ops as ssm_ops
from recurrence_reference import np_loop

BACKEND = keras.config.backend()
jax_only = pytest.mark.skipif(BACKEND != "jax", reason="jax-only path")
tf_only = pytest.mark.skipif(BACKEND != "tensorflow", reason="tensorflow-only path")

BATCH, STATE = 2, 3


# --------------------------------------------------------------------------------------
# numpy ground truth


def make_problem(rng, length, complex_, invariant, with_h0, batch=BATCH, state=STATE):
    """Random complex128 (a, b, h0) with |a| < 1 (real when not `complex_`)."""

    def draw(shape):
        x = rng.uniform(-1.0, 1.0, shape)
        if complex_:
            x = x + 1j * rng.uniform(-1.0, 1.0, shape)
        return x

    a_shape = (state,) if invariant else (batch, length, state)
    a = 0.65 * draw(a_shape)
    b = draw((batch, length, state))
    h0 = draw((batch, state)) if with_h0 else None
    return a, b, h0


def loss_weights(rng, length, complex_, batch=BATCH, state=STATE):
    """Weights w (like h) and v (like h_last) of loss = sum(w·h) + sum(v·h_last)."""
    parts = 2 if complex_ else 1
    w = [rng.normal(size=(batch, length, state)) for _ in range(parts)]
    v = [rng.normal(size=(batch, state)) for _ in range(parts)]
    return w, v


def numpy_loss(a, b, h0, reverse, w, v):
    h = np_loop(a, b, h0, reverse)
    last = h[:, 0] if reverse else h[:, -1]
    parts_h = [h.real, h.imag][: len(w)]
    parts_last = [last.real, last.imag][: len(v)]
    return sum(np.sum(wi * hi) for wi, hi in zip(w, parts_h)) + sum(
        np.sum(vi * li) for vi, li in zip(v, parts_last)
    )


def numpy_finite_difference_grads(a, b, h0, reverse, w, v, complex_, eps=1e-6):
    """Central differences of `numpy_loss` w.r.t. every real input part (float64)."""
    inputs = [a, b] + ([h0] if h0 is not None else [])
    grads = []
    for index, x in enumerate(inputs):
        for unit in [1.0, 1j] if complex_ else [1.0]:
            g = np.zeros(x.shape)
            for pos in np.ndindex(x.shape):
                values = []
                for sign in (1.0, -1.0):
                    moved = [y.copy() for y in inputs]
                    moved[index][pos] += sign * eps * unit
                    values.append(
                        numpy_loss(
                            moved[0], moved[1], moved[2] if h0 is not None else None, reverse, w, v
                        )
                    )
                g[pos] = (values[0] - values[1]) / (2 * eps)
            grads.append(g)
    return grads


def real_parts(x, complex_):
    """float32 (re, im) pair of a complex array, or its real part."""
    if complex_:
        return (x.real.astype("float32"), x.imag.astype("float32"))
    return x.real.astype("float32")


def flat_inputs(a, b, h0, complex_):
    flat = []
    for x in (a, b) + ((h0,) if h0 is not None else ()):
        parts = real_parts(x, complex_)
        flat.extend(parts if complex_ else [parts])
    return flat


def regroup(flat, complex_, with_h0):
    """(a, b, h0) from the flat list of real parts."""
    size = 2 if complex_ else 1
    groups = [tuple(flat[i : i + size]) if complex_ else flat[i] for i in range(0, len(flat), size)]
    return groups[0], groups[1], (groups[2] if with_h0 else None)


def to_complex(x):
    if isinstance(x, (tuple, list)):
        return np.asarray(x[0], np.float64) + 1j * np.asarray(x[1], np.float64)
    return np.asarray(x, np.float64)


def loss_of(h, last, w, v, ops):
    parts_h = list(h) if isinstance(h, (tuple, list)) else [h]
    parts_last = list(last) if isinstance(last, (tuple, list)) else [last]
    total = 0.0
    for wi, hi in zip(w, parts_h):
        total = total + ops.sum(hi * ops.convert_to_tensor(wi.astype("float32")))
    for vi, li in zip(v, parts_last):
        total = total + ops.sum(li * ops.convert_to_tensor(vi.astype("float32")))
    return total


CASES = [
    # complex_, invariant, reverse, with_h0
    pytest.param(
        c,
        i,
        r,
        h,
        id=f"{'complex' if c else 'real'}-{'invariant' if i else 'per_step'}"
        f"-{'reverse' if r else 'forward'}{'-h0' if h else ''}",
    )
    for c in (True, False)
    for i in (False, True)
    for r in (False, True)
    for h in (False, True)
]


GRID_LENGTH = 13  # odd and not a power of two: every level of a log-depth scan has a leftover
_REFERENCE_GRADS = {}


def grid_case(complex_, invariant, reverse, with_h0):
    """The (a, b, h0, w, v, flat inputs) of one grid case; the same for every implementation."""
    seed = [int(complex_), int(invariant), int(reverse), int(with_h0)]
    rng = np.random.default_rng(seed)
    a, b, h0 = make_problem(rng, GRID_LENGTH, complex_, invariant, with_h0)
    w, v = loss_weights(rng, GRID_LENGTH, complex_)
    return a, b, h0, w, v, flat_inputs(a, b, h0, complex_)


def reference_grads(key, compute):
    """Gradients of the `reference` implementation for a grid case, computed once."""
    if key not in _REFERENCE_GRADS:
        _REFERENCE_GRADS[key] = compute()
    return _REFERENCE_GRADS[key]


def check_against_numpy(h, last, a, b, h0, reverse):
    expected = np_loop(a, b, h0, reverse)
    np.testing.assert_allclose(to_complex(h), expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(
        to_complex(last), expected[:, 0] if reverse else expected[:, -1], rtol=1e-4, atol=1e-4
    )


# --------------------------------------------------------------------------------------
# JAX


def check_path_lengths(name, length, invariant, rng):
    """Path `name` called directly, complex with an initial state, both directions."""
    from keras_ssm.ops import registry

    a, b, h0 = make_problem(rng, length, True, invariant, True)
    fn = registry.get("linear_recurrence", name).fn
    pair = lambda x: real_parts(x, True)
    for reverse in (False, True):
        h, last = fn(
            pair(a), pair(b), reverse=reverse, initial_state=pair(h0), return_final_state=True
        )
        check_against_numpy(h, last, a, b, h0, reverse)


def jax_values_and_grads(fn, flat, complex_, with_h0, reverse, w, v, jit=True):
    """(h, h_last, grads of loss_of w.r.t. every flat input) for implementation `fn`."""
    import jax
    from keras import ops

    def loss(*flat_in):
        a, b, h0 = regroup(list(flat_in), complex_, with_h0)
        h, last = fn(a, b, reverse=reverse, initial_state=h0, return_final_state=True)
        return loss_of(h, last, w, v, ops), (h, last)

    grad_fn = jax.grad(loss, argnums=tuple(range(len(flat))), has_aux=True)
    if jit:
        grad_fn = jax.jit(grad_fn)
    grads, (h, last) = grad_fn(*[jax.numpy.asarray(x) for x in flat])
    return h, last, [np.asarray(g) for g in grads]


@jax_only
@pytest.mark.parametrize("name", ["sequential", "associative"])
@pytest.mark.parametrize("complex_, invariant, reverse, with_h0", CASES)
def test_jax_path_values_and_gradients(name, complex_, invariant, reverse, with_h0):
    from keras_ssm.ops import registry
    from keras_ssm.ops.reference import recurrence as reference

    case = grid_case(complex_, invariant, reverse, with_h0)
    a, b, h0, w, v, flat = case
    fn = registry.get("linear_recurrence", name).fn
    h, last, grads = jax_values_and_grads(fn, flat, complex_, with_h0, reverse, w, v)
    check_against_numpy(h, last, a, b, h0, reverse)
    expected = reference_grads(
        (complex_, invariant, reverse, with_h0),
        lambda: jax_values_and_grads(
            reference.linear_recurrence, flat, complex_, with_h0, reverse, w, v, jit=False
        )[2],
    )
    for got, want in zip(grads, expected):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@jax_only
@pytest.mark.parametrize("name", ["sequential", "associative"])
@pytest.mark.parametrize("length", [1, 2, 16])
@pytest.mark.parametrize("invariant", [False, True])
def test_jax_path_lengths(name, length, invariant, rng):
    check_path_lengths(name, length, invariant, rng)


@jax_only
@pytest.mark.parametrize("name", ["sequential", "associative"])
def test_jax_path_gradients_match_finite_differences(name, rng):
    from keras_ssm.ops import registry

    a, b, h0 = make_problem(rng, 5, True, False, True, batch=1, state=2)
    w, v = loss_weights(rng, 5, True, batch=1, state=2)
    fn = registry.get("linear_recurrence", name).fn
    _, _, grads = jax_values_and_grads(fn, flat_inputs(a, b, h0, True), True, True, False, w, v)
    expected = numpy_finite_difference_grads(a, b, h0, False, w, v, True)
    for got, want in zip(grads, expected):
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3)


@jax_only
def test_jax_automatic_choice(monkeypatch):
    import jax

    from keras_ssm.ops.jax import recurrence as jax_paths

    a = (np.full((4,), 0.9, "float32"), np.zeros((4,), "float32"))
    b = (np.ones((2, 8, 4), "float32"), np.zeros((2, 8, 4), "float32"))
    a_per_step = tuple(np.broadcast_to(x, (2, 8, 4)).copy() for x in a)
    assert jax.default_backend() == "cpu"
    # On CPU the sequential scan measured fastest everywhere; also inside jit.
    assert ssm_ops.resolve("linear_recurrence", a, b) == "sequential"
    assert ssm_ops.resolve("linear_recurrence", a_per_step, b) == "sequential"
    chosen = []

    @jax.jit
    def traced(a, b):
        chosen.append(ssm_ops.resolve("linear_recurrence", a, b))
        return ssm_ops.linear_recurrence(a, b)

    traced(a, b)
    assert chosen == ["sequential"]
    # On accelerators the log-depth scan.
    monkeypatch.setattr(jax_paths, "platform", lambda x: "gpu")
    assert ssm_ops.resolve("linear_recurrence", a, b) == "associative"
    assert ssm_ops.resolve("linear_recurrence", a_per_step, b) == "associative"


@jax_only
def test_jax_platform_of_arrays_and_tracers():
    import jax

    from keras_ssm.ops.jax import recurrence as jax_paths

    x = jax.numpy.ones((2, 3))
    assert jax_paths.platform(x) == "cpu"
    assert jax_paths.platform((x, x)) == "cpu"
    seen = []
    jax.jit(lambda t: seen.append(jax_paths.platform(t)) or t)(x)
    assert seen == [jax.default_backend()]


@jax_only
def test_jax_associative_keeps_invariant_a_small():
    """A time-invariant `a` is never broadcast to the sequence length."""
    import jax

    from keras_ssm.ops.jax import recurrence as jax_paths

    length, state = 64, 5
    a = jax.numpy.full((state,), 0.5)
    b = jax.numpy.ones((3, length, state))
    jaxpr = jax.make_jaxpr(jax_paths.linear_recurrence_associative)(a, b)
    shapes = [tuple(var.aval.shape) for eqn in jaxpr.eqns for var in eqn.outvars]
    # Every intermediate either carries the batch axis or holds at most `state` values.
    assert all((len(s) > 1 and s[0] == 3) or int(np.prod(s)) <= state for s in shapes), shapes


# --------------------------------------------------------------------------------------
# TensorFlow


def tf_values_and_grads(fn, flat, complex_, with_h0, reverse, w, v, jit=None, batch_spec=False):
    """(h, h_last, grads) for `fn`; eager when jit is None, else tf.function(jit_compile=jit)."""
    import tensorflow as tf
    from keras import ops

    def run(*flat_in):
        with tf.GradientTape() as tape:
            tape.watch(flat_in)
            a, b, h0 = regroup(list(flat_in), complex_, with_h0)
            h, last = fn(a, b, reverse=reverse, initial_state=h0, return_final_state=True)
            loss = loss_of(h, last, w, v, ops)
        grads = tape.gradient(loss, list(flat_in))
        return h, last, [tf.zeros_like(x) if g is None else g for g, x in zip(grads, flat_in)]

    tensors = [tf.constant(x) for x in flat]
    if jit is not None:
        signature = None
        if batch_spec:
            signature = [
                tf.TensorSpec((None,) + x.shape[1:], tf.float32)
                if x.ndim > 1
                else tf.TensorSpec(x.shape, tf.float32)
                for x in flat
            ]
        run = tf.function(run, jit_compile=jit, input_signature=signature)
    h, last, grads = run(*tensors)
    as_np = lambda x: tuple(t.numpy() for t in x) if isinstance(x, (tuple, list)) else x.numpy()
    return as_np(h), as_np(last), [g.numpy() for g in grads]


def check_tf_path(name, complex_, invariant, reverse, with_h0, jit=None, batch_spec=False):
    from keras_ssm.ops import registry
    from keras_ssm.ops.reference import recurrence as reference

    a, b, h0, w, v, flat = grid_case(complex_, invariant, reverse, with_h0)
    fn = registry.get("linear_recurrence", name).fn
    h, last, grads = tf_values_and_grads(
        fn, flat, complex_, with_h0, reverse, w, v, jit=jit, batch_spec=batch_spec
    )
    check_against_numpy(h, last, a, b, h0, reverse)
    expected = reference_grads(
        (complex_, invariant, reverse, with_h0),
        lambda: tf_values_and_grads(
            reference.linear_recurrence, flat, complex_, with_h0, reverse, w, v
        )[2],
    )
    for got, want in zip(grads, expected):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@tf_only
@pytest.mark.parametrize("name", ["chunked", "associative", "sequential"])
@pytest.mark.parametrize("complex_, invariant, reverse, with_h0", CASES)
def test_tf_path_values_and_gradients_eager(name, complex_, invariant, reverse, with_h0):
    check_tf_path(name, complex_, invariant, reverse, with_h0)


XLA_CASES = [
    pytest.param(True, False, False, True, id="complex-per_step-forward-h0"),
    pytest.param(True, True, True, True, id="complex-invariant-reverse-h0"),
    pytest.param(False, False, True, False, id="real-per_step-reverse"),
    pytest.param(False, True, False, False, id="real-invariant-forward"),
]


@tf_only
@pytest.mark.parametrize("name", ["chunked", "associative", "sequential"])
@pytest.mark.parametrize("complex_, invariant, reverse, with_h0", XLA_CASES)
def test_tf_path_values_and_gradients_under_xla(name, complex_, invariant, reverse, with_h0):
    """Compiles with jit_compile=True, with an unknown batch size, values and gradients."""
    check_tf_path(name, complex_, invariant, reverse, with_h0, jit=True, batch_spec=True)


@tf_only
@pytest.mark.parametrize("name", ["chunked", "associative", "sequential"])
def test_tf_path_in_graph_mode_without_xla(name):
    """Keras `fit` on CPU runs inside tf.function without XLA."""
    check_tf_path(name, True, False, True, True, jit=False, batch_spec=True)


@tf_only
@pytest.mark.parametrize("name", ["chunked", "associative", "sequential"])
@pytest.mark.parametrize("length", [1, 2, 15, 16, 17, 33])
@pytest.mark.parametrize("invariant", [False, True])
def test_tf_path_lengths(name, length, invariant, rng):
    check_path_lengths(name, length, invariant, rng)


@tf_only
@pytest.mark.parametrize("name", ["chunked", "associative", "sequential"])
def test_tf_path_gradients_match_finite_differences(name, rng):
    from keras_ssm.ops import registry

    a, b, h0 = make_problem(rng, 5, True, False, True, batch=1, state=2)
    w, v = loss_weights(rng, 5, True, batch=1, state=2)
    fn = registry.get("linear_recurrence", name).fn
    _, _, grads = tf_values_and_grads(
        fn, flat_inputs(a, b, h0, True), True, True, True, w, v, jit=True
    )
    expected = numpy_finite_difference_grads(a, b, h0, True, w, v, True)
    for got, want in zip(grads, expected):
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3)


@tf_only
@pytest.mark.parametrize("accelerator", [False, True], ids=["cpu", "gpu_or_tpu"])
def test_tf_automatic_choice(monkeypatch, accelerator):
    """CPU only: the sequential loop (fastest there); with a GPU/TPU: the parallel paths."""
    from keras_ssm.ops.tensorflow import recurrence as tf_ops

    monkeypatch.setattr(tf_ops, "_has_accelerator", lambda: accelerator)
    a = (np.full((4,), 0.9, "float32"), np.zeros((4,), "float32"))
    b = (np.ones((2, 8, 4), "float32"), np.zeros((2, 8, 4), "float32"))
    a_per_step = tuple(np.broadcast_to(x, (2, 8, 4)).copy() for x in a)
    if accelerator:
        assert ssm_ops.resolve("linear_recurrence", a_per_step, b) == "chunked"
        assert ssm_ops.resolve("linear_recurrence", a, b) == "associative"
    else:
        assert ssm_ops.resolve("linear_recurrence", a_per_step, b) == "sequential"
        assert ssm_ops.resolve("linear_recurrence", a, b) == "sequential"


@tf_only
def test_tf_unknown_length_falls_back_and_forced_path_explains():
    import tensorflow as tf

    spec = tf.TensorSpec((2, None, 4), tf.float32)
    chosen = []

    @tf.function(input_signature=[tf.TensorSpec((4,), tf.float32), spec])
    def auto(a, b):
        chosen.append(ssm_ops.resolve("linear_recurrence", a, b))
        return b

    auto(tf.ones((4,)), tf.ones((2, 8, 4)))
    assert chosen == ["reference"]

    @tf.function(input_signature=[tf.TensorSpec((4,), tf.float32), spec])
    def forced(a, b):
        return ssm_ops.linear_recurrence(a, b)

    with config.use_implementation("linear_recurrence", "chunked"):
        with pytest.raises(ValueError, match="static"):
            forced(tf.ones((4,)), tf.ones((2, 8, 4)))


@tf_only
def test_tf_public_op_under_xla_uses_the_fast_path(rng):
    """The public op, automatic choice, inside jit_compile=True (where
    keras.ops.associative_scan fails to compile)."""
    import tensorflow as tf

    a, b, _ = make_problem(rng, 20, True, False, False)
    fn = tf.function(lambda a, b: ssm_ops.linear_recurrence(a, b), jit_compile=True)
    h = fn(real_parts(a, True), real_parts(b, True))
    np.testing.assert_allclose(to_complex(h), np_loop(a, b), rtol=1e-4, atol=1e-4)
