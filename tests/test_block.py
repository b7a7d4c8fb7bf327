"""SSMBlock: every activation, norm and residual order against a numpy reference.

The reference composes numpy definitions of LayerNorm, BatchNorm (inference and batch
statistics), GELU (exact and tanh), Dense and the GLUs around the SSM's own discrete
system simulated by a numpy loop (`layer_checks.expected_output`).
"""

import json
import math

import keras
import numpy as np
import pytest

import layer_checks as lc
from keras_ssm.layers import SSMBlock

ACTIVATIONS = ("gelu", "glu", "full_glu", "half_glu1", "half_glu2")
SSMS = {
    "dlr": {"class_name": "dlr", "state_size": 4, "seed": 1},
    "dss": {"class_name": "dss", "state_size": 4, "seed": 1},
    "s5": {"class_name": "s5", "state_size": 4, "seed": 1},
}


# One input shape for (almost) every test: on JAX every new shape compiles every op again.
SHAPE = (2, 8, 4)


def _inputs(batch=SHAPE[0], length=SHAPE[1], features=SHAPE[2], seed=0):
    return np.random.default_rng(seed).normal(size=(batch, length, features)).astype("float32")


# ----------------------------------------------------------------------------------------
# numpy reference


def _np(v):
    return lc.to_numpy(v).astype(np.float64)


def gelu(x, approximate):
    if approximate:
        return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))
    erf = np.vectorize(math.erf)
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def norm_reference(block, x, batch_stats=None):
    layer = block.norm_layer
    if layer is None:
        return x
    gamma, beta = _np(layer.gamma), _np(layer.beta)
    eps = layer.epsilon
    if block.norm == "layer":
        mean = x.mean(-1, keepdims=True)
        var = x.var(-1, keepdims=True)
    elif batch_stats is not None:
        mean, var = batch_stats
    else:
        mean, var = _np(layer.moving_mean), _np(layer.moving_variance)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def dense(layer, x):
    return x @ _np(layer.kernel) + _np(layer.bias)


def block_reference(block, x, batch_stats=None):
    """The block at inference (dropout off) in numpy."""
    x = x.astype(np.float64)
    u = norm_reference(block, x, batch_stats) if block.prenorm else x
    s = lc.expected_output(block.ssm, u)
    g = gelu(s, block.gelu_approximate)
    act = block.activation
    if act == "gelu":
        z = dense(block.output_dense, g) if block.output_linear else g
    elif act == "glu":
        h = dense(block.output_dense, g)
        half = h.shape[-1] // 2
        z = h[..., :half] * sigmoid(h[..., half:])
    else:
        gate = sigmoid(dense(block.gate_dense, g))
        z = {
            "full_glu": lambda: dense(block.output_dense, g) * gate,
            "half_glu1": lambda: g * gate,
            "half_glu2": lambda: s * gate,
        }[act]()
    y = x + z
    if not block.prenorm:
        y = norm_reference(block, y, batch_stats)
    return y


def _randomize_norm(block, seed=3):
    """Non-trivial norm parameters and moving statistics."""
    layer = block.norm_layer
    if layer is None:
        return
    rng = np.random.default_rng(seed)
    for v in layer.weights:
        value = rng.normal(size=v.shape)
        if "variance" in v.path:
            value = np.abs(value) + 0.5
        v.assign(value.astype("float32"))


# ----------------------------------------------------------------------------------------
# values


@pytest.mark.parametrize(
    "activation,norm,prenorm",
    [
        ("gelu", "layer", True),
        ("glu", "batch", False),
        ("full_glu", None, True),
        ("half_glu1", "layer", False),
        ("half_glu2", "batch", True),
        ("gelu", "batch", False),
    ],
)
def test_matches_numpy_reference(activation, norm, prenorm):
    u = _inputs()
    block = SSMBlock(
        SSMS["dlr"], norm=norm, prenorm=prenorm, activation=activation, dropout=0.3, seed=2
    )
    block.build(u.shape)
    _randomize_norm(block)
    y = lc.to_numpy(block(u, training=False))
    lc.assert_close(y, block_reference(block, u), atol=2e-4)


