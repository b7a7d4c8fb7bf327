"""Packed documents (`segment_ids`) in the ops, the layers, the models and the hub.

The ops are compared with numpy loops written here in which the state restarts at each
document (and, for `causal_conv`, taps summed only within a document); gradients with
the adjoint recurrence with the same restarts. Every implementation of the backend is
forced in turn; the Triton kernel runs in the interpreter at tiny shapes. The layers'
"a packed row equals each document alone" check is in the shared contract
(`layer_checks.check_packing`, run by the harness for every family, mode and
direction); here: what the harness does not reach (gradients, the fused recurrence,
streaming, per-step `step_scale`, errors, the builders, the causal LM preprocessor).
"""

import importlib.util
import os

import keras
import numpy as np
import pytest
from keras import ops

import keras_ssm
import layer_checks as lc
from _grad import NotApplicable
from _grad import call_forced
from _grad import value_and_grad
from keras_ssm.layers import DLR
from keras_ssm.layers import S5
from keras_ssm.ops import segments

BACKEND = keras.config.backend()
SHAPE = (2, 24, 3)  # the shape of test_linear_recurrence.py: compiled paths traced once
# Row 0: documents of 5, 11 and 8 steps; row 1: one of 24 (ids need only differ).
IDS = np.array([[0] * 5 + [1] * 11 + [2] * 8, [7] * 24], "int32")


def np_packed_recurrence(a, b, ids, h0=None, reverse=False):
    """h_t = a_t keep_t h_{t-1} + b_t with keep_t = 0 where a document starts (numpy)."""
    per_step = a.ndim == b.ndim
    h = np.zeros(b.shape, complex)
    for i in range(b.shape[0]):
        prev = np.zeros(b.shape[2:], complex) if h0 is None else h0[i]
        order = range(b.shape[1] - 1, -1, -1) if reverse else range(b.shape[1])
        last = None
        for t in order:
            if last is not None and ids[i, t] != ids[i, last]:
                prev = np.zeros_like(prev)
            prev = (a[i, t] if per_step else a) * prev + b[i, t]
            h[i, t], last = prev, t
    return h


def np_packed_grads(a, b, ids, h0, w):
    """(dL/da, dL/db, dL/dh0) of L = Σ Re(conj(w) h), forward: the adjoint with restarts.

    g_t = w_t + conj(a_{t+1} k_{t+1}) g_{t+1}, dL/db_t = g_t, dL/da_t = g_t conj(k_t h_{t-1}),
    dL/dh0 = conj(a_0) g_0 (k_0 = 1).
    """
    per_step = a.ndim == b.ndim
    h = np_packed_recurrence(a, b, ids, h0)
    keep = np.concatenate([np.ones_like(ids[:, :1]), ids[:, 1:] == ids[:, :-1]], 1)
    keep = keep.reshape(keep.shape + (1,) * (b.ndim - 2)).astype(float)
    a_at = (lambda t: a[:, t]) if per_step else (lambda t: a)
    g = np.zeros_like(h)
    nxt = np.zeros_like(h[:, 0])
    for t in range(b.shape[1] - 1, -1, -1):
        g[:, t] = w[:, t] + nxt
        nxt = np.conj(a_at(t) * keep[:, t]) * g[:, t]
    h_prev = np.concatenate([h0[:, None], h[:, :-1]], 1) * keep
    ga = g * np.conj(h_prev)
    return (ga if per_step else ga.sum(axis=(0, 1))), g, np.conj(a_at(0)) * g[:, 0]


def np_packed_conv(u, k, ids, kb=None):
    """y_t = Σ_{s <= t, same document} k[:, t-s] u_s (+ Σ_{s >= t} kb[:, s-t] u_s)."""
    y = np.zeros(u.shape)
    for i in range(u.shape[0]):
        for t in range(u.shape[1]):
            for s in range(u.shape[1]):
                if ids[i, s] != ids[i, t]:
                    continue
                if s <= t and t - s < k.shape[1]:
                    y[i, t] += k[:, t - s] * u[i, s]
                if kb is not None and s >= t and s - t < kb.shape[1]:
                    y[i, t] += kb[:, s - t] * u[i, s]
    return y


