"""torch fast paths of the hot ops (registered on import).

`linear_recurrence` h_t = a_t * h_{t-1} + b_t has two torch implementations:

- ``"triton"``: the Triton kernel of :mod:`keras_ssm.ops.triton_scan` (forward and a
  reverse-scan backward); chosen for CUDA tensors when ``triton`` is importable.
- ``"chunked"``: plain torch ops, any device (CPU, CUDA without triton, meta). The
  sequence is cut into C chunks of T steps and every loop step works on one position of
  all chunks at once, so a Python loop of about 2 T + C steps covers L = C T steps:

  1. pass 1: the end state s_c of every chunk started from zero, and the product
     P_c = prod_j a_{c, j} of its coefficients;
  2. the carries H_c = P_c H_{c-1} + s_c, a recurrence of length C solved the same way
     (recursively);
  3. pass 2: each chunk again, started from the carry of the chunk before it, writing h.

  No cumulative products over a chunk are divided or taken in log space, so a_t = 0
  or |a_t| << 1 is exact. Complex values are (real, imag) planes combined with
  ``torch.addcmul``; every step writes into preallocated buffers (``out=``), and the
  gradient is a `torch.autograd.Function` whose backward is the same scan run the
  other way (g_t = dL/dh_t + conj(a_{t+1}) g_{t+1}, dL/db_t = g_t,
  dL/da_t = g_t conj(h_{t-1})).

Both take the canonical arguments of `keras_ssm.ops.common.prepare_recurrence`.
"""

import importlib.util

import torch

from keras_ssm.ops import common
from keras_ssm.ops import registry

CHUNKED_PRIORITY = 10.0
TRITON_PRIORITY = 20.0

# A loop step of the chunked scan handles about this many values of each plane (all
# chunks at one position): large enough to amortize the ~2 us cost of a torch call,
# small enough that the buffers of one step stay in the CPU's L2 cache.
ELEMENTS_PER_STEP = 1 << 15
# Shortest chunk; below 2 chunks of it the scan runs as one sequential loop.
MIN_CHUNK = 8


# --------------------------------------------------------------------------------------
# planes: a real tensor is the 1-tuple (x,), a complex one the pair (re, im)


def _planes(x):
    if x is None:
        return None
    return tuple(x) if common.is_pair(x) else (x,)


def _unbind(planes, dim):
    """Per-position views: a list over `dim` of plane tuples."""
    return list(zip(*(torch.unbind(p, dim) for p in planes)))


def _step(a, h_prev, b, out, conj):
    """out = a * h_prev + b (conj(a) when `conj`); h_prev None means zero.

    `out` must not share memory with `h_prev` (the complex update reads h_prev twice).
    """
    if h_prev is None:
        for o, x in zip(out, b):
            o.copy_(x)
        return
    if len(out) == 1:
        torch.addcmul(b[0], a[0], h_prev[0], out=out[0])
        return
    sign = 1.0 if conj else -1.0
    (ar, ai), (hr, hi), (br, bi), (o_r, o_i) = a, h_prev, b, out
    torch.addcmul(br, ar, hr, out=o_r)
    o_r.addcmul_(ai, hi, value=sign)
    torch.addcmul(bi, ar, hi, out=o_i)
    o_i.addcmul_(ai, hr, value=-sign)


def _mul(a, x, out, conj):
    """out = a * x (conj(a) when `conj`); `out` must not share memory with `x`."""
    if len(out) == 1:
        torch.mul(a[0], x[0], out=out[0])
        return
    sign = 1.0 if conj else -1.0
    (ar, ai), (xr, xi), (o_r, o_i) = a, x, out
    torch.mul(ar, xr, out=o_r)
    o_r.addcmul_(ai, xi, value=sign)
    torch.mul(ar, xi, out=o_i)
    o_i.addcmul_(ai, xr, value=-sign)


def _conj_copy(a, conj):
    """A fresh copy of a (conjugated when `conj`)."""
    if len(a) == 2 and conj:
        return (a[0].clone(), -a[1])
    return tuple(p.clone() for p in a)


def _power(a, n, conj):
    """conj?(a)^n for a time-invariant coefficient, by repeated squaring."""
    base = _conj_copy(a, conj)
    result = None
    while n:
        if n & 1:
            if result is None:
                result = tuple(p.clone() for p in base)
            else:
                new = tuple(torch.empty_like(p) for p in result)
                _mul(base, result, new, False)
                result = new
        n >>= 1
        if n:
            new = tuple(torch.empty_like(p) for p in base)
            _mul(base, base, new, False)
            base = new
    return result


