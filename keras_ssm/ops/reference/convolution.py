"""The reference ``causal_conv``: by FFT in ``keras.ops``, and the FFT sizes every path uses.

Example:

```python
from keras_ssm.ops.reference.convolution import causal_conv, fft_length
fft_length(97)                                              # 100 = 2^2 5^2
y = causal_conv(keras.ops.ones((2, 8, 3)), keras.ops.ones((3, 8)))   # y[:, t] == t + 1
```
"""

import numpy as np
from keras import ops

from keras_ssm.ops import segments


def fft_length(n):
    """Smallest 2^i 3^j 5^k >= n: a fast FFT size.

    A symbolic `n` (a length that torch.compile traces as a symbol) gets the next power
    of two instead: one compiled graph serves a whole octave of lengths, where the
    5-smooth size would recompile every few percent of length.
    """
    best = 1
    while best < n:
        best *= 2
    if not isinstance(n, (int, np.integer)):
        return best
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
    taps = (
        kernel.shape[-1]
        if backward_kernel is None
        else max(kernel.shape[-1], backward_kernel.shape[-1])
    )
    return fft_length(length + taps - 1)


def causal_conv(u, kernel, backward_kernel=None, segment_ids=None):
    """y[:, t, h] = sum_{s <= t} kernel[h, s] u[:, t - s, h], by FFT in float32.

    With `backward_kernel`, y also gets sum_{s >= t} backward_kernel[h, s - t] u[:, s, h]
    (the anti-causal part of a bidirectional layer) from the same FFTs. With
    `segment_ids` (packed documents) no tap crosses a document boundary: summed
    directly by `document_conv`, exact, O(L · k).

    Args:
        u: (batch, length, channels).
        kernel: (channels, kernel_length), kernel_length <= length.
        backward_kernel: optional (channels, backward_length), backward_length <= length.
        segment_ids: optional (batch, length) int, packed documents.

    Returns:
        (batch, length, channels), the dtype of `u`.
    """
    if segment_ids is not None:
        return document_conv(u, kernel, segment_ids, backward_kernel)
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


# Steps per block of the document-restricted convolution (`document_conv`).
DOCUMENT_BLOCK = 32


def document_conv(u, kernel, segment_ids, backward_kernel=None, block=DOCUMENT_BLOCK):
    """`causal_conv` of packed documents: no tap crosses a document boundary.

    y[:, t, h] = sum_{s <= p_t} kernel[h, s] u[:, t - s, h], p_t the steps since the start
    of t's document (`keras_ssm.ops.segments.positions`), plus, with `backward_kernel`,
    sum_{s <= q_t} backward_kernel[h, s] u[:, t + s, h], q_t the steps to its end.

    An FFT product cannot cut a length-k kernel at each document's start, so this sums
    the taps directly, exactly, as block Toeplitz products: time is cut into blocks of
    `block` steps, and for each block lag d (0, 1, ..., about k / block) every output
    block takes a (block x block) Toeplitz matrix of taps d·block - block + 1 ..
    d·block + block - 1, masked where a tap reaches before the document's start, times
    the input block d blocks earlier. Cost O(batch · L · H · k) multiply-adds (the FFT
    path: O(batch · L · H · log L)) and O(batch · L · (H + block)) memory per block lag;
    a layer's recurrence mode (O(batch · L · H · N)) is the fast exact choice for packed
    rows with long kernels.

    Args:
        u: (batch, length, channels).
        kernel: (channels, k), k <= length.
        segment_ids: (batch, length) int.
        backward_kernel: optional (channels, k_b), k_b <= length.
        block: steps per block.

    Returns:
        (batch, length, channels), the dtype of `u` (computed in float32).
    """
    dtype = u.dtype
    x = ops.cast(u, "float32")
    y = _restricted(x, ops.cast(kernel, "float32"), segments.positions(segment_ids), block)
    if backward_kernel is not None:
        flip = lambda t: ops.flip(t, axis=1)
        ends = segments.positions(flip(segment_ids))
        y = y + flip(_restricted(flip(x), ops.cast(backward_kernel, "float32"), ends, block))
    return ops.cast(y, dtype)


def _restricted(u, kernel, positions, block):
    """y[:, t, h] = sum_{s <= min(positions[:, t], k - 1)} kernel[h, s] u[:, t - s, h]."""
    length, channels = u.shape[1], u.shape[2]
    taps = kernel.shape[1]
    w = max(1, min(block, length))
    blocks = -(-length // w)
    pad = blocks * w - length
    if pad:
        u = ops.pad(u, ((0, 0), (0, pad), (0, 0)))
        positions = ops.pad(positions, ((0, 0), (0, pad)))
    u_blocks = ops.reshape(u, (-1, blocks, w, channels))
    pos = ops.reshape(positions, (-1, blocks, w))[..., None]  # (B, blocks, w, 1)
    within = (np.arange(w)[:, None] - np.arange(w)[None, :]).astype("int32")  # t' - s'
    y = None
    for d in range(min(blocks, (taps + w - 2) // w + 1)):
        lag = d * w + within  # (w, w): the tap joining input s' of block i - d to output t'
        inside = (lag >= 0) & (lag < taps)
        if not inside.any():
            continue
        index = ops.convert_to_tensor(np.clip(lag, 0, taps - 1))
        toeplitz = ops.take(kernel, index, axis=1)  # (H, w, w)
        toeplitz = toeplitz * ops.convert_to_tensor(inside.astype("float32"))
        lag = ops.convert_to_tensor(lag[None, None])
        reach = ops.cast(ops.less_equal(lag, pos), "float32")  # (B, blocks, w, w)
        source = u_blocks
        if d:
            source = ops.concatenate([ops.zeros_like(u_blocks[:, :d]), u_blocks[:, :-d]], axis=1)
        term = ops.einsum("hts,bits,bish->bith", toeplitz, reach, source)
        y = term if y is None else y + term
    y = ops.reshape(y, (-1, blocks * w, channels))
    return y[:, :length] if pad else y
