"""The public ``causal_conv`` op: its checks, its dispatch and its ``keras.Operation``."""

import keras

from keras_ssm.ops import common
from keras_ssm.ops import registry
from keras_ssm.ops import segments


class CausalConv(keras.Operation):
    """The `causal_conv` op as a `keras.Operation` (symbolic calls)."""

    def call(self, u, kernel, backward_kernel=None, segment_ids=None):
        segment_ids = _check(u, kernel, backward_kernel, segment_ids)
        return _dispatch(u, kernel, backward_kernel, segment_ids)

    def compute_output_spec(self, u, kernel, backward_kernel=None, segment_ids=None):
        _check(u, kernel, backward_kernel, segment_ids)
        return keras.KerasTensor(tuple(u.shape), dtype=u.dtype)


def causal_conv(u, kernel, backward_kernel=None, segment_ids=None):
    """Causal convolution y[:, t, h] = sum_{s<=t} kernel[h, s] * u[:, t-s, h].

    Computed by FFT with zero padding (no wrap-around), in float32 whatever the
    input dtype; the output has `u`'s dtype.

    With `backward_kernel` the convolution is two-sided, as in a bidirectional layer:
    y[:, t, h] also gets sum_{s>=t} backward_kernel[h, s-t] * u[:, s, h], as one circular
    product of size >= L + k - 1 with the backward taps at its end: one rfft of u and one
    irfft, where the two convolutions `causal_conv(u, K) + flip(causal_conv(flip(u), K_b))`
    that it equals take two of each, and no flips.

    With `segment_ids` (packed documents) no tap crosses a document boundary, in
    either direction: each document gives exactly its convolution alone. An FFT
    cannot cut the kernel at each document's start, so every path then sums the taps
    directly (`keras_ssm.ops.reference.convolution.document_conv`: exact, block
    Toeplitz products, O(batch · L · channels · kernel_length) instead of the FFT's
    O(batch · L · channels · log L)); for long kernels the SSM layers' recurrence mode
    is the fast exact way to run packed rows.

    Args:
        u: (batch, length, channels).
        kernel: (channels, kernel_length) with kernel_length <= length.
        backward_kernel: optional (channels, backward_length) with
            backward_length <= length; its tap 0 weighs u_t like kernel's tap 0 (a
            layer whose backward system sees only the future passes a zero tap 0).
        segment_ids: optional (batch, length) int, packed documents: a new document
            starts wherever segment_ids[:, t] != segment_ids[:, t-1].

    Returns:
        (batch, length, channels).

    Example:

    ```python
    u = keras.random.normal((2, 64, 4))
    k = keras.ops.ones((4, 8)) / 8.0          # moving average of the last 8 steps
    y = keras_ssm.ops.causal_conv(u, k)
    both = keras_ssm.ops.causal_conv(u, k, backward_kernel=k)   # ... and of the next 8
    ids = keras.ops.convert_to_tensor([[0] * 40 + [1] * 24] * 2)   # two documents a row
    packed = keras_ssm.ops.causal_conv(u, k, segment_ids=ids)
    ```
    """
    if common.any_symbolic(u, kernel, backward_kernel, segment_ids):
        return CausalConv().symbolic_call(u, kernel, backward_kernel, segment_ids)
    segment_ids = _check(u, kernel, backward_kernel, segment_ids)
    return _dispatch(u, kernel, backward_kernel, segment_ids)


def _dispatch(u, kernel, backward_kernel, segment_ids=None):
    args, kwargs = _arguments(u, kernel, backward_kernel, segment_ids)
    return registry.dispatch("causal_conv", *args, **kwargs)


def _arguments(u, kernel, backward_kernel, segment_ids=None):
    # Only the keywords that are set: implementations registered before them still apply.
    kwargs = {"backward_kernel": backward_kernel, "segment_ids": segment_ids}
    return (u, kernel), {key: value for key, value in kwargs.items() if value is not None}


def canonical_arguments(u, kernel, backward_kernel=None, segment_ids=None):
    """(args, kwargs) as the implementations receive them (`keras_ssm.ops.resolve`)."""
    segment_ids = _check(u, kernel, backward_kernel, segment_ids)
    return _arguments(u, kernel, backward_kernel, segment_ids)


def _check(u, kernel, backward_kernel=None, segment_ids=None):
    """Validate the shapes of `causal_conv`'s arguments; returns int32 `segment_ids`."""
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
    if segment_ids is None:
        return None
    return segments.check_segment_ids(segment_ids, u_shape[:2])


__all__ = ["CausalConv", "causal_conv"]
