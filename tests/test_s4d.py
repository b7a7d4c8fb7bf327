"""S4D: the paper's formulas in numpy, the S4 code's kernel and bidirectional layout, the
initializations, step_scale, errors.

Reference (spec s4d_lru.md A3-A6, A10): with Δ = exp(log_dt), A = −exp(log_a_real) + i a_imag,
ZOH Ā = e^{ΔA}, B̄ = (Ā − 1)/A · B; bilinear Ā = (1 + ΔA/2)/(1 − ΔA/2), B̄ = Δ/(1 − ΔA/2) · B;
x_t = Ā x_{t−1} + B̄ u_t, y_t = 2 Re Σ_n C x_t + D u_t (N/2 modes, one per conjugate pair).
The contract shared by every layer is tests/test_layer_contract.py's.
"""

import numpy as np
import pytest

import layer_checks as lc
from keras_ssm.layers import S4D

H, N, L = 3, 8, 20


def make(**kwargs):
    kwargs.setdefault("seed", 1)
    kwargs.setdefault("dt_min", 1e-2)
    kwargs.setdefault("dt_max", 0.5)
    return S4D(state_size=kwargs.pop("state_size", N), **kwargs)


@pytest.fixture
def u():
    return np.random.default_rng(0).normal(size=(2, L, H)).astype("float32")


def randomize(layer, seed=5):
    """Random weights: Re A in [−1, −0.05], Im A of either sign, B, C, D of order 0.5."""
    rng = np.random.default_rng(seed)
    shape = layer.a_imag.shape
    layer.log_a_real.assign(np.log(rng.uniform(0.05, 1.0, shape)).astype("float32"))
    layer.a_imag.assign(rng.uniform(-4.0, 4.0, shape).astype("float32"))
    for v in [layer.b, layer.c, layer.d] + ([layer.c_backward] if layer.bidirectional else []):
        v.assign((0.5 * rng.normal(size=v.shape)).astype("float32"))


def weights(layer):
    f64 = lambda v: lc.to_numpy(v).astype(np.float64)
    pair = lambda v: f64(v)[..., 0] + 1j * f64(v)[..., 1]
    return dict(
        dt=np.exp(f64(layer.log_dt)),
        a=-np.exp(f64(layer.log_a_real)) + 1j * f64(layer.a_imag),
        b=pair(layer.b),
        c=pair(layer.c),
        c_backward=pair(layer.c_backward) if layer.bidirectional else None,
        d=f64(layer.d),
    )


def discretized(w, discretization, step_scale=1.0):
    """(Ā, B̄), each (H, N/2), by the paper's formulas."""
    dt_a = (step_scale * w["dt"])[:, None] * w["a"]
    if discretization == "zoh":
        return np.exp(dt_a), (np.exp(dt_a) - 1.0) / w["a"] * w["b"]
    a_bar = (1.0 + dt_a / 2) / (1.0 - dt_a / 2)
    return a_bar, (step_scale * w["dt"])[:, None] / (1.0 - dt_a / 2) * w["b"]


def loop_output(w, u, discretization, step_scale=1.0):
    """The recurrence, complex128: x_t = Ā x_{t−1} + B̄ u_t, y_t = 2 Re Σ_n C x_t + D u_t."""
    a_bar, b_bar = discretized(w, discretization, step_scale)
    x = np.zeros((u.shape[0],) + a_bar.shape, np.complex128)
    ys = []
    for t in range(u.shape[1]):
        x = a_bar * x + b_bar * u[:, t, :, None]
        ys.append(2.0 * np.sum(w["c"] * x, axis=-1).real + w["d"] * u[:, t])
    return np.stack(ys, axis=1)


def kernel(w, c, discretization, length):
    """K[h, l] = 2 Re Σ_n C B̄ Ā^l (direct powers)."""
    a_bar, b_bar = discretized(w, discretization)
    powers = a_bar[..., None] ** np.arange(length)
    return 2.0 * np.einsum("hn,hnl->hl", c * b_bar, powers).real


def direct_convolution(k, u, d):
    """y[b, t, h] = Σ_{j<=t} K[h, j] u[b, t−j, h] + D_h u[b, t, h] (double loop)."""
    y = d * u.astype(np.float64)
    for t in range(u.shape[1]):
        for j in range(t + 1):
            y[:, t] += k[:, j] * u[:, t - j]
    return y


@pytest.mark.parametrize(
    "discretization,mode",
    [("zoh", "convolution"), ("zoh", "recurrence"), ("bilinear", "convolution")],
)
def test_layer_computes_the_papers_formulas(u, discretization, mode):
    layer = make(discretization=discretization, mode=mode)
    layer.build(u.shape)
    randomize(layer)
    w = weights(layer)
    k = kernel(w, w["c"], discretization, L)
    loop = loop_output(w, u, discretization)
    np.testing.assert_allclose(loop, direct_convolution(k, u, w["d"]), atol=1e-10)  # spec A10
    lc.assert_close(lc.to_numpy(layer(u)), loop, atol=1e-5)
    lc.assert_close(lc.to_numpy(layer.convolution_kernel(L)), k, atol=1e-5, what="kernel")


