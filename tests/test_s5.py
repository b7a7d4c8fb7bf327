"""S5 layer: HiPPO-N init, ZOH/bilinear discretization, conj_sym, bidirectional,
per-step step_scale, clip_eigs, streaming, masking, serialization, dtypes, training.

Expected values come from numpy: the HiPPO-N matrix built from its definition, and
the S5 recurrence re-run in a plain loop from the layer's weights (`numpy_s5`).
"""

import keras
import numpy as np
import pytest

import layer_checks as lc
from keras_ssm.layers import S5

H, P_FULL, L = 3, 8, 20


def make(**kwargs):
    kwargs.setdefault("seed", 1)
    kwargs.setdefault("dt_min", 1e-2)
    kwargs.setdefault("dt_max", 0.5)
    return S5(state_size=kwargs.pop("state_size", P_FULL), **kwargs)


@pytest.fixture
def u():
    return np.random.default_rng(0).normal(size=(2, L, H)).astype("float32")


# ----------------------------------------------------------------------------------------
# numpy references, written from the paper's definitions


def hippo_n_eigenvalues(n):
    """Eigenvalues of S = A + p pᵀ (HiPPO-LegS normal part), sorted by imaginary part."""
    i = np.arange(n)
    lower = i[:, None] > i[None, :]
    a = np.where(lower, -np.sqrt(np.outer(2 * i + 1, 2 * i + 1)), 0.0) - np.diag(i + 1.0)
    p = np.sqrt(i + 0.5)
    lam = np.linalg.eigvals(a + np.outer(p, p))
    return lam[np.argsort(lam.imag)]


def as_complex(w):
    w = lc.to_numpy(w).astype(np.float64)
    return w[..., 0] + 1j * w[..., 1]


def weights_of(layer):
    """Λ (clipped if clip_eigs), B̃, C̃, C̃_backward, D, Δ from the layer's variables."""
    lam_re = lc.to_numpy(layer.lambda_re).astype(np.float64)
    if layer.clip_eigs:
        lam_re = np.minimum(lam_re, -1e-4)
    return {
        "lam": lam_re + 1j * lc.to_numpy(layer.lambda_im).astype(np.float64),
        "b": as_complex(layer.b),
        "c": as_complex(layer.c),
        "c_backward": as_complex(layer.c_backward) if layer.bidirectional else None,
        "d": lc.to_numpy(layer.d).astype(np.float64),
        "dt": np.exp(lc.to_numpy(layer.log_step).astype(np.float64)),
    }


def discretize(lam, dt, method):
    """(Λ̄, B̄ factor) for steps dt (..., P): ZOH or bilinear, as in the paper."""
    z = lam * dt
    if method == "zoh":
        a = np.exp(z)
        return a, (a - 1.0) / lam
    return (1 + z / 2) / (1 - z / 2), dt / (1 - z / 2)


def numpy_s5(layer, u, step_scale=1.0):
    """The layer's output by a numpy loop with per-step discretization.

    step_scale: float or (batch, length); the backward system's step t uses the
    interval of step t+1 (its own at the last step).
    """
    w = weights_of(layer)
    batch, length, _ = u.shape
    scales = np.broadcast_to(np.asarray(step_scale, np.float64), (batch, length))
    factor = 2.0 if layer.conj_sym else 1.0
    u = u.astype(np.float64)
    y = np.zeros(u.shape)
    x = np.zeros((batch, w["lam"].shape[0]), complex)
    for t in range(length):
        a, bbar = discretize(w["lam"], w["dt"] * scales[:, t, None], layer.discretization)
        x = a * x + bbar * (u[:, t] @ w["b"].T)
        y[:, t] = factor * (x @ w["c"].T).real + w["d"] * u[:, t]
    if layer.bidirectional:
        x = np.zeros_like(x)
        for t in reversed(range(length)):
            scale = scales[:, t + 1] if t + 1 < length else scales[:, t]
            a, bbar = discretize(w["lam"], w["dt"] * scale[:, None], layer.discretization)
            x = a * x + bbar * (u[:, t] @ w["b"].T)
            y[:, t] += factor * (x @ w["c_backward"].T).real
    return y


# ----------------------------------------------------------------------------------------
# initialization


