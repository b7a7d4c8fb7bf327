"""Tests for keras_ssm.ops.linear_recurrence, every registered implementation.

Each implementation of the current backend (`keras_ssm.ops.implementations`) is forced
in turn and compared with a plain numpy loop written here (float64/complex128 on the
same float32-rounded inputs); gradients with the adjoint (reverse) recurrence derived
below. An implementation that does not apply to the arguments must raise ValueError
when forced.
"""

import keras
import numpy as np
import pytest
from keras import ops

import keras_ssm
from _grad import NotApplicable
from _grad import call_forced
from _grad import value_and_grad
from recurrence_reference import np_loop

OP = "linear_recurrence"
IMPLS = keras_ssm.ops.implementations(OP)
KINDS = ("real", "complex")
A_MODES = ("per_step", "invariant")
# One (batch, length, state) shape for the small cases: compiled paths are traced once.
SHAPE = (2, 24, 3)

# --------------------------------------------------------------------------------------
# Independent numpy reference


def np_recurrence(a, b, h0=None, reverse=False):
    """(h, final state) of the numpy loop; a: (B, L, *S) or (*S), b: (B, L, *S)."""
    h = np_loop(a, b, h0, reverse)
    return h, h[:, 0 if reverse else -1]


def np_recurrence_grads(a, b, h0, w, v, reverse=False):
    """Gradients of loss = Σ Re(conj(w) h) + Σ Re(conj(v) h_final).

    For complex z, the gradient is dloss/dRe z + i dloss/dIm z. The adjoint
    g_t = dloss/dh_t runs backward: g_t = w_t + conj(a_{t+1}) g_{t+1} (+ v at the
    last processed step), then dloss/db_t = g_t, dloss/da_t = g_t conj(h_{t-1}),
    dloss/dh0 = conj(a_first) g_first. A reverse recurrence is the forward one on
    time-flipped arrays.
    """
    per_step = a.ndim == b.ndim
    if reverse:
        flip = lambda x: x[:, ::-1]
        ga, gb, gh0 = np_recurrence_grads(
            flip(a) if per_step else a, flip(b), h0, flip(w), v, reverse=False
        )
        return (flip(ga) if per_step else ga), flip(gb), gh0
    length = b.shape[1]
    h, _ = np_recurrence(a, b, h0)
    a_at = (lambda t: a[:, t]) if per_step else (lambda t: a)
    g = np.zeros_like(b)
    nxt = v.copy()
    for t in range(length - 1, -1, -1):
        g[:, t] = w[:, t] + nxt
        nxt = np.conj(a_at(t)) * g[:, t]
    h_prev = np.concatenate(
        [(np.zeros_like(b[:, :1]) if h0 is None else h0[:, None]), h[:, :-1]], 1
    )
    ga = g * np.conj(h_prev)
    if not per_step:
        ga = ga.sum(axis=(0, 1))
    gh0 = nxt  # conj(a_0) g_0
    return ga, g, gh0


# --------------------------------------------------------------------------------------
# Test data and conversions


def round32(x):
    """x rounded to float32 precision (complex parts too), kept in 64-bit."""
    if np.iscomplexobj(x):
        return x.astype(np.complex64).astype(np.complex128)
    return x.astype(np.float32).astype(np.float64)


def random_values(rng, kind, shape):
    x = rng.standard_normal(shape)
    if kind == "complex":
        x = x + 1j * rng.standard_normal(shape)
    return round32(x)


def random_a(rng, kind, shape, low=0.5, high=0.99):
    """Coefficients with |a| in [low, high] (a stable, decaying recurrence)."""
    magnitude = rng.uniform(low, high, shape)
    if kind == "complex":
        return round32(magnitude * np.exp(1j * rng.uniform(-np.pi, np.pi, shape)))
    return round32(magnitude * rng.choice([-1.0, 1.0], shape))


def make_case(rng, kind, a_mode, shape, **a_range):
    a_shape = shape if a_mode == "per_step" else shape[2:]
    a = random_a(rng, kind, a_shape, **a_range)
    b = random_values(rng, kind, shape)
    h0 = random_values(rng, kind, (shape[0],) + tuple(shape[2:]))
    return a, b, h0


def to_arrays(x, dtype="float32"):
    """numpy value -> list of float arrays: [re, im] for complex, [x] for real."""
    if np.iscomplexobj(x):
        return [x.real.astype(dtype), x.imag.astype(dtype)]
    return [x.astype(dtype)]


