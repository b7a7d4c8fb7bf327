"""Tests for the Triton linear_recurrence kernel (keras_ssm/ops/torch/triton_scan.py).

Without a GPU the kernel runs on CPU tensors in the Triton interpreter
(``TRITON_INTERPRET=1``, set by conftest.py before triton is imported), so the shapes
are tiny: B=2, L=40 with BLOCK_T=16 (three time blocks, carries between them, a partial
last block) and N=5 with BLOCK_N=4 (two state blocks, the second one masked).
Values are compared with a numpy loop, gradients with torch autograd through a plain
Python loop over time (tests/recurrence_reference.py); the final state and every gradient (a, b,
initial state) are checked.

On a machine with CUDA, run with ``TRITON_INTERPRET=0`` to also compile the kernel for
the GPU (`test_cuda_kernel_matches_loop`).
"""

import importlib.util
import os

import keras
import numpy as np
import pytest

AVAILABLE = keras.config.backend() == "torch" and importlib.util.find_spec("triton") is not None
pytestmark = pytest.mark.skipif(
    not AVAILABLE, reason="the Triton kernel needs the torch backend and triton"
)

if AVAILABLE:
    import torch

    from keras_ssm.ops.torch import triton_chunks
    from keras_ssm.ops.torch import triton_scan

from recurrence_reference import as_numpy  # noqa: E402
from recurrence_reference import np_loop  # noqa: E402
from recurrence_reference import pack  # noqa: E402
from recurrence_reference import planes_of  # noqa: E402
from recurrence_reference import torch_loop  # noqa: E402

INTERPRETED = os.environ.get("TRITON_INTERPRET", "0") == "1"
CUDA = AVAILABLE and torch.cuda.is_available()
B, L, N = 2, 40, 5
BLOCKS = dict(block_t=16, block_n=4)


def random_inputs(rng, cplx, invariant, with_h0, length=L, n=N):
    def draw(*shape):
        x = rng.uniform(-1, 1, shape)
        return x + 1j * rng.uniform(-1, 1, shape) if cplx else x

    a = draw(n) if invariant else draw(B, length, n)
    a = a * (0.97 / np.maximum(1.0, np.abs(a)))
    return a, draw(B, length, n), (draw(B, n) if with_h0 else None)


CASES = [
    pytest.param(
        cplx,
        invariant,
        reverse,
        with_h0,
        id=f"{'complex' if cplx else 'real'}-{'invariant' if invariant else 'per_step'}-"
        f"{'reverse' if reverse else 'forward'}-{'h0' if with_h0 else 'zero_h0'}",
    )
    for cplx in (False, True)
    for invariant in (False, True)
    for reverse in (False, True)
    for with_h0 in (False, True)
]


@pytest.mark.skipif(not INTERPRETED, reason="CPU tensors need TRITON_INTERPRET=1")
@pytest.mark.parametrize("cplx, invariant, reverse, with_h0", CASES)
def test_values_and_final_state(rng, cplx, invariant, reverse, with_h0):
    a, b, h0 = random_inputs(rng, cplx, invariant, with_h0)
    expected = np_loop(a, b, h0, reverse)
    h, last = triton_scan.linear_recurrence_triton(
        pack(planes_of(a, torch.float32)),
        pack(planes_of(b, torch.float32)),
        reverse=reverse,
        initial_state=pack(planes_of(h0, torch.float32)),
        return_final_state=True,
        **BLOCKS,
    )
    assert (h[0] if cplx else h).dtype == torch.float32
    np.testing.assert_allclose(as_numpy(h), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        as_numpy(last), expected[:, 0 if reverse else -1], rtol=1e-5, atol=1e-5
    )


