"""torch paths of ``selective_scan`` (Mamba's S6), registered on import.

- ``"chunked"``: plain torch ops on any device, the ``torch.library`` op
  ``keras_ssm::selective_scan_chunked`` with a hand-written backward (the op
  ``keras_ssm::selective_scan_chunked_backward``) and fake (shape-only) versions of both,
  so that ``torch.compile`` sees one node, never the Python loops. Time is cut into
  chunks of T steps. For each chunk the discretized system Ā = exp(Δ A), B̄u = Δ B u is
  built time-major, (T, batch, H, N), the states are walked one step per call
  (``addcmul_`` over all batch rows, channels and states at once), and y = C · h is one
  batched matmul. Only the state entering
  each chunk is kept, (L / T, batch, H, N) with T >= N, so never more values than
  there are in `u`. The backward pass walks the chunks from the last: it rebuilds the
  chunk's states from the kept one, runs the adjoint g_t = C_t dy_t + Ā_{t+1} g_{t+1}
  as a second walk, and forms every gradient from g, the states and the inputs with
  elementwise products and batched matmuls (dΔ, du, dA, dB, dC, dD, dz, d bias, dh_0).
  A large scan on a CPU is split over the channels, one part per torch thread, each run
  by a thread of a small pool (`PARALLEL_MIN_ELEMENTS`).
- ``"triton"``: the kernel of :mod:`keras_ssm.ops.torch.triton_selective_scan` for
  CUDA tensors where triton is installed (imported on first use).

Both take the canonical arguments of `keras_ssm.ops.selective_scan` (one float dtype,
int32 `segment_ids`, every keyword given).
"""

import concurrent.futures
import functools
import importlib.util

import torch
import torch.nn.functional as F

from keras_ssm.ops import registry

CHUNKED_PRIORITY = 10.0
TRITON_PRIORITY = 20.0
# A chunk's (T, batch, H, N) buffers hold about this many values (2 MiB in float32):
# big enough that the per-chunk torch calls are amortized, small enough to stay in
# cache between the ops that reuse them (at B=4, L=512, H=512, N=16, forward+backward:
# T = 16, 32, 64 took 0.64, 0.76, 1.10 s on 2 busy cores).
CHUNK_ELEMENTS = 1 << 19
# On a CPU with several torch threads, a scan of at least this many (batch, L, H, N)
# values is split over the channels into one part per thread, each run by a thread of
# a small pool: each part's ops then run on one thread, instead of every op waiting on
# torch's thread pool (4.4 s against 0.2 s forward+backward at B=4, L=256, H=512, N=16
# on 2 busy cores).
PARALLEL_MIN_ELEMENTS = 1 << 22
# Shortest and longest chunk (the tests shorten them to cross chunk boundaries).
MIN_CHUNK = 16
MAX_CHUNK = 256


