"""The chunked torch scan of h_t = a_t * h_{t-1} + b_t: plain torch ops, any device.

The sequence is cut into C chunks of T steps, viewed (no copy) as (B, T, C, N), and
every loop step works on one position of all chunks at once, so a Python loop of about
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

Packed documents of a time-invariant `a` come as `keep` (B, L) factors, 0 at each
document's first processed step (`keras_ssm.ops.segments.continues`): a loop step scales
the carried state by keep_t only at the positions where some document starts (a list
made once), and a chunk's coefficient a^T times the product of its keep factors joins
the chunks; `a` itself stays (N,).

`scan_forward` and `scan_backward` work on plane tuples with the state axes flattened
(b (B, L, N), a (B, L, N) or (N,), h0 (B, N)); the backward pass is the same scan run
the other way (g_t = dL/dh_t + conj(a_{t+1}) g_{t+1}, dL/db_t = g_t,
dL/da_t = g_t conj(h_{t-1})). :mod:`keras_ssm.ops.torch.recurrence` wraps them as one
``torch.library`` op with its autograd formula, so that ``torch.compile`` sees the scan
as one opaque node (its Python loop and ``out=`` writes into strided views stay eager).
Meta tensors only get output shapes.

Example:

```python
import torch
from keras_ssm.ops.torch import chunked_scan
a, b = (torch.full((4,), 0.9),), (torch.ones(2, 100, 4),)
(h,) = chunked_scan.scan_forward(a, b, None, False, True)   # (2, 100, 4)
```
"""

import concurrent.futures
import threading

import torch

from keras_ssm.ops.torch.planes import conj_mul
from keras_ssm.ops.torch.planes import copy_planes
from keras_ssm.ops.torch.planes import empty_planes
from keras_ssm.ops.torch.planes import mul_add
from keras_ssm.ops.torch.planes import power

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


def _resets(keep):
    """(keep_t for each position along axis 1, whether any keep_t is 0 there), or Nones."""
    if keep is None:
        return None, None
    starts = (keep == 0).flatten(2) if keep.dim() > 2 else (keep == 0)[..., None]
    return torch.unbind(keep, 1), starts.any(dim=0).any(dim=-1).tolist()


def _kept(x, factors, starts, j, rows=slice(None)):
    """The state x times keep at position j (rows of the chunks), where a document starts."""
    if factors is None or not starts[j]:
        return x
    k = factors[j][:, rows, None] if factors[j].dim() > 1 else factors[j][:, None]
    return tuple(p * k for p in x)


def _sequential(a, b, out, h0, reverse, conj, invariant, keep=None):
    """out_t = a_t * keep_t * out_{t-1} + b_t one step at a time; planes (B, L, N)."""
    length = b[0].shape[1]
    per_step = lambda planes: list(zip(*(torch.unbind(p, 1) for p in planes)))
    b_steps, o_steps = per_step(b), per_step(out)
    a_steps = None if invariant else per_step(a)
    factors, starts = _resets(keep)
    prev = h0
    for t in range(length - 1, -1, -1) if reverse else range(length):
        if prev is None:
            for o, p in zip(o_steps[t], b_steps[t]):
                o.copy_(p)
        else:
            x = _kept(prev, factors, starts, t)
            mul_add(a if invariant else a_steps[t], x, b_steps[t], o_steps[t], conj)
        prev = o_steps[t]