@pytest.mark.parametrize(
    "state_size,blocks,conj_sym",
    [
        (16, 1, True),
        (16, 2, True),
        (16, 8, True),
        (12, 4, False),
        (9, 3, False),
    ],
)
def test_lambda_is_block_hippo_n_spectrum(state_size, blocks, conj_sym):
    layer = S5(state_size=state_size, blocks=blocks, conj_sym=conj_sym)
    layer.build((None, L, H))
    n = state_size // blocks
    block = hippo_n_eigenvalues(n)
    if conj_sym:
        block = block[: n // 2]  # negative imaginary parts, most negative first
        assert np.all(block.imag < 0)
    expected = np.tile(block, blocks)
    lam = lc.to_numpy(layer.lambda_re) + 1j * lc.to_numpy(layer.lambda_im)
    assert lam.shape == (layer.num_states,) == ((state_size // 2,) if conj_sym else (state_size,))
    np.testing.assert_allclose(lam.real, -0.5, atol=1e-6)
    np.testing.assert_allclose(lam.imag, expected.imag, rtol=1e-4, atol=1e-4)


def test_hippo_n_block_of_8_matches_published_numbers():
    layer = S5(state_size=8, blocks=1)
    layer.build((None, L, H))
    np.testing.assert_allclose(
        lc.to_numpy(layer.lambda_im), [-19.857, -5.354, -1.958, -0.427], atol=2e-3
    )


@pytest.mark.parametrize("conj_sym", [True, False])
@pytest.mark.parametrize(
    "c_init,c_power",
    [
        ("trunc_standard_normal", lambda h, p: 2.0 / p),
        ("lecun_normal", lambda h, p: 2.0 / (h * p)),
        ("complex_normal", lambda h, p: 1.0),
    ],
)
def test_b_c_d_step_initialization(conj_sym, c_init, c_power):
    h, p_full, blocks = 48, 64, 4
    layer = S5(
        state_size=p_full,
        blocks=blocks,
        conj_sym=conj_sym,
        c_init=c_init,
        dt_min=1e-3,
        dt_max=0.1,
        seed=0,
    )
    layer.build((None, L, h))
    w = weights_of(layer)
    p = layer.num_states
    assert w["b"].shape == (p, h) and w["c"].shape == (h, p)
    # B̃ = V⁻¹B with B real, std 1/sqrt(P_full), and unit-norm rows of V⁻¹: E|B̃|² = 1/P_full.
    np.testing.assert_allclose(np.mean(np.abs(w["b"]) ** 2), 1.0 / p_full, rtol=0.1)
    np.testing.assert_allclose(np.mean(np.abs(w["c"]) ** 2), c_power(h, p_full), rtol=0.1)
    if not conj_sym:
        # B real: the row of the conjugate eigenvalue (same block) is the conjugate row,
        # up to the phase of the eigenvector: B̃[q] = e^{iφ} conj(B̃[p]).
        n = p_full // blocks
        for row in range(p):
            block, i = divmod(row, n)
            partner = block * n + (n - 1 - i)  # Im Λ sorted ascending within a block
            np.testing.assert_allclose(w["lam"][partner], np.conj(w["lam"][row]), atol=1e-4)
            product = w["b"][partner] * w["b"][row]
            phase = product / np.abs(product)
            np.testing.assert_allclose(phase, phase[0], atol=1e-3)
            np.testing.assert_allclose(np.abs(w["b"][partner]), np.abs(w["b"][row]), atol=1e-5)
    log_dt = np.log(w["dt"])
    assert log_dt.shape == (p,) and np.ptp(log_dt) > 2.0
    assert np.all(log_dt >= np.log(1e-3) - 1e-5) and np.all(log_dt <= np.log(0.1) + 1e-5)
    assert w["d"].shape == (h,)


def test_conj_sym_system_is_real():
    """With conj_sym, 2 Re(C̃ Λᵏ B̃) is a real system: kept states + their conjugates."""
    layer = S5(state_size=16, blocks=2, conj_sym=True, seed=0)
    layer.build((None, L, H))
    w = weights_of(layer)
    full_lam = np.concatenate([w["lam"], w["lam"].conj()])
    full_c = np.concatenate([w["c"], w["c"].conj()], axis=1)
    full_b = np.concatenate([w["b"], w["b"].conj()], axis=0)
    for k in range(3):
        markov = (full_c * full_lam**k) @ full_b
        np.testing.assert_allclose(markov.imag, 0.0, atol=1e-6)
        np.testing.assert_allclose(
            markov.real, 2 * ((w["c"] * w["lam"] ** k) @ w["b"]).real, atol=1e-5
        )


# ----------------------------------------------------------------------------------------
# discretization


@pytest.mark.parametrize("conj_sym", [True, False])
def test_zoh_from_weights_and_step_doubling(conj_sym):
    layer = make(conj_sym=conj_sym)
    layer.build((None, L, H))
    w = weights_of(layer)
    s1 = layer.discrete_system()
    s2 = layer.discrete_system(step_scale=2.0)
    a = np.exp(w["lam"] * w["dt"])
    np.testing.assert_allclose(s1["a"], a, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        s1["b"], ((a - 1) / w["lam"])[:, None] * w["b"], rtol=1e-4, atol=1e-6
    )
    # a(2Δ) = a(Δ)²: |a|² at step_scale 2 is |a(Δ)|⁴.
    np.testing.assert_allclose(np.abs(s2["a"]) ** 2, np.abs(s1["a"]) ** 4, rtol=1e-5)
    np.testing.assert_allclose(s2["a"], s1["a"] ** 2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s1["c"], (2.0 if conj_sym else 1.0) * w["c"], rtol=1e-6)
    np.testing.assert_allclose(s1["d"], w["d"])


def test_bilinear_from_weights():
    layer = make(discretization="bilinear")
    layer.build((None, L, H))
    w = weights_of(layer)
    for scale in (1.0, 3.0):
        s = layer.discrete_system(step_scale=scale)
        dt = w["dt"] * scale
        lam = w["lam"]
        np.testing.assert_allclose(
            s["a"], (1 + dt * lam / 2) / (1 - dt * lam / 2), rtol=1e-5, atol=1e-6
        )
        np.testing.assert_allclose(
            s["b"], (dt / (1 - dt * lam / 2))[:, None] * w["b"], rtol=1e-4, atol=1e-7
        )


def test_zoh_and_bilinear_agree_for_small_steps():
    u = np.random.default_rng(2).normal(size=(1, 12, H)).astype("float32")
    zoh = make(dt_min=1e-4, dt_max=1e-3)
    bil = make(dt_min=1e-4, dt_max=1e-3, discretization="bilinear")
    y_zoh, y_bil = lc.to_numpy(zoh(u)), lc.to_numpy(bil(u))
    lc.assert_close(y_bil, y_zoh, atol=1e-5, what="bilinear vs zoh")


def test_clip_eigs_caps_real_part_and_stops_its_gradient():
    u = np.random.default_rng(3).normal(size=(2, 8, H)).astype("float32")
    lam_re = np.array([0.3, -1e-6, -0.5, -2e-4], "float32")
    clipped = lam_re > -1e-4
    outputs = {}
    for clip in (True, False):
        layer = make(clip_eigs=clip)
        layer(u)
        layer.lambda_re.assign(lam_re)
        w = weights_of(layer)
        a = layer.discrete_system()["a"]
        real = np.minimum(lam_re, -1e-4) if clip else lam_re
        np.testing.assert_allclose(np.abs(a), np.exp(real * w["dt"]), rtol=1e-6)
        assert np.all(np.abs(a) < 1) == clip
        lc.assert_close(lc.to_numpy(layer(u)), numpy_s5(layer, u), what=f"clip_eigs={clip}")
        outputs[clip] = lc.to_numpy(layer(u))
        if clip:
            g = [v for k, v in lc.gradients(layer, u).items() if k.endswith("lambda_re")][0]
            assert np.all(g[clipped] == 0) and np.all(g[~clipped] != 0)
    assert np.abs(outputs[True] - outputs[False]).max() > 1e-4


# ----------------------------------------------------------------------------------------
# outputs


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(),
        dict(conj_sym=False),
        dict(discretization="bilinear", blocks=2),
        dict(bidirectional=True),
        dict(bidirectional=True, conj_sym=False, c_init="complex_normal"),
        dict(c_init="lecun_normal", clip_eigs=True, blocks=4),
    ],
)
def test_matches_discrete_system_and_numpy_loop(u, kwargs):
    outputs = lc.check_matches_system(
        lambda **kw: make(**kwargs, **kw), u, modes=("auto", "recurrence")
    )
    layer = make(**kwargs)
    layer(u)
    lc.assert_close(outputs["auto"], numpy_s5(layer, u), what="numpy loop from weights")


def test_conj_sym_false_reads_out_re_cx_without_factor_two(u):
    layer = make(conj_sym=False)
    layer(u)
    w = weights_of(layer)
    # Plain loop: y = Re(C̃ x) + D u, no factor 2.
    a, bbar = discretize(w["lam"], w["dt"], "zoh")
    x = np.zeros((u.shape[0], a.shape[0]), complex)
    expected = []
    for t in range(L):
        x = a * x + bbar * (u[:, t] @ w["b"].T)
        expected.append((x @ w["c"].T).real + w["d"] * u[:, t])
    lc.assert_close(lc.to_numpy(layer(u)), np.stack(expected, 1))
    np.testing.assert_allclose(layer.discrete_system()["c"], w["c"], rtol=1e-6)


def test_float_step_scale(u):
    lc.check_matches_system(lambda **kw: make(bidirectional=True, **kw), u, step_scale=2.0)
    layer = make()
    layer(u)
    lc.assert_close(lc.to_numpy(layer(u, step_scale=2.0)), numpy_s5(layer, u, 2.0))
    assert np.abs(lc.to_numpy(layer(u, step_scale=2.0)) - lc.to_numpy(layer(u))).max() > 1e-3


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(),
        dict(discretization="bilinear", conj_sym=False),
        dict(bidirectional=True),
    ],
)
def test_per_step_step_scale_matches_numpy_loop(u, kwargs):
    layer = make(**kwargs)
    layer(u)
    scales = np.random.default_rng(4).uniform(0.2, 4.0, size=u.shape[:2]).astype("float32")
    y = lc.to_numpy(layer(u, step_scale=scales))
    lc.assert_close(y, numpy_s5(layer, u, scales), what="per-step step_scale")
    # A constant tensor equals the float.
    const = np.full(u.shape[:2], 2.0, "float32")
    lc.assert_close(
        lc.to_numpy(layer(u, step_scale=const)),
        lc.to_numpy(layer(u, step_scale=2.0)),
        atol=1e-5,
        what="constant tensor vs float",
    )


