"""The reference ``selective_scan`` (Mamba's S6) in ``keras.ops`` alone.

It writes the paper's formula as plainly as it reads, materializing the discretized
system Ā_t = exp(Δ_t A) and B̄_t u_t = Δ_t B_t u_t, (batch, length, channels, N) each, and
running the reference `linear_recurrence` over them: the ground truth of the fast paths
(which never hold those tensors), not a path for long sequences.

Example:

```python
from keras_ssm.ops.reference.selective_scan import selective_scan
u = keras.ops.ones((1, 3, 2))
A = keras.ops.full((2, 1), -1.0)
y = selective_scan(u, keras.ops.zeros((1, 3, 2)), A, keras.ops.ones((1, 3, 1)),
                   keras.ops.ones((1, 3, 1)), delta_softplus=False)
# Δ = 0: the state never moves, y == 0
```
"""

from keras import ops

from keras_ssm.ops import segments
from keras_ssm.ops.reference.recurrence import linear_recurrence


def selective_scan(
    u,
    delta,
    A,
    B,
    C,
    D=None,
    z=None,
    delta_bias=None,
    *,
    delta_softplus=True,
    initial_state=None,
    return_final_state=False,
    segment_ids=None,
):
    """h_t = exp(Δ_t A) ⊙ h_{t-1} + Δ_t B_t u_t, y_t = C_t · h_t + D u_t, gated by silu(z).

    Canonical arguments of `keras_ssm.ops.selective_scan` (one float dtype, every
    keyword given); shapes: u, delta, z (batch, L, H); A (H, N); B, C (batch, L, N);
    D, delta_bias (H,); initial_state (batch, H, N); segment_ids int (batch, L).

    Returns:
        y (batch, L, H); `(y, h_last)` when `return_final_state`, h_last (batch, H, N).
    """
    if delta_bias is not None:
        delta = delta + delta_bias
    if delta_softplus:
        delta = ops.softplus(delta)
    a = ops.exp(delta[..., None] * A)  # Ā_t: (batch, L, H, N)
    b = (delta * u)[..., None] * B[:, :, None, :]  # B̄_t u_t: (batch, L, H, N)
    if segment_ids is not None:
        # the state restarts where a document starts: h_{t-1} counts as 0 there
        a = a * ops.cast(segments.continues(segment_ids), a.dtype)[:, :, None, None]
    h = linear_recurrence(a, b, initial_state=initial_state)
    y = ops.sum(h * C[:, :, None, :], axis=-1)
    if D is not None:
        y = y + D * u
    if z is not None:
        y = y * ops.silu(z)
    if return_final_state:
        return y, h[:, -1]
    return y
