"""Tests for keras_ssm.ops.causal_conv, every registered implementation.

Compared with `np.convolve` per (batch, channel) in float64 (values) and with numpy
correlations (gradients), on float32-rounded inputs.
"""

import keras
import numpy as np
import pytest
from keras import ops

import keras_ssm
from _grad import NotApplicable
from _grad import call_forced
from _grad import value_and_grad

OP = "causal_conv"
IMPLS = keras_ssm.ops.implementations(OP)
# One u shape (batch, length, channels) for all cases: compiled paths are traced less.
SHAPE = (2, 48, 3)

# --------------------------------------------------------------------------------------
# Independent numpy reference


def np_causal_conv(u, kernel):
    """y[b, t, h] = Σ_{s<=t} kernel[h, s] u[b, t-s, h], by np.convolve."""
    batch, length, channels = u.shape
    y = np.zeros(u.shape)
    for i in range(batch):
        for h in range(channels):
            y[i, :, h] = np.convolve(u[i, :, h], kernel[h])[:length]
    return y


def np_causal_conv_grads(u, kernel, w):
    """Gradients of Σ w·y w.r.t. u and kernel (correlations with w).

    du[b, s, h] = Σ_j kernel[h, j] w[b, s+j, h];  dk[h, j] = Σ_b Σ_t w[b, t, h] u[b, t-j, h].
    """
    batch, length, channels = u.shape
    k_len = kernel.shape[1]
    du = np.zeros(u.shape)
    dk = np.zeros(kernel.shape)
    for i in range(batch):
        for h in range(channels):
            # np.correlate(x, y, "full")[n] = Σ_m x[m + n - (len(y) - 1)] y[m]
            du[i, :, h] = np.correlate(w[i, :, h], kernel[h], "full")[
                k_len - 1 : k_len - 1 + length
            ]
            dk[h] += np.correlate(w[i, :, h], u[i, :, h], "full")[length - 1 : length - 1 + k_len]
    return du, dk


def round32(x):
    return x.astype(np.float32).astype(np.float64)


def to_tensor(x, dtype="float32"):
    return ops.cast(ops.convert_to_tensor(x.astype("float32")), dtype)


def to_numpy(x):
    return ops.convert_to_numpy(ops.cast(x, "float32")).astype(np.float64)


def assert_close(actual, expected, rel):
    scale = max(np.max(np.abs(expected)), 1e-30)
    err = np.max(np.abs(actual - expected))
    assert err <= rel * scale, (
        f"max error {err:.3g} > {rel:g} * scale {scale:.3g} (ratio {err / scale:.3g})"
    )


def run(impl, u, kernel, dtype="float32"):
    u_t, k_t = to_tensor(u, dtype), to_tensor(kernel, dtype)
    return call_forced(OP, impl, lambda: keras_ssm.ops.causal_conv(u_t, k_t), u_t, k_t)


# --------------------------------------------------------------------------------------
# Values


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("k_len", [7, 48, 1], ids=["short_kernel", "kernel_eq_length", "one_tap"])
def test_values(impl, k_len, rng):
    u = round32(rng.standard_normal(SHAPE))
    kernel = round32(rng.standard_normal((SHAPE[2], k_len)))
    out = run(impl, u, kernel)
    if out is NotApplicable:
        return
    assert tuple(out.shape) == u.shape
    assert_close(to_numpy(out), np_causal_conv(u, kernel), 1e-5)


@pytest.mark.parametrize("impl", IMPLS)
def test_is_causal(impl, rng):
    """Changing u after step t leaves y[:, :t+1] unchanged."""
    u = round32(rng.standard_normal(SHAPE))
    kernel = round32(rng.standard_normal((SHAPE[2], SHAPE[1])))
    u2 = u.copy()
    u2[:, 25:] = round32(rng.standard_normal((SHAPE[0], SHAPE[1] - 25, SHAPE[2])))
    y1, y2 = run(impl, u, kernel), run(impl, u2, kernel)
    if y1 is NotApplicable:
        return
    y1, y2 = to_numpy(y1), to_numpy(y2)
    scale = np.max(np.abs(y1))
    assert np.max(np.abs(y1[:, :25] - y2[:, :25])) <= 1e-5 * scale


