"""keras_ssm.layers.Mamba against a numpy loop of the authors' mixer, and its contract.

The reference below is the mixer of state-spaces/mamba `mamba_simple.py` (and
transformers' `slow_forward`) written as a plain float64 loop from the spec
(shared/spec/mamba.md, B3 and A2): projections, depthwise causal convolution, silu, the
selective recurrence h_t = exp(Δ_t A) h_{t-1} + Δ_t B_t x_t, C_t·h_t + D x_t, the silu(z)
gate, the output projection. transformers' own model is the oracle of
tests/test_hub_mamba.py.
"""

import keras
import numpy as np
import pytest

import layer_checks as lc
import layer_harness
from keras_ssm import models
from keras_ssm import optimizers
from keras_ssm.layers import Mamba
from keras_ssm.layers import SSMBlock
from keras_ssm.layers import families

to_numpy = lc.to_numpy


def _softplus(x):
    return np.where(x > 20, x, np.log1p(np.exp(np.minimum(x, 20))))


def _silu(x):
    return x / (1.0 + np.exp(-x))


def weights_of(layer):
    """{name: float64 array} of a built Mamba layer."""
    return {w.path.rsplit("/", 1)[-1]: to_numpy(w).astype(np.float64) for w in layer.weights}


def mixer(w, u, conv_kernel, rank, state=None, segments=None):
    """The Mamba mixer, step by step in float64: outputs (batch, L, H) and the final
    (conv window (batch, K-1, DI), h (batch, DI, N)); `segments` restart both."""
    batch, length, _ = u.shape
    di, n = w["A_log"].shape
    xz = u @ w["in_proj_kernel"] + w.get("in_proj_bias", 0.0)
    x, z = xz[..., :di], xz[..., di:]
    if state is None:
        window, h = np.zeros((batch, conv_kernel - 1, di)), np.zeros((batch, di, n))
    else:
        window, h = (np.array(s, np.float64) for s in state)
    a = -np.exp(w["A_log"])
    out = np.zeros((batch, length, di))
    for t in range(length):
        if segments is not None and t > 0:
            new = (segments[:, t] != segments[:, t - 1])[:, None, None]
            window, h = np.where(new, 0.0, window), np.where(new, 0.0, h)
        taps = np.concatenate([window, x[:, t : t + 1]], axis=1)  # (batch, K, DI)
        window = taps[:, 1:]
        xc = _silu((taps * w["conv1d_kernel"]).sum(1) + w.get("conv1d_bias", 0.0))
        proj = xc @ w["x_proj_kernel"]
        delta = _softplus(proj[:, :rank] @ w["dt_proj_kernel"] + w["dt_bias"])
        b, c = proj[:, rank : rank + n], proj[:, rank + n :]
        h = np.exp(delta[..., None] * a) * h + (delta * xc)[..., None] * b[:, None, :]
        out[:, t] = ((h * c[:, None, :]).sum(-1) + w["D"] * xc) * _silu(z[:, t])
    y = out @ w["out_proj_kernel"] + w.get("out_proj_bias", 0.0)
    return y, (window, h)


def expected_output(layer, u):
    return mixer(weights_of(layer), np.asarray(u, np.float64), layer.conv_kernel, layer.rank)[0]


def make(**kwargs):
    return Mamba(**{"state_size": 4, "expand": 2, "seed": 1, **kwargs})


def test_layer_contract(tmp_path):
    """Keras' run_layer_test and ours: serialization, .keras, masking (both paddings),
    streaming (step, chunks, functional), fit, mixed precision, seeds, InputSpec."""
    layer_harness.run_layer_test(
        make,
        (2, 12, 3),
        tmp_path=tmp_path,
        expected_output=expected_output,
        expected_num_trainable_weights=9,
        streaming=True,
    )


@pytest.mark.skipif(lc.BACKEND != "torch", reason="saved once per suite run, on torch")
def test_keras_file_loads_on_the_other_backends(tmp_path):
    u = np.random.default_rng(4).normal(size=(2, 6, 3)).astype("float32")
    lc.check_save_load_other_backends(make(), u, tmp_path)


def test_biases_rank_and_final_state_match_the_loop():
    layer = make(use_bias=True, use_conv_bias=False, dt_rank=2, conv_kernel=3, expand=1.5)
    u = np.random.default_rng(1).normal(size=(2, 7, 4)).astype("float32")
    y, (window, h) = layer(u, return_state=True)
    assert layer.inner_size == 6 and layer.rank == 2
    want_y, (want_window, want_h) = mixer(weights_of(layer), u.astype(np.float64), 3, 2)
    lc.assert_close(to_numpy(y), want_y, what="outputs")
    lc.assert_close(to_numpy(window), want_window, what="conv window")
    lc.assert_close(to_numpy(h), want_h, what="ssm state")