@pytest.mark.parametrize("kind,activation", [("dlr", "glu"), ("dss", "gelu"), ("s5", "half_glu1")])
def test_every_ssm(kind, activation):
    u = _inputs()
    block = SSMBlock(SSMS[kind], norm="batch", activation=activation, seed=4)
    block.build(u.shape)
    _randomize_norm(block)
    assert type(block.ssm).__name__ == {"dlr": "DLR", "dss": "DSS", "s5": "S5"}[kind]
    lc.assert_close(lc.to_numpy(block(u, training=False)), block_reference(block, u), atol=2e-4)


def test_s5_plain_gelu_has_no_output_linear():
    u = _inputs()
    block = SSMBlock("s5", activation="gelu", output_linear=False, gelu_approximate=True)
    block(u)
    assert block.output_dense is None and block.gate_dense is None
    lc.assert_close(lc.to_numpy(block(u)), block_reference(block, u), atol=2e-4)


def test_gelu_defaults_follow_the_papers():
    assert SSMBlock("dlr", activation="gelu").gelu_approximate is False
    assert SSMBlock("dlr", activation="glu").gelu_approximate is False
    for activation in ("full_glu", "half_glu1", "half_glu2"):
        assert SSMBlock("s5", activation=activation).gelu_approximate is True


def test_batchnorm_training_uses_batch_and_time_statistics():
    u = _inputs()
    block = SSMBlock(SSMS["dlr"], norm="batch", prenorm=True, activation="gelu", seed=5)
    block.build(u.shape)
    _randomize_norm(block)
    x = u.astype(np.float64)
    stats = (x.mean(axis=(0, 1)), x.var(axis=(0, 1)))
    y = lc.to_numpy(block(u, training=True))
    lc.assert_close(y, block_reference(block, u, batch_stats=stats), atol=3e-4)


def test_batchnorm_training_statistics_skip_padding():
    u = _inputs()
    lengths = [8, 5]
    mask = np.arange(8)[None] < np.array(lengths)[:, None]
    padded = np.where(mask[..., None], u, 50.0).astype("float32")
    block = SSMBlock(SSMS["dlr"], norm="batch", activation="gelu", seed=5)
    block.build(u.shape)
    _randomize_norm(block)
    valid = u[mask].astype(np.float64)
    stats = (valid.mean(0), valid.var(0))
    y = lc.to_numpy(block(padded, mask=mask, training=True))
    # At valid positions: the reference computed on the zero-padded input (the SSM
    # ignores padded positions) with the statistics of the valid positions.
    expected = block_reference(block, np.where(mask[..., None], u, 0.0), batch_stats=stats)
    for i, n in enumerate(lengths):
        lc.assert_close(y[i, :n], expected[i, :n], atol=3e-4, what=f"sequence {i}")


# ----------------------------------------------------------------------------------------
# dropout


def test_dropout_mask_is_shared_across_time():
    u = _inputs()
    block = SSMBlock(
        SSMS["dlr"], norm=None, activation="gelu", output_linear=False, dropout=0.5, seed=7
    )
    block.build(u.shape)
    branch = lc.to_numpy(block(u, training=True)) - u
    full = gelu(lc.expected_output(block.ssm, u.astype(np.float64)), False)
    # Per (example, feature): every time step dropped, or every one kept (scaled 1/(1-p)).
    dropped = np.all(np.abs(branch) < 1e-6, axis=1)
    kept = np.all(np.abs(branch - 2.0 * full) < 2e-4 * np.maximum(1, np.abs(full)), axis=1)
    assert np.all(dropped | kept)
    assert 0 < dropped.mean() < 1
    # No dropout at inference.
    lc.assert_close(lc.to_numpy(block(u, training=False)) - u, full, atol=2e-4)


# ----------------------------------------------------------------------------------------
# masking, streaming, step_scale


