"""TensorFlow path of ``selective_scan`` (Mamba's S6): an XLA-compiled loop over chunks
of time with a hand-written gradient, registered as ``"sequential"``.

Time is cut into chunks of `CHUNK` steps (at least N). One ``tf.while_loop`` runs over
the chunks, carrying the (batch, H, N) state; its body builds the chunk's discretized
system Ā = exp(Δ A), B̄u = Δ B u time-major, (T, batch, H, N), walks it one step at a
time (the T steps unrolled, so XLA fuses them) and contracts with C. The loop keeps
the state entering each chunk and nothing else of size N.

The gradient (``tf.custom_gradient``) is a second loop over the chunks from the last:
it rebuilds the chunk's states from the kept one, walks the adjoint
g_t = C_t dy_t + Ā_{t+1} g_{t+1} backward, and forms dΔ, d(Δu), dA, dB, dC and dh_0 from
g, the states and the inputs (Martin & Cundy's reverse recurrence, as the
``linear_recurrence`` paths). Softplus, the skip D u and the gate silu(z) are elementwise
ops around the scan, differentiated by TensorFlow. Both loops are compiled by XLA
(``tf.function(jit_compile=True)``) also when the op is called eagerly, so training does
not meet ``tf.scan``'s slow gradient under XLA. The length may be known only at run time
(a ``tf.function`` traced with ``reduce_retracing``).
"""

import tensorflow as tf

from keras_ssm.ops import registry

# Steps per chunk (unrolled in the loop body); at least N is used.
CHUNK = 16


def chunk_length(state, length):
    """T: `CHUNK` steps, at least N (the kept states never outnumber u's values), at
    most the length (when it is known: None for a length known only at run time).

    Example:

    ```python
    chunk_length(16, 2048)   # 16
    ```
    """
    chunk = max(CHUNK, state)
    return chunk if length is None else max(1, min(chunk, length))


def _to_chunks(x, chunk, chunks, fill=0.0):
    """(batch, L, ...) -> (chunks, T, batch, ...), padded with `fill` to chunks * T steps."""
    pad = chunks * chunk - _length(x)
    if not isinstance(pad, int) or pad:
        x = tf.pad(x, [[0, 0], [0, pad]] + [[0, 0]] * (x.shape.rank - 2), constant_values=fill)
    shape = tf.concat([tf.shape(x)[:1], [chunks, chunk], tf.shape(x)[2:]], axis=0)
    x = tf.reshape(x, shape)
    return tf.transpose(x, [1, 2, 0] + list(range(3, x.shape.rank)))


def _length(x):
    """The length (axis 1): an int when static, else a scalar tensor."""
    return x.shape[1] if x.shape[1] is not None else tf.shape(x)[1]


def _chunk_count(x, chunk):
    return (_length(x) + chunk - 1) // chunk


def _from_chunks(x, length):
    """(chunks, T, batch, H) -> (batch, length, H)."""
    x = tf.transpose(x, [2, 0, 1, 3])
    shape = tf.concat([tf.shape(x)[:1], [tf.shape(x)[1] * x.shape[2]], tf.shape(x)[3:]], axis=0)
    return tf.reshape(x, shape)[:, :length]


def _system(delta_c, du_c, B_c, keep_c, A):
    """Ā (0 where a segment starts) and B̄u of one chunk, (T, batch, H, N) each."""
    a = tf.exp(delta_c[..., None] * A)
    if keep_c is not None:
        a = a * keep_c[..., None, None]
    return a, du_c[..., None] * B_c[:, :, None, :]


def _walk(a, b, h):
    """[h_0 .. h_{T-1}] with h_j = a_j h_{j-1} + b_j, unrolled."""
    states = []
    for j in range(a.shape[0]):
        h = a[j] * h + b[j]
        states.append(h)
    return tf.stack(states)


def _forward(u, delta, A, B, C, keep, h0, chunk):
    """y = C · h (scan part), the final state and the state entering each chunk."""
    length, chunks = _length(u), _chunk_count(u, chunk)
    xs = [_to_chunks(x, chunk, chunks) for x in (delta, delta * u, B, C)]
    keeps = None if keep is None else _to_chunks(keep, chunk, chunks, fill=1.0)
    ys = tf.TensorArray(u.dtype, size=chunks)
    starts = tf.TensorArray(u.dtype, size=chunks)

    def body(c, h, ys, starts):
        delta_c, du_c, B_c, C_c = (x[c] for x in xs)
        a, b = _system(delta_c, du_c, B_c, None if keeps is None else keeps[c], A)
        hs = _walk(a, b, h)
        y_c = tf.einsum("tbhn,tbn->tbh", hs, C_c)
        return c + 1, hs[-1], ys.write(c, y_c), starts.write(c, h)

    _, h_last, ys, starts = tf.while_loop(
        lambda c, *_: c < chunks, body, (tf.constant(0), h0, ys, starts), maximum_iterations=chunks
    )
    return _from_chunks(ys.stack(), length), h_last, starts.stack()


