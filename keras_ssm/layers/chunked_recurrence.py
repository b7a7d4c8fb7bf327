"""Recurrence mode in bounded memory: the scan and its readout fused by chunks of time.

For per-channel systems (DSS, DLR: H independent systems of N states each)

    x_t = a ⊙ x_{t-1} + b ⊙ u_t,     y_t = Re Σ_n c[h, n] x_t[h, n]

the states x are B·L·H·N complex values: 1.7 GB for the forward and backward pass at
B = 2, L = 4096, H = N = 64, while the inputs and outputs are only B·L·H. Here time is cut
into chunks; each chunk computes its b ⊙ u, its states (from the previous chunk's last
state) and its readout, and keeps only the readout and the last state. In the backward
pass each chunk's states are computed again from the saved chunk-initial state (as
mamba's selective scan recomputes its states), with the backend's own rematerialization
(`keras_ssm.ops.backend.remat`: ``jax.checkpoint`` under a ``lax.scan`` over chunks,
``torch.utils.checkpoint``, ``tf.recompute_grad``). Peak memory is
O(B·L·H + B·chunk·H·N) instead of O(B·L·H·N); the price is one more forward scan per
chunk in the backward pass. Packed documents (`segment_ids`) travel with the inputs as
one more channel of reset factors (`keras_ssm.ops.segments.continues`), so each chunk
restarts its state where a document starts, at its first step too.

Example:

```python
import numpy as np
from keras_ssm.layers.chunked_recurrence import scan_readout
a = (np.full((3, 4), 0.9, "float32"), np.zeros((3, 4), "float32"))   # (H, N)
b = (np.ones((3, 4), "float32"), np.zeros((3, 4), "float32"))
c = (np.ones((3, 4), "float32"), np.zeros((3, 4), "float32"))
u = np.ones((2, 50, 3), "float32")                                    # (B, L, H)
y, last = scan_readout(u, a, b, c, chunk=16)                          # (2, 50, 3)
```
"""

from keras import ops

from keras_ssm import ops as ssm_ops
from keras_ssm.ops import backend as ssm_backend
from keras_ssm.ops import segments

# States held at once per chunk (each of re, im): 2^22 float32 = 16 MiB.
CHUNK_STATES = 1 << 22


