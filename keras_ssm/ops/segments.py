"""Packed sequences: documents side by side in one row, told apart by ``segment_ids``.

``segment_ids`` is an int tensor (batch, length); a document boundary lies between
steps t-1 and t wherever ``segment_ids[:, t] != segment_ids[:, t-1]`` (the ids need
only differ from their neighbours: 0 0 0 1 1 2 2 2 and 5 5 5 0 0 5 5 5 pack the same
three documents). The ops use this convention:

- `linear_recurrence(..., segment_ids=...)`: the state restarts at each document's
  first processed step: forward, h_{t-1} counts as 0 at a document's first step;
  with `reverse`, h_{t+1} counts as 0 at its last step. That is the recurrence with
  a_t replaced by a_t * keep_t, keep = `continues(segment_ids, reverse)`, which the
  paths apply as a (batch, length) factor without ever forming a per-step `a` for a
  time-invariant system. `initial_state` enters the first processed document.
- `causal_conv(..., segment_ids=...)`: no kernel tap crosses a boundary, in either
  direction.

This module holds the checks and the few keras.ops helpers every path shares.

Example:

```python
from keras_ssm.ops import segments
ids = keras.ops.convert_to_tensor([[0, 0, 0, 1, 1, 2]])
segments.continues(ids, reverse=False)   # [[1, 1, 1, 0, 1, 0]]
segments.positions(ids)                  # [[0, 1, 2, 0, 1, 0]]: steps since the start
```
"""

import keras
from keras import ops


def check_segment_ids(segment_ids, batch_length, name="segment_ids"):
    """Validate `segment_ids` against the (batch, length) of the sequences; int32 ids.

    Args:
        segment_ids: (batch, length) int tensor (or array).
        batch_length: the (batch, length) the sequences have (None for unknown).
        name: the argument's name in the caller's signature (errors name it).

    Returns:
        The ids as an int32 tensor (a KerasTensor stays one).

    Raises:
        ValueError: not a (batch, length) tensor of integers.
    """
    if not hasattr(segment_ids, "shape"):
        segment_ids = ops.convert_to_tensor(segment_ids)
    shape = tuple(segment_ids.shape)
    expected = tuple(batch_length)
    if len(shape) != 2 or any(
        None not in (e, s) and e != s for e, s in zip(expected, shape[: len(expected)])
    ):
        raise ValueError(
            f"`{name}` must have shape (batch, length) = {expected} like the sequences "
            f"(one document id per step), got shape {shape}."
        )
    dtype = keras.backend.standardize_dtype(segment_ids.dtype)
    if "int" not in dtype:
        raise ValueError(
            f"`{name}` must hold integer document ids, got dtype {dtype}; convert them "
            f"with keras.ops.cast({name}, 'int32')."
        )
    if isinstance(segment_ids, keras.KerasTensor):
        return segment_ids
    return ops.cast(segment_ids, "int32")


def continues(segment_ids, reverse=False):
    """keep_t: 1.0 where step t continues the document of the step processed before it.

    Forward, keep_t = [ids_t == ids_{t-1}]; with `reverse`, [ids_t == ids_{t+1}]. The
    first processed step has 1.0 (the initial state, zero or given, enters there).

    Args:
        segment_ids: (batch, length) int.
        reverse: the direction of processing.

    Returns:
        (batch, length) float32.
    """
    same = ops.cast(ops.equal(segment_ids[:, 1:], segment_ids[:, :-1]), "float32")
    ones = ops.ones_like(same[:, :1])
    if reverse:
        return ops.concatenate([same, ones], axis=1)
    return ops.concatenate([ones, same], axis=1)


def positions(segment_ids, reverse=False):
    """Steps since the start of each step's document (steps until its end with `reverse`).

    Args:
        segment_ids: (batch, length) int.
        reverse: count to the document's last step instead.

    Returns:
        (batch, length) int32: 0 at each document's first step (last with `reverse`).
    """
    if reverse:
        return ops.flip(positions(ops.flip(segment_ids, axis=1)), axis=1)
    length = segment_ids.shape[1]
    index = ops.arange(length, dtype="int32")[None, :]
    starts = ops.cast(1.0 - continues(segment_ids), "int32")  # 1 at each document start
    start_index = ops.where(ops.cast(starts, "bool"), index, 0)
    # the start of the current document: the largest start index so far
    last_start = _cumulative_max(start_index)
    return index - last_start


def _cumulative_max(x):
    """Running maximum along axis 1 of a non-negative int tensor, by doubling steps."""
    length = x.shape[1]
    shift = 1
    while shift < length:
        shifted = ops.concatenate([ops.zeros_like(x[:, :shift]), x[:, :-shift]], axis=1)
        x = ops.maximum(x, shifted)
        shift *= 2
    return x


def broadcast_keep(keep, rank):
    """keep (batch, length) reshaped to (batch, length, 1, ...) of `rank` axes."""
    for _ in range(rank - 2):
        keep = ops.expand_dims(keep, -1)
    return keep


__all__ = ["broadcast_keep", "check_segment_ids", "continues", "positions"]
