"""torch fast paths of ``linear_recurrence`` (registered on import).

`linear_recurrence` h_t = a_t * h_{t-1} + b_t has two torch implementations:

- ``"triton"``: the Triton kernel of :mod:`keras_ssm.ops.torch.triton_scan` (forward and a
  reverse-scan backward); chosen for CUDA tensors when ``triton`` is importable.
- ``"chunked"``: plain torch ops, any device (CPU, CUDA without triton, meta). The
  sequence is cut into C chunks of T steps, viewed (no copy) as (B, T, C, N), and every
  loop step works on one position of all chunks at once, so a Python loop of about
  2 T steps (plus the carries) covers L = C T steps:

  1. pass 1: the end state s_c of every chunk started from zero, and the product
     P_c = prod_j a_{c, j} of its coefficients (a^T when time-invariant);
  2. the carries H_c = P_c H_{c-1} + s_c, a recurrence of length C solved the same way
     (recursively);
  3. pass 2: each chunk again, started from the carry of the chunk before it, writing h.

  Leftover steps (T not dividing L) run one at a time after the chunks. Nothing is
  divided and no logarithm is taken, so a_t = 0 or |a_t| << 1 is exact. Complex values
  stay (real, imag) planes combined with ``torch.addcmul``, written into preallocated
  buffers (``out=``; the plane arithmetic is :mod:`keras_ssm.ops.torch.planes`). C is
  chosen so that one loop step handles about `ELEMENTS_PER_STEP` values: below torch's
  32768-element parallel grain (no waits on a thread pool, which cost milliseconds per
  op on a busy machine), above the ~2 us dispatch cost of a torch call. With several
  torch threads, a large scan is split over the batch, one part per thread of a small
  pool (torch ops release the GIL).
  The gradient is a `torch.autograd.Function` whose backward is the same scan run the
  other way (g_t = dL/dh_t + conj(a_{t+1}) g_{t+1}, dL/db_t = g_t,
  dL/da_t = g_t conj(h_{t-1})). Meta tensors only get output shapes.

Both take the canonical arguments of `keras_ssm.ops.common.prepare_recurrence`.
"""

import concurrent.futures
import importlib.util
import threading

import torch

from keras_ssm.ops import registry
from keras_ssm.ops.torch.planes import apply_flat
from keras_ssm.ops.torch.planes import conj_mul
from keras_ssm.ops.torch.planes import copy_planes
from keras_ssm.ops.torch.planes import empty_planes
from keras_ssm.ops.torch.planes import mul_add
from keras_ssm.ops.torch.planes import planes as _planes
from keras_ssm.ops.torch.planes import power

CHUNKED_PRIORITY = 10.0
# On CUDA the Triton kernel wins wherever it was timed (an H200, torch 2.11: 3-12x the
# chunked torch scan forward+backward, from B = 1, L = 262,144 to B = 32, L = 784;
# benchmarks/results/triton_chunks-gpu.md and ops-torch-nvidia-h200.md), so it is the
# automatic choice for CUDA tensors when triton is installed; it declines anything else.
TRITON_PRIORITY = 20.0

# A loop step of the chunked scan handles about this many values of each plane (all
# chunks at one position): enough to amortize the ~2 us cost of a torch call, fewer
# than torch's parallel grain (32768) so that it runs on the calling thread.
ELEMENTS_PER_STEP = 1 << 14
# The same on an accelerator, where every op is a kernel launch of ~5-10 us whatever
# its size (the chunked path runs there only when triton is missing).
ACCELERATOR_ELEMENTS_PER_STEP = 1 << 20
# Shortest chunk; below 2 chunks of it the scan runs as one sequential loop.
MIN_CHUNK = 8
# On a CPU with several torch threads, a scan of at least this many values per plane is
# split over the batch into one part per thread, each run by a worker thread (torch ops
# release the GIL, and each loop step is below torch's own parallel grain). Measured on
# 2 cores: 1.2-1.4x faster at B=8, L=65536, N=64 complex; no gain at L <= 16384, slower
# at L = 1024 (the threads contend for the same memory bandwidth).
PARALLEL_MIN_ELEMENTS = 1 << 24


