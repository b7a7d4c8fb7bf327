"""The hot ops of keras-ssm, each dispatched through the implementation registry.

- :func:`linear_recurrence`: h_t = a_t * h_{t-1} + b_t (diagonal, real or complex).
- :func:`causal_conv`: causal convolution by FFT.
- :func:`vandermonde_kernel`: K[h, l] = Re(sum_n c[h, n] lambda[(h,) n]^l), chunked.

`implementations(op)` lists the registered names, `resolve(op, *args)` names the one
that would run; `keras_ssm.config` forces a choice.

Like `keras.ops`, each op also takes symbolic inputs (`keras.Input` tensors): it then
returns `KerasTensor`s and records a `keras.Operation` (`LinearRecurrence`,
`CausalConv`, `VandermondeKernel`), so the ops build functional models on every
backend. Eager calls go straight to the implementation.

Example:

```python
inputs = keras.Input((None, 8))                       # (batch, length, state)
h = keras_ssm.ops.linear_recurrence(keras.ops.full((8,), 0.9), inputs)
model = keras.Model(inputs, h)
y = model(np.ones((2, 5, 8), "float32"))              # (2, 5, 8)
```
"""

import keras as _keras

from keras_ssm.ops import common as _common
from keras_ssm.ops import registry as _registry
from keras_ssm.ops.registry import OPS
from keras_ssm.ops.registry import implementations
from keras_ssm.ops.registry import register


def _any_symbolic(*args):
    """True when any argument (a tensor or a (real, imag) pair) is a KerasTensor.

    A plain loop rather than `keras.tree.flatten`: eager calls pay about a microsecond.
    """
    for x in args:
        parts = x if isinstance(x, (tuple, list)) else (x,)
        for part in parts:
            if isinstance(part, _keras.KerasTensor):
                return True
    return False


def _unlinked(x):
    """A KerasTensor (or pair) like `x` without graph history, for argument checks."""
    if x is None:
        return None
    return _common.map_pair(lambda t: _keras.KerasTensor(tuple(t.shape), dtype=t.dtype), x)


def _spec_like(x, shape, dtype):
    """KerasTensor(s) of `shape` and `dtype`: a pair when `x` is a pair."""
    if x:
        return (_keras.KerasTensor(shape, dtype=dtype), _keras.KerasTensor(shape, dtype=dtype))
    return _keras.KerasTensor(shape, dtype=dtype)


class LinearRecurrence(_keras.Operation):
    """The `linear_recurrence` op as a `keras.Operation` (symbolic calls)."""

    def __init__(self, reverse=False, return_final_state=False, *, name=None):
        super().__init__(name=name)
        self.reverse = bool(reverse)
        self.return_final_state = bool(return_final_state)

    def call(self, a, b, initial_state=None):
        return _linear_recurrence(a, b, self.reverse, initial_state, self.return_final_state)

    def compute_output_spec(self, a, b, initial_state=None):
        _common.prepare_recurrence(_unlinked(a), _unlinked(b), _unlinked(initial_state))
        shape = _common.pair_shape(b, "b")
        dtype = _common.pair_dtype(b)
        complex_mode = any(_common.is_pair(x) for x in (a, b, initial_state))
        h = _spec_like(complex_mode, shape, dtype)
        if self.return_final_state:
            return h, _spec_like(complex_mode, (shape[0],) + shape[2:], dtype)
        return h


class CausalConv(_keras.Operation):
    """The `causal_conv` op as a `keras.Operation` (symbolic calls)."""

    def call(self, u, kernel, backward_kernel=None):
        return _dispatch_causal_conv(u, kernel, backward_kernel)

    def compute_output_spec(self, u, kernel, backward_kernel=None):
        _check_causal_conv(u, kernel, backward_kernel)
        return _keras.KerasTensor(tuple(u.shape), dtype=u.dtype)


class VandermondeKernel(_keras.Operation):
    """The `vandermonde_kernel` op as a `keras.Operation` (symbolic calls)."""

    def __init__(self, length, *, name=None):
        super().__init__(name=name)
        self.length = length

    def call(self, log_lambda, c):
        return _vandermonde_kernel(log_lambda, c, self.length)

    def compute_output_spec(self, log_lambda, c):
        c_shape = _check_vandermonde(log_lambda, c, self.length)
        return _keras.KerasTensor((c_shape[0], self.length), dtype="float32")


def resolve(op, *args, **kwargs):
    """Name of the implementation that `op` would use for these arguments.

    Arguments are checked and canonicalized exactly as the op itself does.

    Example:

    ```python
    a = keras.ops.full((4,), 0.9)
    b = keras.ops.ones((2, 16, 4))
    keras_ssm.ops.resolve("linear_recurrence", a, b)
    ```
    """
    _registry.check_op(op)
    if op == "linear_recurrence":
        a, b = args[:2]
        a, b, h0, _ = _common.prepare_recurrence(a, b, kwargs.get("initial_state"))
        kwargs = dict(kwargs, initial_state=h0)
        args = (a, b) + tuple(args[2:])
    return _registry.resolve(op, *args, **kwargs)