def _chunk_scan(a, b, h, h0, reverse, conj, invariant, keep=None):
    """The chunked scan on planes viewed as (B, T, C, N): [:, j, c] is step j of chunk c.

    Reads b, writes h. Every loop step works on one (B, C, N) slice: one position of
    all chunks at once. `keep` (B, T, C): reset factors (with a time-invariant `a`).
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
    factors, starts = _resets(keep)
    if invariant:
        product = power(a, chunk, conj)
        if keep is not None:  # a^T times the keep factors of each chunk: (B, C - 1, N)
            chunk_keep = keep.prod(dim=1)[:, feeders, None]
            product = tuple(p * chunk_keep for p in product)
    else:
        product = feed(a_pos[first])
        if conj and len(product) == 2:
            product = (product[0], -product[1])
        product = copy_planes(product)
        spare_product = tuple(torch.empty_like(p) for p in product)
    for j in positions[1:]:
        a_j = a if invariant else feed(a_pos[j])
        mul_add(a_j, _kept(state, factors, starts, j, feeders), feed(b_pos[j]), spare, conj)
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
    carries_invariant = invariant and keep is None
    _scan(product, state, tuple(c[:, fed] for c in carry), h0, reverse, False, carries_invariant)

    # Pass 2: every chunk again, from its carry, writing h.
    prev = carry
    for j in positions:
        x = _kept(prev, factors, starts, j)
        mul_add(a if invariant else a_pos[j], x, b_pos[j], h_pos[j], conj)
        prev = h_pos[j]


def _scan(a, b, out, h0, reverse, conj, invariant, keep=None):
    """Write h_t = a_t keep_t h_{t-1} + b_t (conj(a_t) when `conj`) into `out`.

    Args:
        a: planes of shape (B, L, N), or (N,) when `invariant`.
        b, out: planes of shape (B, L, N), any strides; `out` must not overlap `a`,
            `b` or `h0`.
        h0: planes (B, N) or None (zero): the state before the first step.
        reverse: process steps L-1 .. 0.
        conj: use conj(a) (the backward pass).
        invariant: `a` has no batch/length axes.
        keep: None, or (B, L) reset factors of a time-invariant `a`.
    """
    batch, length, n = b[0].shape
    if length == 0 or b[0].device.type == "meta":
        return  # nothing to compute (meta tensors carry shapes only)
    chunk = chunk_length(batch * n, length, on_cpu=b[0].device.type == "cpu")
    if chunk is None:
        _sequential(a, b, out, h0, reverse, conj, invariant, keep)
        return
    chunks = length // chunk
    rest = length - chunks * chunk
    main = slice(rest, length) if reverse else slice(0, chunks * chunk)
    # (B, T, C, N) views: [:, j, c] is step j of chunk c.
    view = lambda p: p[:, main].unflatten(1, (chunks, chunk)).transpose(1, 2)
    a_view = a if invariant else tuple(view(p) for p in a)
    keep_view = None if keep is None else view(keep)
    _chunk_scan(
        a_view,
        tuple(view(p) for p in b),
        tuple(view(o) for o in out),
        h0,
        reverse,
        conj,
        invariant,
        keep_view,
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
            None if keep is None else keep[:, tail],
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


def _parallel_scan(a, b, out, h0, reverse, conj, invariant, keep=None):
    """`_scan`, split over the batch into one part per torch thread on a CPU."""
    workers = _workers_for(b)
    if workers < 2:
        _scan(a, b, out, h0, reverse, conj, invariant, keep)
        return
    batch = b[0].shape[0]
    edges = [batch * i // workers for i in range(workers + 1)]
    parts = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        rows = lambda planes: None if planes is None else tuple(p[lo:hi] for p in planes)
        k = None if keep is None else keep[lo:hi]
        parts.append((a if invariant else rows(a), rows(b), rows(out), rows(h0), k))
    futures = [
        _pool(workers).submit(_scan_without_grad, *part[:4], reverse, conj, invariant, part[4])
        for part in parts[1:]
    ]
    part = parts[0]  # the calling thread takes the first part
    _scan(*part[:4], reverse, conj, invariant, part[4])
    for future in futures:
        future.result()


# --------------------------------------------------------------------------------------
# forward and backward on flattened planes: b (B, L, N), a (B, L, N) or (N,), h0 (B, N)


def scan_forward(a, b, h0, reverse, invariant, keep=None):
    """h = recurrence(a, b, h0) on flattened planes (new planes (B, L, N)); `keep` (B, L)
    reset factors of packed documents (time-invariant `a` only) or None."""
    out = empty_planes(b)
    _parallel_scan(a, b, out, h0, reverse, False, invariant, keep)
    return out


def _grad_coefficient(g, h_prev, invariant, out=None):
    """dL/da = g * conj(h_prev) (into `out`), summed over batch and time if `invariant`."""
    prod = conj_mul(h_prev, g, out)
    if invariant:
        return tuple(p.sum(dim=(0, 1)) for p in prod)
    return prod


def scan_backward(a, h0, y, grad_y, grad_last, reverse, invariant, needs, keep=None):
    """Gradients (da, db, dh0) of h = recurrence(a, b, h0) from dL/dh and dL/dh_last.

    g_t = dL/dh_t + conj(a_next) g_next is the recurrence run in the other direction
    (a_next = a_{t+1} forward, a_{t-1} when `reverse`); dL/db = g,
    dL/da_t = g_t conj(h_prev_t), dL/dh0 = conj(a_first) g_first. With `keep`, a_next
    is a_next keep_next and h_prev_t is keep_t h_prev_t.
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
            None if keep is None else keep[:, nexts],
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
        if keep is not None:  # the state step t multiplied: 0 where a document starts
            h_before = tuple(p * keep[:, steps, None] for p in h_before)
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


__all__ = ["chunk_length", "scan_backward", "scan_forward"]