def chunk_length(batch, length, states_per_step, budget=None):
    """Steps per chunk so that one chunk holds about `budget` (CHUNK_STATES) states."""
    budget = CHUNK_STATES if budget is None else budget
    return int(max(1, min(length, budget // max(1, batch * states_per_step))))


def _block(reverse, packed):
    """One chunk: (u (B, T, H), h0 pair (B, H, N), a, b, c pairs (H, N)) -> (y, h_last).

    When `packed`, u's last channel holds the reset factors keep_t of its steps.
    """

    def block(u, h_re, h_im, a_re, a_im, b_re, b_im, c_re, c_im):
        segment_ids = None
        if packed:
            u, keep = u[..., :-1], u[..., -1]
            first = keep[:, -1 if reverse else 0][:, None, None]  # 0: a document starts here
            h_re, h_im = h_re * first, h_im * first
            segment_ids = _ids_from_keep(keep, reverse)
        v = u[..., None]
        x, last = ssm_ops.linear_recurrence(
            (a_re, a_im),
            (v * b_re, v * b_im),
            reverse=reverse,
            initial_state=(h_re, h_im),
            return_final_state=True,
            segment_ids=segment_ids,
        )
        y = ops.sum(x[0] * c_re - x[1] * c_im, axis=-1)
        return y, last[0], last[1]

    return block


def _ids_from_keep(keep, reverse):
    """Document ids (batch, T) int32 whose boundaries are where keep = 0."""
    starts = 1.0 - keep
    if reverse:  # keep_t = 0: t is its document's last step
        starts = ops.concatenate([ops.zeros_like(starts[:, :1]), starts[:, :-1]], axis=1)
    return ops.cast(ops.cumsum(starts, axis=1), "int32")


def scan_readout(u, a, b, c, *, reverse=False, initial_state=None, chunk=None, segment_ids=None):
    """y_t = Re Σ_n c ⊙ x_t with x_t = a ⊙ x_{t∓1} + b ⊙ u_t, by chunks with recomputation.

    Args:
        u: (batch, length, H) float32 inputs.
        a, b, c: (real, imag) pairs of shape (H, N) (a: Λ̄, b: B̄ (or B̄ ⊙ B), c: C).
        reverse: run from the last step to the first (x_t = a x_{t+1} + b u_t).
        initial_state: (batch, H, N) pair or None (zeros): the state before the first
            processed step.
        chunk: steps per chunk (default: `chunk_length`, about CHUNK_STATES states).
        segment_ids: (batch, length) int or None: packed documents, the state restarts
            at each one.

    Returns:
        (y, last): y (batch, length, H); last, the state after the last processed step,
        a (batch, H, N) pair.
    """
    batch, length, features = u.shape
    states = a[0].shape[-1]
    if chunk is None:
        chunk = chunk_length(batch or 32, length, features * states)
    if initial_state is None:  # zeros (batch, H, N), the batch possibly dynamic
        zeros = ops.zeros_like(u[:, 0, :])[..., None] * ops.zeros((states,), "float32")
        initial_state = (zeros, zeros)
    params = (a[0], a[1], b[0], b[1], c[0], c[1])
    packed = segment_ids is not None
    if packed:
        keep = segments.continues(segment_ids, reverse)
        u = ops.concatenate([u, keep[..., None]], axis=-1)
    block = ssm_backend.remat(_block(reverse, packed))
    count, rest = divmod(length, chunk)
    h = tuple(initial_state)
    y_main = y_tail = None
    if reverse and rest:  # the steps after the full chunks come first
        y_tail, *h = block(u[:, count * chunk :], *h, *params)
    if count:
        y_main, h = ssm_backend.scan_chunks(block, u, tuple(h), params, chunk, reverse)
    if not reverse and rest:
        y_tail, *h = block(u[:, count * chunk :], *h, *params)
    ys = [y for y in (y_main, y_tail) if y is not None]
    y = ys[0] if len(ys) == 1 else ops.concatenate(ys, axis=1)
    return y, tuple(h)


def applies(layer, u, per_step, max_states):
    """True for a per-channel layer (a, b, c of shape (H, N)) with a time-invariant system
    whose B·L·H·N states would exceed `max_states` (the layer's recurrence mode)."""
    if layer.state_layout != "channel" or per_step:
        return False
    batch, length, features = u.shape
    return (batch or 1) * length * features * layer._states_per_channel() > max_states


def layer_call(layer, u, system, initial_state, segment_ids=None):
    """(y, final state) of `layer`'s recurrence mode with the scan and readout fused by
    chunks: the forward system, plus the backward one (read at t + backward_lag) when
    bidirectional. `system` is the layer's `DiagonalSystem`; u (batch, length, H) float32;
    `segment_ids` (batch, length) int or None, packed documents."""
    a = layer._broadcast_a(system.a)
    if initial_state is not None:
        initial_state = tuple(ops.cast(s, "float32") for s in initial_state)
    c = layer._readout("forward")
    y, state = scan_readout(u, a, system.b, c, initial_state=initial_state, segment_ids=segment_ids)
    if layer.bidirectional:
        c_b = layer._readout("backward")
        yb, _ = scan_readout(u, a, system.b, c_b, reverse=True, segment_ids=segment_ids)
        lag = layer.backward_lag
        if lag:
            yb = ops.concatenate([yb[:, lag:], ops.zeros_like(yb[:, :lag])], axis=1)
            if segment_ids is not None:
                yb = yb * layer._within_document(segment_ids, lag)[..., None]
        y = y + yb
    return y, state
