"""DLR layer: outputs, modes, kernel, the authors' bidirectional code, init, errors, training.

The contract shared by every layer (serialization, masking, streaming, seeds, dtypes)
is checked by tests/test_layer_contract.py.
"""

import numpy as np
import pytest

import layer_checks as lc
from keras_ssm.layers import DLR

H, N, L = 3, 8, 24


def make(**kwargs):
    kwargs.setdefault("seed", 1)
    kwargs.setdefault("dt_min", 1e-2)
    kwargs.setdefault("dt_max", 0.5)
    return DLR(state_size=kwargs.pop("state_size", N), **kwargs)


@pytest.fixture
def u():
    return np.random.default_rng(0).normal(size=(2, L, H)).astype("float32")


@pytest.mark.parametrize("bidirectional", [False, True])
def test_matches_discrete_system_in_every_mode(u, bidirectional):
    lc.check_matches_system(
        lambda **kw: make(bidirectional=bidirectional, **kw),
        u,
        modes=("auto", "convolution", "recurrence"),
    )


@pytest.mark.parametrize("bidirectional", [False, True])
def test_modes_agree(u, bidirectional):
    lc.check_modes_agree(lambda **kw: make(bidirectional=bidirectional, **kw), u)


def test_kernel_reproduces_output(u):
    layer = make()
    layer(u)
    lc.check_kernel(layer, u)


def test_kernel_is_re_w_lambda_power():
    layer = make()
    layer.build((None, L, H))
    p = lc.to_numpy(layer.lambda_radius).astype(np.float64)
    theta = lc.to_numpy(layer.lambda_phase).astype(np.float64)
    w = lc.to_numpy(layer.w).astype(np.float64)
    lam = np.exp(-(p**2) + 1j * theta)
    expected = np.real((w[..., 0] + 1j * w[..., 1]) @ lam[:, None] ** np.arange(L)[None, :])
    lc.assert_close(lc.to_numpy(layer.convolution_kernel(L)), expected, atol=1e-5)


def test_bidirectional_formula(u):
    layer = make(bidirectional=True)
    layer(u)
    lc.check_bidirectional_formula(layer, u)


def randomize(layer, seed=5):
    """Random small weights: |λ| in [0.6, 0.95], any phase, w and D of order 0.5."""
    rng = np.random.default_rng(seed)
    n = layer.state_size
    layer.lambda_radius.assign(np.sqrt(-np.log(rng.uniform(0.6, 0.95, n))).astype("float32"))
    layer.lambda_phase.assign(rng.uniform(-np.pi, np.pi, n).astype("float32"))
    for v in (layer.w, layer.w_backward, layer.d):
        v.assign((0.5 * rng.normal(size=v.shape)).astype("float32"))


def authors_output(layer, u):
    """ag1988/dlr's bidirectional DLR in numpy, from the weights: K[h, l] = Re Σ_n w λ^l,
    K_b the same with w_backward, placed at lags -1..-L."""
    f64 = lambda v: lc.to_numpy(v).astype(np.float64)
    lam = np.exp(-(f64(layer.lambda_radius) ** 2) + 1j * f64(layer.lambda_phase))
    powers = lam[:, None] ** np.arange(u.shape[1])[None, :]
    kernel = lambda w: np.real((w[..., 0] + 1j * w[..., 1]) @ powers)
    return lc.authors_bidirectional(
        u, kernel(f64(layer.w)), kernel(f64(layer.w_backward)), f64(layer.d)
    )


@pytest.mark.parametrize("mode", ["convolution", "recurrence"])
def test_bidirectional_follows_the_authors_code(u, mode):
    """The backward kernel covers strictly future inputs (lags -1..-L), in both modes."""
    layer = make(bidirectional=True, mode=mode)
    layer.build(u.shape)
    randomize(layer)
    lc.assert_close(lc.to_numpy(layer(u)), authors_output(layer, u), atol=1e-5)
    # u_t itself reaches y_t through the forward kernel and D only.
    v = u.copy()
    v[:, -1] += 1.0
    delta = lc.to_numpy(layer(v))[:, -1] - lc.to_numpy(layer(u))[:, -1]
    k0 = np.real(lc.to_numpy(layer.w)[..., 0].sum(-1))  # K[h, 0] = Re Σ_n w[h, n]
    np.testing.assert_allclose(
        delta, np.broadcast_to(k0 + lc.to_numpy(layer.d), delta.shape), rtol=1e-4, atol=1e-5
    )