def draw_case(rng, per_step, shape=SHAPE):
    a_shape = shape if per_step else shape[2:]
    mag = rng.uniform(0.5, 0.95, a_shape)
    a = mag * np.exp(1j * rng.uniform(-1.0, 1.0, a_shape))
    b = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    h0 = rng.standard_normal((shape[0],) + shape[2:]) + 1j * rng.standard_normal(
        (shape[0],) + shape[2:]
    )
    r = lambda x: x.astype(np.complex64).astype(complex)
    return r(a), r(b), r(h0)


def pair(x):
    return (
        ops.convert_to_tensor(x.real.astype("float32")),
        ops.convert_to_tensor(x.imag.astype("float32")),
    )


def numpy_of(y):
    return lc.to_numpy(y[0]) + 1j * lc.to_numpy(y[1])


def assert_rel(actual, expected, rel=2e-5, what="values"):
    scale = max(1.0, float(np.abs(expected).max()))
    err = float(np.abs(actual - expected).max())
    assert err <= rel * scale, f"{what}: error {err:.3g} (scale {scale:.3g})"


# --------------------------------------------------------------------------------------
# linear_recurrence, every implementation


@pytest.mark.parametrize("impl", keras_ssm.ops.implementations("linear_recurrence"))
@pytest.mark.parametrize("per_step", [False, True], ids=["invariant", "per_step"])
@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
def test_recurrence_restarts_at_each_document(impl, per_step, reverse, rng):
    a, b, h0 = draw_case(rng, per_step)
    kwargs = dict(reverse=reverse, initial_state=pair(h0), return_final_state=True)

    def call():
        return keras_ssm.ops.linear_recurrence(pair(a), pair(b), segment_ids=IDS, **kwargs)

    canonical = (pair(a), pair(b))
    out = call_forced("linear_recurrence", impl, call, *canonical, segment_ids=IDS, **kwargs)
    if out is NotApplicable:
        return
    h, last = out
    expected = np_packed_recurrence(a, b, IDS, h0, reverse)
    assert_rel(numpy_of(h), expected)
    # the final state is the last processed document's
    assert_rel(numpy_of(last), expected[:, 0 if reverse else -1], what="final state")


@pytest.mark.parametrize("impl", keras_ssm.ops.implementations("linear_recurrence"))
@pytest.mark.parametrize("per_step", [False, True], ids=["invariant", "per_step"])
def test_recurrence_gradients(impl, per_step, rng):
    a, b, h0 = draw_case(rng, per_step)
    w = rng.standard_normal(SHAPE) + 1j * rng.standard_normal(SHAPE)
    w_re, w_im = (ops.convert_to_tensor(x.astype("float32")) for x in (w.real, w.imag))

    def loss(a_re, a_im, b_re, b_im, h_re, h_im):
        h = keras_ssm.ops.linear_recurrence(
            (a_re, a_im), (b_re, b_im), initial_state=(h_re, h_im), segment_ids=IDS
        )
        return ops.sum(h[0] * w_re + h[1] * w_im)

    arrays = [p.astype("float32") for x in (a, b, h0) for p in (x.real, x.imag)]
    canonical = (pair(a), pair(b))
    out = call_forced(
        "linear_recurrence",
        impl,
        lambda: value_and_grad(loss, *arrays),
        *canonical,
        initial_state=pair(h0),
        segment_ids=IDS,
    )
    if out is NotApplicable:
        return
    grads = out[1]
    expected = np_packed_grads(a, b, IDS, h0, w)
    for name, got, want in zip(("a", "b", "h0"), zip(grads[::2], grads[1::2]), expected):
        assert_rel(got[0] + 1j * got[1], want, rel=1e-4, what=f"dL/d{name}")


def test_recurrence_real_values_and_symbolic_call():
    a = np.full((3,), 0.5, "float32")
    b = np.ones((1, 6, 3), "float32")
    ids = np.array([[0, 0, 0, 1, 1, 1]])
    h = lc.to_numpy(keras_ssm.ops.linear_recurrence(a, b, segment_ids=ids))
    np.testing.assert_allclose(h[0, :, 0], [1, 1.5, 1.75, 1, 1.5, 1.75], rtol=1e-6)
    spec = keras_ssm.ops.linear_recurrence(
        keras.KerasTensor((3,)),
        keras.KerasTensor((None, 6, 3)),
        segment_ids=keras.KerasTensor((None, 6), dtype="int32"),
    )
    assert tuple(spec.shape) == (None, 6, 3)