def to_input(x, dtype="float32"):
    """numpy value -> backend tensor, or (re, im) pair of tensors for complex."""
    parts = [ops.cast(ops.convert_to_tensor(p.astype("float32")), dtype) for p in to_arrays(x)]
    return tuple(parts) if len(parts) == 2 else parts[0]


def from_output(y):
    """backend tensor or pair -> numpy float64 / complex128."""
    if isinstance(y, (tuple, list)):
        return from_output(y[0]) + 1j * from_output(y[1])
    return ops.convert_to_numpy(ops.cast(y, "float32")).astype(np.float64)


def canonical(x):
    """How the registry sees an argument: float32 tensors, pairs kept."""
    if x is None:
        return None
    return to_input(x)


def assert_close(actual, expected, rel):
    """max |actual - expected| <= rel * max |expected| (a norm-wise relative error)."""
    scale = max(np.max(np.abs(expected)), 1e-30)
    err = np.max(np.abs(actual - expected))
    assert err <= rel * scale, (
        f"max error {err:.3g} > {rel:g} * scale {scale:.3g} (ratio {err / scale:.3g})"
    )


def run(impl, a, b, h0=None, reverse=False, return_final_state=False):
    """linear_recurrence with `impl` forced, inputs given as numpy values."""
    kwargs = dict(reverse=reverse, return_final_state=return_final_state)

    def call():
        return keras_ssm.ops.linear_recurrence(
            to_input(a), to_input(b), initial_state=None if h0 is None else to_input(h0), **kwargs
        )

    return call_forced(
        OP, impl, call, canonical(a), canonical(b), initial_state=canonical(h0), **kwargs
    )


# --------------------------------------------------------------------------------------
# Values


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("a_mode", A_MODES)
@pytest.mark.parametrize("kind", KINDS)
def test_values(impl, kind, a_mode, reverse, rng):
    """h and the final state, from a given initial state."""
    a, b, h0 = make_case(rng, kind, a_mode, SHAPE)
    out = run(impl, a, b, h0=h0, reverse=reverse, return_final_state=True)
    if out is NotApplicable:
        return
    h, final = out
    assert isinstance(h, tuple) == isinstance(final, tuple) == (kind == "complex")
    expected_h, expected_final = np_recurrence(a, b, h0, reverse=reverse)
    h, final = from_output(h), from_output(final)
    assert h.shape == b.shape and final.shape == h0.shape
    assert_close(h, expected_h, 1e-5)
    assert_close(final, expected_final, 1e-5)
    # The final state is the state after the last processed step.
    np.testing.assert_array_equal(final, h[:, 0] if reverse else h[:, -1])


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("return_final_state", [False, True], ids=["h", "h_and_final"])
@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
def test_without_initial_state(impl, reverse, return_final_state, rng):
    """The default call: zero initial state, with or without the final state."""
    a, b, _ = make_case(rng, "complex", "invariant", SHAPE)
    out = run(impl, a, b, reverse=reverse, return_final_state=return_final_state)
    if out is NotApplicable:
        return
    expected_h, expected_final = np_recurrence(a, b, reverse=reverse)
    if return_final_state:
        out, final = out
        assert_close(from_output(final), expected_final, 1e-5)
    assert isinstance(out, tuple) and len(out) == 2
    assert_close(from_output(out), expected_h, 1e-5)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("kind,a_mode", [("complex", "invariant"), ("real", "per_step")])
def test_multiple_state_axes(impl, kind, a_mode, rng):
    """b: (batch, L, H, N); a: the same, or (H, N) = b.shape[2:] when time-invariant."""
    a, b, h0 = make_case(rng, kind, a_mode, SHAPE + (2,))
    out = run(impl, a, b, h0=h0, return_final_state=True)
    if out is NotApplicable:
        return
    expected_h, expected_final = np_recurrence(a, b, h0)
    assert_close(from_output(out[0]), expected_h, 1e-5)
    assert_close(from_output(out[1]), expected_final, 1e-5)


@pytest.mark.parametrize("impl", IMPLS)
def test_real_a_with_complex_b(impl, rng):
    """A real `a` with complex `b` is the complex recurrence with Im a = 0."""
    a, _, _ = make_case(rng, "real", "invariant", SHAPE)
    b = random_values(rng, "complex", SHAPE)

    def call():
        return keras_ssm.ops.linear_recurrence(to_input(a), to_input(b))

    zero = ops.zeros_like(to_input(a))
    out = call_forced(
        OP,
        impl,
        call,
        (to_input(a), zero),
        to_input(b),
        initial_state=None,
        reverse=False,
        return_final_state=False,
    )
    if out is NotApplicable:
        return
    expected, _ = np_recurrence(a.astype(np.complex128), b)
    assert_close(from_output(out), expected, 1e-5)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize(
    "a_mode,reverse",
    [("per_step", True), ("invariant", False)],
    ids=["per_step-reverse", "invariant-forward"],
)
def test_medium_length(impl, a_mode, reverse, rng):
    """L = 1000: many chunks/levels in any blocked scan, both directions."""
    a, b, h0 = make_case(rng, "complex", a_mode, (2, 1000, 3), low=0.9, high=0.999)
    out = run(impl, a, b, h0=h0, reverse=reverse, return_final_state=True)
    if out is NotApplicable:
        return
    expected_h, expected_final = np_recurrence(a, b, h0, reverse=reverse)
    assert_close(from_output(out[0]), expected_h, 1e-4)
    assert_close(from_output(out[1]), expected_final, 1e-4)


