"""examples/attention_baseline.py against a numpy definition of the DLR paper's attention."""

import math

import keras
import numpy as np
import pytest

from examples.attention_baseline import AttentionBlock
from examples.attention_baseline import RotarySelfAttention
from examples.attention_baseline import build_attention_tagger

H, HEADS, L = 8, 2, 7


def layer_norm(x, gamma, beta, eps=1e-5):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def gelu(x):
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def rope_pairs(x, base=10000.0):
    """Rotates each pair (x_i, x_{i+d/2}) at position t by t * base^(-2i/d), one pair at a time."""
    out = x.copy()
    length, _, d = x.shape
    for t in range(length):
        for i in range(d // 2):
            angle = t * base ** (-2.0 * i / d)
            a, b = x[t, :, i], x[t, :, i + d // 2]
            out[t, :, i] = a * math.cos(angle) - b * math.sin(angle)
            out[t, :, i + d // 2] = a * math.sin(angle) + b * math.cos(angle)
    return out


def numpy_block(x, w, *, rotary, causal, prenorm):
    """The block of B.5 for one sequence x (L, H): norm / attention / inner residual / Dense."""
    u = layer_norm(x, w["norm/gamma"], w["norm/beta"]) if prenorm else x
    q = np.einsum("th,hnd->tnd", u, w["query/kernel"]) + w["query/bias"]
    k = np.einsum("th,hnd->tnd", u, w["key/kernel"]) + w["key/bias"]
    v = np.einsum("th,hnd->tnd", u, w["value/kernel"]) + w["value/bias"]
    if rotary:
        q, k = rope_pairs(q), rope_pairs(k)
    length = x.shape[0]
    out = np.zeros_like(q)
    for n in range(q.shape[1]):
        for t in range(length):
            keys = range(t + 1) if causal else range(length)
            scores = np.array([w["temperature"] * q[t, n] @ k[s, n] for s in keys])
            weights = np.exp(scores - scores.max())
            weights /= weights.sum()
            out[t, n] = sum(a * v[s, n] for a, s in zip(weights, keys))
    attended = (
        np.einsum("tnd,ndh->th", out, w["attention_output/kernel"]) + w["attention_output/bias"]
    )
    z = (u + gelu(attended)) @ w["output_dense/kernel"] + w["output_dense/bias"]
    y = x + z
    return y if prenorm else layer_norm(y, w["norm/gamma"], w["norm/beta"])


def weights_by_name(block):
    names = {}
    for variable in block.weights:
        parts = variable.path.split("/")
        key = "/".join(parts[-2:]) if parts[-1] != "temperature" else "temperature"
        names[key] = keras.ops.convert_to_numpy(variable).astype(np.float64)
    return names


@pytest.mark.parametrize("rotary", [True, False])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("prenorm", [False, True])
def test_block_matches_numpy_definition(rng, rotary, bidirectional, prenorm):
    block = AttentionBlock(
        num_heads=HEADS, rotary=rotary, bidirectional=bidirectional, prenorm=prenorm, seed=3
    )
    x = rng.normal(size=(2, L, H)).astype("float32")
    block.build(x.shape)
    block.attention.temperature.assign(0.37)  # not the initial d_head^-1/2
    for variable in block.weights:  # non-trivial norm parameters and biases
        if variable.path.endswith(("gamma", "beta", "bias")):
            variable.assign(rng.normal(size=variable.shape).astype("float32"))
    y = keras.ops.convert_to_numpy(block(x))
    w = weights_by_name(block)
    for b in range(2):
        expected = numpy_block(
            x[b].astype(np.float64), w, rotary=rotary, causal=not bidirectional, prenorm=prenorm
        )
        np.testing.assert_allclose(y[b], expected, rtol=2e-4, atol=2e-5)


def test_temperature_starts_at_inverse_sqrt_head_size():
    attention = RotarySelfAttention(num_heads=4, key_dim=16)
    attention.build((1, 5, 64))
    assert float(keras.ops.convert_to_numpy(attention.temperature)) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="even"):
        RotarySelfAttention(num_heads=2, key_dim=3)


def test_block_rejects_width_not_divisible_by_heads():
    with pytest.raises(ValueError, match="num_heads"):
        AttentionBlock(num_heads=3).build((1, 4, 8))


@pytest.mark.parametrize("positions", ["rotary", "learned", "none"])
def test_tagger_shapes_and_save_load(tmp_path, rng, positions):
    model = build_attention_tagger(
        3,
        input_features=2,
        sequence_length=L,
        output_length=4,
        hidden_size=H,
        num_heads=HEADS,
        num_layers=2,
        positions=positions,
        seed=0,
    )
    x = rng.normal(size=(2, L, 2)).astype("float32")
    y = keras.ops.convert_to_numpy(model(x))
    assert y.shape == (2, 4, 3)
    path = str(tmp_path / "attention.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)), y, rtol=1e-6, atol=1e-6)


def test_causal_tagger_ignores_the_future(rng):
    model = build_attention_tagger(
        1, input_features=2, sequence_length=L, hidden_size=H, num_heads=HEADS, seed=0
    )
    x = rng.normal(size=(1, L, 2)).astype("float32")
    changed = x.copy()
    changed[:, 4:] += 1.0
    y, y_changed = (keras.ops.convert_to_numpy(model(v)) for v in (x, changed))
    np.testing.assert_allclose(y[:, :4], y_changed[:, :4], rtol=1e-6, atol=1e-6)
    assert np.abs(y[:, 4:] - y_changed[:, 4:]).max() > 1e-3


def test_padding_does_not_change_valid_positions(rng):
    model = build_attention_tagger(
        2,
        vocab_size=10,
        sequence_length=None,
        hidden_size=H,
        num_heads=HEADS,
        bidirectional=True,
        mask_zero=True,
        seed=0,
    )
    tokens = rng.integers(1, 10, size=(1, 5)).astype("int32")
    padded = np.concatenate([tokens, np.zeros((1, 3), "int32")], axis=1)
    y = keras.ops.convert_to_numpy(model(tokens))
    y_padded = keras.ops.convert_to_numpy(model(padded))
    np.testing.assert_allclose(y_padded[:, :5], y, rtol=1e-5, atol=1e-5)


def test_builder_argument_errors():
    with pytest.raises(ValueError, match="exactly one"):
        build_attention_tagger(1)
    with pytest.raises(ValueError, match="positions"):
        build_attention_tagger(1, input_features=2, positions="sinusoid")
    with pytest.raises(ValueError, match="sequence_length"):
        build_attention_tagger(1, input_features=2, positions="learned")


def test_library_no_longer_has_the_example_model():
    # The deprecated alias went in 0.x (CHANGELOG.md): the model lives in the examples only.
    import keras_ssm

    assert not hasattr(keras_ssm.models, "build_attention_tagger")
    assert "build_attention_tagger" not in dir(keras_ssm.models)