def check_against_loop(rng, cplx, invariant, reverse, with_h0, tol, **options):
    """float64 in the kernel: values, final state and the gradients of
    loss = Σ w·h + Σ v·h_last (all planes) w.r.t. a, b and h0 against a torch loop."""
    a, b, h0 = random_inputs(rng, cplx, invariant, with_h0)
    expected = np_loop(a, b, h0, reverse)
    planes = 2 if cplx else 1
    w = [torch.tensor(rng.normal(size=(B, L, N))) for _ in range(planes)]
    v = [torch.tensor(rng.normal(size=(B, N))) for _ in range(planes)]
    grads = []
    for run in ("triton", "loop"):
        pa = planes_of(a, torch.float64, requires_grad=True)
        pb = planes_of(b, torch.float64, requires_grad=True)
        ph = planes_of(h0, torch.float64, requires_grad=True)
        if run == "triton":
            h, last = triton_scan.linear_recurrence_triton(
                pack(pa),
                pack(pb),
                reverse=reverse,
                initial_state=pack(ph),
                return_final_state=True,
                **BLOCKS,
                **options,
            )
            np.testing.assert_allclose(as_numpy(h), expected, rtol=tol, atol=tol)
            np.testing.assert_allclose(
                as_numpy(last), expected[:, 0 if reverse else -1], rtol=tol, atol=tol
            )
            h = list(h) if cplx else [h]
            last = list(last) if cplx else [last]
        else:
            h, last = torch_loop(pa, pb, ph, reverse)
        loss = sum((p * q).sum() for p, q in zip(h, w)) + sum(
            (p * q).sum() for p, q in zip(last, v)
        )
        grads.append(torch.autograd.grad(loss, pa + pb + (ph or [])))
    for got, want in zip(*grads):
        assert got.shape == want.shape
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=tol, atol=tol)


@pytest.mark.skipif(not INTERPRETED, reason="CPU tensors need TRITON_INTERPRET=1")
@pytest.mark.parametrize("cplx, invariant, reverse, with_h0", CASES)
def test_gradients_match_autograd_of_loop(rng, cplx, invariant, reverse, with_h0):
    check_against_loop(rng, cplx, invariant, reverse, with_h0, 1e-10)


CHUNKED_CASES = [
    pytest.param(
        cplx,
        invariant,
        reverse,
        with_h0,
        chunks,
        id=f"{'complex' if cplx else 'real'}-{'invariant' if invariant else 'per_step'}-"
        f"{'reverse' if reverse else 'forward'}-{'h0' if with_h0 else 'zero_h0'}-{chunks}",
    )
    for cplx, invariant, reverse, with_h0, chunks in (
        (True, True, False, True, 3),
        (True, False, True, True, 2),
        (False, True, True, False, 4),
        (False, False, False, True, 3),
        (True, True, True, False, 8),
    )
]


@pytest.mark.skipif(not INTERPRETED, reason="CPU tensors need TRITON_INTERPRET=1")
@pytest.mark.parametrize("cplx, invariant, reverse, with_h0, chunks", CHUNKED_CASES)
def test_chunked_over_time_values_and_gradients(rng, cplx, invariant, reverse, with_h0, chunks):
    """The scan cut into chunks of time (L = 40 into 2, 3, 4 or 8 chunks, the last
    partial): values, final state and every gradient against the autograd of a loop."""
    check_against_loop(rng, cplx, invariant, reverse, with_h0, 1e-9, chunks=chunks)


def test_chunk_count_fills_the_gpu():
    assert triton_chunks.chunk_count(64, 65536, 2048) == 1  # 4096 programs
    assert triton_chunks.chunk_count(1, 65536, 64) == 65536 // (4 * triton_chunks.BLOCK_T)
    assert triton_chunks.chunk_count(1, 100, 64) == 1  # too short to cut
    assert triton_chunks.chunk_count(32, 784, 128) == 1  # chunks lose at short L
    length = triton_chunks.MIN_CHUNKED_LENGTH
    assert triton_chunks.chunk_count(8, length - 1, 64) == 1
    count = triton_chunks.chunk_count(8, length, 64)
    assert count > 1 and 8 * 2 * count >= triton_chunks.MIN_PROGRAMS


