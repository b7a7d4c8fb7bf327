"""Argument checking and complex-pair helpers shared by every implementation.

Complex values travel as ``(real, imag)`` tuples of real tensors. The public ops
validate shapes here, once, so that each implementation can assume canonical inputs:

- for ``linear_recurrence``: ``a`` and ``b`` are both real tensors or both pairs,
  float32 (or float64); ``a`` has the shape of ``b`` (per step) or ``b.shape[2:]``
  (time-invariant); ``initial_state`` is None or of shape ``(batch, *state)`` and of
  the same kind.
"""

import keras
from keras import ops

LOW_PRECISION = ("float16", "bfloat16")


def is_pair(x):
    """True if `x` is a (real, imag) pair."""
    return isinstance(x, (tuple, list))


def _static_shape(x, name):
    shape = getattr(x, "shape", None)
    if shape is None:
        raise ValueError(f"`{name}` must be a tensor or a (real, imag) pair of tensors, got {type(x).__name__}.")
    return tuple(shape)


def pair_shape(x, name):
    """Static shape of a tensor or of a (real, imag) pair (whose parts must agree)."""
    if is_pair(x):
        if len(x) != 2:
            raise ValueError(f"`{name}` as a complex value must be a (real, imag) pair, got {len(x)} items.")
        re_shape = _static_shape(x[0], f"{name}[0]")
        im_shape = _static_shape(x[1], f"{name}[1]")
        if re_shape != im_shape:
            raise ValueError(
                f"The real and imaginary parts of `{name}` must have the same shape, "
                f"got {re_shape} and {im_shape}."
            )
        return re_shape
    return _static_shape(x, name)


def pair_dtype(x):
    part = x[0] if is_pair(x) else x
    return keras.backend.standardize_dtype(part.dtype)


def map_pair(fn, x):
    """Apply `fn` to each part of a pair (or to a plain tensor)."""
    if is_pair(x):
        return (fn(x[0]), fn(x[1]))
    return fn(x)


def as_pair(x):
    """A (real, imag) pair from a pair or a real tensor (imag = 0)."""
    if is_pair(x):
        return tuple(x)
    return (x, ops.zeros_like(x))


def compute_dtype_for(dtype):
    """The dtype a recurrence runs in: float32 for low-precision inputs."""
    return "float32" if dtype in LOW_PRECISION else dtype


def _dims_compatible(expected, got):
    return len(expected) == len(got) and all(
        e is None or g is None or e == g for e, g in zip(expected, got)
    )


def prepare_recurrence(a, b, initial_state):
    """Validate and canonicalize `linear_recurrence` arguments.

    Returns:
        (a, b, initial_state, out_dtype): the first three cast to the compute dtype
        and of one kind (all pairs when any input is a pair); `out_dtype` is the
        dtype of `b`, which the output takes.
    """
    b_shape = pair_shape(b, "b")
    a_shape = pair_shape(a, "a")
    if len(b_shape) < 3:
        raise ValueError(
            "`b` must have shape (batch, length, *state) with at least one state axis, "
            f"got shape {b_shape}. Add a trailing axis for a scalar state: b[..., None]."
        )
    state_shape = b_shape[2:]
    if not (_dims_compatible(b_shape, a_shape) or _dims_compatible(state_shape, a_shape)):
        raise ValueError(
            f"`a` must have the shape of `b` {b_shape} (one coefficient per step) or "
            f"`b.shape[2:]` = {state_shape} (time-invariant), got {a_shape}."
        )
    complex_mode = is_pair(a) or is_pair(b) or is_pair(initial_state)
    out_dtype = pair_dtype(b)
    if not keras.backend.is_float_dtype(out_dtype):
        raise ValueError(f"`b` must be a floating-point tensor (or pair of them), got dtype {out_dtype}.")
    dtype = compute_dtype_for(out_dtype)
    cast = lambda x: ops.cast(x, dtype)
    if complex_mode:
        a, b = as_pair(a), as_pair(b)
    a, b = map_pair(cast, a), map_pair(cast, b)
    if initial_state is not None:
        h_shape = pair_shape(initial_state, "initial_state")
        expected = (b_shape[0],) + state_shape
        if not _dims_compatible(expected, h_shape):
            raise ValueError(
                f"`initial_state` must have shape (batch, *state) = {expected}, got {h_shape}."
            )
        if complex_mode:
            initial_state = as_pair(initial_state)
        initial_state = map_pair(cast, initial_state)
    return a, b, initial_state, out_dtype


def is_time_invariant(a, b):
    """True when `a` has no batch/length axes (shape b.shape[2:])."""
    return len(pair_shape(a, "a")) == len(pair_shape(b, "b")) - 2


def cast_result(result, dtype, return_final_state):
    cast = lambda x: ops.cast(x, dtype)
    if return_final_state:
        h, last = result
        return map_pair(cast, h), map_pair(cast, last)
    return map_pair(cast, result)
