"""LRU: the paper's recurrence in numpy, its Appendix A computation (an associative scan),
the ring initialization, γ folded into b, the bidirectional choice, errors.

Reference (spec s4d_lru.md B1, B4, B9): λ = exp(−exp(ν_log) + i exp(θ_log)),
B̃ = diag(exp(γ_log)) (B_re + i B_im), x_k = λ ⊙ x_{k−1} + B̃ u_k, y_k = Re(C x_k) + D ⊙ u_k
(no factor 2). The contract shared by every layer is tests/test_layer_contract.py's.
"""

import keras
import numpy as np
import pytest

import layer_checks as lc
from keras_ssm.layers import LRU
from keras_ssm.layers import S4D

H, N, L = 3, 6, 20


def make(**kwargs):
    kwargs.setdefault("seed", 1)
    kwargs.setdefault("r_min", 0.5)
    kwargs.setdefault("r_max", 0.95)
    return LRU(state_size=kwargs.pop("state_size", N), **kwargs)


@pytest.fixture
def u():
    return np.random.default_rng(0).normal(size=(2, L, H)).astype("float32")


def weights(layer):
    f64 = lambda v: lc.to_numpy(v).astype(np.float64)
    pair = lambda v: f64(v)[..., 0] + 1j * f64(v)[..., 1]
    return dict(
        lam=np.exp(-np.exp(f64(layer.nu_log)) + 1j * np.exp(f64(layer.theta_log))),
        gamma=np.exp(f64(layer.gamma_log)),
        b=pair(layer.b),
        c=pair(layer.c),
        c_backward=pair(layer.c_backward) if layer.bidirectional else None,
        d=f64(layer.d),
    )


def randomize(layer, seed=5):
    """γ away from sqrt(1 − |λ|²), so that a layer recomputing it from λ would fail."""
    rng = np.random.default_rng(seed)
    layer.gamma_log.assign(np.log(rng.uniform(0.2, 2.0, layer.gamma_log.shape)).astype("float32"))
    layer.d.assign(rng.normal(size=layer.d.shape).astype("float32"))


def loop_states(w, u, reverse=False):
    """x_k = λ x_{k−1} + γ ⊙ (B u_k) (reverse: x_k = λ x_{k+1} + ...), complex128."""
    x = np.zeros((u.shape[0], w["lam"].shape[0]), np.complex128)
    states = [None] * u.shape[1]
    steps = range(u.shape[1] - 1, -1, -1) if reverse else range(u.shape[1])
    for k in steps:
        x = w["lam"] * x + w["gamma"] * (u[:, k] @ w["b"].T)
        states[k] = x
    return np.stack(states, axis=1)


def test_layer_computes_the_papers_recurrence(u):
    layer = make()
    layer.build(u.shape)
    randomize(layer)
    w = weights(layer)
    expected = (loop_states(w, u) @ w["c"].T).real + w["d"] * u
    lc.assert_close(lc.to_numpy(layer(u)), expected, atol=1e-5)


def associative_scan(a, b):
    """Both outputs of the scan with (a_i, b_i) • (a_j, b_j) = (a_j a_i, a_j b_i + b_j) over
    axis 0, by recursive doubling (Hillis-Steele), as `jax.lax.associative_scan` computes it."""
    a, b = a.copy(), b.copy()
    shift = 1
    while shift < a.shape[0]:
        a_prev, b_prev = a[:-shift].copy(), b[:-shift].copy()
        b[shift:] = a[shift:] * b_prev + b[shift:]
        a[shift:] = a[shift:] * a_prev
        shift *= 2
    return a, b


def appendix_a_forward(w, u_one):
    """The paper's Appendix A `forward` for one sequence (L, H): materialize λ and
    B_norm = diag(γ) B, scan the elements (λ, B_norm u_k), y_k = Re(C x_k) + D u_k."""
    length = u_one.shape[0]
    lambda_elements = np.repeat(w["lam"][None, :], length, axis=0)
    bu_elements = u_one @ (w["b"] * w["gamma"][:, None]).T
    _, states = associative_scan(lambda_elements, bu_elements)
    return (states @ w["c"].T).real + w["d"] * u_one


def test_matches_the_papers_appendix_code(u):
    layer = make(r_min=0.9, r_max=0.999, max_phase=np.pi / 10)
    layer.build(u.shape)
    randomize(layer)
    w = weights(layer)
    expected = np.stack([appendix_a_forward(w, u[i]) for i in range(u.shape[0])])
    lc.assert_close(lc.to_numpy(layer(u)), expected, atol=1e-5)