def chunk_length(batch, channels, state, length):
    """T, the steps per chunk: about `CHUNK_ELEMENTS` values per buffer, at least N
    (so the kept states, L / T x batch x H x N values, never outnumber u's), at most L.

    Example:

    ```python
    chunk_length(4, 512, 16, 2048)   # 16
    ```
    """
    per_step = max(1, batch * channels * state)
    chunk = min(MAX_CHUNK, max(MIN_CHUNK, state, CHUNK_ELEMENTS // per_step))
    return max(1, min(chunk, length))


def _time_major(x, t0, t1):
    """x[:, t0:t1] as a (T, batch, ...) view."""
    return x[:, t0:t1].transpose(0, 1)


def _discretize(delta, du, A, B, keep, t0, t1, a_out, b_out):
    """Ā = exp(Δ A) (0 where a segment starts) into `a_out`, B̄u = Δu ⊗ B into `b_out`;
    both (T, batch, H, N) for the steps t0..t1."""
    torch.mul(_time_major(delta, t0, t1)[..., None], A, out=a_out)
    a_out.exp_()
    if keep is not None:
        a_out.mul_(_time_major(keep, t0, t1)[:, :, None, None])
    torch.mul(_time_major(du, t0, t1)[..., None], _time_major(B, t0, t1)[:, :, None, :], out=b_out)


def _walk(a, h, h_enter):
    """h_j = a_j h_{j-1} + h_j in place along axis 0 (h holds B̄u on entry), h_{-1} = h_enter."""
    prev = h_enter
    for j in range(h.shape[0]):
        h[j].addcmul_(a[j], prev)
        prev = h[j]


def _buffers(chunk, u, state):
    batch, _, channels = u.shape
    shape = (chunk, batch, channels, state)
    return torch.empty(shape, dtype=u.dtype, device=u.device), torch.empty(
        shape, dtype=u.dtype, device=u.device
    )


def _scan_forward(u, delta, A, B, C, keep, h0, chunk, starts, y, h):
    """Write y_t = C_t · h_t into `y`, the final state into `h` and (unless None) the
    state entering each chunk into `starts` (chunks, batch, H, N), for the channels of
    these views (u, delta, A, h0, starts, y and h cut to the same channels)."""
    length = u.shape[1]
    du = delta * u
    if h0 is None:
        h.zero_()
    else:
        h.copy_(h0)
    a_buf, h_buf = _buffers(chunk, u, A.shape[1])
    for c in range(-(-length // chunk)):
        t0, t1 = c * chunk, min(length, (c + 1) * chunk)
        a, hs = a_buf[: t1 - t0], h_buf[: t1 - t0]
        if starts is not None:
            starts[c].copy_(h)
        _discretize(delta, du, A, B, keep, t0, t1, a, hs)
        _walk(a, hs, h)
        h.copy_(hs[-1])
        # y[:, t] = Σ_n h_t[:, :, n] C_t[:, n]: (T, batch, H, N) @ (T, batch, N, 1).
        y_chunk = torch.matmul(hs, _time_major(C, t0, t1)[..., None])[..., 0]
        y[:, t0:t1].copy_(y_chunk.transpose(0, 1))


def _scan_backward(u, delta, A, B, C, keep, starts, dy, d_last, chunk, out):
    """Gradients of the scan part (y = C · h) from dL/dy and dL/dh_last, written into
    `out` = (dΔ, d(Δu), dA, dB, dC, dh0) for the channels of these views (dB and dC: this
    part's share, summed over its channels). dΔ and d(Δu) from the scan only (the
    caller adds the skip and the softplus)."""
    d_delta, d_du, dA, dB, dC, g_carry = out
    batch, length = u.shape[:2]
    du_prod = delta * u  # Δ u, the input scale of B̄u
    dA.zero_()
    if d_last is None:
        g_carry.zero_()
    else:
        g_carry.copy_(d_last)
    a_buf, h_buf = _buffers(chunk, u, A.shape[1])
    g_buf = torch.empty_like(h_buf)
    for c in range(starts.shape[0] - 1, -1, -1):
        t0, t1 = c * chunk, min(length, (c + 1) * chunk)
        a, hs, g = a_buf[: t1 - t0], h_buf[: t1 - t0], g_buf[: t1 - t0]
        _discretize(delta, du_prod, A, B, keep, t0, t1, a, hs)
        _walk(a, hs, starts[c])
        # g_t = C_t dy_t + Ā_{t+1} g_{t+1}, walked from the chunk's last step.
        dy_t, C_t = _time_major(dy, t0, t1), _time_major(C, t0, t1)
        torch.mul(dy_t[..., None], C_t[:, :, None, :], out=g)
        g[-1].add_(g_carry)
        for j in range(g.shape[0] - 2, -1, -1):
            g[j].addcmul_(a[j + 1], g[j + 1])
        # Contractions as batched matmuls over views (no copy of a (T, batch, H, N) buffer).
        # dC_t = Σ_h h_t dy_t, d(Δu)_t = Σ_n g_t B_t, dB_t = Σ_h g_t Δ_t u_t.
        hs_t, g_t = hs.transpose(-1, -2), g.transpose(-1, -2)
        dC[:, t0:t1].copy_(torch.matmul(hs_t, dy_t[..., None])[..., 0].transpose(0, 1))
        B_t, du_t = _time_major(B, t0, t1), _time_major(du_prod, t0, t1)
        d_du[:, t0:t1].copy_(torch.matmul(g, B_t[..., None])[..., 0].transpose(0, 1))
        dB[:, t0:t1].copy_(torch.matmul(g_t, du_t[..., None])[..., 0].transpose(0, 1))
        # x = Δ A enters through Ā = exp(x): dL/dx = g_t Ā_t h_{t-1}.
        torch.mul(a[0], g[0], out=g_carry)  # dL/dh entering this chunk, for the next one
        x = g.mul_(a)  # g is no longer needed
        x[1:].mul_(hs[:-1])
        x[0].mul_(starts[c])
        # dA[h, n] = Σ_{t, b} x Δ: per h, (N, T batch) @ (T batch, 1).
        by_channel = x.permute(2, 3, 0, 1).flatten(2)  # (H, N, T batch), a view
        delta_t = _time_major(delta, t0, t1).permute(2, 0, 1).flatten(1)  # (H, T batch)
        dA.add_(torch.matmul(by_channel, delta_t[..., None])[..., 0])
        # dΔ_t[h] (through Ā) = Σ_n x A[h, n]: per h, (T batch, N) @ (N, 1).
        d_a = torch.matmul(x.permute(2, 0, 1, 3).flatten(1, 2), A[..., None])[..., 0]
        d_delta[:, t0:t1].copy_(d_a.unflatten(1, (t1 - t0, batch)).permute(2, 1, 0))


def _workers(u, state):
    """Parts the channels are split into: one per torch thread for a large scan on a
    CPU (each run by a thread of a small pool; torch ops release the GIL), else 1."""
    batch, length, channels = u.shape
    if u.device.type != "cpu" or batch * length * channels * state < PARALLEL_MIN_ELEMENTS:
        return 1
    return max(1, min(torch.get_num_threads(), channels))


@functools.cache
def _pool(workers):
    """A process-wide pool of `workers` threads (one per count asked for)."""
    return concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="keras_ssm_s6")


def _by_channels(run, channels, workers):
    """run(lo, hi, part) for `workers` consecutive channel ranges, in parallel."""
    edges = [channels * i // workers for i in range(workers + 1)]
    parts = list(zip(edges[:-1], edges[1:]))
    if workers == 1:
        run(0, channels, 0)
        return

    def without_grad(*args):  # grad mode is per thread
        with torch.no_grad():
            run(*args)

    futures = [_pool(workers).submit(without_grad, lo, hi, i) for i, (lo, hi) in enumerate(parts)]
    for future in futures:
        future.result()


Tensor = torch.Tensor
Optional = torch.Tensor | None


def _softplus_step(delta_raw, delta_bias, softplus):
    """Δ = softplus(delta + bias) (or delta + bias), a new tensor."""
    delta = delta_raw + delta_bias if delta_bias is not None else delta_raw.clone()
    return F.softplus(delta) if softplus else delta


def _cut(t, lo, hi, axis=-1):
    return None if t is None else t.narrow(axis, lo, hi - lo)


@torch.library.custom_op("keras_ssm::selective_scan_chunked", mutates_args=())
def selective_scan_op(
    u: Tensor,
    delta_raw: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Optional,
    z: Optional,
    delta_bias: Optional,
    h0: Optional,
    keep: Optional,
    softplus: bool,
    for_backward: bool,
) -> list[Tensor]:
    """[out, h_last, starts, y]: the scan, and what its backward pass needs when
    `for_backward` (the states entering the chunks; y = C · h + D u before the gate,
    when `z` is given), else empty tensors."""
    delta = _softplus_step(delta_raw, delta_bias, softplus)
    batch, length, channels = u.shape
    state = A.shape[1]
    chunk = chunk_length(batch, channels, state, length)
    y = torch.empty_like(u)
    h_last = u.new_empty((batch, channels, state))
    starts = u.new_empty((-(-length // chunk), batch, channels, state) if for_backward else (0,))

    def run(lo, hi, part):
        _scan_forward(
            _cut(u, lo, hi),
            _cut(delta, lo, hi),
            _cut(A, lo, hi, 0),
            B,
            C,
            keep,
            _cut(h0, lo, hi, 1),
            chunk,
            _cut(starts, lo, hi, 2) if for_backward else None,
            _cut(y, lo, hi),
            _cut(h_last, lo, hi, 1),
        )

    _by_channels(run, channels, _workers(u, state))
    if D is not None:
        y.addcmul_(u, D)
    if z is None:
        return [y, h_last, starts, u.new_empty((0,))]
    return [y * F.silu(z), h_last, starts, y if for_backward else u.new_empty((0,))]


@selective_scan_op.register_fake
def _selective_scan_fake(u, delta_raw, A, B, C, D, z, delta_bias, h0, keep, softplus, for_backward):
    batch, length, channels = u.shape
    state = A.shape[1]
    chunks = -(-length // chunk_length(batch, channels, state, length))
    starts = (chunks, batch, channels, state) if for_backward else (0,)
    y = u.shape if for_backward and z is not None else (0,)
    return [
        u.new_empty(u.shape),
        u.new_empty((batch, channels, state)),
        u.new_empty(starts),
        u.new_empty(y),
    ]


@torch.library.custom_op("keras_ssm::selective_scan_chunked_backward", mutates_args=())
def selective_scan_backward_op(
    u: Tensor,
    delta_raw: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Optional,
    z: Optional,
    delta_bias: Optional,
    keep: Optional,
    starts: Tensor,
    y: Tensor,
    d_out: Tensor,
    d_last: Tensor,
    softplus: bool,
) -> list[Tensor]:
    """[du, dΔ_raw, dA, dB, dC, dD, dz, d bias, dh0] (empty tensors for absent inputs)."""
    delta = _softplus_step(delta_raw, delta_bias, softplus)
    batch, length, channels = u.shape
    state = A.shape[1]
    chunk = chunk_length(batch, channels, state, length)
    empty = lambda: u.new_empty((0,))  # noqa: E731 - a new one each time: no output aliases another
    dz = empty()
    if z is not None:
        sig = torch.sigmoid(z)
        dz = d_out * y * sig * (1 + z * (1 - sig))  # silu'(z) = σ(z)(1 + z(1 - σ(z)))
        dy = d_out * (z * sig)
    else:
        dy = d_out
    workers = _workers(u, state)
    d_delta, d_du, dA = torch.empty_like(u), torch.empty_like(u), torch.empty_like(A)
    dh0 = u.new_empty((batch, channels, state))
    dBs = [torch.empty_like(B) for _ in range(workers)]
    dCs = [torch.empty_like(C) for _ in range(workers)]

    def run(lo, hi, part):
        out = (
            _cut(d_delta, lo, hi),
            _cut(d_du, lo, hi),
            _cut(dA, lo, hi, 0),
            dBs[part],
            dCs[part],
            _cut(dh0, lo, hi, 1),
        )
        _scan_backward(
            _cut(u, lo, hi),
            _cut(delta, lo, hi),
            _cut(A, lo, hi, 0),
            B,
            C,
            keep,
            _cut(starts, lo, hi, 2),
            _cut(dy, lo, hi),
            _cut(d_last, lo, hi, 1),
            chunk,
            out,
        )

    _by_channels(run, channels, workers)
    du = d_du * delta
    dD = empty()
    if D is not None:
        du.addcmul_(dy, D)
        dD = (dy * u).sum(dim=(0, 1))
    d_delta.addcmul_(d_du, u)
    if softplus:
        d_delta.mul_(-torch.expm1(-delta))  # softplus'(x) = σ(x) = 1 - exp(-softplus(x))
    d_bias = d_delta.sum(dim=(0, 1)) if delta_bias is not None else empty()
    return [du, d_delta, dA, sum(dBs[1:], dBs[0]), sum(dCs[1:], dCs[0]), dD, dz, d_bias, dh0]


@selective_scan_backward_op.register_fake
def _selective_scan_backward_fake(
    u, delta_raw, A, B, C, D, z, delta_bias, keep, starts, y, d_out, d_last, softplus
):
    like = lambda t: u.new_empty((0,)) if t is None else t.new_empty(t.shape)  # noqa: E731
    h = u.new_empty((u.shape[0], A.shape[0], A.shape[1]))
    return [like(u), like(u), like(A), like(B), like(C), like(D), like(z), like(delta_bias), h]


def _setup_context(ctx, inputs, output):
    u, delta_raw, A, B, C, D, z, delta_bias, h0, keep, softplus, _ = inputs
    ctx.save_for_backward(u, delta_raw, A, B, C, D, z, delta_bias, keep, output[2], output[3])
    ctx.options = (softplus, h0 is not None)


def _backward(ctx, grads):
    softplus, has_h0 = ctx.options
    u, delta_raw, A, B, C, D, z, delta_bias, keep, starts, y = ctx.saved_tensors
    d_out, d_last = grads[0], grads[1]
    d_out = torch.zeros_like(u) if d_out is None else d_out
    if d_last is None:
        d_last = u.new_zeros((u.shape[0], A.shape[0], A.shape[1]))
    out = selective_scan_backward_op(
        u, delta_raw, A, B, C, D, z, delta_bias, keep, starts, y, d_out, d_last, softplus
    )
    du, d_delta, dA, dB, dC, dD, dz, d_bias, dh0 = out
    given = lambda grad, x: None if x is None else grad  # noqa: E731
    dh0 = dh0 if has_h0 else None
    return (
        du,
        d_delta,
        dA,
        dB,
        dC,
        given(dD, D),
        given(dz, z),
        given(d_bias, delta_bias),
        dh0,
        None,
        None,
        None,
    )


# No argument has a default: the dispatcher drops trailing arguments equal to their
# default, and the backward returns one gradient per argument.
selective_scan_op.register_autograd(_backward, setup_context=_setup_context)


def _keep(segment_ids):
    """(batch, length): 0 where a new segment starts (t > 0, id changed), else 1."""
    keep = torch.ones(segment_ids.shape, dtype=torch.bool, device=segment_ids.device)
    keep[:, 1:] = segment_ids[:, 1:] == segment_ids[:, :-1]
    return keep


def _tensors(args, kwargs):
    names = ("D", "z", "delta_bias", "initial_state", "segment_ids")
    return list(args) + [kwargs.get(n) for n in names if kwargs.get(n) is not None]


def _chunked_supports(*args, **kwargs):
    if not all(isinstance(t, torch.Tensor) for t in _tensors(args, kwargs)):
        return "the chunked torch selective scan needs torch tensors"
    return None


@registry.register(
    "selective_scan",
    "chunked",
    backends=("torch",),
    supports=_chunked_supports,
    priority=lambda *a, **k: CHUNKED_PRIORITY,
)
def selective_scan_chunked(
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
    """The selective scan in chunks of time with a hand-written backward (any device).

    Arguments and results as `keras_ssm.ops.selective_scan` (canonical: one float
    dtype, int32 `segment_ids`).

    Example:

    ```python
    u = torch.randn(2, 100, 8)
    A = -torch.arange(1.0, 5.0).repeat(8, 1)            # (8, 4)
    y = selective_scan_chunked(u, u, A, torch.randn(2, 100, 4), torch.randn(2, 100, 4))
    ```
    """
    keep = None if segment_ids is None else _keep(segment_ids).to(u.dtype)
    tensors = (u, delta, A, B, C, D, z, delta_bias, initial_state)
    for_backward = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in tensors
    )
    out, h_last, _, _ = selective_scan_op(*tensors, keep, bool(delta_softplus), for_backward)
    return (out, h_last) if return_final_state else out


# --------------------------------------------------------------------------------------
# triton


def _triton_supports(*args, **kwargs):
    tensors = _tensors(args, kwargs)
    if not all(isinstance(t, torch.Tensor) for t in tensors):
        return "the Triton selective scan needs torch tensors"
    if not all(t.is_cuda for t in tensors):
        return "the Triton selective scan runs on CUDA tensors only"
    if args[0].dtype != torch.float32:
        return "the Triton selective scan computes in float32 only"
    if importlib.util.find_spec("triton") is None:
        return "triton is not installed (pip install triton)"
    return None


@registry.register(
    "selective_scan",
    "triton",
    backends=("torch",),
    supports=_triton_supports,
    priority=lambda *a, **k: TRITON_PRIORITY,
)
def selective_scan_triton(u, delta, A, B, C, D=None, z=None, delta_bias=None, **kwargs):
    """The selective scan by the Triton kernel (CUDA tensors, float32).

    Arguments and results as `selective_scan_chunked`; see
    `keras_ssm.ops.torch.triton_selective_scan.selective_scan_triton`.
    """
    from keras_ssm.ops.torch import triton_selective_scan

    return triton_selective_scan.selective_scan_triton(
        u, delta, A, B, C, D, z, delta_bias, **kwargs
    )
