"""Complex arithmetic on (re, im) pairs of real tensors, as the SSM layers compute it."""

from keras import ops

from keras_ssm.ops.common import is_pair


def cmul(x, y):
    """Complex product of (re, im) pairs (a plain tensor counts as real)."""
    if not is_pair(x):
        return (x * y[0], x * y[1])
    if not is_pair(y):
        return (x[0] * y, x[1] * y)
    return (x[0] * y[0] - x[1] * y[1], x[0] * y[1] + x[1] * y[0])


def cexp(z):
    """exp of a complex pair."""
    mag = ops.exp(z[0])
    return (mag * ops.cos(z[1]), mag * ops.sin(z[1]))


def cexpm1(z):
    """exp(z) - 1 of a complex pair, accurate for small |z|.

    Re = e^x cos y - 1 = expm1(x) cos y - 2 sin²(y/2), Im = e^x sin y.
    """
    x, y = z
    half_sin = ops.sin(0.5 * y)
    return (ops.expm1(x) * ops.cos(y) - 2.0 * half_sin * half_sin, ops.exp(x) * ops.sin(y))


def cdiv(x, y, eps=0.0):
    """x / y on pairs; with eps > 0, y^-1 = conj(y) / (|y|^2 + eps)."""
    den = y[0] * y[0] + y[1] * y[1] + eps
    inv = (y[0] / den, -y[1] / den)
    return cmul(x, inv)