def test_per_step_step_scale_with_masking(u):
    layer = make(bidirectional=True)
    layer(u)
    rng = np.random.default_rng(5)
    scales = rng.uniform(0.2, 4.0, size=u.shape[:2]).astype("float32")
    lengths = [L, 11]
    mask = np.arange(L)[None, :] < np.array(lengths)[:, None]
    garbage_u = np.where(mask[..., None], u, 100.0 * rng.normal(size=u.shape)).astype("float32")
    garbage_s = np.where(mask, scales, -1e4).astype("float32")  # would overflow
    y = lc.to_numpy(layer(garbage_u, mask=mask, step_scale=garbage_s))
    # Left padding: the valid steps of sequence i at the end.
    left = lambda x, fill: np.stack(
        [np.concatenate([fill[i, : L - n], x[i, :n]]) for i, n in enumerate(lengths)]
    )
    y_left = lc.to_numpy(
        layer(left(u, garbage_u), mask=mask[:, ::-1].copy(), step_scale=left(scales, garbage_s))
    )
    for i, n in enumerate(lengths):
        alone = numpy_s5(layer, u[i : i + 1, :n], scales[i : i + 1, :n])[0]
        lc.assert_close(y[i, :n], alone, what=f"right-padded sequence {i}")
        lc.assert_close(y_left[i, L - n :], alone, what=f"left-padded sequence {i}")