def test_segment_ids_restart_the_state_and_the_window():
    layer = make()
    rng = np.random.default_rng(2)
    u = rng.normal(size=(2, 10, 3)).astype("float32")
    layer.build(u.shape)
    segments = np.array([[0] * 4 + [1] * 2 + [2] * 4, [5] * 10])
    state = tuple(rng.normal(size=s.shape).astype("float32") for s in layer.state_spec(2))
    y, (window, h) = layer(u, initial_state=state, segment_ids=segments, return_state=True)
    w = weights_of(layer)
    want_y, (want_window, want_h) = mixer(w, u.astype(np.float64), 4, layer.rank, state, segments)
    lc.assert_close(to_numpy(y), want_y, what="packed outputs")
    lc.assert_close(to_numpy(window), want_window, what="packed window")
    lc.assert_close(to_numpy(h), want_h, what="packed state")
    # Each document alone (from zero) gives its outputs in the packed row.
    alone = to_numpy(layer(u[:1, 6:]))
    lc.assert_close(to_numpy(y)[:1, 6:], alone, what="last document alone")


def test_reference_initialization():
    layer = make(state_size=3, dt_min=1e-3, dt_max=1e-1)
    layer.build((None, None, 32))
    w = weights_of(layer)
    assert layer.rank == 2  # ceil(32 / 16)
    np.testing.assert_allclose(w["A_log"], np.log(np.tile([1.0, 2.0, 3.0], (64, 1))), rtol=1e-6)
    np.testing.assert_array_equal(w["D"], np.ones(64))
    delta = _softplus(w["dt_bias"])  # softplus(bias) is the log-uniform initial Δ
    assert delta.min() >= 1e-3 * (1 - 1e-4) and delta.max() <= 1e-1 * (1 + 1e-4)
    assert np.log(delta).std() > 0.5  # spread over two decades, not clustered
    assert np.abs(w["dt_proj_kernel"]).max() <= 2**-0.5
    assert np.abs(w["conv1d_kernel"]).max() <= 0.5 and np.abs(w["conv1d_bias"]).max() <= 0.5
    assert np.abs(w["in_proj_kernel"]).max() <= 32**-0.5
    assert np.abs(w["out_proj_kernel"]).max() <= 64**-0.5


def test_family_roles_and_optimizer():
    assert families.layer_class("mamba") is Mamba
    assert families.default_ssm_lr("mamba") is None  # the model's rate
    model = models.build_tagger(
        2, input_features=3, hidden_size=8, num_layers=1, ssm="mamba", norm="rms", activation=None
    )
    groups = {
        v.path.rsplit("/", 1)[-1]: v.ssm_group for v in model.variables if hasattr(v, "ssm_group")
    }
    assert {k for k, g in groups.items() if g == "ssm"} == {"A_log", "D"}
    optimizer = optimizers.ssm_optimizer(model, paper="mamba", lr=2e-3, weight_decay=0.1)
    optimizer.build(model.trainable_variables)
    a_log = next(v for v in model.trainable_variables if v.path.endswith("A_log"))
    kernel = next(v for v in model.trainable_variables if v.path.endswith("in_proj_kernel"))
    ssm_opt, main_opt = optimizer.optimizer_for(a_log), optimizer.optimizer_for(kernel)
    assert float(ssm_opt.learning_rate) == pytest.approx(2e-3)
    assert not isinstance(ssm_opt, keras.optimizers.AdamW)
    assert main_opt.weight_decay == pytest.approx(0.1)


def test_block_builders_and_streaming_model_take_mamba():
    """x + Mamba(RMSNorm(x)) through SSMBlock (activation=None) and the builders; the
    StreamingModel carries each block's (window, h) chunk by chunk."""
    model = models.build_tagger(
        2,
        input_features=3,
        hidden_size=8,
        num_layers=2,
        ssm="mamba",
        ssm_kwargs={"state_size": 4},
        norm="rms",
        activation=None,
        seed=0,
    )
    block = next(layer for layer in model.layers if isinstance(layer, SSMBlock))
    assert isinstance(block.ssm, Mamba) and block.output_dense is None
    u = np.random.default_rng(3).normal(size=(2, 9, 3)).astype("float32")
    x = to_numpy(block.norm_layer(np.ones((1, 1, 8), "float32")))
    np.testing.assert_allclose(x, np.ones((1, 1, 8)), rtol=1e-4)  # RMSNorm: 1 / rms(1) = 1
    full = to_numpy(model(u))
    streamer = models.stream(model, batch_size=2)
    pieces = [to_numpy(streamer(u[:, :5])), to_numpy(streamer(u[:, 5:]))]
    lc.assert_close(np.concatenate(pieces, 1), full, what="StreamingModel")


def test_errors_name_the_argument():
    for kwargs, name in [
        ({"state_size": 0}, "state_size"),
        ({"expand": 0}, "expand"),
        ({"conv_kernel": 1}, "conv_kernel"),
        ({"dt_rank": 0}, "dt_rank"),
        ({"dt_min": 0.2, "dt_max": 0.1}, "dt_min"),
        ({"implementation": {"selective_scan": "nope"}}, "implementation"),
    ]:
        with pytest.raises(ValueError, match=name):
            Mamba(**kwargs)
    with pytest.raises(ValueError, match="Build the layer"):
        Mamba().get_initial_state(2)
