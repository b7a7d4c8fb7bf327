"""The Triton scan's tiles, and a long sequence cut into chunks of time scanned in parallel.

`keras_ssm.ops.torch.triton_scan` walks each (batch row, state block) over the whole
sequence; when batch x state blocks are too few programs to fill the GPU, `chunk_count`
cuts time into chunks and `chunked_scan` joins them. Torch alone (no triton import): the
kernel comes in as the `single` callable.

Example:

```python
from keras_ssm.ops.torch import triton_chunks
triton_chunks.chunk_count(1, 65536, 64)    # 256 chunks of time for one row of 64 states
```
"""

import torch

# Time steps and states per tile: compile-checked for sm_90, not yet timed on a GPU.
BLOCK_T = 64
BLOCK_N = 32

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
    from keras_ssm.ops.torch import triton_chunks
    triton_chunks.chunk_count(1, 65536, 64)      # 256: 2 state blocks x 256 chunks of 256 steps
    triton_chunks.chunk_count(64, 4096, 2048)    # 1: 4096 programs already
    triton_chunks.chunk_count(32, 784, 128)      # 1: too short for chunks to pay
    ```
    """
    programs = batch * -(-n // block_n)
    if programs >= MIN_PROGRAMS or length < MIN_CHUNKED_LENGTH:
        return 1
    wanted = -(-MIN_PROGRAMS // programs)
    return max(1, min(wanted, length // (MIN_TILES_PER_CHUNK * block_t)))


def _as_complex(planes):
    return torch.complex(planes[0], planes[1]) if len(planes) == 2 else planes[0]


def _as_planes(x, planes):
    return (x.real.contiguous(), x.imag.contiguous()) if planes == 2 else (x.contiguous(),)


def chunked_scan(single, a, b, h0, reverse, invariant, count, keep=None):
    """The scan cut into `count` chunks of time: B·count·N/BLOCK_N programs, not B·N/BLOCK_N.

    1. Each chunk is scanned from a zero state (one kernel launch over batch x chunks).
    2. The chunks' last states are joined by a scan over the chunks, with coefficient
       the product of a over each chunk (a^T for a time-invariant a): the carries.
    3. Each step adds (prod of a up to it within its chunk) x (the carry entering it).
    `reverse` flips time around a forward scan. Gradients: torch autograd through the
    kernel's own backward (steps 1 and 2) and the elementwise step 3. `keep` (B, L),
    packed documents' reset factors, enters step 1 and the products of step 3.
    """
    planes = len(b)
    flip = lambda p: torch.flip(p, dims=(1,))
    if reverse:
        b = tuple(flip(p) for p in b)
        if not invariant:
            a = tuple(flip(p) for p in a)
        keep = None if keep is None else flip(keep)
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
        if keep is not None:
            keep = torch.nn.functional.pad(keep, (0, pad), value=1.0)
    chunked = lambda p: p.reshape(batch * count, size, n)
    a_loc = a if invariant else tuple(chunked(p) for p in a)
    keep_loc = None if keep is None else keep.reshape(batch * count, size).contiguous()
    y_loc, last_loc = single(a_loc, tuple(chunked(p) for p in b), None, False, keep_loc)
    a_c = _as_complex(a)
    if invariant:
        cum = torch.cumprod(a_c[None, :].expand(size, n), dim=0)  # (size, N): a^(t+1)
        cum = cum[None]
        if keep_loc is not None:  # (B·C, size, N): a^(t+1) times the keep factors so far
            cum = cum * torch.cumprod(keep_loc, dim=1)[..., None]
        a_chunk = cum[:, -1] if keep_loc is not None else cum[0, -1]  # (B·C, N) or (N,)
        if keep_loc is not None:
            a_chunk = a_chunk.reshape(batch, count, n)
    else:
        a_k = a_c.reshape(batch * count, size, n)
        if keep_loc is not None:
            a_k = a_k * keep_loc[..., None]
        cum = torch.cumprod(a_k, dim=1)  # (B·C, size, N)
        a_chunk = cum[:, -1].reshape(batch, count, n)
    last_loc = tuple(p.reshape(batch, count, n) for p in last_loc)
    carries, _ = single(_as_planes(a_chunk, planes), last_loc, h0, False, None)  # chunk ends
    carry = _as_complex(carries)
    first = _as_complex(h0) if h0 is not None else torch.zeros_like(carry[:, :1, :][:, 0])
    carry_in = torch.cat([first[:, None], carry[:, :-1]], dim=1).reshape(batch * count, 1, n)
    y = _as_complex(y_loc) + cum * carry_in
    y = y.reshape(batch, count * size, n)[:, :length]
    last = y[:, -1]
    if reverse:
        y = torch.flip(y, dims=(1,))
    return _as_planes(y, planes), _as_planes(last, planes)


__all__ = [
    "BLOCK_N",
    "BLOCK_T",
    "MIN_CHUNKED_LENGTH",
    "MIN_PROGRAMS",
    "chunk_count",
    "chunked_scan",
]
