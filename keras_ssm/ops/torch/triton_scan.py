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

Packed documents (``segment_ids``): KEEP, (B, L) factors keep_t
(`keras_ssm.ops.segments.continues`, 0 at each document's first processed step), scale
each step's coefficient in the tile (a_t keep_t, so the carry restarts there; a
time-invariant `a` stays (N,)); the backward walk scales conj(a_next) by keep_next and
dL/da_t by keep_t.

The kernel is a torch operator: ``torch.library.triton_op``s ``keras_ssm::triton_scan``
and ``keras_ssm::triton_scan_backward`` (its autograd formula), whose bodies launch the
kernel through ``wrap_triton``. torch.compile traces into them and sees each launch whole
(no graph break; inductor calls the kernel itself, and CUDA graphs can capture it);
``torch.library.opcheck`` checks them (tests/test_triton_scan.py, in the interpreter).

It imports triton (the registry entry in :mod:`keras_ssm.ops.torch.recurrence` imports it
only then); ``TRITON_INTERPRET=1`` before the import runs it on CPU tensors, slowly.

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
from torch.library import triton_op
from torch.library import wrap_triton

from keras_ssm.ops import segments
from keras_ssm.ops.torch.planes import apply_flat
from keras_ssm.ops.torch.planes import conj_mul
from keras_ssm.ops.torch.triton_chunks import BLOCK_N
from keras_ssm.ops.torch.triton_chunks import BLOCK_T
from keras_ssm.ops.torch.triton_chunks import chunk_count
from keras_ssm.ops.torch.triton_chunks import chunked_scan


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
    KEEP,
    length,
    n_state,
    COMPLEX: tl.constexpr,
    PER_STEP: tl.constexpr,
    REVERSE: tl.constexpr,
    HAS_INIT: tl.constexpr,
    HAS_H0: tl.constexpr,
    BACKWARD: tl.constexpr,
    NEED_DA: tl.constexpr,
    HAS_KEEP: tl.constexpr,
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
        if HAS_KEEP:  # packed documents: the coefficient's step restarts where keep = 0
            if REVERSE:
                k_rows = length - 1 - pa
            else:
                k_rows = pa
            k = tl.load(KEEP + pid_b * length + k_rows.to(tl.int64), mask=use, other=1.0)
            a_re = a_re * k[:, None]
            a_im = a_im * k[:, None]

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
            if HAS_KEEP:  # d(a_t keep_t)/da_t = keep_t
                k_own = tl.load(KEEP + pid_b * length + rows.to(tl.int64), mask=valid, other=0.0)
                da_re = da_re * k_own[:, None]
                da_im = da_im * k_own[:, None]
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
    keep=None,
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
    wrap_triton(_scan_kernel)[grid](
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
        dummy if keep is None else keep,
        length,
        n,
        COMPLEX=complex_mode,
        PER_STEP=per_step,
        REVERSE=reverse,
        HAS_INIT=init is not None,
        HAS_H0=h0 is not None,
        BACKWARD=backward,
        NEED_DA=need_da,
        HAS_KEEP=keep is not None,
        BLOCK_T=block_t,
        BLOCK_N=block_n,
    )
    return y, last, da


Tensors = list[torch.Tensor]


def _operator(name):
    """`triton_op`; an opaque `custom_op` in the interpreter (``TRITON_INTERPRET=1``), where
    `wrap_triton` cannot trace the kernel (it launches eagerly, even on fake tensors)."""
    if isinstance(_scan_kernel, triton.runtime.jit.JITFunction):
        return triton_op(name, mutates_args=())
    return torch.library.custom_op(name, mutates_args=())


@_operator("keras_ssm::triton_scan")
def triton_scan_op(
    a: Tensors,
    b: Tensors,
    h0: Tensors,
    keep: torch.Tensor | None,
    reverse: bool,
    block_t: int,
    block_n: int,
) -> Tensors:
    """[*h, *h_last] by the kernel: planes b (B, L, N), a (B, L, N) or (N,), h0 (B, N)
    or [] (zero), keep (B, L) or None (packed documents' resets)."""
    a, b, h0 = ([p.contiguous() for p in planes] for planes in (a, b, h0))
    y, last, _ = _launch(
        a,
        b,
        h0 or None,
        reverse=reverse,
        backward=False,
        block_t=block_t,
        block_n=block_n,
        keep=keep,
    )
    return [*y, *last]


@_operator("keras_ssm::triton_scan_backward")
def triton_scan_backward_op(
    a: Tensors,
    y: Tensors,
    h0: Tensors,
    grad_y: Tensors,
    grad_last: Tensors,
    keep: torch.Tensor | None,
    reverse: bool,
    block_t: int,
    block_n: int,
    need_a: bool,
    need_h0: bool,
) -> Tensors:
    """[*dL/da (if need_a), *dL/db, *dL/dh0 (if need_h0)] of `triton_scan`: the kernel
    walks the other way on dL/dh (see the module)."""
    grad_y, grad_last = ([g.contiguous() for g in grads] for grads in (grad_y, grad_last))
    db, g_first, da = _launch(
        a,
        grad_y,
        grad_last,
        reverse=not reverse,
        backward=True,
        h0=h0 or None,
        hp=y,
        need_da=need_a,
        block_t=block_t,
        block_n=block_n,
        keep=keep,
    )
    invariant = a[0].dim() == 1
    out = []
    if need_a:
        out += [p.sum(dim=0) for p in da] if invariant else list(da)
    out += list(db)
    if need_h0:
        first = y[0].shape[1] - 1 if reverse else 0
        a_first = tuple(a) if invariant else tuple(p[:, first] for p in a)
        out += list(conj_mul(a_first, g_first))
    return out


