"""torch's ``causal_conv`` path ``"fft"`` (registered on import by ``keras_ssm.ops.torch``).

The reference path transposes u to (B, H, L) for `keras.ops.rfft` (last axis only) and
back; `torch.fft` transforms axis 1 where it lies, with one complex multiply instead of
four real ones on (real, imag) planes.
"""

import torch

from keras_ssm.ops import reference
from keras_ssm.ops import registry


@registry.register("causal_conv", "fft", backends=("torch",), priority=lambda u, kernel: 1.0)
def causal_conv_fft(u, kernel):
    """y[:, t, h] = sum_{s <= t} kernel[h, s] u[:, t - s, h], by FFT along the time axis.

    Args:
        u: (batch, length, channels) tensor.
        kernel: (channels, kernel_length) tensor, kernel_length <= length.

    Returns:
        (batch, length, channels), the dtype of `u` (computed in float32).

    Example:

    ```python
    import torch
    y = causal_conv_fft(torch.ones(2, 8, 3), torch.ones(3, 8))  # y[:, t] == t + 1
    ```
    """
    u = torch.as_tensor(u)
    kernel = torch.as_tensor(kernel, device=u.device)
    length = u.shape[1]
    n = reference.fft_length(length + kernel.shape[1] - 1)
    u_f = torch.fft.rfft(u.float(), n=n, dim=1)
    k_f = torch.fft.rfft(kernel.float(), n=n, dim=1).T  # (n // 2 + 1, channels)
    y = torch.fft.irfft(u_f * k_f, n=n, dim=1)[:, :length]
    return y.to(u.dtype)