def test_step_scale_multiplies_delta(u):
    """step_scale = 2 is the same layer with every Δ doubled (the S4 code's `rate`), in
    both modes; a per-step tensor of 2.0 is the same."""
    layer = make(mode="convolution")
    layer.build(u.shape)
    randomize(layer)
    expected = loop_output(weights(layer), u, "zoh", step_scale=2.0)
    lc.assert_close(lc.to_numpy(layer(u, step_scale=2.0)), expected, atol=1e-5)
    layer.mode = "auto"
    per_step = np.full(u.shape[:2], 2.0, "float32")
    lc.assert_close(lc.to_numpy(layer(u, step_scale=per_step)), expected, atol=1e-5)


def authors_output(layer, u):
    """The S4 code's bidirectional FFTConv in numpy (spec A5), in its own conventions.

    The S4 repository stores A with Im A <= 0 and B conjugated (A1, A11.5): its kernels
    K_c[h, l] = 2 Re Σ_n C̃_c (e^{ΔA} − 1)/A e^{ΔA l} with C̃ = B ⊙ C and (A, B, C) the
    conjugates of ours. k0 fills taps 0..L−1 of a length-2L kernel, reversed k1 taps
    L..2L−1; y = irfft(rfft(u, 2L) rfft(k, 2L))[:L] + D u.
    """
    w = weights(layer)
    a, b = np.conj(w["a"]), np.conj(w["b"])
    dt_a = w["dt"][:, None] * a
    length = u.shape[1]
    powers = np.exp(dt_a[..., None] * np.arange(length))

    def kernel_of(c):
        return 2.0 * np.einsum("hn,hnl->hl", np.conj(c) * b * (np.exp(dt_a) - 1.0) / a, powers).real

    k = np.concatenate([kernel_of(w["c"]), kernel_of(w["c_backward"])[:, ::-1]], axis=-1)
    spectrum = np.fft.rfft(np.moveaxis(u, 1, -1), n=2 * length) * np.fft.rfft(k, n=2 * length)
    y = np.fft.irfft(spectrum, n=2 * length)[..., :length]
    return np.moveaxis(y, -1, 1) + w["d"] * u


@pytest.mark.parametrize("mode", ["convolution", "recurrence"])
def test_bidirectional_follows_the_s4_code(u, mode):
    layer = make(bidirectional=True, mode=mode)
    layer.build(u.shape)
    randomize(layer)
    lc.assert_close(lc.to_numpy(layer(u)), authors_output(layer, u), atol=1e-5)
    # y_T−1 reads u_T−1 only through K[0] and D (the backward kernel starts at lag −1).
    v = u.copy()
    v[:, -1] += 1.0
    delta = lc.to_numpy(layer(v))[:, -1] - lc.to_numpy(layer(u))[:, -1]
    k0 = lc.to_numpy(layer.convolution_kernel(L))[:, 0]
    np.testing.assert_allclose(
        delta, np.broadcast_to(k0 + lc.to_numpy(layer.d), delta.shape), atol=1e-5
    )


def test_bidirectional_config_loads():
    """S4D was born with the S4 code's backward lag: its configs carry no version and load."""
    layer = make(bidirectional=True)
    config = layer.get_config()
    assert "version" not in config
    assert S4D.from_config(config).bidirectional


