"""The reference ``causal_conv``: by FFT in ``keras.ops``, and the FFT sizes every path uses.

Example:

```python
from keras_ssm.ops.reference.convolution import causal_conv, fft_length
fft_length(97)                                              # 100 = 2^2 5^2
y = causal_conv(keras.ops.ones((2, 8, 3)), keras.ops.ones((3, 8)))   # y[:, t] == t + 1
```
"""

from keras import ops


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
    taps = (
        kernel.shape[-1]
        if backward_kernel is None
        else max(kernel.shape[-1], backward_kernel.shape[-1])
    )
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