# A step-by-step loop has no blocks whose error could grow with L (test_medium_length
# covers its code path): its 65,536 steps (100 s in TensorFlow's while loop) run with -m slow.
LONG_IMPLS = [
    pytest.param(impl, marks=pytest.mark.slow) if impl == "sequential" else impl for impl in IMPLS
]


@pytest.mark.parametrize("impl", LONG_IMPLS)
def test_long_sequence(impl, rng):
    """L = 65,536 in float32: a long decaying complex recurrence (|a| in [0.9, 0.999])."""
    a, b, h0 = make_case(rng, "complex", "per_step", (2, 65536, 8), low=0.9, high=0.999)
    out = run(impl, a, b, h0=h0, return_final_state=True)
    if out is NotApplicable:
        return
    expected_h, expected_final = np_recurrence(a, b, h0)
    # float32 error grows with the memory 1 / (1 - |a|) <= 1000 steps, not with L.
    assert_close(from_output(out[0]), expected_h, 1e-4)
    assert_close(from_output(out[1]), expected_final, 1e-4)


# --------------------------------------------------------------------------------------
# dtypes

# Half an ulp of each output dtype, relative: the rounding of a float32 result.
HALF_ULP = {"float32": 2.0**-24, "bfloat16": 2.0**-8, "float16": 2.0**-11}


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
@pytest.mark.parametrize("kind", KINDS)
def test_dtype(impl, kind, dtype, rng):
    """The output has b's dtype; low precision is computed in float32, then rounded."""
    a, b, _ = make_case(rng, kind, "per_step", SHAPE, low=0.9, high=0.99)
    a_in, b_in = to_input(a, dtype), to_input(b, dtype)

    def call():
        return keras_ssm.ops.linear_recurrence(a_in, b_in)

    to_float32 = lambda x: ops.cast(x, "float32")
    canon = lambda x: tuple(map(to_float32, x)) if isinstance(x, tuple) else to_float32(x)
    out = call_forced(
        OP,
        impl,
        call,
        canon(a_in),
        canon(b_in),
        initial_state=None,
        reverse=False,
        return_final_state=False,
    )
    if out is NotApplicable:
        return
    for part in out if isinstance(out, tuple) else (out,):
        assert keras.backend.standardize_dtype(part.dtype) == dtype
    # Reference on the inputs as the op received them (rounded to `dtype`).
    expected, _ = np_recurrence(from_output(a_in), from_output(b_in))
    got = from_output(out)
    # Each element within half an ulp of its rounding (plus float32 compute error):
    # computing in bfloat16/float16 over 24 steps would be far off.
    tol = HALF_ULP[dtype] * (np.abs(expected.real) + np.abs(expected.imag)) + 1e-5 * np.max(
        np.abs(expected)
    )
    err = np.abs(got.real - expected.real) + np.abs(got.imag - expected.imag)
    assert np.all(err <= tol), f"max error / tolerance = {np.max(err / tol):.3g}"


# --------------------------------------------------------------------------------------
# Gradients


