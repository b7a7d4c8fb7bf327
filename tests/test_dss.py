"""DSS layer (exp and softmax): outputs, modes, kernels, streaming, masking, init, dtypes."""

import keras
import numpy as np
import pytest

import layer_checks as lc
from keras_ssm.layers import DSS

H, N, L = 3, 8, 24
VARIANTS = ["exp", "softmax"]
EPS = 1e-7
FLOAT32_LOG_MAX = np.log(np.finfo(np.float32).max)  # ≈ 88.7


def make(**kwargs):
    kwargs.setdefault("seed", 1)
    kwargs.setdefault("dt_min", 1e-2)
    kwargs.setdefault("dt_max", 0.5)
    return DSS(state_size=kwargs.pop("state_size", N), **kwargs)


@pytest.fixture
def u():
    return np.random.default_rng(0).normal(size=(2, L, H)).astype("float32")


# ----------------------------------------------------------------------------------------
# numpy references from the weights (the paper's formulas)


def weights(layer):
    """(λ (N,), Δ (H,), W (H, N), W_backward or None, D (H,)) in float64."""
    f64 = lambda v: lc.to_numpy(v).astype(np.float64)
    if layer.variant == "exp":
        lam = -np.exp(f64(layer.lambda_log_neg_re)) + 1j * f64(layer.lambda_imag)
    else:
        lam = f64(layer.lambda_re) + 1j * f64(layer.lambda_im)
    to_c = lambda w: w[..., 0] + 1j * w[..., 1]
    w_back = to_c(f64(layer.w_backward)) if layer.bidirectional else None
    return lam, np.exp(f64(layer.log_dt)), to_c(f64(layer.w)), w_back, f64(layer.d)


def safe_softmax(x):
    """The paper's softmax_ε over the last axis of complex x (naive, with the max shift)."""
    m = np.take_along_axis(x, np.argmax(x.real, axis=-1)[..., None], axis=-1)
    e = np.exp(x - m)
    s = e.sum(axis=-1, keepdims=True)
    return e * np.conj(s) / (s * np.conj(s) + EPS)


def paper_kernel(layer, length, step_scale=1.0, w=None):
    """K[h, k] by DSS_EXP / DSS_SOFTMAX as written in the paper, numpy float64."""
    lam, dt, w_fwd, _, _ = weights(layer)
    w = w_fwd if w is None else w
    z = (dt * step_scale)[:, None] * lam[None, :]  # (H, N)
    k = np.arange(length)
    if layer.variant == "exp":
        terms = ((np.exp(z) - 1) / lam)[..., None] * np.exp(z[..., None] * k)
    else:
        terms = safe_softmax(z[..., None] * k) / lam[:, None]
    return np.real(np.einsum("hn,hnk->hk", w, terms))


def causal_conv_numpy(u, kernel):
    y = np.zeros(u.shape)
    for i in range(u.shape[0]):
        for h in range(u.shape[2]):
            y[i, :, h] = np.convolve(u[i, :, h], kernel[h])[: u.shape[1]]
    return y


def skew_hippo_omega(n):
    """Positive imaginary parts of the eigenvalues of the skew part of HiPPO-LegS (2N×2N)."""
    q = np.sqrt(2.0 * np.arange(2 * n) + 1.0)
    m = np.tril(np.outer(q, q), k=-1)
    eig = np.linalg.eigvals((m - m.T) / 2)
    return np.sort(eig.imag)[::-1][:n]


def set_positive_real_parts(layer, lam_re, lam_im, dt):
    layer.lambda_re.assign(np.asarray(lam_re, "float32"))
    layer.lambda_im.assign(np.asarray(lam_im, "float32"))
    layer.log_dt.assign(np.log(np.asarray(dt, "float32")))


# ----------------------------------------------------------------------------------------
# outputs and modes


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("variant", VARIANTS)
def test_matches_discrete_system_in_every_mode(u, variant, bidirectional):
    lc.check_matches_system(
        lambda **kw: make(variant=variant, bidirectional=bidirectional, **kw),
        u,
        modes=("auto", "convolution", "recurrence"),
    )


@pytest.mark.parametrize("variant", VARIANTS)
def test_modes_agree(u, variant):
    lc.check_modes_agree(lambda **kw: make(variant=variant, bidirectional=True, **kw), u)


@pytest.mark.parametrize("variant", VARIANTS)
def test_kernel_reproduces_output(u, variant):
    layer = make(variant=variant)
    layer(u)
    lc.check_kernel(layer, u)


