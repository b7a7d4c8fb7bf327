"""JAX paths of ``selective_scan`` (Mamba's S6), registered on import.

Both cut time into chunks of T steps and run one ``jax.lax.scan`` over the chunks,
carrying the (batch, H, N) state. The chunk body builds the discretized system
Ā = exp(Δ A), B̄u = Δ B u time-major, (T, batch, H, N), solves it and contracts with C;
it is wrapped in ``jax.checkpoint``, so the gradient keeps only the state entering each
chunk ((L / T, batch, H, N), T >= N: never more values than `u` has) and recomputes a
chunk's states while differentiating it. Gradients come from JAX's autodiff.

- ``"sequential"``: inside a chunk, one ``lax.scan`` step per time step. The choice on
  CPU, where the walk does the least work.
- ``"associative"``: inside a chunk, ``lax.associative_scan`` over the T steps (depth
  log T), the chunk's state entering as h = Ā_cum h_enter + B̄u_cum. The choice on GPU
  and TPU.

Softplus, the skip D u and the gate silu(z) are elementwise jnp around the scan. The
whole op is one ``jax.jit`` function (per shape and options), so eager calls run it
compiled too.
"""

import functools

import jax
import jax.numpy as jnp
from jax import lax

from keras_ssm.ops import registry
from keras_ssm.ops.jax.recurrence import platform

# Steps per chunk on CPU (walk) and on accelerators (associative scan); at least N. On
# CPU, forward+backward at B=4, L=512, H=512, N=16 (2 busy cores): T = 16, 32, 64, 128
# took 0.79, 1.65, 1.67, 2.31 s.
CHUNK = 16
ACCELERATOR_CHUNK = 128


def chunk_length(state, length, on_cpu):
    """T for N = `state` and the sequence length: `CHUNK` (CPU) or `ACCELERATOR_CHUNK`,
    at least N (the kept states never outnumber u's values), at most the length.

    Example:

    ```python
    chunk_length(16, 2048, on_cpu=True)   # 16
    ```
    """
    chunk = max(CHUNK if on_cpu else ACCELERATOR_CHUNK, state)
    return max(1, min(chunk, length))


def _walk(a, b, h):
    """h_t = a_t h_{t-1} + b_t along axis 0 from h, one step per `lax.scan` iteration."""

    def step(h, ab):
        h = ab[0] * h + ab[1]
        return h, h

    return lax.scan(step, h, (a, b))[1]


def _combine(earlier, later):
    """(a1, b1) then (a2, b2): h -> a2 (a1 h + b1) + b2."""
    return later[0] * earlier[0], later[0] * earlier[1] + later[1]


def _associative(a, b, h):
    """h_t = a_t h_{t-1} + b_t along axis 0 from h by `lax.associative_scan`."""
    a_cum, b_cum = lax.associative_scan(_combine, (a, b), axis=0)
    return a_cum * h[None] + b_cum


def _to_chunks(x, chunk, chunks):
    """(batch, L, ...) -> (chunks, T, batch, ...), padded with zeros to chunks * T steps."""
    pad = chunks * chunk - x.shape[1]
    if pad:
        x = jnp.pad(x, [(0, 0), (0, pad)] + [(0, 0)] * (x.ndim - 2))
    x = x.reshape((x.shape[0], chunks, chunk) + x.shape[2:])
    return jnp.moveaxis(x, 0, 2)


def _scan(u, delta, A, B, C, keep, h0, solve, chunk):
    """(y = C · h, h_last) over chunks of `chunk` steps; `solve(a, b, h_enter)` solves one."""
    batch, length, channels = u.shape
    state = A.shape[1]
    chunks = -(-length // chunk)
    # Padded steps have Δ = 0: Ā = 1, B̄u = 0, the identity map (keep = 1 there).
    xs = [_to_chunks(x, chunk, chunks) for x in (delta, delta * u, B, C)]
    if keep is not None:
        xs.append(_to_chunks(1.0 - keep, chunk, chunks))

    @jax.checkpoint
    def body(h, x):
        delta_c, du_c, B_c, C_c, *rest = x
        a = jnp.exp(delta_c[..., None] * A)  # (T, batch, H, N)
        if rest:
            a = a * (1.0 - rest[0])[..., None, None]
        b = du_c[..., None] * B_c[:, :, None, :]
        hs = solve(a, b, h)
        return hs[-1], jnp.einsum("tbhn,tbn->tbh", hs, C_c)

    if h0 is None:
        h0 = jnp.zeros((batch, channels, state), u.dtype)
    h_last, ys = lax.scan(body, h0, xs)
    y = jnp.moveaxis(ys, 2, 0).reshape(batch, chunks * chunk, channels)[:, :length]
    return y, h_last


@functools.partial(jax.jit, static_argnames=("solve", "chunk", "softplus"))
def _selective_scan(u, delta, A, B, C, D, z, delta_bias, h0, seg, *, solve, chunk, softplus):
    """The whole op, compiled once per shape and options (eager calls too)."""
    if delta_bias is not None:
        delta = delta + delta_bias
    if softplus:
        delta = jax.nn.softplus(delta)
    keep = None
    if seg is not None:
        same = seg[:, 1:] == seg[:, :-1]
        keep = jnp.concatenate([jnp.ones_like(same[:, :1]), same], axis=1).astype(u.dtype)
    y, h_last = _scan(u, delta, A, B, C, keep, h0, solve, chunk)
    if D is not None:
        y = y + D * u
    if z is not None:
        y = y * jax.nn.silu(z)
    return y, h_last


def _make_path(name, solve, on_cpu):
    def path(
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
        args = (u, delta, A, B, C, D, z, delta_bias, initial_state, segment_ids)
        args = [None if x is None else jnp.asarray(x) for x in args]
        chunk = chunk_length(A.shape[1], u.shape[1], on_cpu)
        y, h_last = _selective_scan(*args, solve=solve, chunk=chunk, softplus=bool(delta_softplus))
        return (y, h_last) if return_final_state else y

    path.__name__ = f"selective_scan_{name}"
    path.__doc__ = (
        f"The selective scan in chunks of time, {name} inside each chunk.\n\n"
        "Arguments and results as `keras_ssm.ops.selective_scan` (canonical).\n\n"
        "Example:\n\n```python\nu = jnp.ones((2, 100, 8))\n"
        "A = -jnp.tile(jnp.arange(1.0, 5.0), (8, 1))            # (8, 4)\n"
        f"y = {path.__name__}(u, u, A, jnp.ones((2, 100, 4)), jnp.ones((2, 100, 4)))\n```\n"
    )
    return path


def _on_cpu(u, *args, **kwargs):
    return platform(u) == "cpu"


selective_scan_sequential = registry.register(
    "selective_scan",
    "sequential",
    backends=("jax",),
    priority=lambda u, *a, **k: 2.0 if _on_cpu(u) else 0.0,
)(_make_path("sequential", _walk, True))

selective_scan_associative = registry.register(
    "selective_scan",
    "associative",
    backends=("jax",),
    priority=lambda *a, **k: 1.0,
)(_make_path("associative", _associative, False))