@pytest.mark.parametrize("mode", ["convolution", "recurrence"])
def test_bidirectional_masking_follows_the_authors_code(u, mode):
    """A padded batch gives, at valid positions, the authors' output of each unpadded sequence."""
    layer = make(bidirectional=True, mode=mode)
    layer.build(u.shape)
    randomize(layer)
    lc.check_bidirectional_masking(layer, u, lambda x: authors_output(layer, x), [L, 13])


def test_old_bidirectional_config_is_refused(u):
    layer = make(bidirectional=True)
    layer(u)
    lc.check_refuses_old_bidirectional_config(layer, u)


def test_old_bidirectional_keras_file_is_refused(u, tmp_path):
    lc.check_refuses_old_keras_file(make(bidirectional=True), u, tmp_path)


def test_initialization_follows_the_paper():
    n, dt_min, dt_max = 64, 1e-4, 0.1
    layer = DLR(state_size=n, dt_min=dt_min, dt_max=dt_max, seed=0)
    layer.build((None, 16, 4))
    theta = lc.to_numpy(layer.lambda_phase)
    np.testing.assert_allclose(theta, 2 * np.pi * np.arange(n) / n, atol=1e-6)
    radius = np.exp(-(lc.to_numpy(layer.lambda_radius).astype(np.float64) ** 2))
    assert np.all(radius <= np.exp(-dt_min / 2) + 1e-7) and np.all(
        radius >= np.exp(-dt_max / 2) - 1e-7
    )
    dt = 2 * lc.to_numpy(layer.lambda_radius).astype(np.float64) ** 2
    # log-uniform: log dt spread over the whole range
    assert np.log(dt).min() < np.log(dt_min) + 2 and np.log(dt).max() > np.log(dt_max) - 2
    w = lc.to_numpy(layer.w)
    assert w.shape == (4, n, 2)
    assert 0.5 / n < w.std() < 2.0 / n
    assert lc.to_numpy(layer.d).shape == (4,)


def test_discrete_system_layout():
    layer = make()
    layer.build((None, L, H))
    s = layer.discrete_system()
    assert s["a"].shape == (H * N,) and s["b"].shape == (H * N, H) and s["c"].shape == (H, H * N)
    # channel-major block structure: state h*N + n reads only feature h
    for h in range(H):
        rows = slice(h * N, (h + 1) * N)
        assert np.all(s["b"][rows, h] == 1)
        assert np.all(np.delete(s["b"][rows], h, axis=1) == 0)
    assert np.all(np.abs(s["a"]) <= 1)


def test_step_scale_rejected():
    layer = make()
    u = np.zeros((1, L, H), "float32")
    layer(u)
    with pytest.raises(ValueError, match="step_scale"):
        layer(u, step_scale=2.0)


def test_errors():
    with pytest.raises(ValueError, match="state_size"):
        DLR(state_size=0)
    with pytest.raises(ValueError, match="mode"):
        DLR(mode="fft")
    with pytest.raises(ValueError, match="dt_min"):
        DLR(dt_min=0.5, dt_max=0.1)
    with pytest.raises(ValueError, match="expected ndim=3"):
        DLR()(np.zeros((4, 3), "float32"))
    layer = make(bidirectional=True)
    u = np.zeros((1, L, H), "float32")
    layer(u)
    with pytest.raises(ValueError, match="causal"):
        layer(u, return_state=True)
    with pytest.raises(ValueError, match="direction"):
        layer.discrete_system("sideways")
    with pytest.raises(ValueError, match="convolution"):
        make(mode="convolution")(u, return_state=True)


def test_per_layer_implementation(u, monkeypatch):
    lc.check_per_layer_implementation(lambda **kw: make(**kw), u, monkeypatch)


def test_implementation_errors():
    lc.check_implementation_errors(lambda **kw: make(**kw))


def test_save_and_load_on_other_backends(u, tmp_path):
    layer = make(bidirectional=True)
    lc.check_save_load_other_backends(layer, u, tmp_path)


@pytest.mark.parametrize("mode", ["convolution", "recurrence"])
def test_gradients_reach_every_variable(u, mode):
    lc.check_gradients_flow(make(mode=mode, bidirectional=True), u)


def test_training_lowers_loss():
    lc.check_training_reduces_loss(lambda: make(state_size=16))
