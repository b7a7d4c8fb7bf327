"""The public ``vandermonde_kernel`` op: its checks, its dispatch and its ``keras.Operation``."""

import keras

from keras_ssm.ops import common
from keras_ssm.ops import registry


class VandermondeKernel(keras.Operation):
    """The `vandermonde_kernel` op as a `keras.Operation` (symbolic calls)."""

    def __init__(self, length, *, name=None):
        super().__init__(name=name)
        self.length = length

    def call(self, log_lambda, c):
        return _vandermonde_kernel(log_lambda, c, self.length)

    def compute_output_spec(self, log_lambda, c):
        c_shape = _check(log_lambda, c, self.length)
        return keras.KerasTensor((c_shape[0], self.length), dtype="float32")


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
    if common.any_symbolic(log_lambda, c):
        _check(log_lambda, c, length)
        return VandermondeKernel(length).symbolic_call(log_lambda, c)
    return _vandermonde_kernel(log_lambda, c, length)


def _vandermonde_kernel(log_lambda, c, length):
    args, kwargs = canonical_arguments(log_lambda, c, length)
    return registry.dispatch("vandermonde_kernel", *args, **kwargs)


def canonical_arguments(log_lambda, c, length):
    """(args, kwargs) as the implementations receive them (`keras_ssm.ops.resolve`)."""
    log_lambda = common.as_pair(log_lambda)
    c = common.as_pair(c)
    _check(log_lambda, c, length)
    return (log_lambda, c, length), {}


def _check(log_lambda, c, length):
    """Validate shapes (tensors or pairs); returns the shape (H, N) of `c`."""
    lam_shape = common.pair_shape(log_lambda, "log_lambda")
    c_shape = common.pair_shape(c, "c")
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


__all__ = ["VandermondeKernel", "vandermonde_kernel"]