def test_streaming(u):
    layer = make(blocks=2)
    layer(u)
    lc.check_streaming(layer, u)


def test_streaming_with_step_scale(u):
    layer = make()
    layer(u)
    full = lc.to_numpy(layer(u, step_scale=2.0))
    state = layer.get_initial_state(u.shape[0])
    steps = []
    for t in range(L):
        y_t, state = layer.step(u[:, t], state, step_scale=2.0)
        steps.append(lc.to_numpy(y_t))
    lc.assert_close(np.stack(steps, 1), full, what="step loop at step_scale 2")


def test_bidirectional_formula(u):
    layer = make(bidirectional=True, blocks=2)
    layer(u)
    lc.check_bidirectional_formula(layer, u)
    # The backward system shares Λ, B̃ and Δ and has its own C̃.
    fwd, bwd = layer.discrete_system("forward"), layer.discrete_system("backward")
    np.testing.assert_array_equal(fwd["a"], bwd["a"])
    np.testing.assert_array_equal(fwd["b"], bwd["b"])
    np.testing.assert_allclose(bwd["c"], 2 * as_complex(layer.c_backward), rtol=1e-6)
    assert np.abs(fwd["c"] - bwd["c"]).max() > 1e-3


def test_discrete_system_shapes():
    layer = make(state_size=16, blocks=2)
    layer.build((None, L, H))
    s = layer.discrete_system()
    assert s["a"].shape == (8,) and s["b"].shape == (8, H) and s["c"].shape == (H, 8)
    assert s["d"].shape == (H,)


def test_variables():
    layer = make(state_size=16, bidirectional=True)
    layer.build((None, L, H))
    shapes = {v.name: tuple(v.shape) for v in layer.weights}
    assert shapes == {
        "lambda_re": (8,),
        "lambda_im": (8,),
        "b": (8, H, 2),
        "c": (H, 8, 2),
        "c_backward": (H, 8, 2),
        "d": (H,),
        "log_step": (8,),
    }
    assert layer.count_params() == 2 * 8 + 3 * 8 * H * 2 + H + 8