def test_segment_ids_errors():
    a, b = np.full((3,), 0.5, "float32"), np.ones((2, 6, 3), "float32")
    with pytest.raises(ValueError, match=r"segment_ids.*shape \(batch, length\)"):
        keras_ssm.ops.linear_recurrence(a, b, segment_ids=np.zeros((2, 5), "int32"))
    with pytest.raises(ValueError, match="integer document ids"):
        keras_ssm.ops.linear_recurrence(a, b, segment_ids=np.zeros((2, 6), "float32"))
    with pytest.raises(ValueError, match="segment_ids"):
        keras_ssm.ops.causal_conv(b, np.ones((3, 6), "float32"), segment_ids=np.zeros((2, 6, 1)))
    layer = DLR(state_size=2)
    with pytest.raises(ValueError, match="integer document ids"):
        layer(b, segment_ids=np.zeros((2, 6), "float32"))
    bidirectional = DLR(state_size=2, bidirectional=True)
    with pytest.raises(ValueError, match="causal layer"):
        bidirectional(b, segment_ids=np.zeros((2, 6), "int32"), return_state=True)


def test_positions_and_continues():
    ids = ops.convert_to_tensor(np.array([[3, 3, 5, 5, 5, 3]]))
    np.testing.assert_array_equal(lc.to_numpy(segments.positions(ids)), [[0, 1, 0, 1, 2, 0]])
    np.testing.assert_array_equal(
        lc.to_numpy(segments.positions(ids, reverse=True)), [[1, 0, 2, 1, 0, 0]]
    )
    np.testing.assert_array_equal(
        lc.to_numpy(segments.continues(ids, reverse=True)), [[1, 0, 1, 1, 0, 1]]
    )


# --------------------------------------------------------------------------------------
# causal_conv, every implementation


@pytest.mark.parametrize("impl", keras_ssm.ops.implementations("causal_conv"))
@pytest.mark.parametrize("taps", [(24, None), (9, 24)], ids=["causal", "two_sided"])
def test_convolution_stays_in_each_document(impl, taps, rng):
    u = rng.standard_normal(SHAPE).astype("float32")
    k = rng.standard_normal((SHAPE[2], taps[0])).astype("float32")
    kb = None if taps[1] is None else rng.standard_normal((SHAPE[2], taps[1])).astype("float32")
    w = rng.standard_normal(SHAPE).astype("float32")

    def loss(u, k, *rest):
        y = keras_ssm.ops.causal_conv(u, k, *rest, segment_ids=IDS)
        return ops.sum(y * ops.convert_to_tensor(w))

    arrays = (u, k) if kb is None else (u, k, kb)

    def call():
        return keras_ssm.ops.causal_conv(*arrays, segment_ids=IDS), value_and_grad(loss, *arrays)

    extra = {} if kb is None else {"backward_kernel": kb}
    out = call_forced("causal_conv", impl, call, u, k, segment_ids=IDS, **extra)
    if out is NotApplicable:
        return
    y, (_, grads) = out
    assert_rel(lc.to_numpy(y), np_packed_conv(u, k, IDS, kb), rel=1e-5)
    # dL/du: the same document-restricted sums with the taps reversed in time
    expected_du = np_packed_conv(w, np.zeros_like(k[:, :1]), IDS, k)
    if kb is not None:
        expected_du = expected_du + np_packed_conv(w, kb, IDS)
    assert_rel(grads[0], expected_du, rel=1e-5, what="dL/du")


# --------------------------------------------------------------------------------------
# the Triton kernel (interpreted on the CPU)

TRITON = BACKEND == "torch" and importlib.util.find_spec("triton") is not None


