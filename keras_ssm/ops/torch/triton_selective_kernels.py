"""The Triton kernels of the selective scan; the autograd wrapper that launches them is
:mod:`keras_ssm.ops.torch.triton_selective_scan` (read its docstring first).

Every kernel runs on a grid (batch, H / BLOCK_H, L / BLOCK_T): one program per batch row,
block of channels and chunk of time, holding (BLOCK_T, BLOCK_H, BLOCK_N) tiles in
registers. `_system` forms a chunk's Δ = softplus(delta + bias), Ā = exp(Δ A) and
B̄u = Δ u B; steps outside the chunk or the sequence are the identity map (Ā = 1,
B̄u = 0), so a chunk's last row is the state leaving it. Argument lists are kept compact
(``fmt: off``): they are the kernels' pointer and size arguments, in launch order.

Example:

```python
# Not run by the tests (this module imports triton).
from keras_ssm.ops.torch import triton_selective_kernels as k
k.blocks(512, 16)   # (16, 8, 16): 16 steps x 8 channels x 16 states per tile
```
"""

import triton
import triton.language as tl

# fmt: off
# Tile: BLOCK_T steps x BLOCK_H channels x BLOCK_N (>= N) states, about TILE values.
# Compile-checked in the interpreter only, not yet timed on a GPU.
MIN_BLOCK_T = 16
TILE = 2048


