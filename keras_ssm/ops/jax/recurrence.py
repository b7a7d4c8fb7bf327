"""JAX fast paths of ``linear_recurrence``.

- ``"sequential"``: one step per loop iteration along axis 1, written in place, with a
  hand-written gradient (:mod:`keras_ssm.ops.jax.walk`). The fastest on CPU at every
  size measured (B=8, state 64-256, L=1K-64K, forward and forward+backward): the scan
  does the minimum work, XLA's CPU loop is cheap, and nothing is transposed.
- ``"associative"``: a parallel scan of depth O(log L). A per-step ``a`` goes through
  ``jax.lax.associative_scan`` on ``(a, b)`` elements; a time-invariant ``a`` goes through
  an odd/even scan in which the coefficient stays a ``(*state)`` array at every level
  (a, a^2, a^4, ...), so nothing of size (length, *state) is built for it. The choice on
  GPU and TPU, where the log-depth form keeps the device busy.

Complex values stay (real, imag) pairs of real arrays: on XLA's CPU backend real
arithmetic on pairs measured faster than complex64 (about 1.5-2x for the scan).
The associative path's gradients come from JAX's autodiff.

Packed documents (``segment_ids``) multiply a_t by keep_t
(`keras_ssm.ops.segments.continues`): the walk scales its carried state by keep_t, for
any `a`; the associative scan folds them into a per-step `a` and, beside a
time-invariant one, carries their products as (batch, length) factors, so no per-step
`a` is formed for it.
"""

import jax
import jax.numpy as jnp
from jax import lax

from keras_ssm.ops import common
from keras_ssm.ops import registry
from keras_ssm.ops import segments
from keras_ssm.ops.common import cadd
from keras_ssm.ops.common import cmul
from keras_ssm.ops.common import map_pair
from keras_ssm.ops.jax.walk import walk


def _first(x):
    return x[0] if common.is_pair(x) else x


def platform(x):
    """The device platform ("cpu", "gpu", "tpu", ...) holding `x` (a tensor or pair).

    Inside `jax.jit` (where `x` is a tracer) this is the default backend.
    """
    part = _first(x)
    try:
        devices = part.devices()
    except Exception:  # tracers have no devices
        return jax.default_backend()
    for device in devices:
        return device.platform
    return jax.default_backend()


def _on_cpu(a, b, **kwargs):
    return platform(b) == "cpu"


def _prepared(a, b, initial_state):
    """(a, b, initial_state) as jax arrays (pairs kept), and whether `a` is time-invariant."""
    a, b, initial_state = [
        None if v is None else map_pair(jnp.asarray, v) for v in (a, b, initial_state)
    ]
    return a, b, initial_state, common.is_time_invariant(a, b)


def _final(h, reverse):
    return map_pair(lambda t: t[:, 0] if reverse else t[:, -1], h)


def _keep(a, b, segment_ids, reverse, invariant, fold=True):
    """(a, keep): the resets of packed documents folded into a per-step `a` (keep None;
    unless not `fold`), or (batch, length, 1, ...) factors beside a time-invariant one
    (None without ids)."""
    if segment_ids is None:
        return a, None
    rank = _first(b).ndim
    keep = segments.broadcast_keep(segments.continues(jnp.asarray(segment_ids), reverse), rank)
    keep = keep.astype(_first(b).dtype)
    if invariant or not fold:
        return a, keep
    return map_pair(lambda t: t * keep, a), None


# --------------------------------------------------------------------------------------
# sequential


@registry.register(
    "linear_recurrence",
    "sequential",
    backends=("jax",),
    priority=lambda a, b, **kwargs: 2.0 if _on_cpu(a, b) else 0.0,
)
def linear_recurrence_sequential(
    a, b, *, reverse=False, initial_state=None, return_final_state=False, segment_ids=None
):
    """h_t = a_t h_{t-1} + b_t one step per loop iteration (`keras_ssm.ops.jax.walk.walk`).

    Args:
        a: (batch, L, *state) or (*state) (time-invariant); array or (re, im) pair.
        b: (batch, L, *state); same kind as `a`.
        reverse: run from the last step to the first.
        initial_state: (batch, *state) or None (zeros).
        return_final_state: also return the state after the last processed step.
        segment_ids: (batch, L) int or None: the state restarts at each document.

    Returns:
        h like `b`; `(h, h_last)` when `return_final_state`.

    Example:

    ```python
    h = linear_recurrence_sequential(jnp.full((4,), 0.9), jnp.ones((2, 10, 4)))
    ```
    """
    a, b, initial_state, invariant = _prepared(a, b, initial_state)
    # the walk scales its carried state: no per-step product, whatever `a`
    a, keep = _keep(a, b, segment_ids, reverse, invariant, fold=False)
    h0 = initial_state
    if h0 is None:
        h0 = map_pair(lambda t: jnp.zeros_like(t[:, 0]), b)
    h = walk(a, b, h0, keep, reverse, invariant)
    return (h, _final(h, reverse)) if return_final_state else h


