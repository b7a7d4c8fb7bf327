"""Tests for the chunked torch path of linear_recurrence (keras_ssm/ops/torch/recurrence.py).

What the shared op tests cannot reach: chunk boundaries and lengths that are not a
multiple of the chunk (with the chunk constants made small so that tiny inputs go
through two levels of chunking, the carries and the leftover steps), gradients of a,
b and the initial state, meta tensors, strided inputs and when the path is chosen.
Values are compared with a numpy loop, gradients with torch autograd through a plain
Python loop over time (both in tests/recurrence_reference.py).
"""

import keras
import numpy as np
import pytest

pytestmark = pytest.mark.skipif(
    keras.config.backend() != "torch", reason="torch-only implementation"
)

if keras.config.backend() == "torch":
    import torch

    from keras_ssm.ops.torch import chunked_scan
    from keras_ssm.ops.torch import recurrence as torch_ops

from recurrence_reference import as_numpy  # noqa: E402
from recurrence_reference import np_loop  # noqa: E402
from recurrence_reference import pack  # noqa: E402
from recurrence_reference import planes_of  # noqa: E402
from recurrence_reference import torch_loop  # noqa: E402

B, N = 2, 3
# Lengths around the chunk sizes the `small_chunks` fixture produces (4-9 chunks of
# 2-25 steps, carries chunked again), plus 1 and 2 steps.
LENGTHS = (1, 2, 7, 37, 100)


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunk constants that make (B=2, N=3) inputs of 7+ steps take the chunked path.

    With 6 values per step: 8 chunks per level, chunks of at least 2 steps. L = 100 ->
    8 chunks of 12 steps + 4 leftover steps; the 7 carries -> 3 chunks of 2 + 1.
    """
    monkeypatch.setattr(chunked_scan, "ELEMENTS_PER_STEP", 48)
    monkeypatch.setattr(chunked_scan, "MIN_CHUNK", 2)


# --------------------------------------------------------------------------------------
# Inputs (the references are in tests/recurrence_reference.py)


def random_inputs(rng, length, cplx, invariant, with_h0, state=(N,), scale=0.95, batch=B):
    """numpy a, b, h0 (complex128 or float64), |a| <= scale."""

    def draw(*shape):
        x = rng.uniform(-1, 1, shape)
        if cplx:
            x = x + 1j * rng.uniform(-1, 1, shape)
        return x

    a = draw(*state) if invariant else draw(batch, length, *state)
    a = a * (scale / np.maximum(1.0, np.abs(a)))
    b = draw(batch, length, *state)
    h0 = draw(batch, *state) if with_h0 else None
    return a, b, h0


# --------------------------------------------------------------------------------------
# Values


@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("cplx", [False, True], ids=["real", "complex"])
@pytest.mark.parametrize("invariant", [False, True], ids=["per_step", "invariant"])
@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("with_h0", [False, True], ids=["zero_h0", "h0"])
def test_values_across_chunk_boundaries(
    small_chunks, rng, length, cplx, invariant, reverse, with_h0
):
    a, b, h0 = random_inputs(rng, length, cplx, invariant, with_h0)
    expected = np_loop(a, b, h0, reverse)
    h, last = torch_ops.linear_recurrence_chunked(
        pack(planes_of(a)),
        pack(planes_of(b)),
        reverse=reverse,
        initial_state=pack(planes_of(h0)),
        return_final_state=True,
    )
    np.testing.assert_allclose(as_numpy(h), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        as_numpy(last), expected[:, 0 if reverse else -1], rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("invariant", [False, True], ids=["per_step", "invariant"])
def test_default_chunking_long_sequence_float32(rng, reverse, invariant):
    """Default constants, L = 3000: chunks of 8 steps, three levels of carries."""
    length = 3000
    assert chunked_scan.chunk_length(B * 4, length) is not None
    a, b, h0 = random_inputs(rng, length, True, invariant, True, state=(4,), scale=0.999)
    expected = np_loop(a, b, h0, reverse)
    h, last = torch_ops.linear_recurrence_chunked(
        pack(planes_of(a, torch.float32)),
        pack(planes_of(b, torch.float32)),
        reverse=reverse,
        initial_state=pack(planes_of(h0, torch.float32)),
        return_final_state=True,
    )
    assert h[0].dtype == torch.float32
    scale = np.abs(expected).max()
    np.testing.assert_allclose(as_numpy(h), expected, rtol=0, atol=2e-5 * scale)
    np.testing.assert_allclose(
        as_numpy(last), expected[:, 0 if reverse else -1], rtol=0, atol=2e-5 * scale
    )


def test_several_state_axes(small_chunks, rng):
    a, b, h0 = random_inputs(rng, 37, True, False, True, state=(2, 3))
    h = torch_ops.linear_recurrence_chunked(
        pack(planes_of(a)), pack(planes_of(b)), initial_state=pack(planes_of(h0))
    )
    assert h[0].shape == (B, 37, 2, 3)
    np.testing.assert_allclose(as_numpy(h), np_loop(a, b, h0), rtol=1e-12, atol=1e-12)


def test_zero_and_tiny_coefficients_are_exact(small_chunks, rng):
    """a_t = 0 and |a_t| = 1e-30 inside chunks: no division, no log, no NaN."""
    a, b, _ = random_inputs(rng, 100, True, False, False)
    a[:, 5] = 0.0
    a[:, 13:40] = 1e-30
    a[0, 60:70] = 0.0
    h = torch_ops.linear_recurrence_chunked(pack(planes_of(a)), pack(planes_of(b)))
    out = as_numpy(h)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, np_loop(a, b), rtol=1e-12, atol=1e-12)


def test_strided_inputs(small_chunks, rng):
    """Non-contiguous views (a transposed buffer) give the same result."""
    a, b, h0 = random_inputs(rng, 37, True, False, True)
    b_t = [
        torch.tensor(np.ascontiguousarray(p.transpose(1, 0, 2))).transpose(0, 1)
        for p in (b.real, b.imag)
    ]
    assert not b_t[0].is_contiguous()
    h = torch_ops.linear_recurrence_chunked(
        pack(planes_of(a)), tuple(b_t), initial_state=pack(planes_of(h0))
    )
    np.testing.assert_allclose(as_numpy(h), np_loop(a, b, h0), rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------------------
# Gradients


def weighted_loss(h, last, weights):
    """Σ w·h + Σ v·h_last over all planes (a generic cotangent for h and h_last)."""
    w, v = weights
    h = h if isinstance(h, (tuple, list)) else [h]
    last = last if isinstance(last, (tuple, list)) else [last]
    return sum((p * q).sum() for p, q in zip(h, w)) + sum((p * q).sum() for p, q in zip(last, v))


@pytest.mark.parametrize("length", (1, 37, 100))
@pytest.mark.parametrize("cplx", [False, True], ids=["real", "complex"])
@pytest.mark.parametrize("invariant", [False, True], ids=["per_step", "invariant"])
@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("with_h0", [False, True], ids=["zero_h0", "h0"])
def test_gradients_match_autograd_of_loop(
    small_chunks, rng, length, cplx, invariant, reverse, with_h0
):
    a, b, h0 = random_inputs(rng, length, cplx, invariant, with_h0)
    planes = 2 if cplx else 1
    weights = (
        [torch.tensor(rng.normal(size=b.shape)) for _ in range(planes)],
        [torch.tensor(rng.normal(size=(B, N))) for _ in range(planes)],
    )
    grads = []
    for run in ("chunked", "loop"):
        pa = planes_of(a, requires_grad=True)
        pb = planes_of(b, requires_grad=True)
        ph = planes_of(h0, requires_grad=True)
        if run == "chunked":
            h, last = torch_ops.linear_recurrence_chunked(
                pack(pa), pack(pb), reverse=reverse, initial_state=pack(ph), return_final_state=True
            )
        else:
            h, last = torch_loop(pa, pb, ph, reverse)
        leaves = pa + pb + (ph or [])
        grads.append(torch.autograd.grad(weighted_loss(h, last, weights), leaves))
    for got, want in zip(*grads):
        assert got.shape == want.shape
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("invariant", [False, True], ids=["per_step", "invariant"])
@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
def test_gradcheck_finite_differences(small_chunks, rng, invariant, reverse):
    """torch.autograd.gradcheck (finite differences) through chunks and carries."""
    a, b, h0 = random_inputs(rng, 19, True, invariant, True)
    inputs = (
        planes_of(a, requires_grad=True)
        + planes_of(b, requires_grad=True)
        + planes_of(h0, requires_grad=True)
    )

    def fn(ar, ai, br, bi, hr, hi):
        (yr, yi), (lr, li) = torch_ops.linear_recurrence_chunked(
            (ar, ai), (br, bi), reverse=reverse, initial_state=(hr, hi), return_final_state=True
        )
        return yr, yi, lr, li

    assert torch.autograd.gradcheck(fn, tuple(inputs))


def test_gradient_of_b_only(small_chunks, rng):
    """a and h0 without requires_grad: only db is computed and it is right."""
    a, b, h0 = random_inputs(rng, 37, True, False, True)
    pb = planes_of(b, requires_grad=True)
    h = torch_ops.linear_recurrence_chunked(
        pack(planes_of(a)), tuple(pb), initial_state=pack(planes_of(h0))
    )
    (h[0].sum() + 2 * h[1].sum()).backward()
    pb_ref = planes_of(b, requires_grad=True)
    (hr, hi), _ = torch_loop(planes_of(a), pb_ref, planes_of(h0))
    (hr.sum() + 2 * hi.sum()).backward()
    for got, want in zip(pb, pb_ref):
        np.testing.assert_allclose(got.grad.numpy(), want.grad.numpy(), rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------------------
# The split over threads (CPU, several torch threads)


@pytest.fixture
def threaded(monkeypatch, small_chunks):
    """Every scan split over the batch: 3 torch threads, no minimum size.

    Records the names of the threads that ran a part on the pool (the calling thread
    takes the first part itself).
    """
    monkeypatch.setattr(chunked_scan, "PARALLEL_MIN_ELEMENTS", 0)
    threads = torch.get_num_threads()
    torch.set_num_threads(3)
    names = []
    scan = chunked_scan._scan_without_grad

    def recording_scan(*args):
        import threading

        names.append(threading.current_thread().name)
        return scan(*args)

    monkeypatch.setattr(chunked_scan, "_scan_without_grad", recording_scan)
    yield names
    torch.set_num_threads(threads)


@pytest.mark.parametrize("batch", (1, 2, 5))
@pytest.mark.parametrize("cplx", [False, True], ids=["real", "complex"])
@pytest.mark.parametrize("invariant", [False, True], ids=["per_step", "invariant"])
@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("with_h0", [False, True], ids=["zero_h0", "h0"])
def test_split_over_threads_values_and_gradients(
    threaded, rng, batch, cplx, invariant, reverse, with_h0
):
    a, b, h0 = random_inputs(rng, 37, cplx, invariant, with_h0, batch=batch)
    expected = np_loop(a, b, h0, reverse)
    planes = 2 if cplx else 1
    weights = (
        [torch.tensor(rng.normal(size=b.shape)) for _ in range(planes)],
        [torch.tensor(rng.normal(size=(batch, N))) for _ in range(planes)],
    )
    grads = []
    for run in ("chunked", "loop"):
        pa, pb = planes_of(a, requires_grad=True), planes_of(b, requires_grad=True)
        ph = planes_of(h0, requires_grad=True)
        if run == "chunked":
            threaded.clear()
            h, last = torch_ops.linear_recurrence_chunked(
                pack(pa), pack(pb), reverse=reverse, initial_state=pack(ph), return_final_state=True
            )
            np.testing.assert_allclose(as_numpy(h), expected, rtol=1e-12, atol=1e-12)
            workers = [n for n in threaded if n.startswith("keras_ssm_scan")]
            # min(3 threads, batch) parts; all but the first run on pool threads.
            assert len(workers) == min(3, batch) - 1
        else:
            h, last = torch_loop(pa, pb, ph, reverse)
        leaves = pa + pb + (ph or [])
        grads.append(torch.autograd.grad(weighted_loss(h, last, weights), leaves))
    for got, want in zip(*grads):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-10, atol=1e-10)


def test_no_split_for_small_inputs_or_one_thread():
    b = (torch.empty(4, 1 << 16, 64),)  # 2^24 values
    assert chunked_scan._workers_for((torch.zeros(4, 10, 3),)) == 1  # below PARALLEL_MIN_ELEMENTS
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert chunked_scan._workers_for(b) == 1
        torch.set_num_threads(2)
        assert chunked_scan._workers_for(b) == 2
        assert chunked_scan._workers_for((torch.empty(1, 1 << 18, 64),)) == 1  # batch 1
    finally:
        torch.set_num_threads(threads)


# --------------------------------------------------------------------------------------
# The scan as a torch operator (torch.library), as torch.compile sees it


@pytest.mark.parametrize(
    "cplx, invariant, with_h0", [(True, True, True), (False, False, False)], ids=["c-i-h0", "r-p"]
)
def test_operator_passes_opcheck(rng, cplx, invariant, with_h0):
    """Schema, fake implementation, autograd registration and AOT dispatch with dynamic
    shapes (`torch.library.opcheck`) of `keras_ssm::chunked_scan`."""
    a, b, h0 = random_inputs(rng, 9, cplx, invariant, with_h0)
    planes = lambda x: [p.float().requires_grad_(True) for p in planes_of(x) or []]
    for reverse in (False, True):
        args = (planes(a), planes(b), planes(h0), reverse, invariant, None)
        torch.library.opcheck(torch_ops.chunked_scan_op, args)


def test_compiles_whole_with_its_gradient(rng, small_chunks):
    """torch.compile(fullgraph=True) (any graph break fails) of the public op and a loss
    through the chunked path: values against numpy, gradients equal to eager's, one
    compilation for two calls of the same shape."""
    import keras_ssm

    a, b, h0 = random_inputs(rng, 37, True, False, True)
    args = [planes_of(x, requires_grad=True) for x in (a, b, h0)]

    def loss_of(a, b, h0):
        h = keras_ssm.ops.linear_recurrence(tuple(a), tuple(b), initial_state=tuple(h0))
        return h, (h[0] * h[0]).sum() + h[1].sum()

    torch._dynamo.reset()
    compiled = torch.compile(loss_of, fullgraph=True, backend="aot_eager")
    h, loss = compiled(*args)
    np.testing.assert_allclose(as_numpy(h), np_loop(a, b, h0), rtol=1e-12, atol=1e-12)
    leaves = [p for x in args for p in x]
    for got, want in zip(
        torch.autograd.grad(loss, leaves), torch.autograd.grad(loss_of(*args)[1], leaves)
    ):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12, atol=1e-12)
    frames = torch._dynamo.utils.counters["frames"]["ok"]
    compiled(*args)
    assert torch._dynamo.utils.counters["frames"]["ok"] == frames


# --------------------------------------------------------------------------------------
# Meta tensors and selection


@pytest.mark.parametrize("invariant", [False, True], ids=["per_step", "invariant"])
def test_meta_tensors_give_shapes(invariant):
    meta = lambda *s: torch.empty(*s, device="meta", requires_grad=True)
    a = (meta(5), meta(5)) if invariant else (meta(B, 300, 5), meta(B, 300, 5))
    b = (meta(B, 300, 5), meta(B, 300, 5))
    h, last = torch_ops.linear_recurrence_chunked(
        a, b, initial_state=(meta(B, 5), meta(B, 5)), return_final_state=True
    )
    assert h[0].device.type == "meta" and h[0].shape == (B, 300, 5)
    assert last[1].shape == (B, 5)
    (h[0].sum() + last[1].sum()).backward()
    assert a[0].grad.shape == a[0].shape and b[1].grad.shape == b[1].shape


def test_chunked_is_chosen_on_cpu_and_triton_declines():
    import keras_ssm
    from keras_ssm.ops import registry

    a = (torch.full((4,), 0.9), torch.full((4,), 0.1))
    b = (torch.ones(2, 50, 4), torch.zeros(2, 50, 4))
    assert keras_ssm.ops.resolve("linear_recurrence", a, b) == "chunked"
    names = keras_ssm.ops.implementations("linear_recurrence")
    assert {"chunked", "triton"} <= set(names)
    reason = registry.get("linear_recurrence", "triton").reason_not_applicable(a, b)
    assert reason is not None and "CUDA" in reason


def test_public_op_with_chunked_forced_keeps_dtype(rng):
    """Through keras_ssm.ops: float16 in, float32 compute, float16 out."""
    import keras_ssm

    a, b, _ = random_inputs(rng, 40, False, False, False)
    a_t = torch.tensor(a, dtype=torch.float16)
    b_t = torch.tensor(b, dtype=torch.float16)
    with keras_ssm.config.use_implementation("linear_recurrence", "chunked"):
        h = keras_ssm.ops.linear_recurrence(a_t, b_t)
    assert h.dtype == torch.float16
    expected = np_loop(
        a_t.float().numpy().astype(np.float64), b_t.float().numpy().astype(np.float64)
    )
    np.testing.assert_allclose(h.float().numpy(), expected, rtol=5e-3, atol=5e-3)
