"""Triton kernel of the diagonal linear recurrence h_t = a_t * h_{t-1} + b_t (torch).

Layout: b, h of shape (B, L, N) (state axes flattened, N contiguous); `a` of the same
shape, or (N,) for a time-invariant system, which is broadcast inside the kernel and
never materialized over L. Complex values are separate real and imaginary planes.

One program handles one batch row and BLOCK_N states. It walks over the sequence in
time blocks of BLOCK_T steps: `tl.associative_scan` along the time axis of the
(BLOCK_T, BLOCK_N) tile composes the affine maps h -> a h + b, and the state leaving a
block (the carry) enters the next one: h = A_cum * carry + B_cum. Steps past the end of
the sequence are the identity map (a = 1, b = 0), so the carry is the tile's last row.
`reverse` only changes which row each processing step reads.

The backward pass is the same kernel run in the other direction on dL/dh with
coefficients conj(a_next) (the step processed before it by the backward walk):
g_t = dL/dh_t + conj(a_{t+1}) g_{t+1}, dL/db_t = g_t, and, fused in the same walk,
dL/da_t = g_t conj(h_{t-1}) (summed over time in the kernel and over batch afterwards
for a time-invariant a). dL/dh_last enters as the initial carry of the backward walk.

The module imports triton, so import it only when triton is installed (the registry
entry in :mod:`keras_ssm.ops.torch.recurrence` does). Set ``TRITON_INTERPRET=1`` before
importing it to run the kernel on CPU tensors (slowly) in the Triton interpreter.

Example:

```python
from keras_ssm.ops.torch import triton_scan
a = (torch.full((64,), 0.9, device="cuda"), torch.full((64,), 0.1, device="cuda"))
b = (torch.randn(8, 4096, 64, device="cuda"), torch.zeros(8, 4096, 64, device="cuda"))
h_re, h_im = triton_scan.linear_recurrence_triton(a, b)
```
"""

import torch
import triton
import triton.language as tl

from keras_ssm.ops.torch.planes import apply_flat
from keras_ssm.ops.torch.planes import conj_mul

# Time steps and states per tile: compile-checked for sm_90, not yet timed on a GPU.
BLOCK_T = 64
BLOCK_N = 32


@triton.jit
def _combine_real(a1, b1, a2, b2):
    """(a2, b2) after (a1, b1): h -> a2 (a1 h + b1) + b2."""
    return a2 * a1, a2 * b1 + b2


@triton.jit
def _combine_complex(ar1, ai1, br1, bi1, ar2, ai2, br2, bi2):
    """The complex version of `_combine_real` on real/imaginary parts."""
    ar = ar2 * ar1 - ai2 * ai1
    ai = ar2 * ai1 + ai2 * ar1
    br = ar2 * br1 - ai2 * bi1 + br2
    bi = ar2 * bi1 + ai2 * br1 + bi2
    return ar, ai, br, bi