def test_bidirectional_includes_lag_zero_both_ways(u):
    """keras-ssm's choice (spec B9.5): y = Re(C x^f) + Re(C_b x^b) + D u, the same λ, γ, B
    backward, x^b_t = λ x^b_{t+1} + γ B u_t."""
    layer = make(bidirectional=True)
    layer.build(u.shape)
    randomize(layer)
    w = weights(layer)
    expected = (
        (loop_states(w, u) @ w["c"].T).real
        + (loop_states(w, u, reverse=True) @ w["c_backward"].T).real
        + w["d"] * u
    )
    lc.assert_close(lc.to_numpy(layer(u)), expected, atol=1e-5)


def test_discrete_system_folds_gamma_into_b():
    layer = make()
    layer.build((None, L, H))
    randomize(layer)
    w = weights(layer)
    system = layer.discrete_system()
    np.testing.assert_allclose(system["a"], w["lam"], rtol=1e-5)
    np.testing.assert_allclose(system["b"], w["gamma"][:, None] * w["b"], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(system["c"], w["c"], rtol=1e-6)


def test_ring_initialization():
    """|λ|² uniform on [r_min², r_max²] (Lemma 2), phases uniform on [0, max_phase),
    γ = sqrt(1 − |λ|²), B parts N(0, 1/(2H)), C parts N(0, 1/N), D N(0, 1)."""
    n, features, r_min, r_max, max_phase = 2048, 16, 0.4, 0.95, np.pi / 10
    layer = LRU(n, r_min=r_min, r_max=r_max, max_phase=max_phase, seed=0)
    layer.build((None, 8, features))
    w = weights(layer)
    radius, phase = np.abs(w["lam"]), np.exp(lc.to_numpy(layer.theta_log).astype(np.float64))
    assert radius.min() >= r_min - 1e-6 and radius.max() <= r_max + 1e-6
    assert phase.min() >= 0.0 and phase.max() < max_phase
    # Kolmogorov-Smirnov distance to the uniform laws, below the 1% critical value 1.63/√n.
    for values, low, high in ((radius**2, r_min**2, r_max**2), (phase, 0.0, max_phase)):
        cdf = (np.sort(values) - low) / (high - low)
        ks = np.max(np.abs(cdf - (np.arange(n) + 0.5) / n)) + 0.5 / n
        assert ks < 1.63 / np.sqrt(n), ks
    np.testing.assert_allclose(w["gamma"], np.sqrt(1.0 - radius**2), rtol=1e-5)
    for values, std in ((w["b"], 1 / np.sqrt(2 * features)), (w["c"], 1 / np.sqrt(n))):
        for part in (values.real, values.imag):  # 32768 draws: the std within ±3%
            assert abs(part.std() / std - 1.0) < 0.03, (part.std(), std)
    assert abs(w["d"].std() - 1.0) < 0.5


def test_default_ring_is_the_unit_disk():
    layer = LRU(512, seed=3)
    layer.build((None, 4, 2))
    w = weights(layer)
    assert np.all(np.isfinite(lc.to_numpy(layer.nu_log)))
    assert np.all(np.abs(w["lam"]) < 1.0)
    assert np.abs(w["lam"]).min() < 0.1 and np.abs(w["lam"]).max() > 0.99
    assert np.exp(lc.to_numpy(layer.theta_log)).max() < 2 * np.pi


def test_errors():
    with pytest.raises(ValueError, match="r_min <= r_max"):
        LRU(r_min=0.9, r_max=0.5)
    with pytest.raises(ValueError, match="r_min <= r_max <= 1"):
        LRU(r_max=1.5)
    with pytest.raises(ValueError, match="`max_phase` must be > 0"):
        LRU(max_phase=0.0)
    with pytest.raises(ValueError, match="no convolution mode"):
        LRU(mode="convolution")
    layer = make()
    x = np.zeros((1, L, H), "float32")
    layer(x)
    with pytest.raises(ValueError, match="step_scale"):
        layer(x, step_scale=2.0)
    with pytest.raises(ValueError, match="no convolution kernel"):
        layer.convolution_kernel(L)


def test_gradients_reach_every_variable(u):
    lc.check_gradients_flow(make(bidirectional=True), u)


@pytest.mark.skipif(lc.BACKEND != "torch", reason="one direction suffices: saved on torch")
def test_save_and_load_on_other_backends(u, tmp_path):
    """S4D and the LRU (bidirectional) in one .keras file saved on torch, loaded on jax and
    tensorflow with the same outputs (the file holds float32 arrays and configs, the same
    from every backend; one saving backend keeps the test's two subprocesses to one run)."""
    model = keras.Sequential(
        [S4D(state_size=4, bidirectional=True, seed=2), make(bidirectional=True)]
    )
    lc.check_save_load_other_backends(model, u, tmp_path)
