"""``vandermonde_kernel`` by a factorized power table: small power tables and one matmul.

A fast path written in ``keras.ops`` alone (so it runs on every backend), registered as
``"factorized"`` beside the chunked ground truth of :mod:`keras_ssm.ops.reference.vandermonde`.

Writing each tap l = sT + t (block s, offset t < T) splits every power of λ in two:

    λ^l = λ^{sT} · λ^t,     K[h, sT + t] = Re Σ_n (c[h, n] λ[(h,) n]^{sT}) · λ[(h,) n]^t

so the kernel is a matrix product P @ Q of

- ``P[h, s, n] = c[h, n] · exp(sT · log λ[(h,) n])``: (H, S, N), S = ceil(L / T) blocks,
  one exp/cos/sin per block;
- ``Q[(h,) n, t] = λ[(h,) n]^t``: (N, T) shared, or (H, N, T) per row, built by doubling
  from the first ``DIRECT_POWERS`` exponentials (complex multiplications only);

with T ≈ 4·sqrt(L). Only about N·(S + 8) (H·N·(S + 8) per row) exp/cos/sin are taken
instead of the N·L (H·N·L) of the direct Vandermonde product, and the contraction over n
is one real matmul with 2N terms (Re P Re Q - Im P Im Q), batched over h for per-row λ
(DSS), where the direct per-row form is an elementwise reduction. Gradients come from
each backend's autodiff of this program. It holds P and Q (2·H·N·S + 2·(H·)N·T floats)
at once, so it applies while that stays under ``MAX_TABLE_ELEMENTS``; longer kernels
with many states take the chunked ``reference``, which bounds memory.

Accuracy: a block power carries the float32 rounding of sT·log λ, as the direct form
does for l·log λ; an offset power t >= 8 about 3t/8 epsilons more (one rounding per
squaring), which stays inside the direct form's own error bound t·|log λ|·eps for
|log λ| > 0.4 and is at most 3·T/8 epsilons (about 5e-5 relative at L = 65,536)
otherwise.
"""

import math

from keras import ops

# P and Q together: 2^26 float32 values = 256 MiB (autodiff keeps both for the gradient;
# DLR at H = 32, N = 4096, L = 262,144 needs 2^25.6 and peaks at 1.1 GiB forward+backward).
MAX_TABLE_ELEMENTS = 1 << 26
# Offsets below this are exponentials; the rest of the offset table doubles from them.
DIRECT_POWERS = 8


def block_size(length):
    """T, the offsets per block: a power of two near 4·sqrt(length), at most the next
    power of two of `length` (1 for length 1). Offsets cost complex multiplications,
    blocks cost exp/cos/sin, so blocks are kept fewer than offsets."""
    if length <= 1:
        return 1
    t = 1 << max(0, round(math.log2(4.0 * math.sqrt(length))))
    return min(t, 1 << math.ceil(math.log2(length)))