@pytest.mark.skipif(not TRITON, reason="the Triton kernel needs the torch backend and triton")
@pytest.mark.skipif(os.environ.get("TRITON_INTERPRET") != "1", reason="interpreter tests")
@pytest.mark.parametrize(
    "per_step,reverse,chunks",
    [(False, False, None), (True, True, None), (False, True, 3), (True, False, 3)],
    ids=["invariant-forward", "per_step-reverse", "invariant-reverse-chunks", "per_step-chunks"],
)
def test_triton_kernel_restarts(per_step, reverse, chunks, rng):
    import torch

    from keras_ssm.ops.torch import triton_scan

    shape = (2, 40, 5)  # three time tiles of 16 steps, two state blocks of 4
    ids = np.array([[0] * 7 + [1] * 20 + [2] * 13, [3] * 17 + [4] * 23], "int32")
    a, b, h0 = draw_case(rng, per_step, shape)
    w = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    planes = lambda x: tuple(
        torch.tensor(p.astype("float32"), requires_grad=True) for p in (x.real, x.imag)
    )
    A, B, H0 = planes(a), planes(b), planes(h0)
    h, last = triton_scan.linear_recurrence_triton(
        A,
        B,
        reverse=reverse,
        initial_state=H0,
        return_final_state=True,
        segment_ids=torch.tensor(ids),
        block_t=16,
        block_n=4,
        chunks=chunks,
    )
    expected = np_packed_recurrence(a, b, ids, h0, reverse)
    assert_rel(numpy_of([p.detach() for p in h]), expected)
    assert_rel(numpy_of([p.detach() for p in last]), expected[:, 0 if reverse else -1])
    if reverse:
        return
    loss = (h[0] * torch.tensor(w.real, dtype=torch.float32)).sum() + (
        h[1] * torch.tensor(w.imag, dtype=torch.float32)
    ).sum()
    grads = torch.autograd.grad(loss, A + B + H0)
    for name, (g_re, g_im), want in zip(
        ("a", "b", "h0"), zip(grads[::2], grads[1::2]), np_packed_grads(a, b, ids, h0, w)
    ):
        assert_rel(g_re.numpy() + 1j * g_im.numpy(), want, rel=1e-4, what=f"dL/d{name}")


# --------------------------------------------------------------------------------------
# layers: what the shared contract does not reach


@pytest.mark.parametrize("layer_class", [S5, DLR])
def test_gradients_stay_in_each_document(layer_class):
    """A loss on the second document of a row has no gradient on the first one's inputs."""
    layer = layer_class(state_size=4, bidirectional=True, seed=0)
    u = np.random.default_rng(0).standard_normal((1, 12, 3)).astype("float32")
    ids = np.array([[0] * 5 + [1] * 7], "int32")
    _, (grad,) = value_and_grad(lambda x: ops.sum(layer(x, segment_ids=ids)[:, 5:] ** 2), u)
    assert np.abs(grad[:, :5]).max() == 0.0
    assert np.isfinite(grad).all() and np.abs(grad[:, 5:]).min() > 0.0


def test_fused_recurrence_restarts_across_chunks(monkeypatch):
    """The fused (chunked) recurrence: documents cross its chunks, in both directions."""
    from keras_ssm.layers import base
    from keras_ssm.layers import chunked_recurrence

    monkeypatch.setattr(base, "FUSED_RECURRENCE_STATES", 1)
    monkeypatch.setattr(chunked_recurrence, "CHUNK_STATES", 2 * 3 * 4 * 5)  # chunks of 5
    layer = DLR(state_size=4, mode="recurrence", bidirectional=True, seed=3)
    u = np.random.default_rng(1).standard_normal((2, 12, 3)).astype("float32")
    layer(u)
    lc.check_packing(layer, u, reference=lambda x: lc.expected_output(layer, x))


def test_streaming_returns_the_last_documents_state():
    layer = DLR(state_size=4, mode="recurrence", seed=0)
    u = np.random.default_rng(2).standard_normal((1, 10, 3)).astype("float32")
    ids = np.array([[0] * 4 + [1] * 6], "int32")
    layer.build(u.shape)
    state = layer.get_initial_state(1)
    y, last = layer(u, initial_state=state, return_state=True, segment_ids=ids)
    y_alone, last_alone = layer(u[:, 4:], return_state=True)
    lc.assert_close(lc.to_numpy(y)[:, 4:], lc.to_numpy(y_alone))
    for got, want in zip(last, last_alone):
        lc.assert_close(lc.to_numpy(got), lc.to_numpy(want), what="final state")


