"""The public ``causal_conv`` op: its checks, its dispatch and its ``keras.Operation``."""

import keras

from keras_ssm.ops import common
from keras_ssm.ops import registry


class CausalConv(keras.Operation):
    """The `causal_conv` op as a `keras.Operation` (symbolic calls)."""

    def call(self, u, kernel, backward_kernel=None):
        return _dispatch(u, kernel, backward_kernel)

    def compute_output_spec(self, u, kernel, backward_kernel=None):
        _check(u, kernel, backward_kernel)
        return keras.KerasTensor(tuple(u.shape), dtype=u.dtype)


def causal_conv(u, kernel, backward_kernel=None):
    """Causal convolution y[:, t, h] = sum_{s<=t} kernel[h, s] * u[:, t-s, h].

    Computed by FFT with zero padding (no wrap-around), in float32 whatever the
    input dtype; the output has `u`'s dtype.

    With `backward_kernel` the convolution is two-sided, as in a bidirectional layer:
    y[:, t, h] also gets sum_{s>=t} backward_kernel[h, s-t] * u[:, s, h], as one circular
    product of size >= L + k - 1 with the backward taps at its end: one rfft of u and one
    irfft, where the two convolutions `causal_conv(u, K) + flip(causal_conv(flip(u), K_b))`
    that it equals take two of each, and no flips.

    Args:
        u: (batch, length, channels).
        kernel: (channels, kernel_length) with kernel_length <= length.
        backward_kernel: optional (channels, backward_length) with
            backward_length <= length; its tap 0 weighs u_t like kernel's tap 0 (a
            layer whose backward system sees only the future passes a zero tap 0).

    Returns:
        (batch, length, channels).

    Example:

    ```python
    u = keras.random.normal((2, 64, 4))
    k = keras.ops.ones((4, 8)) / 8.0          # moving average of the last 8 steps
    y = keras_ssm.ops.causal_conv(u, k)
    both = keras_ssm.ops.causal_conv(u, k, backward_kernel=k)   # ... and of the next 8
    ```
    """
    if common.any_symbolic(u, kernel, backward_kernel):
        return CausalConv().symbolic_call(u, kernel, backward_kernel)
    _check(u, kernel, backward_kernel)
    return _dispatch(u, kernel, backward_kernel)


def _dispatch(u, kernel, backward_kernel):
    args, kwargs = _arguments(u, kernel, backward_kernel)
    return registry.dispatch("causal_conv", *args, **kwargs)


def _arguments(u, kernel, backward_kernel):
    if backward_kernel is None:  # implementations registered before the keyword still apply
        return (u, kernel), {}
    return (u, kernel), {"backward_kernel": backward_kernel}


def canonical_arguments(u, kernel, backward_kernel=None):
    """(args, kwargs) as the implementations receive them (`keras_ssm.ops.resolve`)."""
    _check(u, kernel, backward_kernel)
    return _arguments(u, kernel, backward_kernel)


def _check(u, kernel, backward_kernel=None):
    """Validate the shapes of `causal_conv`'s arguments."""
    u_shape = tuple(u.shape)
    if len(u_shape) != 3:
        raise ValueError(f"`u` must have shape (batch, length, channels), got shape {u_shape}.")
    for name, k in (("kernel", kernel), ("backward_kernel", backward_kernel)):
        if k is None:
            continue
        k_shape = tuple(k.shape)
        if len(k_shape) != 2:
            raise ValueError(
                f"`{name}` must have shape (channels, kernel_length), got shape {k_shape}."
            )
        if None not in (u_shape[2], k_shape[0]) and u_shape[2] != k_shape[0]:
            raise ValueError(
                f"`{name}` has {k_shape[0]} channels but `u` has {u_shape[2]}: {name} must "
                f"be (channels, kernel_length) = ({u_shape[2]}, ...)."
            )
        if None not in (u_shape[1], k_shape[1]) and k_shape[1] > u_shape[1]:
            raise ValueError(
                f"`{name}` length {k_shape[1]} exceeds the sequence length {u_shape[1]}; "
                f"truncate it to {name}[:, :{u_shape[1]}]."
            )


__all__ = ["CausalConv", "causal_conv"]