def chunk_length(step_elements, length, on_cpu=True):
    """Chunk length T for a scan of `length` steps of `step_elements` values each.

    Returns None when a plain sequential loop is the better choice (short sequences,
    or steps already big enough to amortize the per-call cost).

    Example:

    ```python
    chunk_length(8 * 64, 4096)   # 128: 32 chunks, one loop step handles 16384 values
    ```
    """
    target = ELEMENTS_PER_STEP if on_cpu else ACCELERATOR_ELEMENTS_PER_STEP
    if length < 2 * MIN_CHUNK or step_elements >= target:
        return None
    chunks = max(2, target // max(1, step_elements))
    return max(MIN_CHUNK, length // chunks)


def _sequential(a, b, out, h0, reverse, conj, invariant):
    """out_t = a_t * out_{t-1} + b_t one step at a time; planes (B, L, N)."""
    length = b[0].shape[1]
    per_step = lambda planes: list(zip(*(torch.unbind(p, 1) for p in planes)))
    b_steps, o_steps = per_step(b), per_step(out)
    a_steps = None if invariant else per_step(a)
    prev = h0
    for t in range(length - 1, -1, -1) if reverse else range(length):
        if prev is None:
            for o, p in zip(o_steps[t], b_steps[t]):
                o.copy_(p)
        else:
            mul_add(a if invariant else a_steps[t], prev, b_steps[t], o_steps[t], conj)
        prev = o_steps[t]


def _chunk_scan(a, b, h, h0, reverse, conj, invariant):
    """The chunked scan on planes viewed as (B, T, C, N): [:, j, c] is step j of chunk c.

    Reads b, writes h. Every loop step works on one (B, C, N) slice: one position of
    all chunks at once.
    """
    chunk, chunks = h[0].shape[1], h[0].shape[2]
    positions = range(chunk - 1, -1, -1) if reverse else range(chunk)
    h_pos = list(zip(*(torch.unbind(p, 1) for p in h)))
    b_pos = list(zip(*(torch.unbind(p, 1) for p in b)))
    a_pos = None if invariant else list(zip(*(torch.unbind(p, 1) for p in a)))

    # Pass 1: end state (from zero) and coefficient product of each chunk that feeds
    # another one.
    feeders = slice(1, chunks) if reverse else slice(0, chunks - 1)
    feed = lambda planes: tuple(p[:, feeders] for p in planes)
    first = positions[0]
    state = copy_planes(feed(b_pos[first]))
    spare = tuple(torch.empty_like(p) for p in state)
    if invariant:
        product = power(a, chunk, conj)
    else:
        product = feed(a_pos[first])
        if conj and len(product) == 2:
            product = (product[0], -product[1])
        product = copy_planes(product)
        spare_product = tuple(torch.empty_like(p) for p in product)
    for j in positions[1:]:
        a_j = a if invariant else feed(a_pos[j])
        mul_add(a_j, state, feed(b_pos[j]), spare, conj)
        state, spare = spare, state
        if not invariant:
            mul_add(a_j, product, None, spare_product, conj)
            product, spare_product = spare_product, product

    # Carries: the state entering each chunk, a recurrence of length C over the chunks.
    carry = tuple(
        torch.empty(p.shape, dtype=p.dtype, device=p.device) for p in h_pos[0]
    )  # (B, C, N)
    entry = chunks - 1 if reverse else 0
    for c, p in zip(carry, h0 if h0 is not None else (None,) * len(carry)):
        if p is None:
            c[:, entry].zero_()
        else:
            c[:, entry].copy_(p)
    fed = slice(0, chunks - 1) if reverse else slice(1, chunks)
    _scan(product, state, tuple(c[:, fed] for c in carry), h0, reverse, False, invariant)

    # Pass 2: every chunk again, from its carry, writing h.
    prev = carry
    for j in positions:
        mul_add(a if invariant else a_pos[j], prev, b_pos[j], h_pos[j], conj)
        prev = h_pos[j]


def _scan(a, b, out, h0, reverse, conj, invariant):
    """Write h_t = a_t h_{t-1} + b_t (conj(a_t) when `conj`) into `out`.

    Args:
        a: planes of shape (B, L, N), or (N,) when `invariant`.
        b, out: planes of shape (B, L, N), any strides; `out` must not overlap `a`,
            `b` or `h0`.
        h0: planes (B, N) or None (zero): the state before the first step.
        reverse: process steps L-1 .. 0.
        conj: use conj(a) (the backward pass).
        invariant: `a` has no batch/length axes.
    """
    batch, length, n = b[0].shape
    if length == 0 or b[0].device.type == "meta":
        return  # nothing to compute (meta tensors carry shapes only)
    chunk = chunk_length(batch * n, length, on_cpu=b[0].device.type == "cpu")
    if chunk is None:
        _sequential(a, b, out, h0, reverse, conj, invariant)
        return
    chunks = length // chunk
    rest = length - chunks * chunk
    main = slice(rest, length) if reverse else slice(0, chunks * chunk)
    # (B, T, C, N) views: [:, j, c] is step j of chunk c.
    view = lambda p: p[:, main].unflatten(1, (chunks, chunk)).transpose(1, 2)
    a_view = a if invariant else tuple(view(p) for p in a)
    _chunk_scan(
        a_view, tuple(view(p) for p in b), tuple(view(o) for o in out), h0, reverse, conj, invariant
    )
    if rest:
        # The steps that do not fill a chunk are processed last, one at a time.
        tail = slice(0, rest) if reverse else slice(chunks * chunk, length)
        boundary = rest if reverse else chunks * chunk - 1
        piece = lambda planes: tuple(p[:, tail] for p in planes)
        _sequential(
            a if invariant else piece(a),
            piece(b),
            piece(out),
            tuple(p[:, boundary] for p in out),
            reverse,
            conj,
            invariant,
        )


_POOL = None
_POOL_SIZE = 0
_POOL_LOCK = threading.Lock()


def _pool(workers):
    """A process-wide thread pool with at least `workers` threads."""
    global _POOL, _POOL_SIZE
    with _POOL_LOCK:
        if _POOL_SIZE < workers:
            _POOL = concurrent.futures.ThreadPoolExecutor(
                max_workers=workers, thread_name_prefix="keras_ssm_scan"
            )
            _POOL_SIZE = workers
        return _POOL


def _workers_for(b):
    """How many threads a scan of planes `b` (B, L, N) is split over (1 = no split)."""
    if b[0].device.type != "cpu" or b[0].numel() < PARALLEL_MIN_ELEMENTS:
        return 1
    return max(1, min(torch.get_num_threads(), b[0].shape[0]))


def _scan_without_grad(*args):
    # Grad mode is per thread: the autograd.Function that calls the scan disables it in
    # its own thread only.
    with torch.no_grad():
        _scan(*args)


def _parallel_scan(a, b, out, h0, reverse, conj, invariant):
    """`_scan`, split over the batch into one part per torch thread on a CPU."""
    workers = _workers_for(b)
    if workers < 2:
        _scan(a, b, out, h0, reverse, conj, invariant)
        return
    batch = b[0].shape[0]
    edges = [batch * i // workers for i in range(workers + 1)]
    parts = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        rows = lambda planes: None if planes is None else tuple(p[lo:hi] for p in planes)
        parts.append((a if invariant else rows(a), rows(b), rows(out), rows(h0)))
    futures = [
        _pool(workers).submit(_scan_without_grad, *part, reverse, conj, invariant)
        for part in parts[1:]
    ]
    _scan(*parts[0], reverse, conj, invariant)  # the calling thread takes the first part
    for future in futures:
        future.result()


# --------------------------------------------------------------------------------------
# forward and backward on flattened planes: b (B, L, N), a (B, L, N) or (N,), h0 (B, N)


def _recurrence_forward(a, b, h0, reverse, invariant):
    out = empty_planes(b)
    _parallel_scan(a, b, out, h0, reverse, False, invariant)
    return out


def _grad_coefficient(g, h_prev, invariant, out=None):
    """dL/da = g * conj(h_prev) (into `out`), summed over batch and time if `invariant`."""
    prod = conj_mul(h_prev, g, out)
    if invariant:
        return tuple(p.sum(dim=(0, 1)) for p in prod)
    return prod


def _recurrence_backward(a, h0, y, grad_y, grad_last, reverse, invariant, needs):
    """Gradients (da, db, dh0) of h = recurrence(a, b, h0) from dL/dh and dL/dh_last.

    g_t = dL/dh_t + conj(a_next) g_next is the recurrence run in the other direction
    (a_next = a_{t+1} forward, a_{t-1} when `reverse`); dL/db = g,
    dL/da_t = g_t conj(h_prev_t), dL/dh0 = conj(a_first) g_first.
    """
    need_a, need_h0 = needs
    length = grad_y[0].shape[1]
    first = length - 1 if reverse else 0  # first step processed by the forward pass
    last = 0 if reverse else length - 1  # last step processed by the forward pass
    g = empty_planes(grad_y)
    for gp, gy, gl in zip(g, grad_y, grad_last):
        if gl is None:
            gp[:, last].copy_(gy[:, last])
        else:
            torch.add(gy[:, last], gl, out=gp[:, last])
    if length > 1:
        others = slice(1, length) if reverse else slice(0, length - 1)
        nexts = slice(0, length - 1) if reverse else slice(1, length)
        _parallel_scan(
            a if invariant else tuple(p[:, nexts] for p in a),
            tuple(p[:, others] for p in grad_y),
            tuple(p[:, others] for p in g),
            tuple(p[:, last] for p in g),
            not reverse,
            True,
            invariant,
        )
    da = dh0 = None
    if need_a:
        # h_prev_t: the state before step t; h0 (or 0) before the first step.
        steps, before = (
            (slice(0, length - 1), slice(1, length))
            if reverse
            else (slice(1, length), slice(0, length - 1))
        )
        g_steps = tuple(p[:, steps] for p in g)
        h_before = tuple(p[:, before] for p in y)
        g_first = tuple(p[:, first : first + 1] for p in g)
        h0_first = None if h0 is None else tuple(p[:, None] for p in h0)
        if invariant:
            da = _grad_coefficient(g_steps, h_before, True)
            if h0 is not None:
                edge = _grad_coefficient(g_first, h0_first, True)
                da = tuple(i + e for i, e in zip(da, edge))
        else:
            da = empty_planes(g)
            _grad_coefficient(g_steps, h_before, False, tuple(p[:, steps] for p in da))
            da_first = tuple(p[:, first : first + 1] for p in da)
            if h0 is None:
                for p in da_first:
                    p.zero_()
            else:
                _grad_coefficient(g_first, h0_first, False, da_first)
    if need_h0:
        a_first = a if invariant else tuple(p[:, first] for p in a)
        dh0 = conj_mul(a_first, tuple(p[:, first] for p in g))
    return da, g, dh0


class _ChunkedRecurrence(torch.autograd.Function):
    """Autograd wrapper of the chunked scan; inputs and outputs are flat plane tuples."""

    @staticmethod
    def forward(ctx, reverse, invariant, planes, has_h0, *tensors):
        a, b = tensors[:planes], tensors[planes : 2 * planes]
        h0 = tensors[2 * planes :] if has_h0 else None
        y = _recurrence_forward(a, b, h0, reverse, invariant)
        index = 0 if reverse else -1
        last = tuple(p[:, index].clone() for p in y)
        ctx.save_for_backward(*a, *y, *(h0 or ()))
        ctx.options = (reverse, invariant, planes, has_h0)
        return (*y, *last)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, *grads):
        reverse, invariant, planes, has_h0 = ctx.options
        saved = ctx.saved_tensors
        a, y = saved[:planes], saved[planes : 2 * planes]
        h0 = saved[2 * planes :] if has_h0 else None
        grad_y, grad_last = grads[:planes], grads[planes:]
        grad_y = tuple(torch.zeros_like(p) if gp is None else gp for gp, p in zip(grad_y, y))
        needs = ctx.needs_input_grad[4:]
        need_a = any(needs[:planes])
        need_h0 = has_h0 and any(needs[2 * planes :])
        da, db, dh0 = _recurrence_backward(
            a, h0, y, grad_y, grad_last, reverse, invariant, (need_a, need_h0)
        )
        da = da if da is not None else (None,) * planes
        dh0 = dh0 if dh0 is not None else (None,) * (planes if has_h0 else 0)
        return (None, None, None, None, *da, *db, *dh0)


def _is_torch(x):
    return isinstance(x, torch.Tensor)


def _chunked(a, b, h0, reverse, invariant):
    planes = len(b)
    outs = _ChunkedRecurrence.apply(reverse, invariant, planes, h0 is not None, *a, *b, *(h0 or ()))
    return outs[:planes], outs[planes:]


def _tensor_parts(a, b, kwargs, path):
    """(every plane of a, b and the initial state, None) or (None, why `path` cannot run)."""
    parts = _planes(a) + _planes(b) + (_planes(kwargs.get("initial_state")) or ())
    if not all(_is_torch(p) for p in parts):
        return None, f"the {path} needs torch tensors"
    return parts, None


def _chunked_supports(a, b, **kwargs):
    return _tensor_parts(a, b, kwargs, "chunked torch scan")[1]


@registry.register(
    "linear_recurrence",
    "chunked",
    backends=("torch",),
    supports=_chunked_supports,
    priority=lambda *a, **k: CHUNKED_PRIORITY,
)
def linear_recurrence_chunked(a, b, *, reverse=False, initial_state=None, return_final_state=False):
    """h_t = a_t * h_{t-1} + b_t by a chunked scan of plain torch ops (any device).

    Args:
        a: (batch, length, *state) or (*state) (time-invariant); tensor or (re, im) pair.
        b: (batch, length, *state); tensor or pair (pairs when `a` is a pair).
        reverse: run from the last step to the first.
        initial_state: (batch, *state) or None.
        return_final_state: also return h at the last processed step.

    Returns:
        h like `b`; `(h, h_last)` when `return_final_state`.

    Example:

    ```python
    a = torch.full((4,), 0.9)
    b = torch.ones(2, 100, 4)
    h = linear_recurrence_chunked(a, b)   # (2, 100, 4)
    ```
    """
    return apply_flat(_chunked, a, b, reverse, initial_state, return_final_state)


# --------------------------------------------------------------------------------------
# triton


def _triton_supports(a, b, **kwargs):
    parts, reason = _tensor_parts(a, b, kwargs, "Triton scan")
    if reason:
        return reason
    if not all(p.is_cuda for p in parts):
        return "the Triton scan runs on CUDA tensors only"
    if importlib.util.find_spec("triton") is None:
        return "triton is not installed (pip install triton)"
    return None


@registry.register(
    "linear_recurrence",
    "triton",
    backends=("torch",),
    supports=_triton_supports,
    priority=lambda *a, **k: TRITON_PRIORITY,
)
def linear_recurrence_triton(a, b, *, reverse=False, initial_state=None, return_final_state=False):
    """h_t = a_t * h_{t-1} + b_t by the Triton kernel (CUDA tensors).

    Arguments and results as `linear_recurrence_chunked`; see
    `keras_ssm.ops.torch.triton_scan.linear_recurrence_triton`.
    """
    from keras_ssm.ops.torch import triton_scan

    return triton_scan.linear_recurrence_triton(
        a, b, reverse=reverse, initial_state=initial_state, return_final_state=return_final_state
    )