def test_per_step_step_scale_stays_in_each_document():
    layer = S5(state_size=4, bidirectional=True, seed=1)
    rng = np.random.default_rng(3)
    u = rng.standard_normal((1, 9, 2)).astype("float32")
    scale = rng.uniform(0.5, 2.0, (1, 9)).astype("float32")
    ids = np.array([[0] * 4 + [1] * 5], "int32")
    y = lc.to_numpy(layer(u, step_scale=scale, segment_ids=ids))
    for start, end in ((0, 4), (4, 9)):
        alone = layer(u[:, start:end], step_scale=scale[:, start:end])
        lc.assert_close(y[:, start:end], lc.to_numpy(alone), what=f"document {start}-{end}")


# --------------------------------------------------------------------------------------
# models


def test_packed_tagger_gives_each_document_alone():
    kwargs = dict(vocab_size=11, hidden_size=8, num_layers=1, ssm_kwargs={"state_size": 4})
    packed = keras_ssm.models.build_tagger(5, packed=True, seed=0, **kwargs)
    plain = keras_ssm.models.build_tagger(5, seed=0, **kwargs)
    plain.set_weights(packed.get_weights())
    tokens = np.random.default_rng(4).integers(1, 11, (1, 10)).astype("int32")
    ids = np.array([[0] * 6 + [1] * 4], "int32")
    y = lc.to_numpy(packed([tokens, ids]))
    for start, end in ((0, 6), (6, 10)):
        lc.assert_close(y[:, start:end], lc.to_numpy(plain(tokens[:, start:end])))


@pytest.mark.skipif(importlib.util.find_spec("keras_hub") is None, reason="needs keras-hub")
def test_causal_lm_preprocessor_packs_for_a_packed_backbone():
    import keras_ssm.hub as hub

    texts = ["abc", "defghij", "kl"]
    packer = hub.SSMCausalLMPreprocessor(hub.SSMByteTokenizer(), sequence_length=7, packing=True)
    x, y, weight = packer(texts)
    # 5 + 9 + 4 tokens (start and end ids around each) in rows of 8: 3 rows, 6 padded
    ids = np.asarray(x["segment_ids"])
    np.testing.assert_array_equal(ids[0], [1, 1, 1, 1, 1, 2, 2])
    assert ids.shape == (3, 7) and (ids[-1] == 0).sum() == 5
    np.testing.assert_array_equal(np.asarray(x["padding_mask"]), ids != 0)
    # labels count within a document only: not the start of document 2 after document 1
    np.testing.assert_array_equal(np.asarray(weight)[0], [1, 1, 1, 1, 0, 1, 1])
    np.testing.assert_array_equal(np.asarray(y)[0, :4], [97, 98, 99, packer.tokenizer.end_token_id])
    if importlib.util.find_spec("tensorflow") is not None:  # keras-hub's tf.data workflow
        import tensorflow as tf

        batch = next(iter(tf.data.Dataset.from_tensor_slices(texts).batch(3).map(packer)))
        np.testing.assert_array_equal(batch[0]["segment_ids"].numpy(), ids)
        np.testing.assert_array_equal(batch[2].numpy(), np.asarray(weight))
    backbone = hub.SSMBackbone(
        vocabulary_size=260, hidden_dim=8, num_layers=1, ssm_kwargs={"state_size": 4}, packed=True
    )
    out = lc.to_numpy(backbone({key: np.asarray(value) for key, value in x.items()}))
    tokens = np.asarray(x["token_ids"])[:1, 5:]
    alone = backbone(
        {
            "token_ids": tokens,
            "padding_mask": np.ones_like(tokens),
            "segment_ids": np.zeros_like(tokens),
        }
    )
    lc.assert_close(out[:1, 5:], lc.to_numpy(alone), what="document 2 of row 0")
    assert hub.SSMBackbone.from_config(backbone.get_config()).packed
