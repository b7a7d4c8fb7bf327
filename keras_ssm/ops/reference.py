"""Reference implementations: ``keras.ops`` only, correct on every backend.

These are the ground truth every fast path is tested against, and the fallback when no
fast path applies (export, unusual dtypes). They are written for clarity and for
tracing under XLA (static shapes, no data-dependent control flow).
"""

import math

from keras import ops

from keras_ssm.ops import common

# The registry (which registers the functions below as ``reference``) ranks them last.
REFERENCE_PRIORITY = -1.0


def _lowest(*args, **kwargs):
    return REFERENCE_PRIORITY


# --------------------------------------------------------------------------------------
# complex helpers on (real, imag) pairs


def cmul(x, y):
    """(xr + i xi)(yr + i yi) on pairs; a real tensor counts as a real number."""
    if not common.is_pair(x) and not common.is_pair(y):
        return x * y
    if not common.is_pair(x):
        return (x * y[0], x * y[1])
    if not common.is_pair(y):
        return (x[0] * y, x[1] * y)
    return (x[0] * y[0] - x[1] * y[1], x[0] * y[1] + x[1] * y[0])


def cadd(x, y):
    if common.is_pair(x):
        return (x[0] + y[0], x[1] + y[1])
    return x + y


def _shift_right(x, d, fill):
    """x shifted by d steps along axis 1, the first d steps filled with `fill`."""
    head = ops.full_like(x[:, :d], fill)
    return ops.concatenate([head, x[:, :-d]], axis=1)


def _flip_time(x):
    return common.map_pair(lambda t: ops.flip(t, axis=1), x)


# --------------------------------------------------------------------------------------
# linear_recurrence


def linear_recurrence(a, b, *, reverse=False, initial_state=None, return_final_state=False):
    """h_t = a_t * h_{t-1} + b_t by a log-depth (Hillis-Steele) scan in keras.ops.

    Args:
        a: (batch, length, *state) or (*state) (time-invariant); tensor or pair.
        b: (batch, length, *state); tensor or pair.
        reverse: run from the last step to the first (h_t = a_t h_{t+1} + b_t).
        initial_state: (batch, *state) or None; the state before the first step.
        return_final_state: also return the state after the last step.

    Returns:
        h with the shape of b (a pair for complex inputs), and the final state
        (batch, *state) if `return_final_state`.
    """
    invariant = common.is_time_invariant(a, b)
    if reverse:
        b = _flip_time(b)
        if not invariant:
            a = _flip_time(a)
    length = common.pair_shape(b, "b")[1]
    if initial_state is not None:
        first_a = a if invariant else common.map_pair(lambda t: t[:, 0], a)
        carried = cmul(first_a, initial_state)
        b = _add_at_first_step(b, carried)
    h = _scan(a, b, length, invariant)
    if reverse:
        h = _flip_time(h)
    if return_final_state:
        index = 0 if reverse else -1
        last = common.map_pair(lambda t: t[:, index], h)
        return h, last
    return h


def _add_at_first_step(b, value):
    def add(bp, vp):
        return ops.concatenate([bp[:, :1] + vp[:, None], bp[:, 1:]], axis=1)

    if common.is_pair(b):
        return (add(b[0], value[0]), add(b[1], value[1]))
    return add(b, value)


def _scan(a, b, length, invariant):
    if length is None:
        raise ValueError(
            "The reference linear_recurrence needs a static sequence length; got an "
            "unknown length. Build the model with a fixed `length` in the Input shape."
        )
    d = 1
    power = a  # a^d for time-invariant systems
    while d < length:
        if invariant:
            b = cadd(b, cmul(power, common.map_pair(lambda t: _shift_right(t, d, 0.0), b)))
            power = cmul(power, power)
        else:
            shifted_b = common.map_pair(lambda t: _shift_right(t, d, 0.0), b)
            b = cadd(b, cmul(a, shifted_b))
            if common.is_pair(a):
                shifted_a = (_shift_right(a[0], d, 1.0), _shift_right(a[1], d, 0.0))
            else:
                shifted_a = _shift_right(a, d, 1.0)
            a = cmul(a, shifted_a)
        d *= 2
    return b