@pytest.mark.parametrize("norm", ["layer", "batch"])
def test_masking_padded_equals_unpadded(norm):
    u = _inputs()
    block = SSMBlock(SSMS["dlr"], norm=norm, prenorm=False, activation="glu", seed=8)
    block.build(u.shape)
    _randomize_norm(block)
    lengths = [8, 3]
    mask = np.arange(8)[None] < np.array(lengths)[:, None]
    garbage = np.random.default_rng(1).normal(scale=100.0, size=u.shape).astype("float32")
    y = lc.to_numpy(block(np.where(mask[..., None], u, garbage), mask=mask))
    for i, n in enumerate(lengths):
        alone = block_reference(block, u[i : i + 1, :n])[0]  # the unpadded sequence
        lc.assert_close(y[i, :n], alone, atol=2e-4, what=f"sequence {i}")


def test_mask_passes_through():
    lc.check_mask_propagates(lambda: SSMBlock(SSMS["dlr"]), features=4)
    tokens = keras.Input((6,), dtype="int32")
    embedding = keras.layers.Embedding(10, 4, mask_zero=True)
    x, mask = embedding(tokens), embedding.compute_mask(tokens)
    for _ in range(2):  # through a stack of blocks
        block = SSMBlock("dlr", norm="batch")
        x, mask = block(x), block.compute_mask(x, mask)
        assert mask is not None


@pytest.mark.parametrize("kind,norm", [("dlr", "layer"), ("s5", "batch"), ("dss", "batch")])
def test_streaming_equals_full_call(kind, norm):
    u = _inputs()
    block = SSMBlock(SSMS[kind], norm=norm, activation="half_glu2", dropout=0.2, seed=9)
    block.build(u.shape)
    _randomize_norm(block)
    full = lc.to_numpy(block(u))
    state = block.get_initial_state(2)
    pieces = []
    for start, stop in [(0, 4), (4, 8)]:
        y, state = block(u[:, start:stop], initial_state=state, return_state=True)
        pieces.append(lc.to_numpy(y))
    lc.assert_close(np.concatenate(pieces, 1), full, atol=2e-4, what="chunks")
    state = block.get_initial_state(2)
    steps = []
    for t in range(u.shape[1]):
        y_t, state = block.step(u[:, t], state)
        steps.append(lc.to_numpy(y_t))
    lc.assert_close(np.stack(steps, 1), full, atol=2e-4, what="steps")


@pytest.mark.parametrize("kind", ["dlr", "s5"])
def test_functional_streaming(kind):
    """block(keras.Input, return_state=True) gives (outputs, state): a functional model
    run chunk by chunk equals one call on the whole sequence."""
    u = _inputs()
    block = SSMBlock(SSMS[kind], norm="layer", activation="half_glu1", seed=9)
    block.build(u.shape)
    lc.check_functional_streaming(block, u, splits=(3,))


@pytest.mark.parametrize("kind", ["s5", "dss"])
def test_step_scale_is_forwarded(kind):
    u = _inputs()
    block = SSMBlock(SSMS[kind], norm="layer", activation="gelu", seed=10)
    block.build(u.shape)
    x = u.astype(np.float64)
    normed = norm_reference(block, x)
    s = lc.expected_output(block.ssm, normed, step_scale=2.0)
    expected = x + dense(block.output_dense, gelu(s, False))
    lc.assert_close(lc.to_numpy(block(u, step_scale=2.0)), expected, atol=2e-4)
    assert np.abs(lc.to_numpy(block(u, step_scale=2.0)) - lc.to_numpy(block(u))).max() > 1e-4


def test_step_scale_on_dlr_is_an_error():
    block = SSMBlock("dlr")
    with pytest.raises(ValueError, match="step_scale"):
        block(_inputs(), step_scale=2.0)


# ----------------------------------------------------------------------------------------
# construction and serialization


