"""Tests for keras_ssm.ops.vandermonde_kernel, every registered implementation.

Compared with a complex128 numpy Vandermonde product written here,
K[h, l] = Re(Σ_n c[h, n] λ[(h,) n]^l) with λ = exp(log λ), on float32-rounded inputs;
gradients with respect to Re/Im log λ and Re/Im c from the analytic derivatives below.
"""

import sys

import numpy as np
import pytest
from keras import ops

import keras_ssm
from _grad import NotApplicable
from _grad import call_forced
from _grad import value_and_grad
from keras_ssm.ops.reference import vandermonde as reference

OP = "vandermonde_kernel"
IMPLS = keras_ssm.ops.implementations(OP)
EPS32 = 2.0**-24

# --------------------------------------------------------------------------------------
# Independent numpy reference


def np_vandermonde(log_lambda, c, length):
    """log_lambda: complex (N,) or (H, N); c: complex (H, N). Returns (K (H, L), V)."""
    steps = np.arange(length)
    z = np.broadcast_to(log_lambda, c.shape)
    v = np.exp(z[..., None] * steps)  # (H, N, L)
    return np.einsum("hn,hnl->hl", c, v).real, v


def np_vandermonde_grads(log_lambda, c, length, w):
    """Gradients of Σ w·K. For z = log λ: dK/dRe z = Re(c l V), dK/dIm z = Re(i c l V);
    dK/dRe c = Re V, dK/dIm c = -Im V. A shared (N,) log λ sums over the H rows."""
    steps = np.arange(length)
    _, v = np_vandermonde(log_lambda, c, length)
    cv = c[..., None] * v * steps  # (H, N, L)
    d_z_re = np.einsum("hl,hnl->hn", w, cv.real)
    d_z_im = np.einsum("hl,hnl->hn", w, (1j * cv).real)
    d_c_re = np.einsum("hl,hnl->hn", w, v.real)
    d_c_im = -np.einsum("hl,hnl->hn", w, v.imag)
    if log_lambda.ndim == 1:
        d_z_re, d_z_im = d_z_re.sum(0), d_z_im.sum(0)
    return d_z_re, d_z_im, d_c_re, d_c_im


def float32_error_bound(log_lambda, c, length):
    """Per-element bound on the float32 error of any implementation, (H, L).

    Rounding l·Im z and l·Re z to float32 perturbs each term by up to eps·l·|z| (plus
    a few eps for exp/cos/sin and the sum): Σ_n |c| |λ|^l (l |z| + 4) eps.
    """
    steps = np.arange(length)
    z = np.broadcast_to(log_lambda, c.shape)
    mag = np.abs(c)[..., None] * np.exp(z.real[..., None] * steps)
    return EPS32 * np.sum(mag * (steps * np.abs(z)[..., None] + 4.0), axis=1)


def round32(x):
    return x.astype(np.complex64).astype(np.complex128)


def make_case(rng, rows, states, shared, decay=(0.001, 0.05)):
    z_shape = (states,) if shared else (rows, states)
    log_lambda = round32(-rng.uniform(*decay, z_shape) + 1j * rng.uniform(-np.pi, np.pi, z_shape))
    c = round32(rng.standard_normal((rows, states)) + 1j * rng.standard_normal((rows, states)))
    return log_lambda, c


def to_pair(x):
    return (
        ops.convert_to_tensor(x.real.astype("float32")),
        ops.convert_to_tensor(x.imag.astype("float32")),
    )


def to_numpy(x):
    return ops.convert_to_numpy(x).astype(np.float64)


def run(impl, log_lambda, c, length):
    lam_t, c_t = to_pair(log_lambda), to_pair(c)
    call = lambda: keras_ssm.ops.vandermonde_kernel(lam_t, c_t, length)
    return call_forced(OP, impl, call, lam_t, c_t, length)


def check_values(out, log_lambda, c, length):
    assert tuple(out.shape) == (c.shape[0], length)
    expected, _ = np_vandermonde(log_lambda, c, length)
    err = np.abs(to_numpy(out) - expected)
    tol = 4.0 * float32_error_bound(log_lambda, c, length)
    assert np.all(err <= tol), f"max error / tolerance = {np.max(err / tol):.3g}"


# --------------------------------------------------------------------------------------
# Values


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("shared", [True, False], ids=["shared_N", "per_row_HN"])
@pytest.mark.parametrize("length", [1, 37, 256])
def test_values(impl, shared, length, rng):
    log_lambda, c = make_case(rng, 3, 8, shared)
    out = run(impl, log_lambda, c, length)
    if out is NotApplicable:
        return
    check_values(out, log_lambda, c, length)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("shared", [True, False], ids=["shared_N", "per_row_HN"])
def test_several_chunks(impl, shared, rng, monkeypatch):
    """Chunks of a few steps, a length that is not a multiple of the chunk."""
    log_lambda, c = make_case(rng, 3, 8, shared)
    length = 37
    monkeypatch.setattr(reference, "ELEMENTS_PER_CHUNK", 120)
    states = 8 if shared else 24
    chunk = reference.chunk_length(states, length)
    # The patch must take effect: several chunks, the last one partial.
    assert chunk == 120 // states and length % chunk != 0
    out = run(impl, log_lambda, c, length)
    if out is NotApplicable:
        return
    check_values(out, log_lambda, c, length)
    # Gradients through several chunks too.
    w = rng.standard_normal((3, length))
    grads = _gradients(impl, log_lambda, c, length, w)
    if grads is not NotApplicable:
        _check_gradients(grads, log_lambda, c, length, w)


