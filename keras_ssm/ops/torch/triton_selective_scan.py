"""Triton kernels of the selective scan (Mamba's S6), forward and backward (torch).

Layouts (contiguous): u, delta, z and the output (batch, L, H); B, C (batch, L, N);
A (H, N); D, delta_bias (H,); states (batch, H, N). Everything is float32.

Time is cut into chunks of BLOCK_T steps, and every (batch row, block of BLOCK_H
channels, chunk) is one program holding a (BLOCK_T, BLOCK_H, BLOCK_N) tile: Δ =
softplus(delta + bias), Ā = exp(Δ A), B̄u = Δ u B are formed in registers and solved by
`tl.associative_scan` along time. Nothing of size (batch, L, H, N) is written to memory:

- forward: `chunk_ends_kernel` gives each chunk's end state from zero and the product
  of its Ā; the states entering the chunks come from the scan over chunks
  h_c = P_c h_{c-1} + S_c (the Triton `linear_recurrence`, (batch, L / BLOCK_T, H N));
  `outputs_kernel` rescans each chunk from its entering state and writes
  out = (C · h + D u) silu(z). The entering states, (batch, L / BLOCK_T, H, N) with
  BLOCK_T >= N, are all that the backward pass keeps.
- backward: `adjoint_ends_kernel` gives each chunk's share of the adjoint at its start
  (g_t = C_t dy_t + Ā_{t+1} g_{t+1}, from zero); the adjoint entering each chunk from
  the later ones is the reverse scan over chunks; `gradients_kernel` rescans each
  chunk (states forward, adjoint backward) and writes du, d delta, dz per step and the
  chunk's partial sums of dA, dB, dC, dD and d bias, which torch adds up (no atomics:
  the result does not depend on the order of the programs).

Import this module only where triton is installed (the registry entry in
:mod:`keras_ssm.ops.torch.selective_scan` does); with ``TRITON_INTERPRET=1`` set before
the import the kernels run on CPU tensors in the Triton interpreter (the tests).

Example:

```python
# Not run by the tests (needs a CUDA device).
from keras_ssm.ops.torch import triton_selective_scan as tss
u = torch.randn(2, 1024, 64, device="cuda")
A = -torch.arange(1.0, 17.0, device="cuda").repeat(64, 1)          # (64, 16)
B, C = torch.randn(2, 1024, 16, device="cuda"), torch.randn(2, 1024, 16, device="cuda")
y = tss.selective_scan_triton(u, u, A, B, C)
```
"""

import torch
import triton

from keras_ssm.ops.torch import triton_scan
from keras_ssm.ops.torch.triton_selective_kernels import adjoint_ends_kernel
from keras_ssm.ops.torch.triton_selective_kernels import blocks
from keras_ssm.ops.torch.triton_selective_kernels import chunk_ends_kernel
from keras_ssm.ops.torch.triton_selective_kernels import gradients_kernel
from keras_ssm.ops.torch.triton_selective_kernels import outputs_kernel


def _flags(u, A, delta_bias, D, z, keep, softplus):
    block_t, block_h, block_n = blocks(u.shape[2], A.shape[1])
    return dict(
        SOFTPLUS=softplus,
        HAS_BIAS=delta_bias is not None,
        HAS_D=D is not None,
        HAS_Z=z is not None,
        HAS_KEEP=keep is not None,
        BLOCK_T=block_t,
        BLOCK_H=block_h,
        BLOCK_N=block_n,
    )


def _grid(u, flags):
    batch, length, channels = u.shape
    return (
        batch,
        triton.cdiv(channels, flags["BLOCK_H"]),
        triton.cdiv(length, flags["BLOCK_T"]),
    )


def _pick(flags, *names):
    return {n: flags[n] for n in names}


_SYSTEM_FLAGS = ("SOFTPLUS", "HAS_BIAS", "HAS_KEEP", "BLOCK_T", "BLOCK_H", "BLOCK_N")


def _over_chunks(products, values, initial, reverse):
    """h_c = P_c h_{c∓1} + values_c over the chunk axis (the Triton linear_recurrence)."""
    batch, chunks, channels, state = values.shape
    flat = lambda x: x.reshape(batch, chunks, channels * state)
    h = triton_scan.linear_recurrence_triton(
        flat(products), flat(values), reverse=reverse, initial_state=initial.reshape(batch, -1)
    )
    return h.reshape(batch, chunks, channels, state)