def table_elements(log_lambda_shape, c_shape, length):
    """Real values held by P and Q for these shapes (the memory this path needs)."""
    rows, states = c_shape
    t = block_size(length)
    s = -(-length // t)
    per_row = len(log_lambda_shape) == 2
    return 2 * (rows * s * states + (rows if per_row else 1) * states * t)


def supports(log_lambda, c, length):
    """None when the tables fit in MAX_TABLE_ELEMENTS, else why not."""
    shape = tuple(log_lambda[0].shape)
    needed = table_elements(shape, tuple(c[0].shape), length)
    if needed > MAX_TABLE_ELEMENTS:
        return (
            f"its power tables need {needed} values (> {MAX_TABLE_ELEMENTS}); "
            f"the chunked reference bounds memory"
        )
    return None


def _powers(lam_re, lam_im, steps):
    """exp(log λ · steps) as a pair: lam (*, N), steps (K,) -> (*, N, K)."""
    mag = ops.exp(lam_re[..., None] * steps)
    phase = lam_im[..., None] * steps
    return mag * ops.cos(phase), mag * ops.sin(phase)


def _powers_doubling(lam_re, lam_im, count):
    """λ^t for t < count as a pair (*, N, count), with few exp/cos/sin.

    The first DIRECT_POWERS powers are exponentials; then the table doubles,
    [x, x · λ^m] with λ^m squared at each step. A power t >= DIRECT_POWERS carries a
    relative error of about 3 t / DIRECT_POWERS float32 epsilons (one rounding per
    squaring), below the t·|log λ| epsilons of rounding the phase t·Im log λ directly
    for |log λ| > 0.4.
    """
    direct = min(count, DIRECT_POWERS)
    # dtype given: a length traced as a symbol by torch.compile never meets a dtype lookup
    x_re, x_im = _powers(lam_re, lam_im, ops.arange(direct, dtype="float32"))
    m_re, m_im = _powers(lam_re, lam_im, ops.arange(direct, direct + 1, dtype="float32"))
    m_re, m_im = m_re[..., 0], m_im[..., 0]  # λ^m, m = current size
    while x_re.shape[-1] < count:
        y_re = x_re * m_re[..., None] - x_im * m_im[..., None]
        y_im = x_re * m_im[..., None] + x_im * m_re[..., None]
        x_re = ops.concatenate([x_re, y_re], axis=-1)
        x_im = ops.concatenate([x_im, y_im], axis=-1)
        m_re, m_im = m_re * m_re - m_im * m_im, 2.0 * m_re * m_im
    return x_re[..., :count], x_im[..., :count]


def _powers_leading(lam_re, lam_im, steps):
    """exp(log λ · steps) with the steps first: lam (N,) or (H, N) -> (S, N) or (H, S, N)."""
    mag = ops.exp(steps[:, None] * lam_re[..., None, :])
    phase = steps[:, None] * lam_im[..., None, :]
    return mag * ops.cos(phase), mag * ops.sin(phase)


def vandermonde_kernel(log_lambda, c, length):
    """K[h, l] = Re(Σ_n c[h, n] exp(log_lambda[(h,) n] l)) as P @ Q (see the module).

    Arguments and result as `keras_ssm.ops.vandermonde_kernel` ((re, im) pairs).

    Example:

    ```python
    # one eigenvalue set per row: log_lambda (H, N) = (3, 4)
    log_lam = (keras.ops.full((3, 4), -0.01), keras.ops.ones((3, 4)))
    c = (keras.ops.ones((3, 4)), keras.ops.zeros((3, 4)))
    k = vandermonde_kernel(log_lam, c, 100)   # (3, 100)
    ```
    """
    lam_re, lam_im = (ops.cast(t, "float32") for t in log_lambda)
    c_re, c_im = (ops.cast(t, "float32") for t in c)
    shared = len(lam_re.shape) == 1
    rows, states = c_re.shape
    t = block_size(length)
    s = -(-length // t)
    starts = ops.arange(s, dtype="float32") * float(t)

    q_re, q_im = _powers_doubling(lam_re, lam_im, t)  # (N, T) or (H, N, T)
    r_re, r_im = _powers_leading(lam_re, lam_im, starts)  # (S, N) or (H, S, N)
    # P[h, s, n] = c[h, n] r[(h,) s, n]; only Re(P Q) is needed: [Re P, -Im P] @ [Re Q; Im Q].
    c_re, c_im = c_re[:, None, :], c_im[:, None, :]  # (H, 1, N)
    p = ops.concatenate([c_re * r_re - c_im * r_im, -(c_re * r_im + c_im * r_re)], axis=-1)
    q = ops.concatenate([q_re, q_im], axis=-2)  # (2N, T) or (H, 2N, T)
    if shared:
        k = ops.matmul(ops.reshape(p, (rows * s, 2 * states)), q)  # (H S, T)
    else:
        k = ops.matmul(p, q)  # (H, S, T)
    k = ops.reshape(k, (rows, s * t))
    return k[:, :length] if s * t != length else k


def priority(log_lambda, c, length):
    """Above the reference wherever it applies."""
    return 1.0