@pytest.mark.parametrize("variant", VARIANTS)
def test_kernel_is_the_papers_formula(variant):
    layer = make(variant=variant)
    layer.build((None, L, H))
    lc.assert_close(
        lc.to_numpy(layer.convolution_kernel(L)), paper_kernel(layer, L), atol=1e-5, what="kernel"
    )
    if variant == "softmax":
        # The kernel depends on the total length: at 2L it is not the first L taps.
        k2 = lc.to_numpy(layer.convolution_kernel(2 * L))
        lc.assert_close(k2, paper_kernel(layer, 2 * L), atol=1e-5, what="kernel at 2L")
        assert np.abs(k2[:, :L] - paper_kernel(layer, L)).max() > 1e-3


def test_softmax_positive_real_part_matches_in_every_mode(u):
    """Re λ > 0 (allowed by DSS_SOFTMAX) at a length where b̄ is representable."""

    def make_positive(**kw):
        layer = make(variant="softmax", state_size=4, **kw)
        layer.build((None, L, H))
        set_positive_real_parts(layer, [-0.5, 0.4, 0.8, 0.0], [0.3, 1.0, 2.0, 0.7], [0.2, 0.5, 1.0])
        return layer

    outputs = lc.check_matches_system(make_positive, u, modes=("auto", "convolution", "recurrence"))
    layer = make_positive()
    expected = causal_conv_numpy(u, paper_kernel(layer, L)) + weights(layer)[4] * u
    lc.assert_close(outputs["auto"], expected, what="paper kernel convolution")


def test_softmax_positive_real_part_does_not_overflow(u):
    """Rows with Re λ > 0 at (L-1)·Re Z > log(float32 max): kernel, outputs, mask, grads."""
    layer = make(variant="softmax", mode="convolution", bidirectional=True)
    layer.build((None, L, H))
    lam_re = np.array([-0.5, 5.0, 3.0, 0.5, -1.0, 4.0, 0.1, 8.0])
    dt = np.array([1.0, 0.5, 0.8])
    set_positive_real_parts(layer, lam_re, np.linspace(0.2, 1.5, N), dt)
    # The naive form e^{kZ} overflows float32 here.
    assert (L - 1) * (dt[:, None] * lam_re).max() > FLOAT32_LOG_MAX
    with np.errstate(over="ignore"):
        assert np.isinf(np.exp(np.float32((L - 1) * dt.max() * lam_re.max())))
    kernel = lc.to_numpy(layer.convolution_kernel(L))
    assert np.all(np.isfinite(kernel))
    expected_kernel = paper_kernel(layer, L)
    # The weight sits at the largest lags for Re λ > 0.
    assert np.abs(expected_kernel[:, -1]).max() > 0.1
    lc.assert_close(kernel, expected_kernel, atol=1e-5, what="kernel")
    y = lc.to_numpy(layer(u))
    backward_kernel = paper_kernel(layer, L, w=weights(layer)[3])
    expected = lc.authors_bidirectional(u, expected_kernel, backward_kernel, weights(layer)[4])
    lc.assert_close(y, expected, what="output")
    lc.check_masking(layer, u, lengths=[L, 13])
    lc.check_gradients_flow(layer, u)
    lc.check_gradients_flow(MaskedCall(layer, np.arange(L)[None, :] < np.array([[L], [13]])), u)


# ----------------------------------------------------------------------------------------
# streaming, bidirectional, masking


def test_softmax_cannot_stream(u):
    layer = make(variant="softmax")
    layer(u)
    message = "normalizes its kernel over the whole sequence length"
    with pytest.raises(ValueError, match=message):
        layer(u, return_state=True)
    with pytest.raises(ValueError, match=message):
        layer(u, initial_state=layer.get_initial_state(2))
    with pytest.raises(ValueError, match=message):
        layer.step(u[:, 0], layer.get_initial_state(2))
    with pytest.raises(ValueError, match="length"):
        layer.discrete_system()
    with pytest.raises(ValueError, match="step_scale"):
        layer(u, step_scale=keras.ops.ones((2, L)))


@pytest.mark.parametrize("variant", VARIANTS)
def test_bidirectional_formula(u, variant):
    layer = make(variant=variant, bidirectional=True)
    layer(u)
    lc.check_bidirectional_formula(layer, u)
    # The backward system: the same a (shared Λ, Δ), its own W.
    forward = layer.discrete_system("forward", length=L)
    backward = layer.discrete_system("backward", length=L)
    np.testing.assert_array_equal(forward["a"], backward["a"])
    assert np.abs(forward["c"] - backward["c"]).max() > 0.1