@triton.jit
def _scan_kernel(
    A_re,
    A_im,
    B_re,
    B_im,
    INIT_re,
    INIT_im,
    Y_re,
    Y_im,
    LAST_re,
    LAST_im,
    H0_re,
    H0_im,
    HP_re,
    HP_im,
    DA_re,
    DA_im,
    length,
    n_state,
    COMPLEX: tl.constexpr,
    PER_STEP: tl.constexpr,
    REVERSE: tl.constexpr,
    HAS_INIT: tl.constexpr,
    HAS_H0: tl.constexpr,
    BACKWARD: tl.constexpr,
    NEED_DA: tl.constexpr,
    BLOCK_T: tl.constexpr,
    BLOCK_N: tl.constexpr,
):
    """Y = scan of (a, b) from the carry INIT; see the module docstring.

    Forward: coefficient a at each step. BACKWARD: coefficient conj(a) of the step
    processed just before (identity at the first step), and, if NEED_DA, the gradient
    of a from HP (the forward output h) and H0 (the forward initial state).
    """
    dtype = B_re.dtype.element_ty
    pid_b = tl.program_id(0).to(tl.int64)
    pid_n = tl.program_id(1)
    cols = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    col_ok = cols < n_state
    steps = tl.arange(0, BLOCK_T)
    seq = pid_b * length * n_state
    state_offs = pid_b * n_state + cols

    carry_re = tl.zeros([BLOCK_N], dtype=dtype)
    carry_im = tl.zeros([BLOCK_N], dtype=dtype)
    if HAS_INIT:
        carry_re = tl.load(INIT_re + state_offs, mask=col_ok, other=0.0)
        if COMPLEX:
            carry_im = tl.load(INIT_im + state_offs, mask=col_ok, other=0.0)
    h0_re = tl.zeros([BLOCK_N], dtype=dtype)
    h0_im = tl.zeros([BLOCK_N], dtype=dtype)
    if HAS_H0:
        h0_re = tl.load(H0_re + state_offs, mask=col_ok, other=0.0)
        if COMPLEX:
            h0_im = tl.load(H0_im + state_offs, mask=col_ok, other=0.0)
    if not PER_STEP:
        a_vec_re = tl.load(A_re + cols, mask=col_ok, other=1.0)
        a_vec_im = tl.zeros([BLOCK_N], dtype=dtype)
        if COMPLEX:
            a_vec_im = tl.load(A_im + cols, mask=col_ok, other=0.0)
            if BACKWARD:
                a_vec_im = -a_vec_im
    acc_re = tl.zeros([BLOCK_N], dtype=dtype)
    acc_im = tl.zeros([BLOCK_N], dtype=dtype)

    for start in range(0, length, BLOCK_T):
        p = start + steps  # processing index
        valid = p < length
        if REVERSE:
            rows = length - 1 - p
        else:
            rows = p
        offs = seq + rows.to(tl.int64)[:, None] * n_state + cols[None, :]
        mask = valid[:, None] & col_ok[None, :]
        b_re = tl.load(B_re + offs, mask=mask, other=0.0)
        b_im = tl.zeros([BLOCK_T, BLOCK_N], dtype=dtype)
        if COMPLEX:
            b_im = tl.load(B_im + offs, mask=mask, other=0.0)

        # Coefficients; the identity (1, 0) where unused.
        if BACKWARD:
            use = valid & (p >= 1)
            pa = p - 1
        else:
            use = valid
            pa = p
        if PER_STEP:
            if REVERSE:
                a_rows = length - 1 - pa
            else:
                a_rows = pa
            a_offs = seq + a_rows.to(tl.int64)[:, None] * n_state + cols[None, :]
            a_mask = use[:, None] & col_ok[None, :]
            a_re = tl.load(A_re + a_offs, mask=a_mask, other=1.0)
            a_im = tl.zeros([BLOCK_T, BLOCK_N], dtype=dtype)
            if COMPLEX:
                a_im = tl.load(A_im + a_offs, mask=a_mask, other=0.0)
                if BACKWARD:
                    a_im = -a_im
        else:
            a_re = tl.where(use[:, None], a_vec_re[None, :], 1.0)
            a_im = tl.where(use[:, None], a_vec_im[None, :], 0.0)

        if COMPLEX:
            sa_re, sa_im, sb_re, sb_im = tl.associative_scan(
                (a_re, a_im, b_re, b_im), 0, _combine_complex
            )
            y_re = sb_re + sa_re * carry_re[None, :] - sa_im * carry_im[None, :]
            y_im = sb_im + sa_re * carry_im[None, :] + sa_im * carry_re[None, :]
        else:
            sa_re, sb_re = tl.associative_scan((a_re, b_re), 0, _combine_real)
            y_re = sb_re + sa_re * carry_re[None, :]
            y_im = b_im
        tl.store(Y_re + offs, y_re, mask=mask)
        if COMPLEX:
            tl.store(Y_im + offs, y_im, mask=mask)

        if NEED_DA:
            # h before each step (forward order) is the row the backward walk
            # processes next; the forward initial state before the first step.
            pp = p + 1
            if REVERSE:
                hp_rows = length - 1 - pp
            else:
                hp_rows = pp
            hp_in = pp < length
            hp_offs = seq + hp_rows.to(tl.int64)[:, None] * n_state + cols[None, :]
            hp_mask = (valid & hp_in)[:, None] & col_ok[None, :]
            hp_re = tl.load(HP_re + hp_offs, mask=hp_mask, other=0.0)
            hp_re = tl.where(hp_in[:, None], hp_re, h0_re[None, :])
            if COMPLEX:
                hp_im = tl.load(HP_im + hp_offs, mask=hp_mask, other=0.0)
                hp_im = tl.where(hp_in[:, None], hp_im, h0_im[None, :])
                da_re = y_re * hp_re + y_im * hp_im
                da_im = y_im * hp_re - y_re * hp_im
            else:
                da_re = y_re * hp_re
                da_im = y_im
            if PER_STEP:
                tl.store(DA_re + offs, da_re, mask=mask)
                if COMPLEX:
                    tl.store(DA_im + offs, da_im, mask=mask)
            else:
                acc_re += tl.sum(tl.where(mask, da_re, 0.0), axis=0)
                if COMPLEX:
                    acc_im += tl.sum(tl.where(mask, da_im, 0.0), axis=0)

        # Padding rows are the identity, so the last row is the state leaving the block.
        is_last = (steps == BLOCK_T - 1)[:, None]
        carry_re = tl.sum(tl.where(is_last, y_re, 0.0), axis=0)
        if COMPLEX:
            carry_im = tl.sum(tl.where(is_last, y_im, 0.0), axis=0)

    tl.store(LAST_re + state_offs, carry_re, mask=col_ok)
    if COMPLEX:
        tl.store(LAST_im + state_offs, carry_im, mask=col_ok)
    if NEED_DA and not PER_STEP:
        tl.store(DA_re + state_offs, acc_re, mask=col_ok)
        if COMPLEX:
            tl.store(DA_im + state_offs, acc_im, mask=col_ok)