def blocks(channels, state):
    """(BLOCK_T, BLOCK_H, BLOCK_N) for H channels and N states: BLOCK_N = N rounded up
    to a power of two, BLOCK_T = max(16, BLOCK_N) (kept states <= u's values), BLOCK_H
    filling about `TILE` values.

    Example:

    ```python
    # Not run by the tests (this module imports triton).
    blocks(512, 16)   # (16, 8, 16)
    ```
    """
    block_n = triton.next_power_of_2(state)
    block_t = max(MIN_BLOCK_T, block_n)
    block_h = max(1, min(triton.next_power_of_2(channels), TILE // (block_t * block_n)))
    return block_t, block_h, block_n


@triton.jit
def _combine(a1, b1, a2, b2):
    """(a2, b2) after (a1, b1): h -> a2 (a1 h + b1) + b2."""
    return a2 * a1, a2 * b1 + b2


@triton.jit
def _system(DELTA, BIAS, U, BMAT, KEEP, A_tile, b, rows, rows_ok, hs, h_ok, ns, n_ok, length,
    channels, state, SOFTPLUS: tl.constexpr, HAS_BIAS: tl.constexpr, HAS_KEEP: tl.constexpr):
    """Δ (T, H), u (T, H), Ā and B̄u (T, H, N) at `rows`; the identity (1, 0) off them."""
    th = (b * length + rows)[:, None] * channels + hs[None, :]
    th_ok = rows_ok[:, None] & h_ok[None, :]
    delta = tl.load(DELTA + th, mask=th_ok, other=0.0)
    if HAS_BIAS:
        delta += tl.load(BIAS + hs, mask=h_ok, other=0.0)[None, :]
    if SOFTPLUS:
        delta = tl.where(delta <= 20.0, tl.log(1.0 + tl.exp(delta)), delta)
    delta = tl.where(th_ok, delta, 0.0)
    u = tl.load(U + th, mask=th_ok, other=0.0)
    bmat = tl.load(BMAT + (b * length + rows)[:, None] * state + ns[None, :], mask=rows_ok[:, None]
        & n_ok[None, :], other=0.0)
    a = tl.exp(delta[:, :, None] * A_tile[None, :, :])
    if HAS_KEEP:
        keep = tl.load(KEEP + b * length + rows, mask=rows_ok, other=1.0)
        a = a * keep[:, None, None]
    bu = (delta * u)[:, :, None] * bmat[:, None, :]
    return delta, u, a, bu


@triton.jit
def _last_row(x, BLOCK_T: tl.constexpr):
    """x[BLOCK_T - 1] of a (BLOCK_T, ...) tile."""
    is_last = tl.arange(0, BLOCK_T) == BLOCK_T - 1
    return tl.sum(tl.where(is_last[:, None, None], x, 0.0), axis=0)


@triton.jit
def _first_row(x, BLOCK_T: tl.constexpr):
    """x[0] of a (BLOCK_T, ...) tile."""
    return tl.sum(tl.where((tl.arange(0, BLOCK_T) == 0)[:, None, None], x, 0.0), axis=0)


@triton.jit
def _coords(
    length, channels, state, BLOCK_T: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_N: tl.constexpr
):
    b = tl.program_id(0).to(tl.int64)
    hs = tl.program_id(1) * BLOCK_H + tl.arange(0, BLOCK_H)
    chunk = tl.program_id(2)
    rows = chunk * BLOCK_T + tl.arange(0, BLOCK_T)
    ns = tl.arange(0, BLOCK_N)
    return b, chunk, rows, rows < length, hs, hs < channels, ns, ns < state


@triton.jit
def _state_offsets(b, chunk, chunks, hs, ns, channels, state):
    """Offsets of a (BLOCK_H, BLOCK_N) tile of a (batch, chunks, H, N) tensor."""
    return ((b * chunks + chunk) * channels + hs)[:, None] * state + ns[None, :]


@triton.jit
def chunk_ends_kernel(DELTA, BIAS, U, BMAT, KEEP, A, ENDS, PRODUCTS, length, channels, state,
    chunks, SOFTPLUS: tl.constexpr, HAS_BIAS: tl.constexpr, HAS_KEEP: tl.constexpr, BLOCK_T:
    tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_N: tl.constexpr):
    """Each chunk from a zero state: its end state S_c and the product P_c of its Ā."""
    b, chunk, rows, rows_ok, hs, h_ok, ns, n_ok = _coords(
        length, channels, state, BLOCK_T, BLOCK_H, BLOCK_N
    )
    hn_ok = h_ok[:, None] & n_ok[None, :]
    A_tile = tl.load(A + hs[:, None] * state + ns[None, :], mask=hn_ok, other=0.0)
    _, _, a, bu = _system(DELTA, BIAS, U, BMAT, KEEP, A_tile, b, rows, rows_ok, hs, h_ok, ns, n_ok,
        length, channels, state, SOFTPLUS, HAS_BIAS, HAS_KEEP)
    a_cum, b_cum = tl.associative_scan((a, bu), 0, _combine)
    offs = _state_offsets(b, chunk, chunks, hs, ns, channels, state)
    tl.store(ENDS + offs, _last_row(b_cum, BLOCK_T), mask=hn_ok)
    tl.store(PRODUCTS + offs, _last_row(a_cum, BLOCK_T), mask=hn_ok)


@triton.jit
def outputs_kernel(DELTA, BIAS, U, BMAT, CMAT, D, Z, KEEP, A, STARTS, OUT, length, channels, state,
    chunks, SOFTPLUS: tl.constexpr, HAS_BIAS: tl.constexpr, HAS_D: tl.constexpr, HAS_Z:
    tl.constexpr, HAS_KEEP: tl.constexpr, BLOCK_T: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_N:
    tl.constexpr):
    """out = (C · h + D u) silu(z) for one chunk, from the state entering it."""
    b, chunk, rows, rows_ok, hs, h_ok, ns, n_ok = _coords(
        length, channels, state, BLOCK_T, BLOCK_H, BLOCK_N
    )
    hn_ok = h_ok[:, None] & n_ok[None, :]
    A_tile = tl.load(A + hs[:, None] * state + ns[None, :], mask=hn_ok, other=0.0)
    _, u, a, bu = _system(DELTA, BIAS, U, BMAT, KEEP, A_tile, b, rows, rows_ok, hs, h_ok, ns, n_ok,
        length, channels, state, SOFTPLUS, HAS_BIAS, HAS_KEEP)
    a_cum, b_cum = tl.associative_scan((a, bu), 0, _combine)
    start = tl.load(
        STARTS + _state_offsets(b, chunk, chunks, hs, ns, channels, state), mask=hn_ok, other=0.0
    )
    h = a_cum * start[None, :, :] + b_cum
    cmat = tl.load(CMAT + (b * length + rows)[:, None] * state + ns[None, :], mask=rows_ok[:, None]
        & n_ok[None, :], other=0.0)
    y = tl.sum(h * cmat[:, None, :], axis=2)
    th = (b * length + rows)[:, None] * channels + hs[None, :]
    th_ok = rows_ok[:, None] & h_ok[None, :]
    if HAS_D:
        y += tl.load(D + hs, mask=h_ok, other=0.0)[None, :] * u
    if HAS_Z:
        z = tl.load(Z + th, mask=th_ok, other=0.0)
        y = y * z / (1.0 + tl.exp(-z))
    tl.store(OUT + th, y, mask=th_ok)


@triton.jit
def _gate(DOUT, Z, th, th_ok, HAS_Z: tl.constexpr):
    """dy = dL/d(C·h + D u) = dout silu(z); also dout and z."""
    dout = tl.load(DOUT + th, mask=th_ok, other=0.0)
    z = dout
    dy = dout
    if HAS_Z:
        z = tl.load(Z + th, mask=th_ok, other=0.0)
        dy = dout * z / (1.0 + tl.exp(-z))
    return dout, z, dy


@triton.jit
def adjoint_ends_kernel(DELTA, BIAS, U, BMAT, CMAT, Z, DOUT, KEEP, A, ENDS, length, channels,
    state, chunks, SOFTPLUS: tl.constexpr, HAS_BIAS: tl.constexpr, HAS_Z: tl.constexpr, HAS_KEEP:
    tl.constexpr, BLOCK_T: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_N: tl.constexpr):
    """R_c = Ā_first g_first of each chunk with no adjoint entering from later chunks."""
    b, chunk, rows, rows_ok, hs, h_ok, ns, n_ok = _coords(
        length, channels, state, BLOCK_T, BLOCK_H, BLOCK_N
    )
    hn_ok = h_ok[:, None] & n_ok[None, :]
    A_tile = tl.load(A + hs[:, None] * state + ns[None, :], mask=hn_ok, other=0.0)
    # Ā_{t+1}: the coefficient that carries g_{t+1} back to step t (1 past the chunk).
    nxt = rows + 1
    nxt_ok = rows_ok & (nxt < length) & (tl.arange(0, BLOCK_T) < BLOCK_T - 1)
    _, _, a_next, _ = _system(DELTA, BIAS, U, BMAT, KEEP, A_tile, b, nxt, nxt_ok, hs, h_ok, ns,
        n_ok, length, channels, state, SOFTPLUS, HAS_BIAS, HAS_KEEP)
    _, _, a, _ = _system(DELTA, BIAS, U, BMAT, KEEP, A_tile, b, rows, rows_ok, hs, h_ok, ns, n_ok,
        length, channels, state, SOFTPLUS, HAS_BIAS, HAS_KEEP)
    th = (b * length + rows)[:, None] * channels + hs[None, :]
    _, _, dy = _gate(DOUT, Z, th, rows_ok[:, None] & h_ok[None, :], HAS_Z)
    cmat = tl.load(CMAT + (b * length + rows)[:, None] * state + ns[None, :], mask=rows_ok[:, None]
        & n_ok[None, :], other=0.0)
    _, g = tl.associative_scan(
        (a_next, dy[:, :, None] * cmat[:, None, :]), 0, _combine, reverse=True
    )
    offs = _state_offsets(b, chunk, chunks, hs, ns, channels, state)
    tl.store(ENDS + offs, _first_row(a * g, BLOCK_T), mask=hn_ok)


@triton.jit
def gradients_kernel(DELTA, BIAS, U, BMAT, CMAT, D, Z, DOUT, KEEP, A, STARTS, ADJOINTS, DU, DDELTA,
    DZ, DA_PART, DB_PART, DC_PART, DD_PART, DBIAS_PART, length, channels, state, chunks, h_blocks,
    SOFTPLUS: tl.constexpr, HAS_BIAS: tl.constexpr, HAS_D: tl.constexpr, HAS_Z: tl.constexpr,
    HAS_KEEP: tl.constexpr, BLOCK_T: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_N: tl.constexpr):
    """Every gradient of one chunk, from the state entering it and the adjoint
    entering it from the later chunks."""
    b, chunk, rows, rows_ok, hs, h_ok, ns, n_ok = _coords(
        length, channels, state, BLOCK_T, BLOCK_H, BLOCK_N
    )
    hn_ok = h_ok[:, None] & n_ok[None, :]
    A_tile = tl.load(A + hs[:, None] * state + ns[None, :], mask=hn_ok, other=0.0)
    steps = tl.arange(0, BLOCK_T)
    offs = _state_offsets(b, chunk, chunks, hs, ns, channels, state)
    # h_{t-1}: the chunk's system shifted one step later, from the entering state.
    prv_ok = rows_ok & (steps > 0)
    _, _, a_prev, bu_prev = _system(DELTA, BIAS, U, BMAT, KEEP, A_tile, b, rows - 1, prv_ok, hs,
        h_ok, ns, n_ok, length, channels, state, SOFTPLUS, HAS_BIAS, HAS_KEEP)
    ap_cum, bp_cum = tl.associative_scan((a_prev, bu_prev), 0, _combine)
    start = tl.load(STARTS + offs, mask=hn_ok, other=0.0)
    h_prev = ap_cum * start[None, :, :] + bp_cum
    delta, u, a, bu = _system(DELTA, BIAS, U, BMAT, KEEP, A_tile, b, rows, rows_ok, hs, h_ok, ns,
        n_ok, length, channels, state, SOFTPLUS, HAS_BIAS, HAS_KEEP)
    h = a * h_prev + bu
    # g_t = C_t dy_t + Ā_{t+1} g_{t+1}, the adjoint from the later chunks entering last.
    nxt_ok = rows_ok & (rows + 1 < length) & (steps < BLOCK_T - 1)
    _, _, a_next, _ = _system(DELTA, BIAS, U, BMAT, KEEP, A_tile, b, rows + 1, nxt_ok, hs, h_ok, ns,
        n_ok, length, channels, state, SOFTPLUS, HAS_BIAS, HAS_KEEP)
    th = (b * length + rows)[:, None] * channels + hs[None, :]
    th_ok = rows_ok[:, None] & h_ok[None, :]
    tn = (b * length + rows)[:, None] * state + ns[None, :]
    tn_ok = rows_ok[:, None] & n_ok[None, :]
    dout, z, dy = _gate(DOUT, Z, th, th_ok, HAS_Z)
    cmat = tl.load(CMAT + tn, mask=tn_ok, other=0.0)
    bmat = tl.load(BMAT + tn, mask=tn_ok, other=0.0)
    an_cum, g = tl.associative_scan(
        (a_next, dy[:, :, None] * cmat[:, None, :]), 0, _combine, reverse=True
    )
    g += an_cum * tl.load(ADJOINTS + offs, mask=hn_ok, other=0.0)[None, :, :]
    # Ā = exp(x), x = Δ A: dL/dx = g Ā h_{t-1}.
    x = g * a * h_prev
    tl.store(DA_PART + offs, tl.sum(x * delta[:, :, None], axis=0), mask=hn_ok)
    d_du = tl.sum(g * bmat[:, None, :], axis=2)  # dL/d(Δu)
    d_delta = tl.sum(x * A_tile[None, :, :], axis=2) + d_du * u
    part = ((b * length + rows)[:, None] * h_blocks + tl.program_id(1)) * state + ns[None, :]
    tl.store(DB_PART + part, tl.sum(g * (delta * u)[:, :, None], axis=1), mask=tn_ok)
    tl.store(DC_PART + part, tl.sum(h * dy[:, :, None], axis=1), mask=tn_ok)
    du = d_du * delta
    y = tl.sum(h * cmat[:, None, :], axis=2)
    per_chunk = (b * chunks + chunk) * channels + hs
    if HAS_D:
        d = tl.load(D + hs, mask=h_ok, other=0.0)
        y += d[None, :] * u
        du += dy * d[None, :]
        tl.store(DD_PART + per_chunk, tl.sum(tl.where(th_ok, dy * u, 0.0), axis=0), mask=h_ok)
    if HAS_Z:
        sig = 1.0 / (1.0 + tl.exp(-z))
        tl.store(DZ + th, dout * y * sig * (1.0 + z * (1.0 - sig)), mask=th_ok)
    if SOFTPLUS:
        d_delta = d_delta * (1.0 - tl.exp(-delta))  # softplus' = σ = 1 - exp(-softplus)
    d_delta = tl.where(th_ok, d_delta, 0.0)
    if HAS_BIAS:
        tl.store(DBIAS_PART + per_chunk, tl.sum(d_delta, axis=0), mask=h_ok)
    tl.store(DU + th, du, mask=th_ok)
    tl.store(DDELTA + th, d_delta, mask=th_ok)


# fmt: on
