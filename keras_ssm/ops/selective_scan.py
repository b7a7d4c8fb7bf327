"""The public ``selective_scan`` op (Mamba's S6): checks, dispatch and ``keras.Operation``."""

import keras
from keras import ops

from keras_ssm.ops import common
from keras_ssm.ops import registry
from keras_ssm.ops import segments


class SelectiveScan(keras.Operation):
    """The `selective_scan` op as a `keras.Operation` (symbolic calls).

    Called with the tensors in the order of `selective_scan`'s signature: u, delta, A,
    B, C, D, z, delta_bias, initial_state, segment_ids (None where absent).
    """

    def __init__(self, delta_softplus=True, return_final_state=False, *, name=None):
        super().__init__(name=name)
        self.delta_softplus = bool(delta_softplus)
        self.return_final_state = bool(return_final_state)

    def call(self, *tensors):
        return _selective_scan(*tensors, self.delta_softplus, self.return_final_state)

    def compute_output_spec(self, *tensors):
        check(*(common.unlinked(t) for t in tensors))
        u, A = tensors[0], tensors[2]
        y = keras.KerasTensor(tuple(u.shape), dtype=u.dtype)
        if not self.return_final_state:
            return y
        dtype = common.compute_dtype_for(keras.backend.standardize_dtype(u.dtype))
        return y, keras.KerasTensor((u.shape[0], u.shape[2], A.shape[1]), dtype=dtype)


def selective_scan(
    u,
    delta,
    A,
    B,
    C,
    D=None,
    z=None,
    delta_bias=None,
    delta_softplus=True,
    initial_state=None,
    return_final_state=False,
    segment_ids=None,
):
    """The selective scan of Mamba (S6): an input-dependent diagonal SSM per channel.

    For every batch row, channel h and state n (Gu & Dao, 2023, Alg. 2, with the
    authors' discretization: zero-order hold for A, Euler for B):

        Δ_t = softplus(delta_t + delta_bias)      (delta_t + delta_bias without softplus)
        h_t[h, n] = exp(Δ_t[h] A[h, n]) h_{t-1}[h, n] + Δ_t[h] B_t[n] u_t[h]
        y_t[h] = Σ_n C_t[n] h_t[h, n] + D[h] u_t[h]
        out_t = y_t * silu(z_t)                    (when `z` is given)

    with h_{-1} = `initial_state` (zeros if None). With `segment_ids` the state
    restarts at each new id: h_{t-1} := 0 when t > 0 and segment_ids[t] !=
    segment_ids[t-1], so packed documents never see each other.

    Everything is computed in float32 whatever the input dtypes (float16 and bfloat16
    inputs too); the output has `u`'s dtype, the final state is float32. The fast
    paths never keep the (batch, length, channels, N) states: they work in chunks of
    time and recompute the states inside a chunk in the backward pass.

    Args:
        u: (batch, length, channels), the input x of the paper.
        delta: (batch, length, channels), the step before softplus (Δ's pre-activation).
        A: (channels, N), the diagonal state matrices (negative: A = -exp(A_log)).
        B: (batch, length, N), the input-dependent input matrix (shared by channels).
        C: (batch, length, N), the input-dependent output matrix.
        D: optional (channels,), the skip connection.
        z: optional (batch, length, channels), the gate: the output is y * silu(z).
        delta_bias: optional (channels,), added to `delta` before softplus.
        delta_softplus: apply softplus to `delta + delta_bias` (default True).
        initial_state: optional (batch, channels, N), the state h_{-1}.
        return_final_state: also return h_{L-1}, (batch, channels, N) float32.
        segment_ids: optional integer (batch, length): the document each step belongs to.

    Returns:
        out (batch, length, channels) in `u`'s dtype; `(out, final_state)` when
        `return_final_state`.

    Raises:
        ValueError: wrong ranks, shapes or dtypes, naming the argument.

    Example:

    ```python
    u = keras.random.normal((2, 64, 8))                 # (batch, length, channels)
    delta = keras.random.normal((2, 64, 8))
    A = -keras.ops.tile(keras.ops.arange(1, 5, dtype="float32")[None], (8, 1))  # (8, 4)
    B, C = keras.random.normal((2, 64, 4)), keras.random.normal((2, 64, 4))
    y, h = keras_ssm.ops.selective_scan(
        u, delta, A, B, C, D=keras.ops.ones((8,)), return_final_state=True)
    # y: (2, 64, 8), h: (2, 8, 4)
    ```
    """
    tensors = (u, delta, A, B, C, D, z, delta_bias, initial_state, segment_ids)
    if common.any_symbolic(*tensors):
        op = SelectiveScan(delta_softplus=delta_softplus, return_final_state=return_final_state)
        return op.symbolic_call(*tensors)
    return _selective_scan(*tensors, delta_softplus, return_final_state)