GRADIENT_CASES = [
    (kind, a_mode, reverse, True)
    for kind in KINDS
    for a_mode in A_MODES
    for reverse in (False, True)
] + [("complex", "invariant", False, False)]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize(
    "kind,a_mode,reverse,with_state",
    GRADIENT_CASES,
    ids=[
        "-".join((k, m, "reverse" if r else "forward", "initial_state" if w else "zero_state"))
        for k, m, r, w in GRADIENT_CASES
    ],
)
def test_gradients(impl, kind, a_mode, reverse, with_state, rng):
    """d/da, d/db, d/d initial_state of Σ w·h + Σ v·h_final vs the adjoint recurrence."""
    a, b, h0 = make_case(rng, kind, a_mode, SHAPE)
    h0 = h0 if with_state else None
    w = random_values(rng, kind, b.shape)
    v = random_values(rng, kind, (b.shape[0],) + b.shape[2:])
    w_t = [ops.convert_to_tensor(x) for x in to_arrays(w)]
    v_t = [ops.convert_to_tensor(x) for x in to_arrays(v)]
    n = 2 if kind == "complex" else 1
    pack = lambda parts: tuple(parts) if n == 2 else parts[0]
    parts = lambda x: x if isinstance(x, tuple) else (x,)

    def loss(*flat):
        a_in, b_in = pack(flat[:n]), pack(flat[n : 2 * n])
        h0_in = pack(flat[2 * n :]) if with_state else None
        h, final = keras_ssm.ops.linear_recurrence(
            a_in, b_in, reverse=reverse, initial_state=h0_in, return_final_state=True
        )
        total = 0.0
        for x, y in zip(parts(h) + parts(final), w_t + v_t):
            total = total + ops.sum(x * y)
        return total

    arrays = to_arrays(a) + to_arrays(b) + (to_arrays(h0) if with_state else [])
    out = call_forced(
        OP,
        impl,
        lambda: value_and_grad(loss, *arrays),
        canonical(a),
        canonical(b),
        initial_state=canonical(h0),
        reverse=reverse,
        return_final_state=True,
    )
    if out is NotApplicable:
        return
    value, grads = out
    expected_h, expected_final = np_recurrence(a, b, h0, reverse=reverse)
    expected_value = np.sum((np.conj(w) * expected_h).real) + np.sum(
        (np.conj(v) * expected_final).real
    )
    np.testing.assert_allclose(value, expected_value, rtol=1e-5, atol=1e-5)
    ga, gb, gh0 = np_recurrence_grads(a, b, h0, w, v, reverse=reverse)
    as_complex = lambda g: g[0] + 1j * g[1] if n == 2 else g[0]
    assert_close(as_complex(grads[:n]), ga, 1e-5)
    assert_close(as_complex(grads[n : 2 * n]), gb, 1e-5)
    if with_state:
        assert_close(as_complex(grads[2 * n :]), gh0, 1e-5)


# --------------------------------------------------------------------------------------
# Errors


def test_error_b_rank(rng):
    with pytest.raises(ValueError, match="`b` must have shape"):
        keras_ssm.ops.linear_recurrence(ops.ones((4,)), ops.ones((2, 8)))


def test_error_a_shape(rng):
    b = ops.ones((2, 8, 4))
    for bad in ((4, 3), (2, 7, 4), (5,), (8, 4)):
        with pytest.raises(ValueError, match="`a` must have the shape of `b`"):
            keras_ssm.ops.linear_recurrence(ops.ones(bad), b)


def test_error_initial_state_shape(rng):
    a, b = ops.ones((4,)), ops.ones((2, 8, 4))
    for bad in ((2, 5), (3, 4), (2, 8, 4), (4,)):
        with pytest.raises(ValueError, match="`initial_state` must have shape"):
            keras_ssm.ops.linear_recurrence(a, b, initial_state=ops.ones(bad))


def test_error_mismatched_real_imag(rng):
    b = ops.ones((2, 8, 4))
    with pytest.raises(ValueError, match="real and imaginary parts of `a`"):
        keras_ssm.ops.linear_recurrence((ops.ones((4,)), ops.ones((3,))), (b, b))
    with pytest.raises(ValueError, match="real and imaginary parts of `b`"):
        keras_ssm.ops.linear_recurrence(ops.ones((4,)), (b, ops.ones((2, 8, 3))))
    with pytest.raises(ValueError, match="real and imaginary parts of `initial_state`"):
        keras_ssm.ops.linear_recurrence(
            ops.ones((4,)), b, initial_state=(ops.ones((2, 4)), ops.ones((2, 3)))
        )
    with pytest.raises(ValueError, match=r"\(real, imag\) pair"):
        keras_ssm.ops.linear_recurrence(ops.ones((4,)), (b, b, b))


def test_error_integer_input():
    with pytest.raises(ValueError, match="floating-point"):
        keras_ssm.ops.linear_recurrence(
            ops.ones((4,), dtype="int32"), ops.ones((2, 8, 4), dtype="int32")
        )


def test_error_unknown_implementation_lists_valid_names():
    with pytest.raises(ValueError) as info:
        with keras_ssm.config.use_implementation(OP, "no_such_scan"):
            pass
    for name in IMPLS:
        assert name in str(info.value)


def test_error_unknown_op():
    with pytest.raises(ValueError, match="linear_recurrence"):
        with keras_ssm.config.use_implementation("linear_recurence", "reference"):
            pass
