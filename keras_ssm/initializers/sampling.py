"""Seeded random draws of the initializations: log-uniform steps, truncated LeCun normal,
the DLR ring. Pure numpy, each function taking an explicit `numpy.random.Generator`.

References:
    - DLR: Gupta, Mehta, Berant, arXiv:2212.00768.
    - S5: Smith, Warrington, Linderman, arXiv:2208.04933.
"""

import math

import numpy as np

from keras_ssm.initializers._checks import _check_positive_int
from keras_ssm.initializers._checks import _check_range

__all__ = ["log_uniform", "truncated_lecun_normal", "dlr_ring_init"]

# Standard deviation of a standard normal truncated to [-2, 2]:
# sqrt(1 - 2·2·φ(2) / (Φ(2) − Φ(−2))) ≈ 0.8796256610342398.
_TRUNCATION = 2.0
_TRUNCATED_STD = math.sqrt(
    1.0
    - 2.0
    * _TRUNCATION
    * math.exp(-0.5 * _TRUNCATION**2)
    / math.sqrt(2.0 * math.pi)
    / math.erf(_TRUNCATION / math.sqrt(2.0))
)


def log_uniform(rng, shape, minval, maxval):
    """Log-uniform samples: exp(U[log minval, log maxval]).

    Args:
        rng: numpy.random.Generator.
        shape: tuple of ints, output shape.
        minval: float > 0.
        maxval: float >= minval.

    Returns:
        float64 array of `shape` with values in [minval, maxval].

    Example:
        >>> dt = log_uniform(np.random.default_rng(0), (64,), 1e-3, 1e-1)
        >>> bool(dt.min() >= 1e-3 and dt.max() <= 1e-1)
        True

    References:
        arXiv:2203.14343 (DSS Δ init), arXiv:2208.04933 (S5 timescales).
    """
    minval, maxval = _check_range("minval", minval, "maxval", maxval)
    u = rng.uniform(math.log(minval), math.log(maxval), size=shape)
    return np.clip(np.exp(u), minval, maxval)


def truncated_lecun_normal(rng, shape, fan_in):
    """JAX-style `lecun_normal`: truncated normal with std 1/sqrt(fan_in).

    Draws a standard normal truncated to [−2, 2] and rescales it so that the
    std after truncation is exactly 1/sqrt(fan_in); values are thus bounded
    by 2/(0.8796·sqrt(fan_in)).

    Args:
        rng: numpy.random.Generator.
        shape: tuple of ints, output shape.
        fan_in: int, number of inputs (variance 1/fan_in).

    Returns:
        float64 array of `shape`.

    Example:
        >>> b = truncated_lecun_normal(np.random.default_rng(0), (16, 4), fan_in=16)
        >>> b.shape
        (16, 4)

    References:
        arXiv:2208.04933 (S5 B and C initialization).
    """
    fan_in = _check_positive_int("fan_in", fan_in)
    z = rng.standard_normal(size=shape)
    outside = np.abs(z) > _TRUNCATION
    while np.any(outside):
        z[outside] = rng.standard_normal(size=int(np.count_nonzero(outside)))
        outside = np.abs(z) > _TRUNCATION
    return z * (1.0 / math.sqrt(fan_in) / _TRUNCATED_STD)


def dlr_ring_init(rng, state_size, dt_min, dt_max):
    """DLR 'omega' initialization of Λ_n = −p_n² + iθ_n.

    dt_n ~ LogUniform[dt_min, dt_max] per state, p_n = sqrt(0.5·dt_n) (so the
    radius is e^{−dt_n/2}), and θ_n = 2πn/N mod 2π (the N-th roots of unity).

    Args:
        rng: numpy.random.Generator.
        state_size: int, N.
        dt_min: float > 0.
        dt_max: float >= dt_min.

    Returns:
        Tuple (p, θ), each float64 (N,).

    Example:
        >>> p, theta = dlr_ring_init(np.random.default_rng(0), 4, 1e-4, 1e-1)
        >>> np.round(theta, 4)
        array([0.    , 1.5708, 3.1416, 4.7124])

    References:
        arXiv:2212.00768 (DLR, section on parameterization and initialization).
    """
    n = _check_positive_int("state_size", state_size)
    dt_min, dt_max = _check_range("dt_min", dt_min, "dt_max", dt_max)
    dt = log_uniform(rng, (n,), dt_min, dt_max)
    p = np.sqrt(0.5 * dt)
    theta = np.mod(2.0 * np.pi * np.arange(n) / n, 2.0 * np.pi)
    return p, theta


# --------------------------------------------------------------------------
# Keras initializers
# --------------------------------------------------------------------------