def randomize(layer, seed=5):
    """Random small weights: Re λ in [-1, -0.1] (and one > 0 for softmax), W, D ~ 0.5."""
    rng = np.random.default_rng(seed)
    n = layer.state_size
    lam_re = -rng.uniform(0.1, 1.0, n)
    if layer.variant == "softmax":
        lam_re[0] = 0.3
        layer.lambda_re.assign(lam_re.astype("float32"))
        layer.lambda_im.assign(rng.uniform(0.0, 3.0, n).astype("float32"))
    else:
        layer.lambda_log_neg_re.assign(np.log(-lam_re).astype("float32"))
        layer.lambda_imag.assign(rng.uniform(0.0, 3.0, n).astype("float32"))
    layer.log_dt.assign(np.log(rng.uniform(0.05, 0.5, layer.features)).astype("float32"))
    for v in (layer.w, layer.w_backward, layer.d):
        v.assign((0.5 * rng.normal(size=v.shape)).astype("float32"))


def authors_output(layer, u):
    """ag1988/dss's bidirectional DSS in numpy: the paper kernels of the length, forward
    at lags 0..L-1 and backward (W_backward) at lags -1..-L."""
    n = u.shape[1]
    _, _, _, w_back, d = weights(layer)
    return lc.authors_bidirectional(u, paper_kernel(layer, n), paper_kernel(layer, n, w=w_back), d)