def test_real_inputs_count_as_zero_imaginary(rng):
    """Real tensors for log λ and c are pairs with a zero imaginary part."""
    z = -rng.uniform(0.01, 0.1, (5,))
    c = rng.standard_normal((2, 5))
    out = keras_ssm.ops.vandermonde_kernel(
        ops.convert_to_tensor(z.astype("float32")), ops.convert_to_tensor(c.astype("float32")), 20
    )
    expected, _ = np_vandermonde(z.astype(np.float32).astype(np.float64), c.astype(np.float32), 20)
    np.testing.assert_allclose(to_numpy(out), expected, rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------------------
# Gradients


def _gradients(impl, log_lambda, c, length, w):
    w_t = ops.convert_to_tensor(w.astype("float32"))

    def loss(z_re, z_im, c_re, c_im):
        return ops.sum(keras_ssm.ops.vandermonde_kernel((z_re, z_im), (c_re, c_im), length) * w_t)

    arrays = [x.astype("float32") for x in (log_lambda.real, log_lambda.imag, c.real, c.imag)]
    call = lambda: value_and_grad(loss, *arrays)
    return call_forced(OP, impl, call, to_pair(log_lambda), to_pair(c), length)


def _check_gradients(out, log_lambda, c, length, w):
    value, grads = out
    expected_k, _ = np_vandermonde(log_lambda, c, length)
    np.testing.assert_allclose(value, np.sum(w * expected_k), rtol=1e-4, atol=1e-4)
    expected = np_vandermonde_grads(log_lambda, c, length, w)
    names = ("Re log_lambda", "Im log_lambda", "Re c", "Im c")
    for name, got, want in zip(names, grads, expected):
        assert got.shape == want.shape, name
        scale = np.max(np.abs(want))
        err = np.max(np.abs(got - want))
        # dK/dz carries a factor l: the float32 phase error scales like l too.
        assert err <= 1e-4 * scale, f"{name}: max error {err:.3g}, scale {scale:.3g}"


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("shared", [True, False], ids=["shared_N", "per_row_HN"])
def test_gradients(impl, shared, rng):
    log_lambda, c = make_case(rng, 3, 5, shared)
    length = 30
    w = rng.standard_normal((3, length))
    out = _gradients(impl, log_lambda, c, length, w)
    if out is NotApplicable:
        return
    _check_gradients(out, log_lambda, c, length, w)


# --------------------------------------------------------------------------------------
# Memory-bounded large case


def _peak_rss_bytes():
    """Peak resident memory of this process (Linux), or None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@pytest.mark.slow
@pytest.mark.parametrize("impl", IMPLS)
def test_large_kernel_memory_bounded(impl, rng):
    """N = 4096, L = 262,144, H = 1 forward: N·L = 2^30 values (4 GiB in float32) are
    never held at once; the op finishes and matches numpy at sampled taps."""
    states, length = 4096, 262144
    log_lambda, c = make_case(rng, 1, states, shared=True, decay=(1e-5, 1e-3))
    peak_before = _peak_rss_bytes()
    out = run(impl, log_lambda, c, length)
    if out is NotApplicable:
        return
    k = to_numpy(out)
    assert k.shape == (1, length)
    if peak_before is not None:
        growth = _peak_rss_bytes() - peak_before
        assert growth < 2**30, f"peak memory grew by {growth / 2**30:.2f} GiB"
    taps = np.array([0, 1, 777, 65535, 131071, length - 1])
    expected = np.sum(c[0][:, None] * np.exp(log_lambda[:, None] * taps), axis=0).real
    z = log_lambda
    bound = EPS32 * np.sum(
        np.abs(c[0])[:, None] * np.exp(z.real[:, None] * taps) * (taps * np.abs(z)[:, None] + 4.0),
        axis=0,
    )
    err = np.abs(k[0, taps] - expected)
    assert np.all(err <= 4.0 * bound), f"errors {err}, bounds {4.0 * bound}"


# --------------------------------------------------------------------------------------
# Errors


def ones_pair(re_shape, im_shape=None):
    return (ops.ones(re_shape), ops.ones(im_shape or re_shape))


def test_error_c_rank():
    with pytest.raises(ValueError, match="`c` must have shape"):
        keras_ssm.ops.vandermonde_kernel(ones_pair((4,)), ones_pair((4,)), 8)


def test_error_log_lambda_shape():
    for bad in ((5,), (3, 5), (2, 4), (1, 3, 4)):
        with pytest.raises(ValueError, match="`log_lambda` must have shape"):
            keras_ssm.ops.vandermonde_kernel(ones_pair(bad), ones_pair((3, 4)), 8)


def test_error_mismatched_real_imag():
    with pytest.raises(ValueError, match="real and imaginary parts of `c`"):
        keras_ssm.ops.vandermonde_kernel(ones_pair((4,)), ones_pair((3, 4), (3, 5)), 8)
    with pytest.raises(ValueError, match="real and imaginary parts of `log_lambda`"):
        keras_ssm.ops.vandermonde_kernel(ones_pair((4,), (5,)), ones_pair((3, 4)), 8)


@pytest.mark.parametrize("length", [0, -3, 2.5, "8"])
def test_error_length(length):
    with pytest.raises(ValueError, match="`length` must be a positive int"):
        keras_ssm.ops.vandermonde_kernel(ones_pair((3, 4)), ones_pair((3, 4)), length)


def test_error_unknown_implementation_lists_valid_names():
    with pytest.raises(ValueError) as info:
        with keras_ssm.config.use_implementation(OP, "no_such_kernel"):
            pass
    for name in IMPLS:
        assert name in str(info.value)