def chunk_length(step_elements, length):
    """Chunk length T for a scan of `length` steps of `step_elements` values each.

    Returns None when a plain sequential loop is the better choice (short sequences,
    or steps already big enough to amortize the per-call cost).
    """
    if length < 2 * MIN_CHUNK or step_elements >= ELEMENTS_PER_STEP:
        return None
    chunks = max(2, ELEMENTS_PER_STEP // max(1, step_elements))
    return max(MIN_CHUNK, length // chunks)


def _sequential(a, b, out, h0, reverse, conj, invariant):
    """The recurrence one step at a time along axis 1."""
    length = b[0].shape[1]
    a_steps = None if invariant else _unbind(a, 1)
    b_steps = _unbind(b, 1)
    o_steps = _unbind(out, 1)
    order = range(length - 1, -1, -1) if reverse else range(length)
    prev = h0
    for t in order:
        _step(a if invariant else a_steps[t], prev, b_steps[t], o_steps[t], conj)
        prev = o_steps[t]


def _scan_into(a, b, out, h0, reverse, conj, invariant):
    """Write h (h_t = conj?(a_t) h_{t-1} + b_t) into `out`.

    Args:
        a: planes of shape (B, L, N), or (N,) when `invariant`.
        b, out: planes of shape (B, L, N); `out` must not overlap `b` or `a`.
        h0: planes (B, N) or None (zero); the state before the first processed step.
        reverse: process steps L-1 .. 0.
        conj: use conj(a) (the backward pass).
        invariant: `a` has no batch/length axes.
    """
    batch, length, n = b[0].shape
    if length == 0:
        return
    chunk = chunk_length(batch * n, length)
    if chunk is None:
        _sequential(a, b, out, h0, reverse, conj, invariant)
        return
    chunks = length // chunk
    rest = length - chunks * chunk
    main = slice(rest, length) if reverse else slice(0, chunks * chunk)
    split = lambda p: p[:, main].unflatten(1, (chunks, chunk))  # (B, C, T, N)
    bv = tuple(split(p) for p in b)
    ov = tuple(split(p) for p in out)
    av = a if invariant else tuple(split(p) for p in a)

    # Pass 1: end state and coefficient product of each chunk that feeds another.
    feeders = slice(1, chunks) if reverse else slice(0, chunks - 1)
    positions = range(chunk - 1, -1, -1) if reverse else range(chunk)
    b_feed = _unbind(tuple(p[:, feeders] for p in bv), 2)
    a_feed = None if invariant else _unbind(tuple(p[:, feeders] for p in av), 2)
    first, later = positions[0], positions[1:]
    state = tuple(x.clone() for x in b_feed[first])
    spare = tuple(torch.empty_like(x) for x in state)
    if invariant:
        product = _power(a, chunk, conj)
    else:
        product = _conj_copy(a_feed[first], conj)
        spare_product = tuple(torch.empty_like(x) for x in product)
    for j in later:
        a_j = a if invariant else a_feed[j]
        _step(a_j, state, b_feed[j], spare, conj)
        state, spare = spare, state
        if not invariant:
            _mul(a_j, product, spare_product, conj)
            product, spare_product = spare_product, product

    # Carries: the state entering each chunk, a recurrence over the chunks.
    carry = tuple(torch.empty_like(p[:, :, 0]) for p in bv)  # (B, C, N)
    entry = chunks - 1 if reverse else 0
    for c, p in zip(carry, h0 if h0 is not None else (None,) * len(carry)):
        if p is None:
            c[:, entry].zero_()
        else:
            c[:, entry].copy_(p)
    fed = slice(0, chunks - 1) if reverse else slice(1, chunks)
    _scan_into(product, state, tuple(c[:, fed] for c in carry), h0, reverse, False, invariant)

    # Pass 2: every chunk from its carry, writing h.
    b_pos, o_pos = _unbind(bv, 2), _unbind(ov, 2)
    a_pos = None if invariant else _unbind(av, 2)
    prev = carry
    for j in positions:
        _step(a if invariant else a_pos[j], prev, b_pos[j], o_pos[j], conj)
        prev = o_pos[j]

    # The steps that do not fill a whole chunk (processed last).
    if rest:
        tail = slice(0, rest) if reverse else slice(chunks * chunk, length)
        last = tuple(p[:, rest] if reverse else p[:, chunks * chunk - 1] for p in out)
        _sequential(
            a if invariant else tuple(p[:, tail] for p in a),
            tuple(p[:, tail] for p in b),
            tuple(p[:, tail] for p in out),
            last, reverse, conj, invariant,
        )