# ----------------------------------------------------------------------------------------
# errors


def test_errors():
    with pytest.raises(ValueError, match=r"(?s)state_size.*blocks.*even"):
        S5(state_size=6, blocks=2)  # block size 3 with conj_sym
    S5(state_size=6, blocks=2, conj_sym=False)  # fine without conj_sym
    with pytest.raises(ValueError, match=r"(?s)state_size.*divisible.*blocks"):
        S5(state_size=16, blocks=3)
    with pytest.raises(ValueError, match="blocks"):
        S5(blocks=0)
    with pytest.raises(ValueError, match="state_size"):
        S5(state_size=0)
    with pytest.raises(ValueError, match="discretization"):
        S5(discretization="euler")
    with pytest.raises(ValueError, match="c_init"):
        S5(c_init="ones")
    with pytest.raises(ValueError, match="dt_min"):
        S5(dt_min=0.5, dt_max=0.1)
    with pytest.raises(ValueError, match="convolution"):
        S5(mode="convolution")
    u = np.zeros((2, L, H), "float32")
    layer = make()
    layer(u)
    with pytest.raises(ValueError, match="step_scale"):
        layer(u, step_scale=np.ones((2, L + 1), "float32"))
    with pytest.raises(ValueError, match="step_scale"):
        layer(u, step_scale=-1.0)
    with pytest.raises(ValueError, match="bidirectional"):
        layer.discrete_system("backward")
    with pytest.raises(ValueError, match="float"):
        layer.discrete_system(step_scale=np.ones((2, L), "float32"))
    bidirectional = make(bidirectional=True)
    bidirectional(u)
    with pytest.raises(ValueError, match="causal"):
        bidirectional(u, return_state=True)
    with pytest.raises(ValueError, match="causal"):
        bidirectional.step(u[:, 0], bidirectional.get_initial_state(2))


# ----------------------------------------------------------------------------------------
# serialization, dtypes, gradients, training


def test_config_roundtrip(u):
    layer = make(
        bidirectional=True,
        blocks=2,
        discretization="bilinear",
        c_init="complex_normal",
        clip_eigs=True,
    )
    layer(u)
    lc.check_config_roundtrip(layer, u)
    config = layer.get_config()
    for key, value in dict(
        state_size=P_FULL,
        blocks=2,
        conj_sym=True,
        discretization="bilinear",
        c_init="complex_normal",
        bidirectional=True,
        dt_min=1e-2,
        dt_max=0.5,
        clip_eigs=True,
        seed=1,
    ).items():
        assert config[key] == value, key


def test_per_layer_implementation(u, monkeypatch):
    lc.check_per_layer_implementation(lambda **kw: make(**kw), u, monkeypatch)


def test_implementation_errors():
    lc.check_implementation_errors(lambda **kw: make(**kw))


def test_config_has_no_version(u):
    """S5's bidirectional convention (lag 0 in both directions) never changed."""
    layer = make(bidirectional=True)
    layer(u)
    config = layer.get_config()
    assert "version" not in config
    S5.from_config(config)


def test_save_and_load_on_other_backends(u, tmp_path):
    layer = make(bidirectional=True, blocks=2)
    lc.check_save_load_other_backends(layer, u, tmp_path)


def test_gradients_reach_every_variable(u):
    lc.check_gradients_flow(make(bidirectional=True), u)


def test_gradients_with_per_step_step_scale(u):
    """Bilinear, bidirectional, per-step Δ: every variable gets a finite nonzero gradient."""
    layer = make(bidirectional=True, discretization="bilinear")
    layer(u)
    scales = np.random.default_rng(6).uniform(0.5, 2.0, size=u.shape[:2]).astype("float32")
    loss = lambda y: keras.ops.sum(keras.ops.square(y))

    class Scaled(keras.layers.Layer):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def call(self, x):
            return self.inner(x, step_scale=scales)

    wrapper = Scaled(layer)
    wrapper(u)
    grads = lc.gradients(wrapper, u, loss)
    assert len(grads) == 7  # lambda_re, lambda_im, b, c, c_backward, d, log_step
    for path, g in grads.items():
        assert g is not None and np.all(np.isfinite(g)) and np.abs(g).max() > 0, path


def test_training_lowers_loss():
    lc.check_training_reduces_loss(lambda: make(state_size=16, blocks=2))