@pytest.mark.skipif(not INTERPRETED, reason="CPU tensors need TRITON_INTERPRET=1")
def test_gradient_of_b_only_and_state_axes(rng):
    """a without requires_grad (no dL/da pass) and a (2, 3) state flattened inside."""
    a, b, h0 = random_inputs(rng, True, False, True, length=20, n=6)
    reshape = lambda planes, shape: [p.reshape(shape) for p in planes]
    pb = reshape(planes_of(b, torch.float64), (B, 20, 2, 3))
    for p in pb:
        p.requires_grad_(True)
    h = triton_scan.linear_recurrence_triton(
        tuple(reshape(planes_of(a, torch.float64), (B, 20, 2, 3))),
        tuple(pb),
        initial_state=tuple(reshape(planes_of(h0, torch.float64), (B, 2, 3))),
        **BLOCKS,
    )
    assert h[0].shape == (B, 20, 2, 3)
    np.testing.assert_allclose(
        as_numpy(h).reshape(B, 20, 6), np_loop(a, b, h0), rtol=1e-12, atol=1e-12
    )
    (h[0].sum() + 2 * h[1].sum()).backward()
    pb_ref = planes_of(b, torch.float64, requires_grad=True)
    (hr, hi), _ = torch_loop(planes_of(a, torch.float64), pb_ref, planes_of(h0, torch.float64))
    (hr.sum() + 2 * hi.sum()).backward()
    for got, want in zip(pb, pb_ref):
        np.testing.assert_allclose(
            got.grad.reshape(B, 20, 6).numpy(), want.grad.numpy(), rtol=1e-12, atol=1e-12
        )


def test_registry_declines_cpu_tensors():
    from keras_ssm.ops import registry

    a = torch.full((3,), 0.5)
    b = torch.ones(2, 8, 3)
    reason = registry.get("linear_recurrence", "triton").reason_not_applicable(a, b)
    assert reason is not None and "CUDA" in reason


# --------------------------------------------------------------------------------------
# The kernel as a torch operator (torch.library), as torch.compile sees it. In the
# interpreter it is an opaque custom op, on CUDA a triton_op traced into.

DEVICE = "cuda" if CUDA and not INTERPRETED else "cpu"
OP_CASES = [  # cplx, invariant, with_h0, with_keep (packed documents' resets)
    pytest.param(True, True, True, True, id="complex-invariant-h0-keep"),
    pytest.param(False, False, False, False, id="real-per_step"),
]


def op_inputs(rng, cplx, invariant, with_h0, with_keep, length=8):
    """The op's arguments: float32 plane lists that require grad, keep (B, L) or None."""
    a, b, h0 = random_inputs(rng, cplx, invariant, with_h0, length=length, n=3)
    planes = lambda x: [
        p.to(DEVICE).requires_grad_(True) for p in planes_of(x, torch.float32) or []
    ]
    keep = None
    if with_keep:
        keep = torch.tensor(rng.integers(0, 2, (B, length)), dtype=torch.float32, device=DEVICE)
    return planes(a), planes(b), planes(h0), keep


@pytest.mark.skipif(not (INTERPRETED or CUDA), reason="needs the interpreter or CUDA")
@pytest.mark.parametrize("cplx, invariant, with_h0, with_keep", OP_CASES)
def test_operator_passes_opcheck(rng, cplx, invariant, with_h0, with_keep):
    """Schema, fake implementation, autograd registration and AOT dispatch with dynamic
    shapes (`torch.library.opcheck`), forward and reverse."""
    a, b, h0, keep = op_inputs(rng, cplx, invariant, with_h0, with_keep)
    for reverse in (False, True):
        torch.library.opcheck(triton_scan.triton_scan_op, (a, b, h0, keep, reverse, 4, 4))


@pytest.mark.skipif(not (INTERPRETED or CUDA), reason="needs the interpreter or CUDA")
def test_compiles_whole_with_its_gradient(rng):
    """torch.compile(fullgraph=True) (any graph break fails) of the scan and a loss:
    values against numpy, gradients equal to eager's, no recompilation on a second call.
    aot_eager in the interpreter (inductor cannot compile an interpreted kernel)."""
    a, b, h0 = random_inputs(rng, True, True, True, length=12, n=3)
    expected = np_loop(a, b, h0, False)
    args = [
        [p.to(DEVICE).requires_grad_(True) for p in planes_of(x, torch.float32)] for x in (a, b, h0)
    ]

    def loss_of(a, b, h0):
        h = triton_scan.linear_recurrence_triton(
            tuple(a), tuple(b), initial_state=tuple(h0), **BLOCKS
        )
        return h, (h[0] * h[0]).sum() + h[1].sum()

    torch._dynamo.reset()
    compiled = torch.compile(
        loss_of, fullgraph=True, backend="aot_eager" if INTERPRETED else "inductor"
    )
    h, loss = compiled(*args)
    np.testing.assert_allclose(
        as_numpy(tuple(p.detach().cpu() for p in h)), expected, rtol=1e-5, atol=1e-5
    )
    got = torch.autograd.grad(loss, [p for x in args for p in x])
    want = torch.autograd.grad(loss_of(*args)[1], [p for x in args for p in x])
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.cpu().numpy(), w.cpu().numpy(), rtol=1e-5, atol=1e-5)
    frames = torch._dynamo.utils.counters["frames"]["ok"]
    compiled(*args)
    assert torch._dynamo.utils.counters["frames"]["ok"] == frames