def _backward(u, delta, A, B, C, keep, starts, dy, d_last, chunk):
    """(du, dΔ, dA, dB, dC, dh0) of the scan part from dL/dy and dL/dh_last."""
    length, chunks = _length(u), _chunk_count(u, chunk)
    du_prod = delta * u
    xs = [_to_chunks(x, chunk, chunks) for x in (delta, du_prod, B, C, dy)]
    keeps = None if keep is None else _to_chunks(keep, chunk, chunks, fill=1.0)
    outs = [tf.TensorArray(u.dtype, size=chunks) for _ in range(4)]

    def body(i, g_carry, dA, *outs):
        c = chunks - 1 - i
        delta_c, du_c, B_c, C_c, dy_c = (x[c] for x in xs)
        a, b = _system(delta_c, du_c, B_c, None if keeps is None else keeps[c], A)
        h_enter = starts[c]
        hs = _walk(a, b, h_enter)
        G = dy_c[..., None] * C_c[:, :, None, :]
        grads = [None] * a.shape[0]
        g = g_carry
        for j in range(a.shape[0] - 1, -1, -1):
            g = G[j] + (g if j == a.shape[0] - 1 else a[j + 1] * g)
            grads[j] = g
        g = tf.stack(grads)
        h_prev = tf.concat([h_enter[None], hs[:-1]], axis=0)
        x = g * a * h_prev  # dL/d(Δ A)
        pieces = (
            tf.reduce_sum(x * A, axis=-1),  # dΔ through Ā
            tf.einsum("tbhn,tbn->tbh", g, B_c),  # d(Δu)
            tf.einsum("tbhn,tbh->tbn", g, du_c),  # dB
            tf.einsum("tbhn,tbh->tbn", hs, dy_c),  # dC
        )
        outs = [o.write(c, p) for o, p in zip(outs, pieces)]
        dA = dA + tf.einsum("tbhn,tbh->hn", x, delta_c)
        return (i + 1, a[0] * g[0], dA, *outs)

    start = (tf.constant(0), d_last, tf.zeros_like(A), *outs)
    _, dh0, dA, *outs = tf.while_loop(
        lambda i, *_: i < chunks, body, start, maximum_iterations=chunks
    )
    d_delta, d_du, dB, dC = (_from_chunks(o.stack(), length) for o in outs)
    return d_du * delta, d_delta + d_du * u, dA, dB, dC, dh0


_forward_xla = tf.function(_forward, jit_compile=True, autograph=False)
_backward_xla = tf.function(_backward, jit_compile=True, autograph=False)


def _scan(u, delta, A, B, C, h0, keep):
    """(y = C · h, h_last) with the hand-written gradient; `keep` is not differentiated."""
    chunk = chunk_length(A.shape[1], u.shape[1])

    @tf.custom_gradient
    def run(*inputs):
        # No tape may watch the compiled loops (their loop state cannot leave XLA):
        # their inputs are cut from it, the gradient is `grad`.
        u, delta, A, B, C, h0 = (tf.stop_gradient(x) for x in inputs)
        y, h_last, starts = _forward_xla(u, delta, A, B, C, keep, h0, chunk)

        def grad(dy, d_last):
            dy = tf.zeros_like(y) if dy is None else tf.stop_gradient(dy)
            d_last = tf.zeros_like(h_last) if d_last is None else tf.stop_gradient(d_last)
            return _backward_xla(u, delta, A, B, C, keep, starts, dy, d_last, chunk)

        return (y, h_last), grad

    return run(u, delta, A, B, C, h0)


@registry.register(
    "selective_scan",
    "sequential",
    backends=("tensorflow",),
    priority=lambda *a, **k: 2.0,
)
def selective_scan_sequential(
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
    """The selective scan by an XLA-compiled loop over chunks, hand-written gradient.

    Arguments and results as `keras_ssm.ops.selective_scan` (canonical).

    Example:

    ```python
    u = tf.ones([2, 100, 8])
    A = -tf.tile(tf.range(1.0, 5.0)[None], [8, 1])              # (8, 4)
    y = selective_scan_sequential(u, u, A, tf.ones([2, 100, 4]), tf.ones([2, 100, 4]))
    ```
    """
    u, delta, A, B, C = (tf.convert_to_tensor(x) for x in (u, delta, A, B, C))
    if delta_bias is not None:
        delta = delta + delta_bias
    if delta_softplus:
        delta = tf.math.softplus(delta)
    keep = None
    if segment_ids is not None:
        same = tf.equal(segment_ids[:, 1:], segment_ids[:, :-1])
        keep = tf.cast(tf.concat([tf.ones_like(same[:, :1]), same], axis=1), u.dtype)
    h0 = initial_state
    if h0 is None:
        h0 = tf.zeros(tf.stack([tf.shape(u)[0], A.shape[0], A.shape[1]]), u.dtype)
    y, h_last = _scan(u, delta, A, B, C, tf.convert_to_tensor(h0), keep)
    if D is not None:
        y = y + D * u
    if z is not None:
        y = y * tf.nn.silu(z)
    return (y, h_last) if return_final_state else y
