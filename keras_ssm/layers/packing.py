"""Packed sequences in the SSM layers: several documents in one row, told apart by
``segment_ids`` (int, (batch, length); a new document starts wherever the id changes).

Each document of a packed row gives exactly the outputs it gives alone, in both
directions and every mode:

- recurrence: the scans restart their state at each document (`keras_ssm.ops`'s
  ``segment_ids``), and a backward system read ``backward_lag`` steps later reads 0
  where that step lies in the next document;
- convolution (``mode="convolution"``): `keras_ssm.ops.causal_conv` with
  ``segment_ids`` sums the taps within each document (exact, O(L · k));
  ``mode="auto"`` takes the recurrence for packed rows, as it does for a carried state;
- per-step ``step_scale`` of a backward system with lag 0 never reads across a boundary.

Mixed into `keras_ssm.layers.DiagonalSSMLayer`.
"""

from keras import ops

from keras_ssm.ops import segments


class PackedDocuments:
    """The `segment_ids` checks and helpers of `DiagonalSSMLayer`.

    Example:

    ```python
    layer = keras_ssm.layers.DLR(state_size=4)
    x = np.random.rand(1, 10, 2).astype("float32")
    ids = np.array([[0] * 6 + [1] * 4])
    y = layer(x, segment_ids=ids)          # y[:, 6:] == layer(x[:, 6:])
    ```
    """

    def _check_segment_ids(self, segment_ids, inputs):
        """int32 (batch, length) ids, or None; ValueError naming the fix otherwise."""
        if segment_ids is None:
            return None
        return segments.check_segment_ids(segment_ids, tuple(inputs.shape[:2]))

    def _call_mode(self, recurrence_needed, segment_ids):
        """The mode of a call; a packed one runs "convolution" only when asked for
        explicitly ("auto" takes the recurrence, exact and O(L) for any kernel length)."""
        if segment_ids is None:
            return self._choose_mode(recurrence_needed)
        if self.mode == "convolution" and self.supports_convolution and not recurrence_needed:
            return "convolution"
        return self._choose_mode(True)

    @staticmethod
    def _within_document(segment_ids, lag):
        """(batch, length) float32: 1 where step t + lag is in t's document (lag >= 0)."""
        to_end = segments.positions(segment_ids, reverse=True)
        return ops.cast(ops.greater_equal(to_end, lag), "float32")

    @staticmethod
    def _has_next_in_document(segment_ids):
        """(batch, length) bool: step t + 1 exists and is in t's document."""
        if segment_ids is None:
            return None
        same = ops.equal(segment_ids[:, 1:], segment_ids[:, :-1])
        return ops.concatenate([same, ops.zeros_like(same[:, :1])], axis=1)