class _SelectiveScanTriton(torch.autograd.Function):
    """out, h_last = the selective scan by the kernels; `keep` is not differentiated."""

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, h0, keep, softplus):
        u, delta, A, B, C = (t.contiguous() for t in (u, delta, A, B, C))
        D, z, delta_bias, keep = (
            None if t is None else t.contiguous() for t in (D, z, delta_bias, keep)
        )
        batch, length, channels = u.shape
        state = A.shape[1]
        flags = _flags(u, A, delta_bias, D, z, keep, softplus)
        grid = _grid(u, flags)
        chunks = grid[2]
        dummy = u
        opt = lambda t: dummy if t is None else t
        ends = u.new_empty((batch, chunks, channels, state))
        products = torch.empty_like(ends)
        chunk_ends_kernel[grid](
            delta,
            opt(delta_bias),
            u,
            B,
            opt(keep),
            A,
            ends,
            products,
            length,
            channels,
            state,
            chunks,
            **_pick(flags, *_SYSTEM_FLAGS),
        )
        if h0 is None:
            h0 = u.new_zeros((batch, channels, state))
        h0 = h0.contiguous()
        after = _over_chunks(products, ends, h0, reverse=False)  # the state after each chunk
        starts = torch.cat([h0[:, None], after[:, :-1]], dim=1).contiguous()
        out = torch.empty_like(u)
        outputs_kernel[grid](
            delta,
            opt(delta_bias),
            u,
            B,
            C,
            opt(D),
            opt(z),
            opt(keep),
            A,
            starts,
            out,
            length,
            channels,
            state,
            chunks,
            **flags,
        )
        ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, keep, starts, products)
        ctx.options = (softplus,)
        return out, after[:, -1].contiguous()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, d_out, d_last):
        u, delta, A, B, C, D, z, delta_bias, keep, starts, products = ctx.saved_tensors
        (softplus,) = ctx.options
        batch, length, channels = u.shape
        state = A.shape[1]
        flags = _flags(u, A, delta_bias, D, z, keep, softplus)
        grid = _grid(u, flags)
        chunks, h_blocks = grid[2], grid[1]
        opt = lambda t: u if t is None else t
        d_out = torch.zeros_like(u) if d_out is None else d_out.contiguous()
        d_last = u.new_zeros((batch, channels, state)) if d_last is None else d_last.contiguous()
        shares = torch.empty_like(starts)
        adjoint_ends_kernel[grid](
            delta,
            opt(delta_bias),
            u,
            B,
            C,
            opt(z),
            d_out,
            opt(keep),
            A,
            shares,
            length,
            channels,
            state,
            chunks,
            HAS_Z=z is not None,
            **_pick(flags, *_SYSTEM_FLAGS),
        )
        # K_{c-1} = P_c K_c + R_c from K_{last} = dL/dh_last: the adjoint entering each
        # chunk from the later ones is the result one chunk on; dh0 is the first.
        entering = _over_chunks(products, shares, d_last, reverse=True)
        adjoints = torch.cat([entering[:, 1:], d_last[:, None]], dim=1).contiguous()
        du, d_delta = torch.empty_like(u), torch.empty_like(u)
        dz = torch.empty_like(u) if z is not None else None
        dA_part = torch.empty_like(starts)
        dB_part = u.new_empty((batch, length, h_blocks, state))
        dC_part = torch.empty_like(dB_part)
        per_chunk = u.new_empty((batch, chunks, channels))
        dD_part = torch.empty_like(per_chunk) if D is not None else None
        dbias_part = torch.empty_like(per_chunk) if delta_bias is not None else None
        gradients_kernel[grid](
            delta,
            opt(delta_bias),
            u,
            B,
            C,
            opt(D),
            opt(z),
            d_out,
            opt(keep),
            A,
            starts,
            adjoints,
            du,
            d_delta,
            opt(dz),
            dA_part,
            dB_part,
            dC_part,
            opt(dD_part),
            opt(dbias_part),
            length,
            channels,
            state,
            chunks,
            h_blocks,
            **flags,
        )
        dD = None if D is None else dD_part.sum(dim=(0, 1))
        d_bias = None if delta_bias is None else dbias_part.sum(dim=(0, 1))
        dh0 = entering[:, 0] if ctx.needs_input_grad[8] else None
        return (
            du,
            d_delta,
            dA_part.sum(dim=(0, 1)),
            dB_part.sum(dim=2),
            dC_part.sum(dim=2),
            dD,
            dz,
            d_bias,
            dh0,
            None,
            None,
        )


def selective_scan_triton(
    u,
    delta,
    A,
    B,
    C,
    D=None,
    z=None,
    delta_bias=None,
    *,
    delta_softplus=True,
    initial_state=None,
    return_final_state=False,
    segment_ids=None,
):
    """The selective scan by the Triton kernels, differentiable.

    Runs on CUDA tensors, or on CPU tensors under ``TRITON_INTERPRET=1``; float32.

    Args:
        u, delta, A, B, C, D, z, delta_bias, delta_softplus, initial_state,
        return_final_state, segment_ids: as `keras_ssm.ops.selective_scan` (torch tensors).

    Returns:
        out (batch, L, H); `(out, h_last)` when `return_final_state`.

    Example:

    ```python
    # Not run by the tests (needs a CUDA device).
    u = torch.randn(2, 64, 8, device="cuda")
    A = -torch.arange(1.0, 5.0, device="cuda").repeat(8, 1)
    y = selective_scan_triton(u, u, A, torch.randn(2, 64, 4, device="cuda"),
                              torch.randn(2, 64, 4, device="cuda"))
    ```
    """
    keep = None
    if segment_ids is not None:
        ids = torch.as_tensor(segment_ids, device=u.device)
        keep = torch.ones(ids.shape, dtype=u.dtype, device=u.device)
        keep[:, 1:] = (ids[:, 1:] == ids[:, :-1]).to(u.dtype)
    out, h_last = _SelectiveScanTriton.apply(
        u, delta, A, B, C, D, z, delta_bias, initial_state, keep, bool(delta_softplus)
    )
    return (out, h_last) if return_final_state else out


__all__ = ["blocks", "selective_scan_triton"]