def test_initialization_lin_and_the_other_weights():
    n, features, dt_min, dt_max = 64, 256, 1e-3, 1e-1
    layer = S4D(state_size=n, dt_min=dt_min, dt_max=dt_max, seed=0)
    layer.build((None, 8, features))
    w = weights(layer)
    assert w["a"].shape == (features, n // 2)
    np.testing.assert_allclose(w["a"].real, -0.5, rtol=1e-6)
    np.testing.assert_allclose(
        w["a"].imag, np.broadcast_to(np.pi * np.arange(n // 2), (features, n // 2)), rtol=1e-6
    )
    np.testing.assert_array_equal(w["b"], 1.0)
    # C complex standard normal: each part N(0, 1/2) (8192 draws: ±5% on the std).
    for part in (w["c"].real, w["c"].imag):
        assert abs(part.std() - np.sqrt(0.5)) < 0.05 * np.sqrt(0.5) and abs(part.mean()) < 0.03
    assert abs(w["d"].std() - 1.0) < 0.15
    log_dt = np.log(w["dt"])
    assert np.all((log_dt >= np.log(dt_min) - 1e-6) & (log_dt <= np.log(dt_max) + 1e-6))
    # log-uniform: each quarter of [log dt_min, log dt_max] gets 64 ± 24 of the 256.
    counts = np.histogram(log_dt, bins=4, range=(np.log(dt_min), np.log(dt_max)))[0]
    assert np.all(np.abs(counts - 64) < 24), counts


def test_initialization_inv():
    """S4D-Inv: A_n = −½ + i (N/π)(N/(2n+1) − 1), with the full N (spec A2 and A11.3)."""
    layer = S4D(state_size=64, init="inv", seed=0)
    layer.build((None, 8, 2))
    a = weights(layer)["a"]
    n = np.arange(32)
    np.testing.assert_allclose(a.imag[1], 64 / np.pi * (64 / (2 * n + 1) - 1), rtol=1e-6)
    np.testing.assert_allclose(a.real, -0.5, rtol=1e-6)
    assert a.imag[0, 0] == pytest.approx(1283.4, abs=0.05)
    assert a.imag[0, -1] == pytest.approx(0.3234, abs=1e-4)


def legs_in_the_s4_code(n):
    """HiPPO-LegS's normal part diagonalized as the S4 code's `nplr` does (spec A2).

    A_LegS[i, j] = −sqrt((2i+1)(2j+1)) below the diagonal, −(i+1) on it; S = A + p pᵀ with
    p_i = sqrt(i + ½); Λ = mean(diag S) + i·eigh(−iS) (lower triangle), the N/2 of most
    negative imaginary part; B = Vᴴ b (b_i = sqrt(2i+1)) with Im B clamped to [−2, 2].
    Returned conjugated (our sign of Im A).
    """
    q = np.arange(n)
    a = -np.sqrt(np.outer(2 * q + 1, 2 * q + 1)) * (q[:, None] > q[None, :]) - np.diag(q + 1.0)
    s = a + np.outer(np.sqrt(q + 0.5), np.sqrt(q + 0.5))
    w, v = np.linalg.eigh(s * -1j, UPLO="L")
    order = np.argsort(w)[: n // 2]
    lam = np.mean(np.diag(s)) + 1j * w[order]
    b = v[:, order].conj().T @ np.sqrt(2 * q + 1.0)
    b = b.real + 1j * np.clip(b.imag, -2.0, 2.0)
    return np.conj(lam), np.conj(b)


def test_initialization_legs():
    layer = S4D(state_size=8, init="legs", seed=0)
    layer.build((None, 8, 2))
    w = weights(layer)
    np.testing.assert_allclose(w["a"].imag[0], [19.857, 5.354, 1.958, 0.427], atol=1e-3)
    lam, b = legs_in_the_s4_code(8)
    for h in range(2):
        np.testing.assert_allclose(w["a"][h], lam, rtol=1e-6)
        # An eigenvector's sign is arbitrary (the solver's round-off picks it), so B is
        # the code's up to a sign per mode, which the symmetric draw of C absorbs.
        sign = np.sign((w["b"][h] * np.conj(b)).real)
        np.testing.assert_allclose(w["b"][h], sign * b, rtol=1e-5, atol=1e-6)
    assert np.abs(w["b"].imag).max() == pytest.approx(2.0)  # the code's clamp is active
    layer = S4D(state_size=64, init="legs", seed=0)
    layer.build((None, 8, 1))
    imag = weights(layer)["a"].imag[0]
    assert imag.max() == pytest.approx(1303.27, abs=0.01)
    assert imag.min() == pytest.approx(0.2639, abs=1e-4)


def test_discrete_system_layout_and_factor_two():
    layer = make()
    layer.build((None, L, H))
    system = layer.discrete_system()
    half = N // 2
    assert system["a"].shape == (H * half,) and system["c"].shape == (H, H * half)
    w = weights(layer)
    a_bar, b_bar = discretized(w, "zoh")
    np.testing.assert_allclose(system["a"], a_bar.reshape(-1), rtol=1e-5)
    np.testing.assert_allclose(system["b"][:half, 0], b_bar[0], rtol=1e-5)
    np.testing.assert_allclose(system["c"][0, :half], 2 * w["c"][0], rtol=1e-6)


def test_errors():
    with pytest.raises(ValueError, match="`state_size` must be even"):
        S4D(state_size=5)
    with pytest.raises(ValueError, match="`init` must be one of"):
        S4D(init="hippo")
    with pytest.raises(ValueError, match="`discretization` must be one of"):
        S4D(discretization="euler")
    with pytest.raises(ValueError, match="dt_min"):
        S4D(dt_min=0.5, dt_max=0.1)
    layer = make(bidirectional=True)
    x = np.zeros((1, L, H), "float32")
    layer(x)
    with pytest.raises(ValueError, match="causal"):
        layer(x, return_state=True)
    with pytest.raises(ValueError, match="convolution"):
        make(mode="convolution")(x, return_state=True)


def test_gradients_reach_every_variable(u):
    lc.check_gradients_flow(make(bidirectional=True, mode="convolution"), u)
