"""torch's ``causal_conv`` path ``"fft"``.

The reference path transposes u to (B, H, L) for `keras.ops.rfft` (last axis only) and
back; `torch.fft` transforms axis 1 where it lies, with one complex multiply instead of
four real ones on (real, imag) planes.
"""

import torch

from keras_ssm.ops import registry
from keras_ssm.ops.reference.convolution import conv_fft_length
from keras_ssm.ops.reference.convolution import document_conv


@registry.register("causal_conv", "fft", backends=("torch",), priority=lambda *a, **k: 1.0)
def causal_conv_fft(u, kernel, backward_kernel=None, segment_ids=None):
    """y[:, t, h] = sum_{s <= t} kernel[h, s] u[:, t - s, h], by FFT along the time axis.

    Args:
        u: (batch, length, channels) tensor.
        kernel: (channels, kernel_length) tensor, kernel_length <= length.
        backward_kernel: optional (channels, backward_length) tensor: adds
            sum_{s >= t} backward_kernel[h, s - t] u[:, s, h] from the same FFTs
            (`keras_ssm.ops.reference.convolution.conv_fft_length`).
        segment_ids: optional (batch, length) int, packed documents: no tap crosses a
            boundary. An FFT cannot cut the kernel per document, so the taps are then
            summed directly (`keras_ssm.ops.reference.convolution.document_conv`, exact,
            O(L · kernel_length)).

    Returns:
        (batch, length, channels), the dtype of `u` (computed in float32).

    Example:

    ```python
    import torch
    y = causal_conv_fft(torch.ones(2, 8, 3), torch.ones(3, 8))  # y[:, t] == t + 1
    ```
    """
    u = torch.as_tensor(u)
    if segment_ids is not None:
        return document_conv(u, kernel, segment_ids, backward_kernel)
    length = u.shape[1]
    n = conv_fft_length(length, kernel, backward_kernel)
    u_f = torch.fft.rfft(u.float(), n=n, dim=1)
    k_f = torch.fft.rfft(torch.as_tensor(kernel, device=u.device).float(), n=n, dim=1)
    if backward_kernel is not None:  # its taps j at n - j (`conv_fft_length`)
        kb = torch.as_tensor(backward_kernel, device=u.device).float()
        k_f = k_f + torch.fft.rfft(kb, n=n, dim=1).conj()
    k_f = k_f.T  # (n // 2 + 1, channels)
    y = torch.fft.irfft(u_f * k_f, n=n, dim=1)[:, :length]
    return y.to(u.dtype)