# Half an ulp of each output dtype, relative.
HALF_ULP = {"float32": 2.0**-24, "bfloat16": 2.0**-8, "float16": 2.0**-11}


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
def test_dtype(impl, dtype, rng):
    """Output dtype = u's dtype; computed in float32, then rounded."""
    u = rng.standard_normal(SHAPE)
    kernel = rng.standard_normal((SHAPE[2], SHAPE[1])) / 8.0
    u_t, k_t = to_tensor(u, dtype), to_tensor(kernel, dtype)
    out = call_forced(OP, impl, lambda: keras_ssm.ops.causal_conv(u_t, k_t), u_t, k_t)
    if out is NotApplicable:
        return
    assert keras.backend.standardize_dtype(out.dtype) == dtype
    expected = np_causal_conv(to_numpy(u_t), to_numpy(k_t))
    tol = HALF_ULP[dtype] * np.abs(expected) + 1e-5 * np.max(np.abs(expected))
    err = np.abs(to_numpy(out) - expected)
    assert np.all(err <= tol), f"max error / tolerance = {np.max(err / tol):.3g}"


# --------------------------------------------------------------------------------------
# Gradients


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("k_len", [7, 48], ids=["short_kernel", "kernel_eq_length"])
def test_gradients(impl, k_len, rng):
    u = round32(rng.standard_normal(SHAPE))
    kernel = round32(rng.standard_normal((SHAPE[2], k_len)))
    w = round32(rng.standard_normal(u.shape))
    w_t = to_tensor(w)

    def loss(u_in, k_in):
        return ops.sum(keras_ssm.ops.causal_conv(u_in, k_in) * w_t)

    arrays = [u.astype("float32"), kernel.astype("float32")]
    out = call_forced(
        OP, impl, lambda: value_and_grad(loss, *arrays), to_tensor(u), to_tensor(kernel)
    )
    if out is NotApplicable:
        return
    value, (du, dk) = out
    np.testing.assert_allclose(value, np.sum(w * np_causal_conv(u, kernel)), rtol=1e-5, atol=1e-5)
    expected_du, expected_dk = np_causal_conv_grads(u, kernel, w)
    assert_close(du, expected_du, 1e-5)
    assert_close(dk, expected_dk, 1e-5)


# --------------------------------------------------------------------------------------
# Two-sided: backward_kernel (the anti-causal half of a bidirectional layer)


def np_two_sided(u, kernel, backward_kernel):
    """causal part + flip(causal conv of flip(u) with backward_kernel), by np.convolve."""
    flip = lambda x: x[:, ::-1]
    return np_causal_conv(u, kernel) + flip(np_causal_conv(flip(u), backward_kernel))


def run_two_sided(impl, u, kernel, backward_kernel):
    u_t, k_t, kb_t = (to_tensor(x) for x in (u, kernel, backward_kernel))
    return call_forced(
        OP,
        impl,
        lambda: keras_ssm.ops.causal_conv(u_t, k_t, backward_kernel=kb_t),
        u_t,
        k_t,
        backward_kernel=kb_t,
    )


TWO_SIDED_LENGTHS = [(7, 48), (48, 7), (48, 48), (1, 1), (5, 1)]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize(
    "k_len, kb_len", TWO_SIDED_LENGTHS, ids=[f"k{a}_kb{b}" for a, b in TWO_SIDED_LENGTHS]
)
def test_two_sided_values(impl, k_len, kb_len, rng):
    u = round32(rng.standard_normal(SHAPE))
    kernel = round32(rng.standard_normal((SHAPE[2], k_len)))
    backward_kernel = round32(rng.standard_normal((SHAPE[2], kb_len)))
    out = run_two_sided(impl, u, kernel, backward_kernel)
    if out is NotApplicable:
        return
    assert tuple(out.shape) == u.shape
    assert_close(to_numpy(out), np_two_sided(u, kernel, backward_kernel), 1e-5)