def _selective_scan(*arguments):
    args, kwargs, out_dtype = _canonical(*arguments)
    result = registry.dispatch("selective_scan", *args, **kwargs)
    if kwargs["return_final_state"]:
        y, last = result
        return ops.cast(y, out_dtype), last
    return ops.cast(result, out_dtype)


def _canonical(
    u,
    delta,
    A,
    B,
    C,
    D,
    z,
    delta_bias,
    initial_state,
    segment_ids,
    delta_softplus,
    return_final_state,
):
    check(u, delta, A, B, C, D, z, delta_bias, initial_state, segment_ids)
    out_dtype = keras.backend.standardize_dtype(u.dtype)
    dtype = common.compute_dtype_for(out_dtype)
    cast = lambda x: None if x is None else ops.cast(x, dtype)  # noqa: E731
    u, delta, A, B, C, D, z, delta_bias, initial_state = map(
        cast, (u, delta, A, B, C, D, z, delta_bias, initial_state)
    )
    if segment_ids is not None:
        segment_ids = segments.check_segment_ids(segment_ids, tuple(u.shape[:2]))
    kwargs = dict(
        D=D,
        z=z,
        delta_bias=delta_bias,
        delta_softplus=bool(delta_softplus),
        initial_state=initial_state,
        return_final_state=bool(return_final_state),
        segment_ids=segment_ids,
    )
    return (u, delta, A, B, C), kwargs, out_dtype


def canonical_arguments(
    u,
    delta,
    A,
    B,
    C,
    D=None,
    z=None,
    delta_bias=None,
    delta_softplus=True,
    initial_state=None,
    return_final_state=False,
    segment_ids=None,
):
    """(args, kwargs) as the implementations receive them (`keras_ssm.ops.resolve`):
    float32 tensors (float64 stays float64), int32 `segment_ids`, every keyword given."""
    tensors = (u, delta, A, B, C, D, z, delta_bias, initial_state, segment_ids)
    args, kwargs, _ = _canonical(*tensors, delta_softplus, return_final_state)
    return args, kwargs


# --------------------------------------------------------------------------------------
# checks


def _shape(x, name):
    shape = getattr(x, "shape", None)
    if shape is None or common.is_pair(x):
        raise ValueError(f"`{name}` must be a real tensor, got {type(x).__name__}.")
    return tuple(shape)


def _agree(expected, got):
    return len(expected) == len(got) and all(
        e is None or g is None or e == g for e, g in zip(expected, got)
    )


def _expect(x, name, expected, meaning):
    if x is None:
        return
    shape = _shape(x, name)
    if not _agree(expected, shape):
        shown = tuple("?" if d is None else d for d in expected)
        raise ValueError(f"`{name}` must have shape {meaning} = {shown}, got {shape}.")


def check(u, delta, A, B, C, D=None, z=None, delta_bias=None, initial_state=None, segment_ids=None):
    """Raise ValueError unless the arguments of `selective_scan` have consistent ranks,
    shapes and dtypes (None dimensions are accepted: symbolic shapes)."""
    u_shape = _shape(u, "u")
    if len(u_shape) != 3:
        raise ValueError(
            f"`u` must have shape (batch, length, channels), got shape {u_shape}. "
            "Add a batch axis for one sequence: u[None]."
        )
    batch, length, channels = u_shape
    a_shape = _shape(A, "A")
    if len(a_shape) != 2:
        raise ValueError(
            f"`A` must have shape (channels, N), one row of N states per channel, got {a_shape}."
        )
    state = a_shape[1]
    _expect(A, "A", (channels, state), "(channels, N)")
    _expect(delta, "delta", u_shape, "(batch, length, channels) like `u`")
    _expect(z, "z", u_shape, "(batch, length, channels) like `u`")
    _expect(B, "B", (batch, length, state), "(batch, length, N)")
    _expect(C, "C", (batch, length, state), "(batch, length, N)")
    _expect(D, "D", (channels,), "(channels,)")
    _expect(delta_bias, "delta_bias", (channels,), "(channels,)")
    _expect(initial_state, "initial_state", (batch, channels, state), "(batch, channels, N)")
    named = dict(u=u, delta=delta, A=A, B=B, C=C, D=D, z=z, delta_bias=delta_bias)
    named["initial_state"] = initial_state
    for name, x in named.items():
        if x is None:
            continue
        dtype = keras.backend.standardize_dtype(x.dtype)
        if not keras.backend.is_float_dtype(dtype):
            raise ValueError(
                f"`{name}` must be a floating-point tensor, got dtype {dtype}; cast it, "
                f"e.g. keras.ops.cast({name}, 'float32')."
            )
    if segment_ids is not None:
        segments.check_segment_ids(segment_ids, (batch, length))


__all__ = ["SelectiveScan", "selective_scan"]
