"""The step-by-step JAX scan behind ``linear_recurrence``'s ``"sequential"`` path.

h_t = a_t h_{t-1} + b_t is walked along axis 1 of the (batch, L, *state) arrays by a
``jax.lax.fori_loop`` that reads step t with a dynamic index and writes h_t into the
output in place (XLA updates a loop-carried buffer without copying it). Nothing is
transposed to time-major and back, which on XLA:CPU halves the forward time of a
``lax.scan`` over a time-major copy (B = 8, L = 16,384, 64 complex states:
`benchmarks/ops.py`).

The gradient is written by hand (``jax.custom_vjp``) as one walk against the scan's
direction that carries g_t = dL/dh_t + conj(a_{t+1}) g_{t+1} (so dL/db_t = g_t) and
forms dL/da_t = conj(h_{t-1}) g_t on the way: summed over batch and time in the carry for
a time-invariant ``a``, written per step otherwise. Residuals are ``a``, ``h`` and the
initial state, as autodiff of the loop would keep.

Packed documents come as (batch, L, 1, ...) factors ``keep``
(0 at each document's first processed step): the carried state is scaled by keep_t
before step t, and the gradient walk scales its carry the same way, so no per-step
``a`` is formed.

Complex values are (real, imag) pairs of real arrays, as everywhere in ``keras_ssm.ops``.
"""

import functools

import jax
import jax.numpy as jnp
from jax import lax

from keras_ssm.ops import common
from keras_ssm.ops.common import cadd
from keras_ssm.ops.common import cmul
from keras_ssm.ops.common import conj
from keras_ssm.ops.common import map_pair


def _length(x):
    return (x[0] if common.is_pair(x) else x).shape[1]


def _at(x, t):
    """x[:, t] for a traced index t (array or pair)."""
    return map_pair(lambda v: lax.dynamic_index_in_dim(v, t, 1, keepdims=False), x)


def _put(out, value, t):
    """out with out[:, t] = value, in place inside a loop."""
    return map_pair(lambda o, v: lax.dynamic_update_index_in_dim(o, v, t, 1), out, value)


def _coefficient(a, invariant, shift, conjugate):
    """t -> a_{t + shift} (clipped to the sequence; conjugated when asked), or `a` itself."""
    if invariant:
        value = conj(a) if conjugate else a
        return lambda t: value
    n = _length(a)

    def coefficient(t):
        value = _at(a, jnp.clip(t + shift, 0, n - 1))
        return conj(value) if conjugate else value

    return coefficient


def _factor(keep, shift):
    """t -> keep_{t + shift} (clipped to the sequence) or None."""
    if keep is None:
        return lambda t: None
    n = keep.shape[1]
    return lambda t: lax.dynamic_index_in_dim(keep, jnp.clip(t + shift, 0, n - 1), 1, False)


def _scale(x, factor):
    return x if factor is None else map_pair(lambda v: v * factor, x)


def _forward_walk(a, b, h0, keep, reverse, invariant):
    n = _length(b)
    coefficient = _coefficient(a, invariant, 0, False)
    factor = _factor(keep, 0)

    def body(i, carry):
        h, out = carry
        t = n - 1 - i if reverse else i
        h = cadd(cmul(coefficient(t), _scale(h, factor(t))), _at(b, t))
        return h, _put(out, h, t)

    _, h = lax.fori_loop(0, n, body, (h0, map_pair(jnp.empty_like, b)))
    return h


def _backward_walk(a, h, h0, keep, g, reverse, invariant):
    """(dL/da, dL/db) from dL/dh, walking against the scan's direction."""
    n = _length(g)
    # The state that step t multiplied: h_{t-1} forward, h_{t+1} in reverse.
    before = 1 if reverse else -1
    coefficient = _coefficient(a, invariant, -before, True)
    next_factor, own_factor = _factor(keep, -before), _factor(keep, 0)

    def body(i, carry):
        s, grad_a, grad_b = carry
        t = i if reverse else n - 1 - i
        s = cadd(cmul(coefficient(t), _scale(s, next_factor(t))), _at(g, t))
        grad_b = _put(grad_b, s, t)
        t_prev = t + before
        outside = (t_prev < 0) | (t_prev > n - 1)
        h_at = _at(h, jnp.clip(t_prev, 0, n - 1))
        h_prev = map_pair(lambda v, v0: jnp.where(outside, v0, v), h_at, h0)
        term = cmul(conj(_scale(h_prev, own_factor(t))), s)
        if invariant:
            grad_a = map_pair(lambda acc, v: acc + jnp.sum(v, axis=0), grad_a, term)
        else:
            grad_a = _put(grad_a, term, t)
        return s, grad_a, grad_b

    start = (
        map_pair(jnp.zeros_like, h0),
        map_pair(jnp.zeros_like if invariant else jnp.empty_like, a),
        map_pair(jnp.empty_like, g),
    )
    _, grad_a, grad_b = lax.fori_loop(0, n, body, start)
    return grad_a, grad_b


@functools.partial(jax.custom_vjp, nondiff_argnums=(4, 5))
def walk(a, b, h0, keep, reverse, invariant):
    """h_t = a_t h_{t-1} + b_t along axis 1, one step per loop iteration, in place.

    Args:
        a: (batch, L, *state), or (*state) when `invariant`; array or (re, im) pair.
        b: (batch, L, *state); same kind as `a`.
        h0: (batch, *state), the state before the first processed step (zeros for none).
        keep: None, or (batch, L, 1, ...) factors of the carried state (0 where a packed
            document starts; `keras_ssm.ops.segments.continues`).
        reverse: walk from the last step to the first.
        invariant: True when `a` is one (*state) coefficient for every step.

    Returns:
        h, like `b`.

    Example:

    ```python
    import jax.numpy as jnp
    h = walk(jnp.full((4,), 0.5), jnp.ones((2, 3, 4)), jnp.zeros((2, 4)), None, False, True)
    # h[:, :, k] == [1, 1.5, 1.75]
    ```
    """
    return _forward_walk(a, b, h0, keep, reverse, invariant)


def _walk_forward(a, b, h0, keep, reverse, invariant):
    h = _forward_walk(a, b, h0, keep, reverse, invariant)
    return h, (a, h, h0, keep)


def _walk_backward(reverse, invariant, residuals, g):
    a, h, h0, keep = residuals
    grad_a, grad_b = _backward_walk(a, h, h0, keep, g, reverse, invariant)
    first = -1 if reverse else 0
    a_first = a if invariant else map_pair(lambda v: v[:, first], a)
    grad_h0 = cmul(conj(a_first), map_pair(lambda v: v[:, first], grad_b))
    grad_keep = None if keep is None else jnp.zeros_like(keep)
    return grad_a, grad_b, grad_h0, grad_keep


walk.defvjp(_walk_forward, _walk_backward)