def test_ssm_given_as_name_dict_serialized_or_instance():
    from keras_ssm.layers import DLR

    by_name = SSMBlock("dlr")
    assert isinstance(by_name.ssm, DLR)
    by_dict = SSMBlock({"class_name": "DLR", "state_size": 7})
    assert by_dict.ssm.state_size == 7
    instance = DLR(state_size=3)
    assert SSMBlock(instance).ssm is instance
    serialized = keras.saving.serialize_keras_object(DLR(state_size=5))
    assert SSMBlock(serialized).ssm.state_size == 5


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"ssm": "lstm"}, "Unknown SSM"),
        ({"ssm": {"state_size": 3}}, "class_name"),
        ({"ssm": keras.layers.Dense(3)}, "SSM layer"),
        ({"norm": "group"}, "norm"),
        ({"activation": "relu"}, "activation"),
        ({"dropout": 1.5}, "dropout"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SSMBlock(**kwargs)


@pytest.mark.parametrize("activation", ["glu", "half_glu1"])
def test_config_roundtrip(activation):
    u = _inputs()
    block = SSMBlock(
        {"class_name": "dlr", "state_size": 4, "mode": "recurrence"},
        norm="batch",
        prenorm=False,
        activation=activation,
        dropout=0.1,
        norm_kwargs={"momentum": 0.95},
        seed=11,
    )
    block.build(u.shape)
    _randomize_norm(block)
    config = block.get_config()
    json.dumps(config)
    clone = SSMBlock.from_config(config)
    clone.build(u.shape)
    clone.set_weights(block.get_weights())
    assert clone.ssm.mode == "recurrence" and clone.norm_layer.momentum == 0.95
    lc.assert_close(lc.to_numpy(clone(u)), lc.to_numpy(block(u)), atol=1e-6)
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(block))
    assert type(revived) is SSMBlock and revived.get_config() == config


def test_seeded_weights_are_reproducible():
    u = _inputs()
    make = lambda seed: SSMBlock(
        {"class_name": "dlr", "state_size": 4, "seed": seed}, activation="full_glu", seed=seed
    )
    a, b, c = make(1), make(1), make(2)
    for block in (a, b, c):
        block(u)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert any(not np.array_equal(wa, wc) for wa, wc in zip(a.get_weights(), c.get_weights()))


def test_global_seed_reproduces_unseeded_blocks():
    u = _inputs()

    def weights(global_seed, kind):
        if global_seed is not None:
            keras.utils.set_random_seed(global_seed)
        block = SSMBlock(kind, activation="full_glu", dropout=0.1)
        block(u)
        return block.get_weights()

    for kind in ("dlr", "dss", "s5"):
        first = weights(123, kind)
        assert all(np.array_equal(a, b) for a, b in zip(first, weights(123, kind))), kind
        assert any(not np.array_equal(a, b) for a, b in zip(first, weights(None, kind))), kind


def test_per_layer_implementation_through_the_block():
    u = _inputs()
    choice = {"linear_recurrence": "reference"}
    block = SSMBlock(
        {"class_name": "dlr", "state_size": 4, "mode": "recurrence", "implementation": choice},
        seed=2,
    )
    assert block.ssm.implementation == choice
    y = lc.to_numpy(block(u))
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(block))
    assert revived.ssm.implementation == choice
    revived(u)
    revived.set_weights(block.get_weights())
    lc.assert_close(lc.to_numpy(revived(u)), y, atol=1e-6)
    with pytest.raises(ValueError, match="`implementation`"):
        SSMBlock({"class_name": "dlr", "implementation": {"linear_recurrence": "nope"}})


def test_input_spec():
    block = SSMBlock("dlr")
    with pytest.raises(
        ValueError, match=rf"name 'inputs' of layer '{block.name}'.*expected ndim=3"
    ):
        block(_inputs()[:, 0])


def test_torch_style_output_linear_init():
    block = SSMBlock("dlr", activation="gelu", seed=1)
    block.build((None, None, 16))
    kernel = lc.to_numpy(block.output_dense.kernel)
    bias = lc.to_numpy(block.output_dense.bias)
    assert np.abs(kernel).max() <= 0.25 and np.abs(bias).max() <= 0.25
    assert np.abs(bias).max() > 0.1  # U(-1/4, 1/4), not zeros


def test_mixed_precision():
    u = _inputs()
    block = SSMBlock("dlr", norm="layer", activation="half_glu1", dtype="mixed_bfloat16")
    y = block(u)
    assert keras.backend.standardize_dtype(y.dtype) == "bfloat16"
    assert all(keras.backend.standardize_dtype(w.dtype) == "float32" for w in block.weights)
    assert np.all(np.isfinite(lc.to_numpy(keras.ops.cast(y, "float32"))))
