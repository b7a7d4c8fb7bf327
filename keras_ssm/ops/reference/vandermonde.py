"""The reference ``vandermonde_kernel``: chunked over l, with an analytic chunked gradient.

Example:

```python
from keras_ssm.ops.reference.vandermonde import vandermonde_kernel
log_lam = (keras.ops.full((4,), -0.01), keras.ops.arange(4, dtype="float32"))
c = (keras.ops.ones((3, 4)), keras.ops.zeros((3, 4)))
k = vandermonde_kernel(log_lam, c, 100)                     # (3, 100)
```
"""

from keras import ops

# Values (cos and sin parts each) one chunk of the kernel holds at once.
ELEMENTS_PER_CHUNK = 1 << 21


def chunk_length(states_per_step, length, elements=None):
    """Length of one chunk so that a chunk holds about `elements` values
    (default: the module's ELEMENTS_PER_CHUNK, read at call time)."""
    if elements is None:
        elements = ELEMENTS_PER_CHUNK
    return max(1, min(length, elements // max(1, states_per_step)))


def _steps(start, size):
    """The float32 positions start, ..., start + size - 1 (start: int or int tensor)."""
    return ops.cast(ops.arange(size), "float32") + ops.cast(start, "float32")


def _vandermonde_block(lam_re, lam_im, steps):
    """(E cos, E sin) with E = exp(Re(logλ) l), for l in `steps`.

    Shapes: lam (*, N), steps (chunk,) -> blocks (*, N, chunk).
    """
    mag = ops.exp(lam_re[..., None] * steps)
    phase = lam_im[..., None] * steps
    return mag * ops.cos(phase), mag * ops.sin(phase)


def _kernel_chunk(c_re, c_im, v_re, v_im, shared):
    """Re(sum_n c[h, n] V[(h,) n, l]) for one chunk: (H, chunk)."""
    if shared:
        return ops.matmul(c_re, v_re) - ops.matmul(c_im, v_im)
    return ops.einsum("hn,hnl->hl", c_re, v_re) - ops.einsum("hn,hnl->hl", c_im, v_im)


def _map_chunks(part, rows, length, chunk):
    """[part(steps) for each chunk of [0, length)] concatenated along axis 1: (rows, length).

    The full chunks run in a `keras.ops.scan`, one after the other: compiled backends
    (XLA) then hold the temporaries of one chunk at a time. (Independent chunks in a
    Python loop let XLA schedule every chunk's (N, chunk) blocks at once: 12 GB for
    N = 4096, L = 262,144.) The scan's carry is the last chunk (the TensorFlow scan
    wants outputs shaped like its carry).
    """
    full, rest = divmod(length, chunk)
    pieces = []
    if full == 1:
        pieces.append(part(_steps(0, chunk)))
    elif full > 1:

        def step(carry, start):
            out = part(_steps(start, chunk))
            return out, out

        starts = ops.arange(full, dtype="int32") * chunk
        # stacked: (full, rows, chunk)
        _, stacked = ops.scan(step, ops.zeros((rows, chunk), "float32"), starts)
        pieces.append(ops.reshape(ops.transpose(stacked, (1, 0, 2)), (rows, full * chunk)))
    if rest:
        pieces.append(part(_steps(full * chunk, rest)))
    return pieces[0] if len(pieces) == 1 else ops.concatenate(pieces, axis=1)


def _sum_chunks(term, g, rows, length, chunk, zeros):
    """Sum over the chunks of [0, length) of term(g[:, chunk], steps), a tuple of tensors.

    Full chunks run in a `keras.ops.fori_loop`, one after the other (see
    `_map_chunks`); `zeros` is a tuple of zero tensors shaped like the terms.
    """
    full, rest = divmod(length, chunk)
    total = None
    if full == 1:
        total = term(g[:, :chunk], _steps(0, chunk))
    elif full > 1:
        g_chunks = ops.transpose(ops.reshape(g[:, : full * chunk], (rows, full, chunk)), (1, 0, 2))

        def body(i, acc):
            gk = ops.take(g_chunks, i, axis=0)  # (rows, chunk)
            return tuple(a + t for a, t in zip(acc, term(gk, _steps(i * chunk, chunk))))

        total = ops.fori_loop(0, full, body, zeros)
    if rest:
        last = term(g[:, full * chunk :], _steps(full * chunk, rest))
        total = last if total is None else tuple(a + t for a, t in zip(total, last))
    return total


def vandermonde_kernel(log_lambda, c, length):
    """K[h, l] = Re(sum_n c[h, n] exp(log_lambda[(h,) n] l)), chunked over l.

    The gradient is analytic and also chunked, so memory stays O(H L + N chunk).
    Arguments and result as `keras_ssm.ops.vandermonde_kernel` ((re, im) pairs).
    """
    lam_re, lam_im = (ops.cast(t, "float32") for t in log_lambda)
    c_re, c_im = (ops.cast(t, "float32") for t in c)
    shared = len(lam_re.shape) == 1
    rows = c_re.shape[0]
    states = lam_re.shape[-1] * (1 if shared else lam_re.shape[0])
    chunk = chunk_length(states, length)

    @ops.custom_gradient
    def kernel_fn(lam_re, lam_im, c_re, c_im):
        def part(steps):
            v_re, v_im = _vandermonde_block(lam_re, lam_im, steps)
            return _kernel_chunk(c_re, c_im, v_re, v_im, shared)

        out = _map_chunks(part, rows, length, chunk)

        def grad(*args, upstream=None):
            g = upstream if upstream is not None else args[0]
            return _vandermonde_grad(g, lam_re, lam_im, c_re, c_im, length, chunk, shared)

        return out, grad

    return kernel_fn(lam_re, lam_im, c_re, c_im)


def _vandermonde_grad(g, lam_re, lam_im, c_re, c_im, length, chunk, shared):
    """Gradients of K = Re(c V) w.r.t. (Re logλ, Im logλ, Re c, Im c), chunk by chunk.

    With V = E (cos + i sin), dK/dRe c = E cos, dK/dIm c = -E sin,
    dK/dRe logλ = l Re(c V), dK/dIm logλ = l Re(i c V).
    """
    g = ops.cast(g, "float32")

    def term(gk, steps):  # gk (H, chunk) -> four (H, N)
        v_re, v_im = _vandermonde_block(lam_re, lam_im, steps)
        glk = gk * steps
        if shared:
            return (
                ops.matmul(gk, ops.transpose(v_re)),
                ops.matmul(gk, ops.transpose(v_im)),
                ops.matmul(glk, ops.transpose(v_re)),
                ops.matmul(glk, ops.transpose(v_im)),
            )
        return tuple(
            ops.einsum("hl,hnl->hn", x, v)
            for x, v in ((gk, v_re), (gk, v_im), (glk, v_re), (glk, v_im))
        )

    zeros = tuple(ops.zeros(c_re.shape, "float32") for _ in range(4))
    gc_re, gc_im, a_cos, a_sin = _sum_chunks(term, g, c_re.shape[0], length, chunk, zeros)
    # K = sum c_re V_re - c_im V_im
    d_c_re = gc_re
    d_c_im = -gc_im
    d_lam_re = c_re * a_cos - c_im * a_sin  # (H, N)
    d_lam_im = -c_re * a_sin - c_im * a_cos
    if shared:
        d_lam_re = ops.sum(d_lam_re, axis=0)
        d_lam_im = ops.sum(d_lam_im, axis=0)
    return d_lam_re, d_lam_im, d_c_re, d_c_im
