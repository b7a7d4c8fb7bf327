"""Keras initializers of the S4D and LRU parameters.

Thin wrappers over the numpy math (`hippo.s4d_init`, `sampling.lru_ring_init`), as
`ssm_initializers`: each computes the float64 array, checks the requested shape and
converts it to a float tensor. Complex arrays stored as real tensors carry (re, im) on
their last axis.
"""

import math

import keras
import numpy as np

from keras_ssm.initializers._checks import _check_option
from keras_ssm.initializers.hippo import S4D_INITS
from keras_ssm.initializers.hippo import s4d_init
from keras_ssm.initializers.sampling import lru_ring_init
from keras_ssm.initializers.ssm_initializers import _NumpyInitializer
from keras_ssm.initializers.ssm_initializers import _SeededInitializer

__all__ = ["S4DInit", "LRURing"]


@keras.saving.register_keras_serializable(package="keras_ssm")
class S4DInit(_NumpyInitializer):
    """One part of S4D's initial A = −exp(log_a_real) + i·a_imag and B, per feature.

    The N/2 modes of `hippo.s4d_init(N, init)` (N = 2 × the shape's mode axis),
    repeated over the H features:

    - part "log_a_real": log(−Re A) = log ½, shape (H, N/2);
    - part "a_imag": Im A, shape (H, N/2);
    - part "b": B as (re, im), shape (H, N/2, 2) (ones for "lin" and "inv").

    Args:
        init: "lin" (S4D-Lin), "inv" (S4D-Inv) or "legs" (S4D-LegS).
        part: "log_a_real", "a_imag" or "b".

    Returns (when called with `shape`):
        float tensor of `shape`.

    Example:
        >>> a_imag = S4DInit("lin", "a_imag")((2, 3))   # [[0, π, 2π], [0, π, 2π]]
        >>> b = S4DInit("legs", "b")((2, 4, 2))         # S4D-LegS B for N = 8

    References:
        arXiv:2206.11893 (S4D).
    """

    PARTS = ("log_a_real", "a_imag", "b")

    def __init__(self, init="lin", part="a_imag"):
        self.init = _check_option("init", init, S4D_INITS)
        self.part = _check_option("part", part, self.PARTS)

    def _values(self, shape):
        expected = "(H, N/2, 2)" if self.part == "b" else "(H, N/2)"
        rank = 3 if self.part == "b" else 2
        if len(shape) != rank or (self.part == "b" and shape[-1] != 2):
            raise self._shape_error(expected, shape)
        features, modes = shape[0], shape[1]
        if modes == 0:
            return np.zeros(shape)
        a, b = s4d_init(2 * modes, self.init)
        if self.part == "log_a_real":
            values = np.log(-a.real)
        elif self.part == "a_imag":
            values = a.imag
        else:
            values = np.stack([b.real, b.imag], axis=-1)
        return np.broadcast_to(values, (features,) + values.shape).copy()

    def get_config(self):
        return {"init": self.init, "part": self.part}


@keras.saving.register_keras_serializable(package="keras_ssm")
class LRURing(_SeededInitializer):
    """One part of the LRU's ring initialization (`sampling.lru_ring_init`), shape (N,).

    λ_j = exp(−exp(ν_log_j) + i·exp(θ_log_j)) uniform on the ring r_min <= |λ| <= r_max
    with phases in [0, max_phase), and γ_log = log sqrt(1 − |λ|²). The three parts are
    drawn together from `seed`, so initializers of the three parts with the same int
    seed describe the same λ (with seed=None each call draws a new ring).

    Args:
        part: "nu_log", "theta_log" or "gamma_log".
        r_min, r_max: the ring's radii, 0 <= r_min <= r_max <= 1, r_min < 1.
        max_phase: float > 0 (default 2π).
        seed: int or None.

    Returns (when called with `shape`):
        float tensor (N,).

    Example:
        >>> nu_log = LRURing("nu_log", 0.9, 0.999, seed=0)((8,))
        >>> gamma_log = LRURing("gamma_log", 0.9, 0.999, seed=0)((8,))   # the same λ

    References:
        arXiv:2303.06349 (LRU, section 3 and Appendix A).
    """

    PARTS = ("nu_log", "theta_log", "gamma_log")

    def __init__(self, part="nu_log", r_min=0.0, r_max=1.0, max_phase=2.0 * math.pi, seed=None):
        super().__init__(seed)
        self.part = _check_option("part", part, self.PARTS)
        lru_ring_init(np.random.default_rng(0), 1, r_min, r_max, max_phase)  # checks them
        self.r_min, self.r_max, self.max_phase = float(r_min), float(r_max), float(max_phase)

    def _values(self, shape):
        self._check_rank(shape, 1, "(N,)")
        if shape[0] == 0:
            return np.zeros(shape)
        parts = lru_ring_init(self._rng(), shape[0], self.r_min, self.r_max, self.max_phase)
        return parts[self.PARTS.index(self.part)]

    def get_config(self):
        return {
            "part": self.part,
            "r_min": self.r_min,
            "r_max": self.r_max,
            "max_phase": self.max_phase,
            "seed": self.seed,
        }