def linear_recurrence(a, b, *, reverse=False, initial_state=None, return_final_state=False):
    """Diagonal linear recurrence h_t = a_t * h_{t-1} + b_t along axis 1.

    Complex values are (real, imag) pairs of real tensors, for `a`, `b` and
    `initial_state` alike; the result is then a pair. Low-precision inputs
    (float16, bfloat16) are computed in float32; the output has `b`'s dtype.

    Args:
        a: (batch, length, *state), one coefficient per step, or (*state) =
            `b.shape[2:]` for a time-invariant system (never broadcast over length).
        b: (batch, length, *state), the inputs.
        reverse: if True, h_t = a_t * h_{t+1} + b_t, from the last step to the first.
        initial_state: (batch, *state), the state before the first processed step
            (zero if None).
        return_final_state: if True, also return the state after the last processed
            step (h at index -1, or 0 when `reverse`).

    Returns:
        h: like `b`; and `(h, h_last)` when `return_final_state`.

    Raises:
        ValueError: wrong ranks or shapes, non-float dtypes.

    Example:

    ```python
    lam = (keras.ops.full((8,), 0.9), keras.ops.full((8,), 0.1))   # time-invariant a
    u = (keras.ops.ones((2, 100, 8)), keras.ops.zeros((2, 100, 8)))
    h_re, h_im = keras_ssm.ops.linear_recurrence(lam, u)           # (2, 100, 8) each
    ```
    """
    if _any_symbolic(a, b, initial_state):
        op = LinearRecurrence(reverse=reverse, return_final_state=return_final_state)
        return op.symbolic_call(a, b, initial_state=initial_state)
    return _linear_recurrence(a, b, reverse, initial_state, return_final_state)


def _linear_recurrence(a, b, reverse, initial_state, return_final_state):
    a, b, h0, out_dtype = _common.prepare_recurrence(a, b, initial_state)
    result = _registry.dispatch(
        "linear_recurrence", a, b, reverse=reverse, initial_state=h0,
        return_final_state=return_final_state,
    )
    return _common.cast_result(result, out_dtype, return_final_state)


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
    if _any_symbolic(u, kernel, backward_kernel):
        return CausalConv().symbolic_call(u, kernel, backward_kernel)
    _check_causal_conv(u, kernel, backward_kernel)
    return _dispatch_causal_conv(u, kernel, backward_kernel)


def _dispatch_causal_conv(u, kernel, backward_kernel):
    if backward_kernel is None:  # implementations registered before the keyword still apply
        return _registry.dispatch("causal_conv", u, kernel)
    return _registry.dispatch("causal_conv", u, kernel, backward_kernel=backward_kernel)


def _check_causal_conv(u, kernel, backward_kernel=None):
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
                f"`{name}` must have shape (channels, kernel_length), got shape {k_shape}.")
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


def vandermonde_kernel(log_lambda, c, length):
    """Kernel K[h, l] = Re(sum_n c[h, n] * exp(log_lambda[(h,) n] * l)), l < length.

    Computed in chunks over `l` (forward and gradient), so memory stays bounded:
    N = 4096 states at L = 262,144 never allocate N*L values at once.

    Args:
        log_lambda: (real, imag) pair of shape (N,) (shared by all H rows) or (H, N),
            the complex logarithms of the eigenvalues λ.
        c: (real, imag) pair of shape (H, N), the output weights (B folded in).
        length: int > 0, the number of taps L.

    Returns:
        K: (H, L) float32.

    Example:

    ```python
    log_lam = (keras.ops.full((4,), -0.01), keras.ops.arange(4, dtype="float32"))
    c = (keras.ops.ones((3, 4)), keras.ops.zeros((3, 4)))
    k = keras_ssm.ops.vandermonde_kernel(log_lam, c, 1024)   # (3, 1024)
    ```
    """
    if _any_symbolic(log_lambda, c):
        _check_vandermonde(log_lambda, c, length)
        return VandermondeKernel(length).symbolic_call(log_lambda, c)
    return _vandermonde_kernel(log_lambda, c, length)


def _vandermonde_kernel(log_lambda, c, length):
    log_lambda = _common.as_pair(log_lambda)
    c = _common.as_pair(c)
    _check_vandermonde(log_lambda, c, length)
    return _registry.dispatch("vandermonde_kernel", log_lambda, c, length)


def _check_vandermonde(log_lambda, c, length):
    """Validate shapes (tensors or pairs); returns the shape (H, N) of `c`."""
    lam_shape = _common.pair_shape(log_lambda, "log_lambda")
    c_shape = _common.pair_shape(c, "c")
    if len(c_shape) != 2:
        raise ValueError(f"`c` must have shape (H, N), got {c_shape}.")
    if lam_shape not in ((c_shape[1],), c_shape):
        raise ValueError(
            f"`log_lambda` must have shape (N,) = ({c_shape[1]},) or (H, N) = {c_shape} "
            f"to match `c`, got {lam_shape}."
        )
    if not isinstance(length, int) or length <= 0:
        raise ValueError(f"`length` must be a positive int, got {length!r}.")
    return c_shape


__all__ = [
    "CausalConv",
    "LinearRecurrence",
    "OPS",
    "VandermondeKernel",
    "causal_conv",
    "implementations",
    "linear_recurrence",
    "register",
    "resolve",
    "vandermonde_kernel",
]
