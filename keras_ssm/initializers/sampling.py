"""Seeded random draws of the initializations: log-uniform steps, truncated LeCun normal,
the DLR ring, the LRU ring. Pure numpy, each function taking an explicit
`numpy.random.Generator`.

References:
    - DLR: Gupta, Mehta, Berant, arXiv:2212.00768.
    - S5: Smith, Warrington, Linderman, arXiv:2208.04933.
    - LRU: Orvieto, Smith, Gu, Fernando, Gulcehre, Pascanu, De, "Resurrecting Recurrent
      Neural Networks for Long Sequences", arXiv:2303.06349.
"""

import math

import numpy as np

from keras_ssm.initializers._checks import _check_positive_int
from keras_ssm.initializers._checks import _check_range

__all__ = ["log_uniform", "truncated_lecun_normal", "dlr_ring_init", "lru_ring_init"]

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


# The smallest uniform draw the LRU ring uses: u = 0 would give log(0) (an infinite
# ν_log or θ_log); float64 draws below it happen with probability 1e-300.
_TINY = 1e-300


def lru_ring_init(rng, state_size, r_min=0.0, r_max=1.0, max_phase=2.0 * math.pi):
    """LRU's ring initialization of λ_j = exp(−exp(ν_log_j) + i·exp(θ_log_j)) and γ.

    With u₁, u₂ ~ U[0, 1) per state (u₁ drawn first, for all states, then u₂):

        ν_log = log(−½ log(u₁ (r_max² − r_min²) + r_min²)),   θ_log = log(max_phase · u₂),
        γ_log = log sqrt(1 − |λ|²),

    so |λ|² is uniform on [r_min², r_max²] (λ uniform on the ring r_min <= |λ| <= r_max
    for max_phase = 2π) and the phase uniform on [0, max_phase). u₁, u₂ are kept
    above 1e-300 so that no logarithm is infinite.

    Args:
        rng: numpy.random.Generator.
        state_size: int, N, the number of complex states.
        r_min, r_max: floats, 0 <= r_min <= r_max <= 1, r_min < 1 (with r_max = 1,
            |λ| < 1 still, since u₁ < 1).
        max_phase: float > 0.

    Returns:
        Tuple (ν_log, θ_log, γ_log), each float64 (N,).

    Example:
        >>> nu_log, theta_log, gamma_log = lru_ring_init(np.random.default_rng(0), 4, 0.9, 0.999)
        >>> radius = np.exp(-np.exp(nu_log))
        >>> bool(np.all((radius >= 0.9) & (radius <= 0.999)))
        True
        >>> bool(np.allclose(np.exp(gamma_log), np.sqrt(1 - radius**2)))
        True

    References:
        arXiv:2303.06349 (LRU, Lemma 2, section 3.4 and Appendix A).
    """
    n = _check_positive_int("state_size", state_size)
    r_min, r_max, max_phase = float(r_min), float(r_max), float(max_phase)
    if not (0.0 <= r_min <= r_max <= 1.0 and r_min < 1.0):
        raise ValueError(
            f"Need 0 <= r_min <= r_max <= 1 and r_min < 1 (the ring of initial |λ|), got "
            f"r_min={r_min}, r_max={r_max}."
        )
    if not max_phase > 0.0:
        raise ValueError(f"`max_phase` must be > 0 (e.g. 2π or π/10), got {max_phase}.")
    u1 = np.maximum(rng.uniform(size=(n,)), _TINY)
    u2 = np.maximum(rng.uniform(size=(n,)), _TINY)
    radius_squared = u1 * (r_max**2 - r_min**2) + r_min**2
    nu = np.maximum(-0.5 * np.log(np.maximum(radius_squared, _TINY)), _TINY)
    nu_log = np.log(nu)
    theta_log = np.log(max_phase * u2)
    gamma_log = 0.5 * np.log(-np.expm1(-2.0 * nu))  # log sqrt(1 − |λ|²), |λ|² = e^{−2ν}
    return nu_log, theta_log, gamma_log