@pytest.mark.skipif(INTERPRETED or not CUDA, reason="needs CUDA and TRITON_INTERPRET=0")
@pytest.mark.parametrize("cplx, invariant, reverse, with_h0", CASES)
def test_cuda_kernel_matches_loop(rng, cplx, invariant, reverse, with_h0):
    """Compiled kernel, default blocks, L not a multiple of BLOCK_T, N > BLOCK_N."""
    import keras_ssm

    length, n = 1000, 70
    a, b, h0 = random_inputs(rng, cplx, invariant, with_h0, length=length, n=n)
    expected = np_loop(a, b, h0, reverse)
    dev = "cuda"
    args = (pack(planes_of(a, torch.float32, dev)), pack(planes_of(b, torch.float32, dev)))
    kwargs = dict(reverse=reverse, initial_state=pack(planes_of(h0, torch.float32, dev)))
    assert keras_ssm.ops.resolve("linear_recurrence", *args, **kwargs) == "triton"
    h = triton_scan.linear_recurrence_triton(*args, **kwargs)
    np.testing.assert_allclose(as_numpy(h), expected, rtol=1e-4, atol=1e-4)
    pa = planes_of(a, torch.float64, dev, requires_grad=True)
    pb = planes_of(b, torch.float64, dev, requires_grad=True)
    ph = planes_of(h0, torch.float64, dev, requires_grad=True)
    grads = []
    for run in ("triton", "loop"):
        if run == "triton":
            h = triton_scan.linear_recurrence_triton(
                pack(pa), pack(pb), reverse=reverse, initial_state=pack(ph)
            )
            h = list(h) if cplx else [h]
        else:
            h, _ = torch_loop(pa, pb, ph, reverse)
        loss = sum((p * p).sum() for p in h)
        grads.append(torch.autograd.grad(loss, pa + pb + (ph or [])))
    for got, want in zip(*grads):
        np.testing.assert_allclose(got.cpu().numpy(), want.cpu().numpy(), rtol=1e-8, atol=1e-8)


AOT_SCRIPT = r"""
import os
os.environ.pop("TRITON_INTERPRET", None)
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from keras_ssm.ops.torch import triton_scan

fn = triton_scan._scan_kernel
names = fn.arg_names
flags = ("COMPLEX", "PER_STEP", "REVERSE", "HAS_INIT", "HAS_H0", "BACKWARD", "NEED_DA")
for complex_mode, per_step, backward in ((True, True, True), (False, False, False)):
    sig = {n: ("i32" if n in ("length", "n_state") else
               "constexpr" if n in flags + ("BLOCK_T", "BLOCK_N") else "*fp32")
           for n in names}
    values = dict(COMPLEX=complex_mode, PER_STEP=per_step, REVERSE=backward, HAS_INIT=True,
                  HAS_H0=backward, BACKWARD=backward, NEED_DA=backward,
                  BLOCK_T=triton_scan.BLOCK_T, BLOCK_N=triton_scan.BLOCK_N)
    src = ASTSource(fn=fn, signature=sig,
                    constexprs={(names.index(k),): v for k, v in values.items()})
    kernel = triton.compile(src, target=GPUTarget("cuda", 90, 32), options={"num_warps": 4})
    assert kernel.asm["cubin"]
print("compiled")
"""


@pytest.mark.slow
def test_kernel_compiles_for_sm90_without_a_gpu():
    """Ahead-of-time compilation to a cubin for an H100 (sm_90): the GPU lowering of
    the scan along the time axis, without needing a GPU (about 20 s)."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    result = subprocess.run(
        [sys.executable, "-c", AOT_SCRIPT], env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "compiled" in result.stdout