@pytest.mark.parametrize("mode", ["convolution", "recurrence"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_bidirectional_follows_the_authors_code(u, variant, mode):
    """The backward kernel covers strictly future inputs (lags -1..-L), in both modes."""
    layer = make(variant=variant, bidirectional=True, mode=mode)
    layer.build(u.shape)
    randomize(layer)
    lc.assert_close(lc.to_numpy(layer(u)), authors_output(layer, u), atol=1e-5)


@pytest.mark.parametrize("mode", ["convolution", "recurrence"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_bidirectional_masking_follows_the_authors_code(u, variant, mode):
    """A padded batch gives, at valid positions, the authors' output of each unpadded sequence."""
    layer = make(variant=variant, bidirectional=True, mode=mode)
    layer.build(u.shape)
    randomize(layer)
    lc.check_bidirectional_masking(layer, u, lambda x: authors_output(layer, x), [L, 13])


@pytest.mark.parametrize("variant", VARIANTS)
def test_old_bidirectional_config_is_refused(u, variant):
    layer = make(variant=variant, bidirectional=True)
    layer(u)
    lc.check_refuses_old_bidirectional_config(layer, u)


class MaskedCall(keras.layers.Layer):
    """Calls `layer` with a fixed mask (to take gradients through the masked path)."""

    def __init__(self, layer, mask):
        super().__init__()
        self.layer = layer
        self.mask = mask

    def call(self, inputs):
        return self.layer(inputs, mask=keras.ops.convert_to_tensor(self.mask))


@pytest.mark.parametrize("one_at_a_time", [False, True])
def test_softmax_per_sequence_kernels(u, one_at_a_time):
    """Masked softmax convolution: each sequence uses the paper kernel of its own length.

    one_at_a_time=True is the path taken when the batch size is not static (tf.function).
    """
    layer = make(variant="softmax", bidirectional=True)
    layer(u)
    lengths = np.array([L, 13])
    valid = (np.arange(L)[None, :] < lengths[:, None]).astype("float32")
    y = lc.to_numpy(
        layer._per_sequence_convolution(
            u * valid[..., None],
            keras.ops.convert_to_tensor(lengths.astype("float32")),
            1.0,
            one_at_a_time=one_at_a_time,
        )
    )
    _, _, w, w_back, _ = weights(layer)
    no_d = np.zeros(H)
    for i, n in enumerate(lengths):
        x = u[i : i + 1, :n]
        expected = lc.authors_bidirectional(
            x, paper_kernel(layer, n), paper_kernel(layer, n, w=w_back), no_d
        )
        lc.assert_close(y[i : i + 1, :n], expected, what=f"sequence {i}")


def test_softmax_masked_gradients_recurrence(u):
    """Gradients through the per-sequence (masked) softmax recurrence reach every variable.

    (The masked convolution is covered by test_softmax_positive_real_part_does_not_overflow.)
    """
    mask = np.arange(L)[None, :] < np.array([[L], [13]])
    layer = make(variant="softmax", mode="recurrence", bidirectional=True)
    lc.check_gradients_flow(MaskedCall(layer, mask), u)


# ----------------------------------------------------------------------------------------
# initialization and the discrete system


@pytest.mark.parametrize("variant", VARIANTS)
def test_initialization_follows_the_paper(variant):
    n, h, dt_min, dt_max = 64, 512, 1e-3, 0.1
    layer = DSS(state_size=n, variant=variant, dt_min=dt_min, dt_max=dt_max, seed=0)
    layer.build((None, 16, h))
    lam = weights(layer)[0]
    np.testing.assert_allclose(lam.real, -0.5, rtol=1e-6)
    np.testing.assert_allclose(lam.imag, skew_hippo_omega(n), rtol=1e-5)
    assert np.all(lam.imag > 0)
    # Δ per feature, log-uniform in [dt_min, dt_max].
    dt = np.exp(lc.to_numpy(layer.log_dt).astype(np.float64))
    assert dt.shape == (h,)
    assert np.all(dt >= dt_min * (1 - 1e-5)) and np.all(dt <= dt_max * (1 + 1e-5))
    fraction = np.mean(np.log(dt) < 0.5 * (np.log(dt_min) + np.log(dt_max)))
    assert 0.4 < fraction < 0.6, fraction
    assert np.log(dt).min() < np.log(dt_min) + 0.1 and np.log(dt).max() > np.log(dt_max) - 0.1
    w = lc.to_numpy(layer.w)
    assert w.shape == (h, n, 2)
    assert abs(w.mean()) < 0.02 and 0.97 < w.std() < 1.03
    d = lc.to_numpy(layer.d)
    assert d.shape == (h,) and 0.85 < d.std() < 1.15


def test_skew_hippo_values_from_the_spec():
    layer = DSS(state_size=4)
    layer.build((None, 8, 1))
    np.testing.assert_allclose(lc.to_numpy(layer.lambda_imag), [19.86, 5.35, 1.96, 0.43], atol=6e-3)


@pytest.mark.parametrize("lambda_init", ["lin", "randn"])
def test_other_lambda_inits(lambda_init):
    layer = DSS(state_size=16, variant="softmax", lambda_init=lambda_init, seed=5)
    layer.build((None, 8, 2))
    lam = weights(layer)[0]
    np.testing.assert_allclose(lam.real, -0.5)
    if lambda_init == "lin":
        np.testing.assert_allclose(lam.imag, np.pi * np.arange(16), rtol=1e-6)
    else:
        assert 0.3 < lam.imag.std() < 2.0 and len(np.unique(lam.imag)) == 16


@pytest.mark.parametrize("variant", VARIANTS)
def test_discrete_system_layout(variant):
    layer = make(variant=variant)
    layer.build((None, L, H))
    s = layer.discrete_system(length=L)
    assert s["a"].shape == (H * N,) and s["b"].shape == (H * N, H) and s["c"].shape == (H, H * N)
    lam, dt, w, _, d = weights(layer)
    z = dt[:, None] * lam[None, :]
    np.testing.assert_allclose(s["a"], np.exp(z).reshape(-1), rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(s["d"], d)
    for h in range(H):
        rows = slice(h * N, (h + 1) * N)
        assert np.all(np.delete(s["b"][rows], h, axis=1) == 0)
        np.testing.assert_allclose(s["c"][h, rows], w[h])
    if variant == "exp":
        np.testing.assert_allclose(
            s["b"][np.arange(H * N), np.repeat(np.arange(H), N)],
            ((np.exp(z) - 1) / lam).reshape(-1),
            rtol=1e-4,
            atol=1e-7,
        )


# ----------------------------------------------------------------------------------------
# step_scale


@pytest.mark.parametrize("variant", VARIANTS)
def test_step_scale_float(u, variant):
    layer = make(variant=variant)
    layer(u)
    a1 = layer.discrete_system(length=L)["a"]
    a2 = layer.discrete_system(step_scale=2.0, length=L)["a"]
    np.testing.assert_allclose(a2, a1**2, rtol=1e-5, atol=1e-6)  # Δ doubles -> a squares
    lc.check_matches_system(
        lambda **kw: make(variant=variant, **kw),
        u,
        modes=("convolution", "recurrence"),
        step_scale=2.0,
    )
    lc.assert_close(
        lc.to_numpy(layer.convolution_kernel(L, step_scale=2.0)),
        paper_kernel(layer, L, step_scale=2.0),
        atol=1e-5,
        what="kernel, step 2",
    )


def per_step_reference(layer, u, scales):
    """Numpy loop with a_t = e^{Δ s_t λ}, b̄_t = (a_t - 1)/λ (DSS_EXP), both directions.

    Backward (strictly future inputs): u_s enters with its own interval s_s (held over
    the interval before s) and decays over the intervals back to t + 1; the output at t
    reads the backward state at t + 1.
    """
    lam, dt, w, w_back, d = weights(layer)
    batch, length, _ = u.shape

    def run(u_dir, s_dir, w_dir):
        x = np.zeros((batch, len(dt), len(lam)), complex)
        ys = []
        for t in range(length):
            z = (s_dir[:, t, None] * dt[None, :])[..., None] * lam  # (B, H, N)
            x = np.exp(z) * x + (np.exp(z) - 1) / lam * u_dir[:, t, :, None]
            ys.append(np.real(np.einsum("hn,bhn->bh", w_dir, x)))
        return np.stack(ys, 1)

    y = run(u, scales, w) + d * u
    if layer.bidirectional:
        z = run(u[:, ::-1], scales[:, ::-1], w_back)[:, ::-1]
        y[:, :-1] += z[:, 1:]
    return y


@pytest.mark.parametrize("bidirectional", [False, True])
def test_step_scale_per_step(u, bidirectional):
    scales = np.random.default_rng(4).uniform(0.3, 3.0, size=u.shape[:2]).astype("float32")
    layer = make(variant="exp", bidirectional=bidirectional)
    layer(u)
    y = lc.to_numpy(layer(u, step_scale=keras.ops.convert_to_tensor(scales)))
    lc.assert_close(y, per_step_reference(layer, u, scales), what="per-step step_scale")
    # a constant tensor equals the float
    y2 = lc.to_numpy(layer(u, step_scale=keras.ops.full(u.shape[:2], 2.0)))
    lc.assert_close(y2, lc.to_numpy(layer(u, step_scale=2.0)), what="constant tensor vs float")
    with pytest.raises(ValueError, match="convolution"):
        make(variant="exp", mode="convolution")(u, step_scale=keras.ops.convert_to_tensor(scales))


# ----------------------------------------------------------------------------------------
# errors, serialization, dtypes, gradients, training


def test_errors():
    with pytest.raises(ValueError, match="variant.*'exp', 'softmax'"):
        DSS(variant="cauchy")
    with pytest.raises(ValueError, match="lambda_init.*'hippo_skew', 'lin', 'randn'"):
        DSS(lambda_init="legs")
    with pytest.raises(ValueError, match="dt_min"):
        DSS(dt_min=0.5, dt_max=0.1)
    with pytest.raises(ValueError, match="dt_min"):
        DSS(dt_min=0.0)
    with pytest.raises(ValueError, match="state_size"):
        DSS(state_size=0)
    with pytest.raises(ValueError, match="mode"):
        DSS(mode="fft")
    with pytest.raises(ValueError, match="expected ndim=3"):
        DSS()(np.zeros((4, 3), "float32"))
    layer = make(bidirectional=True)
    u = np.zeros((1, L, H), "float32")
    layer(u)
    with pytest.raises(ValueError, match="causal"):
        layer(u, return_state=True)
    with pytest.raises(ValueError, match="direction"):
        layer.discrete_system("sideways")
    with pytest.raises(ValueError, match="convolution"):
        make(mode="convolution")(u, return_state=True)


@pytest.mark.parametrize("variant", VARIANTS)
def test_config_roundtrip(u, variant):
    layer = make(variant=variant, bidirectional=True, lambda_init="lin", mode="recurrence")
    layer(u)
    config = layer.get_config()
    for key, value in dict(
        state_size=N,
        variant=variant,
        bidirectional=True,
        mode="recurrence",
        dt_min=1e-2,
        dt_max=0.5,
        lambda_init="lin",
        seed=1,
    ).items():
        assert config[key] == value, key
    lc.check_config_roundtrip(layer, u)


def test_softmax_cannot_stream_symbolically():
    with pytest.raises(ValueError, match="cannot stream"):
        make(variant="softmax")(keras.Input((L, H)), return_state=True)


@pytest.mark.parametrize("variant", VARIANTS)
def test_per_layer_implementation(u, variant, monkeypatch):
    lc.check_per_layer_implementation(lambda **kw: make(variant=variant, **kw), u, monkeypatch)


def test_implementation_errors():
    lc.check_implementation_errors(lambda **kw: make(**kw))


def test_save_and_load_on_other_backends(u, tmp_path):
    layer = make(variant="softmax", bidirectional=True)
    lc.check_save_load_other_backends(layer, u, tmp_path)


@pytest.mark.parametrize("mode", ["convolution", "recurrence"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_gradients_reach_every_variable(u, variant, mode):
    lc.check_gradients_flow(make(variant=variant, mode=mode, bidirectional=True), u)


@pytest.mark.parametrize("variant", VARIANTS)
def test_training_lowers_loss(variant):
    lc.check_training_reduces_loss(lambda: make(variant=variant, state_size=16))
