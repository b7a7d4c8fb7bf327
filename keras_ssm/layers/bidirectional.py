"""The backward system of a bidirectional SSM layer: where it starts and how it is read.

A bidirectional layer runs a second system on the flipped sequence and adds its output
(in convolution mode, as the anti-causal half of one two-sided `causal_conv`).
The system sees the inputs from lag `backward_lag` on (0: u_t and the future, as S5;
1: strictly future inputs, as the DSS and DLR authors' code), so its kernel is delayed
by that many taps and its recurrence is read `backward_lag` steps later.

Mixed into `keras_ssm.layers.DiagonalSSMLayer`.
"""

from keras import ops


class BackwardDirection:
    """The backward direction of `DiagonalSSMLayer`: its delayed kernel, its readout,
    and its per-step factors (its convolution is `causal_conv(u, K, backward_kernel=...)`).

    They use the layer's `backward_lag`, `_readout("backward")` and `_project_out`.
    Shapes: kernels (H, L) (or (batch, H, L)), inputs and outputs (batch, L, H),
    states (batch, L, *state) pairs, `step_scale` and `mask` (batch, L).

    Example:

    ```python
    layer = keras_ssm.layers.DLR(state_size=4, bidirectional=True)   # backward_lag 1
    y = layer(np.ones((1, 8, 2), "float32"))                          # (1, 8, 2)
    k_b = layer.convolution_kernel(8, direction="backward")          # (2, 8), before the delay
    ```
    """

    def _delay_backward_kernel(self, kernel):
        """K_b moved to taps backward_lag.. along its last axis (the first taps zero)."""
        lag = self.backward_lag
        if lag == 0:
            return kernel
        zeros = ops.zeros_like(kernel[..., :lag])
        return ops.concatenate([zeros, kernel[..., :-lag]], axis=-1)

    def _backward_readout(self, xb, segment_ids=None):
        """Re(C_b x^b) of the reverse scan, read at t + backward_lag (0 past the end, and
        past the end of t's document when `segment_ids` packs several).

        xb: the backward state pair (batch, length, *state), x^b_t including u_t.
        """
        y = self._project_out(xb, self._readout("backward"))
        lag = self.backward_lag
        if lag == 0:
            return y
        y = ops.concatenate([y[:, lag:], ops.zeros_like(y[:, :lag])], axis=1)
        if segment_ids is not None:
            y = y * self._within_document(segment_ids, lag)[..., None]
        return y

    def _backward_step_scale(self, step_scale, mask, segment_ids=None):
        """Per-step factors of a backward system with lag 0, which steps from t+1 to t.

        Its step t takes the interval of step t+1, step_scale[:, t+1]; the last
        valid step (no valid successor) keeps its own step_scale[:, t], and so does
        the last step of each packed document (`segment_ids`).
        """
        following = ops.concatenate([step_scale[:, 1:], step_scale[:, -1:]], axis=1)
        valid = ops.cast(ops.ones_like(step_scale) if mask is None else mask, "bool")
        has_next = ops.concatenate([valid[:, 1:], ops.zeros_like(valid[:, :1])], axis=1)
        if segment_ids is not None:
            has_next = ops.logical_and(has_next, self._has_next_in_document(segment_ids))
        return ops.where(has_next, following, step_scale)
