"""The reference ``linear_recurrence``: a log-depth scan in ``keras.ops`` alone.

Example:

```python
from keras_ssm.ops.reference.recurrence import linear_recurrence
h = linear_recurrence(keras.ops.full((4,), 0.5), keras.ops.ones((2, 3, 4)))
# h[:, :, k] == [1, 1.5, 1.75]
```
"""

from keras import ops

from keras_ssm.ops import common
from keras_ssm.ops import segments
from keras_ssm.ops.common import cadd
from keras_ssm.ops.common import cmul


def _shift_right(x, d, fill):
    """x shifted by d steps along axis 1, the first d steps filled with `fill`."""
    head = ops.full_like(x[:, :d], fill)
    return ops.concatenate([head, x[:, :-d]], axis=1)


def _flip_time(x):
    return common.map_pair(lambda t: ops.flip(t, axis=1), x)


def linear_recurrence(
    a, b, *, reverse=False, initial_state=None, return_final_state=False, segment_ids=None
):
    """h_t = a_t * h_{t-1} + b_t by a log-depth (Hillis-Steele) scan in keras.ops.

    Args:
        a: (batch, length, *state) or (*state) (time-invariant); tensor or pair.
        b: (batch, length, *state); tensor or pair.
        reverse: run from the last step to the first (h_t = a_t h_{t+1} + b_t).
        initial_state: (batch, *state) or None; the state before the first step.
        return_final_state: also return the state after the last step.
        segment_ids: (batch, length) int or None: the state restarts at each document
            (a_t times keep_t = `keras_ssm.ops.segments.continues`; a time-invariant
            `a` stays (*state), the (batch, length) keep factors beside it).

    Returns:
        h with the shape of b (a pair for complex inputs), and the final state
        (batch, *state) if `return_final_state`.
    """
    invariant = common.is_time_invariant(a, b)
    if reverse:
        b = _flip_time(b)
        if not invariant:
            a = _flip_time(a)
    keep = None
    if segment_ids is not None:
        ids = ops.flip(segment_ids, axis=1) if reverse else segment_ids
        rank = len(common.pair_shape(b, "b"))
        keep = segments.broadcast_keep(segments.continues(ids), rank)
        if not invariant:  # a is per step already: fold the resets into it
            a, keep = common.map_pair(lambda t: t * keep, a), None
    length = common.pair_shape(b, "b")[1]
    if initial_state is not None:
        first_a = a if invariant else common.map_pair(lambda t: t[:, 0], a)
        carried = cmul(first_a, initial_state)
        b = _add_at_first_step(b, carried)
    h = _scan(a, b, length, invariant, keep)
    if reverse:
        h = _flip_time(h)
    if return_final_state:
        index = 0 if reverse else -1
        last = common.map_pair(lambda t: t[:, index], h)
        return h, last
    return h


def _add_at_first_step(b, value):
    def add(bp, vp):
        return ops.concatenate([bp[:, :1] + vp[:, None], bp[:, 1:]], axis=1)

    if common.is_pair(b):
        return (add(b[0], value[0]), add(b[1], value[1]))
    return add(b, value)


def _scan(a, b, length, invariant, keep=None):
    if length is None:
        raise ValueError(
            "The reference linear_recurrence needs a static sequence length; got an "
            "unknown length. Build the model with a fixed `length` in the Input shape."
        )
    d = 1
    power = a  # a^d for time-invariant systems
    # keep: the product of keep_t over the d steps each element spans (resets at 0)
    while d < length:
        if invariant:
            shifted_b = common.map_pair(lambda t: _shift_right(t, d, 0.0), b)
            if keep is not None:
                shifted_b = common.map_pair(lambda t: t * keep, shifted_b)
                keep = keep * _shift_right(keep, d, 1.0)
            b = cadd(b, cmul(power, shifted_b))
            power = cmul(power, power)
        else:
            shifted_b = common.map_pair(lambda t: _shift_right(t, d, 0.0), b)
            b = cadd(b, cmul(a, shifted_b))
            if common.is_pair(a):
                shifted_a = (_shift_right(a[0], d, 1.0), _shift_right(a[1], d, 0.0))
            else:
                shifted_a = _shift_right(a, d, 1.0)
            a = cmul(a, shifted_a)
        d *= 2
    return b