# --------------------------------------------------------------------------------------
# causal_conv


def fft_length(n):
    """Smallest 2^i 3^j 5^k >= n: a fast FFT size."""
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            p = p35
            while p < n:
                p *= 2
            best = min(best, p)
            p35 *= 3
        p5 *= 5
    return best


def conv_fft_length(length, kernel, backward_kernel=None):
    """FFT size with no wrap-around for `causal_conv`: n >= L + max(kernel lengths) - 1.

    With a backward kernel the product is circular of size n, forward taps at 0..k-1
    and backward taps j at n - j: a lag d in -(L-1)..L-1 lands on its own tap when
    n >= L + max(k_f, k_b) - 1. Placing a real K_b's taps at n - j conjugates its
    transform, so the two-sided kernel's rfft is rfft(K, n) + conj(rfft(K_b, n)).
    """
    taps = kernel.shape[-1] if backward_kernel is None else max(kernel.shape[-1],
                                                                backward_kernel.shape[-1])
    return fft_length(length + taps - 1)


def causal_conv(u, kernel, backward_kernel=None):
    """y[:, t, h] = sum_{s <= t} kernel[h, s] u[:, t - s, h], by FFT in float32.

    With `backward_kernel`, y also gets sum_{s >= t} backward_kernel[h, s - t] u[:, s, h]
    (the anti-causal part of a bidirectional layer) from the same FFTs.

    Args:
        u: (batch, length, channels).
        kernel: (channels, kernel_length), kernel_length <= length.
        backward_kernel: optional (channels, backward_length), backward_length <= length.

    Returns:
        (batch, length, channels), the dtype of `u`.
    """
    dtype = u.dtype
    length = u.shape[1]
    n = conv_fft_length(length, kernel, backward_kernel)
    x = ops.transpose(ops.cast(u, "float32"), (0, 2, 1))  # (B, H, L)
    x_re, x_im = ops.rfft(x, fft_length=n)
    k_re, k_im = ops.rfft(ops.cast(kernel, "float32"), fft_length=n)
    if backward_kernel is not None:  # + conj(rfft(K_b)): its taps j at n - j
        kb_re, kb_im = ops.rfft(ops.cast(backward_kernel, "float32"), fft_length=n)
        k_re, k_im = k_re + kb_re, k_im - kb_im
    y_re = x_re * k_re - x_im * k_im
    y_im = x_re * k_im + x_im * k_re
    y = ops.irfft((y_re, y_im), fft_length=n)[..., :length]
    return ops.cast(ops.transpose(y, (0, 2, 1)), dtype)


# --------------------------------------------------------------------------------------
# vandermonde_kernel

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
        _, stacked = ops.scan(step, ops.zeros((rows, chunk), "float32"), starts)  # (full, rows, chunk)
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
            return (ops.matmul(gk, ops.transpose(v_re)), ops.matmul(gk, ops.transpose(v_im)),
                    ops.matmul(glk, ops.transpose(v_re)), ops.matmul(glk, ops.transpose(v_im)))
        return tuple(ops.einsum("hl,hnl->hn", x, v) for x, v in
                     ((gk, v_re), (gk, v_im), (glk, v_re), (glk, v_im)))

    zeros = tuple(ops.zeros(c_re.shape, "float32") for _ in range(4))
    gc_re, gc_im, a_cos, a_sin = _sum_chunks(term, g, c_re.shape[0], length, chunk, zeros)
    # K = sum c_re V_re - c_im V_im
    d_c_re = gc_re
    d_c_im = -gc_im
    d_lam_re = c_re * a_cos - c_im * a_sin           # (H, N)
    d_lam_im = -c_re * a_sin - c_im * a_cos
    if shared:
        d_lam_re = ops.sum(d_lam_re, axis=0)
        d_lam_im = ops.sum(d_lam_im, axis=0)
    return d_lam_re, d_lam_im, d_c_re, d_c_im