@pytest.mark.parametrize("impl", IMPLS)
def test_two_sided_zero_backward_kernel_is_causal(impl, rng):
    u = round32(rng.standard_normal(SHAPE))
    kernel = round32(rng.standard_normal((SHAPE[2], 9)))
    out = run_two_sided(impl, u, kernel, np.zeros((SHAPE[2], SHAPE[1])))
    if out is NotApplicable:
        return
    assert_close(to_numpy(out), np_causal_conv(u, kernel), 1e-5)


@pytest.mark.parametrize("impl", IMPLS)
def test_two_sided_gradients(impl, rng):
    u = round32(rng.standard_normal(SHAPE))
    kernel = round32(rng.standard_normal((SHAPE[2], 11)))
    backward_kernel = round32(rng.standard_normal((SHAPE[2], SHAPE[1])))
    w = round32(rng.standard_normal(u.shape))
    w_t = to_tensor(w)

    def loss(u_in, k_in, kb_in):
        return ops.sum(keras_ssm.ops.causal_conv(u_in, k_in, backward_kernel=kb_in) * w_t)

    arrays = [x.astype("float32") for x in (u, kernel, backward_kernel)]
    out = call_forced(
        OP,
        impl,
        lambda: value_and_grad(loss, *arrays),
        to_tensor(u),
        to_tensor(kernel),
        backward_kernel=to_tensor(backward_kernel),
    )
    if out is NotApplicable:
        return
    value, (du, dk, dkb) = out
    np.testing.assert_allclose(
        value, np.sum(w * np_two_sided(u, kernel, backward_kernel)), rtol=1e-5, atol=1e-5
    )
    flip = lambda x: x[:, ::-1]
    du_f, dk_f = np_causal_conv_grads(u, kernel, w)
    du_b, dk_b = np_causal_conv_grads(flip(u), backward_kernel, flip(w))
    assert_close(du, du_f + flip(du_b), 1e-5)
    assert_close(dk, dk_f, 1e-5)
    assert_close(dkb, dk_b, 1e-5)


def test_error_backward_kernel_shape():
    u = ops.ones((2, 8, 3))
    with pytest.raises(ValueError, match="`backward_kernel` must have shape"):
        keras_ssm.ops.causal_conv(u, ops.ones((3, 4)), backward_kernel=ops.ones((3,)))
    with pytest.raises(ValueError, match="`backward_kernel` has 4 channels"):
        keras_ssm.ops.causal_conv(u, ops.ones((3, 4)), backward_kernel=ops.ones((4, 4)))
    with pytest.raises(ValueError, match="`backward_kernel` length 9 exceeds"):
        keras_ssm.ops.causal_conv(u, ops.ones((3, 4)), backward_kernel=ops.ones((3, 9)))


# --------------------------------------------------------------------------------------
# Errors


def test_error_u_rank():
    with pytest.raises(ValueError, match="`u` must have shape"):
        keras_ssm.ops.causal_conv(ops.ones((8, 3)), ops.ones((3, 4)))


def test_error_kernel_rank():
    with pytest.raises(ValueError, match="`kernel` must have shape"):
        keras_ssm.ops.causal_conv(ops.ones((2, 8, 3)), ops.ones((3, 4, 1)))


def test_error_channels():
    with pytest.raises(ValueError, match="channels"):
        keras_ssm.ops.causal_conv(ops.ones((2, 8, 3)), ops.ones((4, 4)))


def test_error_kernel_too_long():
    with pytest.raises(ValueError, match="exceeds the sequence length"):
        keras_ssm.ops.causal_conv(ops.ones((2, 8, 3)), ops.ones((3, 9)))


def test_error_unknown_implementation_lists_valid_names():
    with pytest.raises(ValueError) as info:
        with keras_ssm.config.use_implementation(OP, "no_such_conv"):
            pass
    for name in IMPLS:
        assert name in str(info.value)
