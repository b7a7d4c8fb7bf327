"""The public ``linear_recurrence`` op: its checks, its dispatch and its ``keras.Operation``."""

import keras

from keras_ssm.ops import common
from keras_ssm.ops import registry
from keras_ssm.ops import segments


class LinearRecurrence(keras.Operation):
    """The `linear_recurrence` op as a `keras.Operation` (symbolic calls)."""

    def __init__(self, reverse=False, return_final_state=False, *, name=None):
        super().__init__(name=name)
        self.reverse = bool(reverse)
        self.return_final_state = bool(return_final_state)

    def call(self, a, b, initial_state=None, segment_ids=None):
        return _linear_recurrence(
            a, b, self.reverse, initial_state, self.return_final_state, segment_ids
        )

    def compute_output_spec(self, a, b, initial_state=None, segment_ids=None):
        common.prepare_recurrence(
            common.unlinked(a), common.unlinked(b), common.unlinked(initial_state)
        )
        shape = common.pair_shape(b, "b")
        if segment_ids is not None:
            segments.check_segment_ids(segment_ids, shape[:2])
        dtype = common.pair_dtype(b)
        complex_mode = any(common.is_pair(x) for x in (a, b, initial_state))
        h = common.spec_like(complex_mode, shape, dtype)
        if self.return_final_state:
            return h, common.spec_like(complex_mode, (shape[0],) + shape[2:], dtype)
        return h


def linear_recurrence(
    a, b, *, reverse=False, initial_state=None, return_final_state=False, segment_ids=None
):
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
        segment_ids: optional (batch, length) int, packed documents: the state
            restarts at each document (h_{t-1} counts as 0 where
            segment_ids[:, t] != segment_ids[:, t-1]; with `reverse`, h_{t+1} where
            segment_ids[:, t] != segment_ids[:, t+1]), so each document gives exactly
            its recurrence alone (`keras_ssm.ops.segments`). `initial_state` enters
            the first processed document, and the final state is the last one's.

    Returns:
        h: like `b`; and `(h, h_last)` when `return_final_state`.

    Raises:
        ValueError: wrong ranks or shapes, non-float dtypes, non-integer `segment_ids`.

    Example:

    ```python
    lam = (keras.ops.full((8,), 0.9), keras.ops.full((8,), 0.1))   # time-invariant a
    u = (keras.ops.ones((2, 100, 8)), keras.ops.zeros((2, 100, 8)))
    h_re, h_im = keras_ssm.ops.linear_recurrence(lam, u)           # (2, 100, 8) each
    ids = keras.ops.convert_to_tensor([[0] * 60 + [1] * 40] * 2)   # two documents a row
    h_re, h_im = keras_ssm.ops.linear_recurrence(lam, u, segment_ids=ids)
    ```
    """
    if common.any_symbolic(a, b, initial_state, segment_ids):
        op = LinearRecurrence(reverse=reverse, return_final_state=return_final_state)
        return op.symbolic_call(a, b, initial_state=initial_state, segment_ids=segment_ids)
    return _linear_recurrence(a, b, reverse, initial_state, return_final_state, segment_ids)


def _linear_recurrence(a, b, reverse, initial_state, return_final_state, segment_ids=None):
    a, b, h0, out_dtype = common.prepare_recurrence(a, b, initial_state)
    kwargs = _segment_kwargs(b, segment_ids)
    result = registry.dispatch(
        "linear_recurrence",
        a,
        b,
        reverse=reverse,
        initial_state=h0,
        return_final_state=return_final_state,
        **kwargs,
    )
    return common.cast_result(result, out_dtype, return_final_state)


def _segment_kwargs(b, segment_ids):
    """{"segment_ids": int32 ids} when given (paths registered before it still apply)."""
    if segment_ids is None:
        return {}
    return {"segment_ids": segments.check_segment_ids(segment_ids, common.pair_shape(b, "b")[:2])}


def canonical_arguments(a, b, *args, **kwargs):
    """(args, kwargs) as the implementations receive them (`keras_ssm.ops.resolve`)."""
    a, b, h0, _ = common.prepare_recurrence(a, b, kwargs.get("initial_state"))
    kwargs = dict(kwargs, initial_state=h0)
    segment_ids = kwargs.pop("segment_ids", None)
    return (a, b) + args, dict(kwargs, **_segment_kwargs(b, segment_ids))


__all__ = ["LinearRecurrence", "linear_recurrence"]