# Programs (batch rows x state blocks) that keep an H100/H200 busy (132 SMs, a few
# programs each); below, `chunk_count` also cuts the time axis of a long sequence.
MIN_PROGRAMS = 1024
# Each chunk spans at least this many time tiles, so that the extra passes stay small.
MIN_TILES_PER_CHUNK = 4
# Chunks of time cost two more launches and a carry scan, about 1.5-2 ms forward+backward
# on an H200, while one walk costs about 0.12 us per step: measured on an H200
# (benchmarks/results/triton_chunks-gpu.md), chunks win 3-6x at L = 65,536 and 262,144
# with 2-8 programs, tie at L = 16,384 (faster forward, 1.1x slower forward+backward) and
# lose 3-4x at L = 784. Shorter sequences are walked in one pass.
MIN_CHUNKED_LENGTH = 32768


def chunk_count(batch, length, n, block_t=BLOCK_T, block_n=BLOCK_N):
    """Chunks of time for a (batch, length, n) scan: enough programs for the GPU.

    One walk (1) when batch x state blocks already fill the GPU or the sequence is
    shorter than `MIN_CHUNKED_LENGTH`; otherwise enough chunks of at least
    `MIN_TILES_PER_CHUNK` time tiles for `MIN_PROGRAMS` programs.

    Example:

    ```python
    from keras_ssm.ops.torch import triton_scan
    triton_scan.chunk_count(1, 65536, 64)      # 256: 2 state blocks x 256 chunks of 256 steps
    triton_scan.chunk_count(64, 4096, 2048)    # 1: 4096 programs already
    triton_scan.chunk_count(32, 784, 128)      # 1: too short for chunks to pay
    ```
    """
    programs = batch * triton.cdiv(n, block_n)
    if programs >= MIN_PROGRAMS or length < MIN_CHUNKED_LENGTH:
        return 1
    wanted = triton.cdiv(MIN_PROGRAMS, programs)
    return max(1, min(wanted, length // (MIN_TILES_PER_CHUNK * block_t)))


def _as_complex(planes):
    return torch.complex(planes[0], planes[1]) if len(planes) == 2 else planes[0]


def _as_planes(x, planes):
    return (x.real.contiguous(), x.imag.contiguous()) if planes == 2 else (x.contiguous(),)


def _chunked_scan(single, a, b, h0, reverse, invariant, count):
    """The scan cut into `count` chunks of time: B·count·N/BLOCK_N programs, not B·N/BLOCK_N.

    1. Each chunk is scanned from a zero state (one kernel launch over batch x chunks).
    2. The chunks' last states are joined by a scan over the chunks, with coefficient
       the product of a over each chunk (a^T for a time-invariant a): the carries.
    3. Each step adds (prod of a up to it within its chunk) x (the carry entering it).
    `reverse` flips time around a forward scan. Gradients: torch autograd through the
    kernel's own backward (steps 1 and 2) and the elementwise step 3.
    """
    planes = len(b)
    flip = lambda p: torch.flip(p, dims=(1,))
    if reverse:
        b = tuple(flip(p) for p in b)
        if not invariant:
            a = tuple(flip(p) for p in a)
    batch, length, n = b[0].shape
    size = -(-length // count)
    count = -(-length // size)
    pad = size * count - length
    if pad:  # identity steps at the end: b = 0 (and a = 1); only y[:, :length] is kept
        b = tuple(torch.nn.functional.pad(p, (0, 0, 0, pad)) for p in b)
        if not invariant:
            a = tuple(
                torch.nn.functional.pad(p, (0, 0, 0, pad), value=float(i == 0))
                for i, p in enumerate(a)
            )
    chunked = lambda p: p.reshape(batch * count, size, n)
    a_loc = a if invariant else tuple(chunked(p) for p in a)
    y_loc, last_loc = single(a_loc, tuple(chunked(p) for p in b), None, False)
    a_c = _as_complex(a)
    if invariant:
        cum = torch.cumprod(a_c[None, :].expand(size, n), dim=0)  # (size, N): a^(t+1)
        a_chunk = cum[-1]  # (N,)
        cum = cum[None]
    else:
        cum = torch.cumprod(a_c.reshape(batch * count, size, n), dim=1)  # (B·C, size, N)
        a_chunk = cum[:, -1].reshape(batch, count, n)
    last_loc = tuple(p.reshape(batch, count, n) for p in last_loc)
    carries, _ = single(_as_planes(a_chunk, planes), last_loc, h0, False)  # after each chunk
    carry = _as_complex(carries)
    first = _as_complex(h0) if h0 is not None else torch.zeros_like(carry[:, :1, :][:, 0])
    carry_in = torch.cat([first[:, None], carry[:, :-1]], dim=1).reshape(batch * count, 1, n)
    y = _as_complex(y_loc) + cum * carry_in
    y = y.reshape(batch, count * size, n)[:, :length]
    last = y[:, -1]
    if reverse:
        y = torch.flip(y, dims=(1,))
    return _as_planes(y, planes), _as_planes(last, planes)


def _launch(
    a,
    b,
    init,
    *,
    reverse,
    backward,
    h0=None,
    hp=None,
    need_da=False,
    block_t=BLOCK_T,
    block_n=BLOCK_N,
):
    """Run `_scan_kernel` on contiguous planes; returns (y, last, da or None)."""
    complex_mode = len(b) == 2
    batch, length, n = b[0].shape
    per_step = a[0].dim() == 3
    y = tuple(torch.empty_like(p) for p in b)
    last = tuple(torch.empty((batch, n), dtype=p.dtype, device=p.device) for p in b)
    da = None
    if need_da:
        da_shape = (batch, length, n) if per_step else (batch, n)
        da = tuple(torch.empty(da_shape, dtype=p.dtype, device=p.device) for p in b)
    dummy = b[0]
    second = lambda planes: planes[1] if planes is not None and complex_mode else dummy
    first = lambda planes: planes[0] if planes is not None else dummy
    grid = (batch, triton.cdiv(n, block_n))
    _scan_kernel[grid](
        a[0],
        second(a),
        b[0],
        second(b),
        first(init),
        second(init),
        y[0],
        second(y),
        last[0],
        second(last),
        first(h0),
        second(h0),
        first(hp),
        second(hp),
        first(da),
        second(da),
        length,
        n,
        COMPLEX=complex_mode,
        PER_STEP=per_step,
        REVERSE=reverse,
        HAS_INIT=init is not None,
        HAS_H0=h0 is not None,
        BACKWARD=backward,
        NEED_DA=need_da,
        BLOCK_T=block_t,
        BLOCK_N=block_n,
    )
    return y, last, da


class _TritonRecurrence(torch.autograd.Function):
    """Autograd wrapper of the kernel; inputs and outputs are flat plane tuples."""

    @staticmethod
    def forward(ctx, reverse, planes, has_h0, block_t, block_n, *tensors):
        tensors = tuple(t.contiguous() for t in tensors)
        a, b = tensors[:planes], tensors[planes : 2 * planes]
        h0 = tensors[2 * planes :] if has_h0 else None
        y, last, _ = _launch(
            a, b, h0, reverse=reverse, backward=False, block_t=block_t, block_n=block_n
        )
        ctx.save_for_backward(*a, *y, *(h0 or ()))
        ctx.options = (reverse, planes, has_h0, block_t, block_n)
        return (*y, *last)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, *grads):
        reverse, planes, has_h0, block_t, block_n = ctx.options
        saved = ctx.saved_tensors
        a, y = saved[:planes], saved[planes : 2 * planes]
        h0 = saved[2 * planes :] if has_h0 else None
        grad_y = tuple(g.contiguous() for g in grads[:planes])
        grad_last = tuple(g.contiguous() for g in grads[planes:])
        needs = ctx.needs_input_grad[5:]
        need_da = any(needs[:planes])
        db, g_first, da = _launch(
            a,
            grad_y,
            grad_last,
            reverse=not reverse,
            backward=True,
            h0=h0,
            hp=y,
            need_da=need_da,
            block_t=block_t,
            block_n=block_n,
        )
        if need_da:
            if a[0].dim() == 1:
                da = tuple(p.sum(dim=0) for p in da)
        else:
            da = (None,) * planes
        dh0 = ()
        if has_h0:
            dh0 = (None,) * planes
            if any(needs[2 * planes :]):
                first = y[0].shape[1] - 1 if reverse else 0
                a_first = a if a[0].dim() == 1 else tuple(p[:, first] for p in a)
                dh0 = conj_mul(a_first, g_first)
        return (None, None, None, None, None, *da, *db, *dh0)


def linear_recurrence_triton(
    a,
    b,
    *,
    reverse=False,
    initial_state=None,
    return_final_state=False,
    block_t=BLOCK_T,
    block_n=BLOCK_N,
    chunks=None,
):
    """h_t = a_t * h_{t-1} + b_t by the Triton kernel, differentiable.

    Runs on CUDA tensors, or on CPU tensors under ``TRITON_INTERPRET=1``.

    Args:
        a, b, reverse, initial_state, return_final_state: as
            `keras_ssm.ops.linear_recurrence` (torch tensors or (re, im) pairs).
        block_t: time steps per tile (a power of two).
        block_n: states per tile (a power of two).
        chunks: cut the sequence into this many chunks of time, scanned in parallel
            and joined by a scan over the chunks' carries (`_chunked_scan`); None:
            `chunk_count` (1, a single walk, when batch x state blocks already fill
            the GPU).

    Returns:
        h like `b`; `(h, h_last)` when `return_final_state`.

    Example:

    ```python
    a = torch.full((4,), 0.9, device="cuda")
    h = linear_recurrence_triton(a, torch.ones(2, 100, 4, device="cuda"))
    ```
    """

    def single(a_flat, b_flat, h_flat, reverse):
        planes = len(b_flat)
        outs = _TritonRecurrence.apply(
            reverse, planes, h_flat is not None, block_t, block_n, *a_flat, *b_flat, *(h_flat or ())
        )
        return outs[:planes], outs[planes:]

    def run(a_flat, b_flat, h_flat, reverse, invariant):
        batch, length, n = b_flat[0].shape
        count = chunk_count(batch, length, n, block_t, block_n) if chunks is None else chunks
        if count <= 1:
            return single(a_flat, b_flat, h_flat, reverse)
        return _chunked_scan(single, a_flat, b_flat, h_flat, reverse, invariant, count)

    return apply_flat(run, a, b, reverse, initial_state, return_final_state)


__all__ = ["BLOCK_N", "BLOCK_T", "linear_recurrence_triton"]