@triton_scan_op.register_fake
def _fake_scan(a, b, h0, keep, reverse, block_t, block_n):
    return [p.new_empty(p.shape) for p in b] + [p.new_empty(p.shape[::2]) for p in b]


@triton_scan_backward_op.register_fake
def _fake_scan_backward(
    a, y, h0, grad_y, grad_last, keep, reverse, block_t, block_n, need_a, need_h0
):
    da = [p.new_empty(p.shape) for p in a] if need_a else []
    dh0 = [p.new_empty(p.shape[::2]) for p in y] if need_h0 else []
    return da + [p.new_empty(p.shape) for p in y] + dh0


def _setup_context(ctx, inputs, output):
    a, b, h0, keep, reverse, block_t, block_n = inputs
    planes = len(b)
    ctx.save_for_backward(*a, *output[:planes], *h0, *(() if keep is None else (keep,)))
    ctx.options = (reverse, block_t, block_n, planes, len(h0), keep is not None)


def _backward(ctx, grads):
    reverse, block_t, block_n, planes, states, has_keep = ctx.options
    saved = list(ctx.saved_tensors)
    a, y = saved[:planes], saved[planes : 2 * planes]
    h0 = saved[2 * planes : 2 * planes + states]
    keep = saved[-1] if has_keep else None
    zeros = lambda gs, like: [torch.zeros_like(p) if g is None else g for g, p in zip(gs, like)]
    grad_y = zeros(grads[:planes], y)
    grad_last = zeros(grads[planes:], [p[:, 0] for p in y])
    # needs_input_grad has the inputs' structure: a list of flags per list of planes
    need_a, need_b, need_h0 = (any(n) for n in ctx.needs_input_grad[:3])
    out = triton_scan_backward_op(
        a, y, h0, grad_y, grad_last, keep, reverse, block_t, block_n, need_a, need_h0
    )
    nothing = [None] * planes
    da = out[:planes] if need_a else nothing
    db = out[planes : 2 * planes] if need_a else out[:planes]
    dh0 = out[-planes:] if need_h0 else nothing[:states]
    return da, db if need_b else nothing, dh0, None, None, None, None


triton_scan_op.register_autograd(_backward, setup_context=_setup_context)


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
    segment_ids=None,
):
    """h_t = a_t * h_{t-1} + b_t by the Triton kernel, differentiable.

    Runs on CUDA tensors, or on CPU tensors under ``TRITON_INTERPRET=1``.

    Args:
        a, b, reverse, initial_state, return_final_state: as
            `keras_ssm.ops.linear_recurrence` (torch tensors or (re, im) pairs).
        block_t: time steps per tile (a power of two).
        block_n: states per tile (a power of two).
        chunks: cut the sequence into this many chunks of time, scanned in parallel
            and joined by a scan over the chunks' carries (`triton_chunks.chunked_scan`); None:
            `chunk_count` (1, a single walk, when batch x state blocks already fill
            the GPU).
        segment_ids: (batch, length) int or None: packed documents, the state
            restarts at each one (`keras_ssm.ops.segments`).

    Returns:
        h like `b`; `(h, h_last)` when `return_final_state`.

    Example:

    ```python
    a = torch.full((4,), 0.9, device="cuda")
    h = linear_recurrence_triton(a, torch.ones(2, 100, 4, device="cuda"))
    ```
    """

    def single(a_flat, b_flat, h_flat, reverse, keep):
        planes = len(b_flat)
        outs = triton_scan_op(
            list(a_flat), list(b_flat), list(h_flat or ()), keep, reverse, block_t, block_n
        )
        return tuple(outs[:planes]), tuple(outs[planes:])

    def run(a_flat, b_flat, h_flat, reverse, invariant):
        batch, length, n = b_flat[0].shape
        keep = None
        if segment_ids is not None:
            ids = torch.as_tensor(segment_ids, device=b_flat[0].device)
            keep = segments.continues(ids, reverse).to(b_flat[0].dtype).contiguous()
        count = chunk_count(batch, length, n, block_t, block_n) if chunks is None else chunks
        if count <= 1:
            return single(a_flat, b_flat, h_flat, reverse, keep)
        return chunked_scan(single, a_flat, b_flat, h_flat, reverse, invariant, count, keep)

    return apply_flat(run, a, b, reverse, initial_state, return_final_state)


__all__ = ["BLOCK_N", "BLOCK_T", "chunk_count", "linear_recurrence_triton"]