# --------------------------------------------------------------------------------------
# associative


def _combine(earlier, later):
    """(a1, b1) then (a2, b2) -> (a2 a1, a2 b1 + b2): two steps composed into one."""
    a1, b1 = earlier
    a2, b2 = later
    return cmul(a2, a1), cadd(cmul(a2, b1), b2)


def _scaled(x, keep):
    return x if keep is None else map_pair(lambda t: t * keep, x)


def _odd_even_invariant(a, b, keep=None):
    """h_t = a keep_t h_{t-1} + b_t (h_{-1} = 0) along axis 1 for a time-invariant `a`
    (*state) and optional (batch, L, 1, ...) reset factors `keep`.

    Neighbouring steps are combined pairwise (the pair's coefficient is a^2 times the
    product of their keep factors), the half-length problem is solved recursively,
    and the even steps are filled in: h_0 = b_0, h_{2i} = a keep_{2i} h_{2i-1} + b_{2i}.
    """
    n = _first(b).shape[1]
    if n == 1:
        return b
    m = n // 2
    b_even = map_pair(lambda t: t[:, 0 : 2 * m : 2], b)
    b_odd = map_pair(lambda t: t[:, 1 : 2 * m : 2], b)
    keep_odd = keep_half = keep_rest = None
    if keep is not None:
        keep_odd = keep[:, 1 : 2 * m : 2]
        keep_half = keep[:, 0 : 2 * m : 2] * keep_odd
        keep_rest = keep[:, 2::2]
    b_half = cadd(_scaled(cmul(a, b_even), keep_odd), b_odd)
    h_odd = _odd_even_invariant(cmul(a, a), b_half, keep_half)
    b_rest = map_pair(lambda t: t[:, 2::2], b)
    n_rest = _first(b_rest).shape[1]
    carried = _scaled(cmul(a, map_pair(lambda t: t[:, :n_rest], h_odd)), keep_rest)
    h_rest = cadd(carried, b_rest)
    h_even = map_pair(lambda t0, t1: jnp.concatenate([t0[:, :1], t1], axis=1), b, h_rest)

    def interleave(e, o):
        if e.shape[1] > o.shape[1]:
            o = jnp.concatenate([o, jnp.zeros_like(o[:, :1])], axis=1)
        merged = jnp.stack([e, o], axis=2).reshape((e.shape[0], 2 * e.shape[1]) + e.shape[2:])
        return merged[:, :n]

    return map_pair(interleave, h_even, h_odd)


@registry.register(
    "linear_recurrence",
    "associative",
    backends=("jax",),
    priority=lambda a, b, **kwargs: 1.0,
)
def linear_recurrence_associative(
    a, b, *, reverse=False, initial_state=None, return_final_state=False, segment_ids=None
):
    """h_t = a_t h_{t-1} + b_t by a log-depth parallel scan.

    Arguments and results as `linear_recurrence_sequential`.

    Example:

    ```python
    h = linear_recurrence_associative(jnp.full((4,), 0.9), jnp.ones((2, 10, 4)))
    ```
    """
    a, b, initial_state, invariant = _prepared(a, b, initial_state)
    a, keep = _keep(a, b, segment_ids, reverse, invariant)
    first = -1 if reverse else 0
    if initial_state is not None:
        # Fold the initial state into the first processed step: b_first += a_first h_init.
        a_first = a if invariant else map_pair(lambda t: t[:, first], a)
        injected = cmul(a_first, initial_state)
        b = map_pair(lambda t, v: t.at[:, first].add(v), b, injected)
    if invariant:
        flip = lambda t: jnp.flip(t, axis=1)
        if reverse:
            keep = None if keep is None else flip(keep)
            h = map_pair(flip, _odd_even_invariant(a, map_pair(flip, b), keep))
        else:
            h = _odd_even_invariant(a, b, keep)
    else:
        h = lax.associative_scan(_combine, (a, b), reverse=reverse, axis=1)[1]
    return (h, _final(h, reverse)) if return_final_state else h
