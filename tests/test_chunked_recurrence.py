"""Tests for keras_ssm.layers.chunked_recurrence (recurrence mode fused by chunks).

`scan_readout` against a plain numpy loop (values and final state, forward and reverse,
initial states, chunk sizes that divide the length or not); its gradients against the
autodiff of an unchunked keras.ops program written here (every state kept); and DSS/DLR
in recurrence mode routed through it (threshold lowered) against their convolution mode.
"""

import numpy as np
import pytest
from keras import ops

import keras_ssm
from _grad import value_and_grad
from keras_ssm.layers import base
from keras_ssm.layers import chunked_recurrence as cr


def np_scan_readout(u, a, b, c, reverse=False, h0=None):
    """y_t = Re Σ_n c x_t, x_t = a x_{t∓1} + b u_t: complex128 loop. u (B, L, H)."""
    batch, length, features = u.shape
    h = np.zeros((batch,) + a.shape, complex) if h0 is None else h0.astype(complex)
    y = np.zeros((batch, length, features))
    steps = range(length - 1, -1, -1) if reverse else range(length)
    for t in steps:
        h = a * h + b * u[:, t, :, None]
        y[:, t] = np.sum(c * h, axis=-1).real
    return y, h


def random_system(rng, features, states):
    mag = rng.uniform(0.5, 0.99, (features, states))
    a = mag * np.exp(1j * rng.uniform(-np.pi, np.pi, (features, states)))
    b = rng.standard_normal((features, states)) + 1j * rng.standard_normal((features, states))
    c = rng.standard_normal((features, states)) + 1j * rng.standard_normal((features, states))
    return [x.astype(np.complex64) for x in (a, b, c)]


def pair(x):
    return (
        ops.convert_to_tensor(x.real.astype("float32")),
        ops.convert_to_tensor(x.imag.astype("float32")),
    )


@pytest.mark.parametrize(
    "reverse, chunk, with_state",
    [
        (False, 1, False),
        (False, 4, True),
        (False, 40, False),  # 13 steps: 13, 4 (+1), 1 chunks
        (True, 1, True),
        (True, 4, False),
        (True, 13, True),
    ],
)
def test_values_against_numpy(reverse, chunk, with_state, rng):
    batch, length, features, states = 2, 13, 3, 4
    a, b, c = random_system(rng, features, states)
    u = rng.standard_normal((batch, length, features)).astype("float32")
    h0 = None
    if with_state:
        h0 = (
            rng.standard_normal((batch, features, states))
            + 1j * rng.standard_normal((batch, features, states))
        ).astype(np.complex64)
    y, last = cr.scan_readout(
        ops.convert_to_tensor(u),
        pair(a),
        pair(b),
        pair(c),
        reverse=reverse,
        chunk=chunk,
        initial_state=None if h0 is None else pair(h0),
    )
    want_y, want_h = np_scan_readout(u, a, b, c, reverse, h0)
    np.testing.assert_allclose(ops.convert_to_numpy(y), want_y, rtol=1e-4, atol=1e-4)
    got_h = ops.convert_to_numpy(last[0]) + 1j * ops.convert_to_numpy(last[1])
    np.testing.assert_allclose(got_h, want_h, rtol=1e-4, atol=1e-4)


def _unchunked(u, a_re, a_im, b_re, b_im, c_re, c_im, reverse):
    """The same readout with every state kept: a keras.ops loop over time."""
    length = u.shape[1]
    h_re = ops.zeros_like(u[:, 0, :])[..., None] * ops.zeros_like(a_re)
    h_im = h_re
    ys = [None] * length
    for t in range(length - 1, -1, -1) if reverse else range(length):
        v = u[:, t, :, None]
        h_re, h_im = a_re * h_re - a_im * h_im + b_re * v, a_re * h_im + a_im * h_re + b_im * v
        ys[t] = ops.sum(c_re * h_re - c_im * h_im, axis=-1)
    return ops.stack(ys, axis=1)


