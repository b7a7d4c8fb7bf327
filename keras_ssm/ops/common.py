"""Canonical arguments, (real, imag) pairs and the complex arithmetic of keras-ssm.

Complex values travel as ``(real, imag)`` tuples of real tensors. This module holds

- the pair helpers (`is_pair`, `map_pair`, `as_pair`, `pair_shape`, ...) and THE complex
  arithmetic on pairs (`cmul`, `cadd`, `conj`, `cexp`, `cexpm1`, `cdiv`), used by the ops,
  their backend paths and the layers alike;
- the argument checks of the public ops, run once, so that each implementation can
  assume canonical inputs: for ``linear_recurrence``, ``a`` and ``b`` are both real
  tensors or both pairs, float32 (or float64); ``a`` has the shape of ``b`` (per step)
  or ``b.shape[2:]`` (time-invariant); ``initial_state`` is None or of shape
  ``(batch, *state)`` and of the same kind;
- the helpers of symbolic calls (`any_symbolic`, `unlinked`, `spec_like`), with which
  each public op records its `keras.Operation` on `KerasTensor` inputs.

Example:

```python
from keras_ssm.ops.common import cmul
x = (keras.ops.ones((3,)), keras.ops.ones((3,)))          # 1 + i
re, im = cmul(x, x)                                       # (1 + i)^2 = 2i: re 0, im 2
```
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
        raise ValueError(
            f"`{name}` must be a tensor or a (real, imag) pair of tensors, got {type(x).__name__}."
        )
    return tuple(shape)


def pair_shape(x, name):
    """Static shape of a tensor or of a (real, imag) pair (whose parts must agree)."""
    if is_pair(x):
        if len(x) != 2:
            raise ValueError(
                f"`{name}` as a complex value must be a (real, imag) pair, got {len(x)} items."
            )
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


def map_pair(fn, x, *rest):
    """`fn` applied part by part: (fn(x[0], *r[0]), fn(x[1], *r[1])) for a pair `x`
    (and `rest` pairs alike), fn(x, *rest) for a plain tensor."""
    if is_pair(x):
        return tuple(fn(*parts) for parts in zip(x, *rest))
    return fn(x, *rest)


def as_pair(x):
    """A (real, imag) pair from a pair or a real tensor (imag = 0)."""
    if is_pair(x):
        return tuple(x)
    return (x, ops.zeros_like(x))


# --------------------------------------------------------------------------------------
# complex arithmetic on pairs; a plain (real) tensor counts as a real number


def cmul(x, y):
    """x * y: (xr + i xi)(yr + i yi) on pairs; real x real stays a real tensor."""
    if not is_pair(x) and not is_pair(y):
        return x * y
    if not is_pair(x):
        return (x * y[0], x * y[1])
    if not is_pair(y):
        return (x[0] * y, x[1] * y)
    return (x[0] * y[0] - x[1] * y[1], x[0] * y[1] + x[1] * y[0])


def cadd(x, y):
    """x + y, part by part (both pairs, or both real)."""
    if is_pair(x):
        return (x[0] + y[0], x[1] + y[1])
    return x + y


def conj(x):
    """The complex conjugate (re, -im) of a pair; a real tensor is its own."""
    return (x[0], -x[1]) if is_pair(x) else x


def cexp(z):
    """exp of a complex pair."""
    mag = ops.exp(z[0])
    return (mag * ops.cos(z[1]), mag * ops.sin(z[1]))


def cexpm1(z):
    """exp(z) - 1 of a complex pair, accurate for small |z|.

    Re = e^x cos y - 1 = expm1(x) cos y - 2 sin²(y/2), Im = e^x sin y.
    """
    x, y = z
    half_sin = ops.sin(0.5 * y)
    return (ops.expm1(x) * ops.cos(y) - 2.0 * half_sin * half_sin, ops.exp(x) * ops.sin(y))


def clog(z):
    """The principal logarithm of a complex pair: (log |z|, arg z), arg in (-π, π]."""
    return (0.5 * ops.log(z[0] * z[0] + z[1] * z[1]), ops.arctan2(z[1], z[0]))


def cdiv(x, y, eps=0.0):
    """x / y for a pair `y` (x a pair or real); with eps > 0, 1/y = conj(y) / (|y|^2 + eps)."""
    den = y[0] * y[0] + y[1] * y[1] + eps
    inv = (y[0] / den, -y[1] / den)
    return cmul(x, inv)


# --------------------------------------------------------------------------------------
# arguments


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
        raise ValueError(
            f"`b` must be a floating-point tensor (or pair of them), got dtype {out_dtype}."
        )
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


# --------------------------------------------------------------------------------------
# symbolic calls


def any_symbolic(*args):
    """True when any argument (a tensor or a (real, imag) pair) is a KerasTensor.

    A plain loop rather than `keras.tree.flatten`: eager calls pay about a microsecond.
    """
    for x in args:
        parts = x if isinstance(x, (tuple, list)) else (x,)
        for part in parts:
            if isinstance(part, keras.KerasTensor):
                return True
    return False


def unlinked(x):
    """A KerasTensor (or pair) like `x` without graph history, for argument checks."""
    if x is None:
        return None
    return map_pair(lambda t: keras.KerasTensor(tuple(t.shape), dtype=t.dtype), x)


def spec_like(pair, shape, dtype):
    """KerasTensor(s) of `shape` and `dtype`: a pair when `pair` is true."""
    if pair:
        return (keras.KerasTensor(shape, dtype=dtype), keras.KerasTensor(shape, dtype=dtype))
    return keras.KerasTensor(shape, dtype=dtype)