@pytest.mark.parametrize("reverse", [False, True])
def test_gradients_match_unchunked(reverse, rng):
    batch, length, features, states = 2, 11, 3, 4
    a, b, c = random_system(rng, features, states)
    u = rng.standard_normal((batch, length, features)).astype("float32")
    g = rng.standard_normal((batch, length, features)).astype("float32")
    arrays = [u] + [part.astype("float32") for x in (a, b, c) for part in (x.real, x.imag)]

    def chunked(u, a_re, a_im, b_re, b_im, c_re, c_im):
        y, _ = cr.scan_readout(
            u, (a_re, a_im), (b_re, b_im), (c_re, c_im), reverse=reverse, chunk=4
        )
        return ops.sum(y * ops.convert_to_tensor(g))

    def plain(*args):
        return ops.sum(_unchunked(*args, reverse) * ops.convert_to_tensor(g))

    v1, g1 = value_and_grad(chunked, *arrays)
    v2, g2 = value_and_grad(plain, *arrays)
    np.testing.assert_allclose(v1, v2, rtol=1e-4)
    for name, x, y in zip(["u", "a_re", "a_im", "b_re", "b_im", "c_re", "c_im"], g1, g2):
        np.testing.assert_allclose(x, y, rtol=1e-3, atol=1e-3 * np.max(np.abs(y)), err_msg=name)


def test_chunk_length():
    assert cr.chunk_length(2, 4096, 64 * 64, budget=1 << 16) == 8
    assert cr.chunk_length(1, 10, 4, budget=1 << 20) == 10
    assert cr.chunk_length(64, 100, 1 << 20, budget=16) == 1


@pytest.mark.parametrize("cls", ["DSS", "DLR"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_layers_route_large_recurrences_through_chunks(cls, bidirectional, monkeypatch, rng):
    """Above the threshold the recurrence mode runs by chunks and still equals the
    convolution mode (an independent path), forward and backward systems alike."""
    layer_cls = getattr(keras_ssm.layers, cls)
    conv = layer_cls(state_size=8, mode="convolution", bidirectional=bidirectional, seed=3)
    rec = layer_cls(state_size=8, mode="recurrence", bidirectional=bidirectional, seed=3)
    x = rng.standard_normal((2, 21, 3)).astype("float32")
    y_conv = ops.convert_to_numpy(conv(x))
    calls = []
    original = cr.scan_readout
    monkeypatch.setattr(cr, "scan_readout", lambda *a, **k: calls.append(k) or original(*a, **k))
    monkeypatch.setattr(base, "FUSED_RECURRENCE_STATES", 1)
    monkeypatch.setattr(cr, "CHUNK_STATES", 2 * 3 * 8 * 5)
    y_rec = ops.convert_to_numpy(rec(x))
    assert len(calls) == (2 if bidirectional else 1)
    np.testing.assert_allclose(y_rec, y_conv, rtol=1e-4, atol=1e-4 * np.max(np.abs(y_conv)))


def test_streaming_state_through_chunks(monkeypatch, rng):
    """return_state / initial_state: two halves through the chunked path equal one call."""
    layer = keras_ssm.layers.DLR(state_size=8, mode="recurrence", seed=5)
    x = rng.standard_normal((2, 20, 3)).astype("float32")
    whole = ops.convert_to_numpy(layer(x))
    monkeypatch.setattr(base, "FUSED_RECURRENCE_STATES", 1)
    monkeypatch.setattr(cr, "CHUNK_STATES", 2 * 3 * 8 * 3)
    y1, state = layer(x[:, :12], return_state=True)
    y2 = layer(x[:, 12:], initial_state=state)
    got = np.concatenate([ops.convert_to_numpy(y1), ops.convert_to_numpy(y2)], axis=1)
    np.testing.assert_allclose(got, whole, rtol=1e-4, atol=1e-4 * np.max(np.abs(whole)))
