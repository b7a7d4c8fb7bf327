"""Keras initializers of the DSS, DLR and S5 parameters.

Thin wrappers over the numpy math (`hippo`, `sampling`): each computes the float64
array, checks that the requested shape is the one it produces, and converts it to a
float tensor. Complex arrays stored as real tensors carry (re, im) on their last axis.
"""

import math

import keras
import numpy as np

from keras_ssm.initializers._checks import _check_option
from keras_ssm.initializers._checks import _check_positive_int
from keras_ssm.initializers._checks import _check_range
from keras_ssm.initializers._checks import _check_seed
from keras_ssm.initializers.hippo import dss_lin_eigenvalues
from keras_ssm.initializers.hippo import dss_skew_hippo_eigenvalues
from keras_ssm.initializers.hippo import s5_block_diagonal_init
from keras_ssm.initializers.sampling import dlr_ring_init
from keras_ssm.initializers.sampling import log_uniform
from keras_ssm.initializers.sampling import truncated_lecun_normal

__all__ = [
    "LogUniform",
    "DLRRadius",
    "DLRPhase",
    "DSSLambdaLogNegReal",
    "DSSLambdaImag",
    "ComplexNormal",
    "S5LambdaReal",
    "S5LambdaImag",
    "S5B",
    "S5C",
]


def _complex_to_pairs(z):
    return np.stack([z.real, z.imag], axis=-1)


class _NumpyInitializer(keras.initializers.Initializer):
    """Base: computes a float64 numpy array and converts it to a float tensor."""

    def __call__(self, shape, dtype=None):
        try:
            shape = tuple(int(d) for d in shape)
        except TypeError as e:
            raise ValueError(
                f"{type(self).__name__}: `shape` must be a tuple of ints, got {shape!r}."
            ) from e
        if any(d < 0 for d in shape):
            raise ValueError(f"{type(self).__name__}: `shape` must be non-negative, got {shape}.")
        dtype = keras.backend.standardize_dtype(dtype or keras.config.floatx())
        if not keras.backend.is_float_dtype(dtype):
            raise ValueError(
                f"{type(self).__name__} produces real floating values; "
                f"`dtype` must be a float dtype, got {dtype!r}."
            )
        values = np.asarray(self._values(shape), dtype=np.float64)
        if values.shape != shape:  # internal consistency guard
            raise ValueError(
                f"{type(self).__name__} produced shape {values.shape}, expected {shape}."
            )
        return keras.ops.convert_to_tensor(values.astype(np.float32), dtype=dtype)

    def _values(self, shape):
        raise NotImplementedError

    def _shape_error(self, expected, shape):
        return ValueError(
            f"{type(self).__name__} initializes arrays of shape {expected}; got shape {shape}."
        )

    def _check_rank(self, shape, rank, expected):
        if len(shape) != rank:
            raise self._shape_error(expected, shape)


class _SeededInitializer(_NumpyInitializer):
    """Base for random initializers: `seed` int (repeatable) or None (fresh)."""

    def __init__(self, seed=None):
        self.seed = _check_seed(seed)

    def _rng(self):
        return np.random.default_rng(self.seed)

    def get_config(self):
        return {"seed": self.seed}


@keras.saving.register_keras_serializable(package="keras_ssm")
class LogUniform(_SeededInitializer):
    """Log-uniform step sizes Δ (or their logs), i.i.d. per entry.

    log Δ ~ U[log minval, log maxval]; returns log Δ when `log=True`, else Δ.
    With an int `seed` every call returns the same values.

    Args:
        minval: float > 0, Δ_min (default 1e-3).
        maxval: float >= minval, Δ_max (default 1e-1).
        log: bool, return log Δ (True) or Δ (False).
        seed: int or None.

    Returns (when called with `shape`):
        float tensor of any `shape`.

    Example:
        >>> init = LogUniform(1e-3, 1e-1, seed=0)
        >>> log_dt = init((8,))   # DSS log Δ, one per feature h

    References:
        arXiv:2203.14343 (DSS), arXiv:2208.04933 (S5 log_step, shape (P, 1)).
    """

    def __init__(self, minval=1e-3, maxval=1e-1, log=True, seed=None):
        super().__init__(seed)
        self.minval, self.maxval = _check_range("minval", minval, "maxval", maxval)
        self.log = bool(log)

    def _values(self, shape):
        dt = log_uniform(self._rng(), shape, self.minval, self.maxval)
        return np.log(dt) if self.log else dt

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "log": self.log, "seed": self.seed}


@keras.saving.register_keras_serializable(package="keras_ssm")
class DLRRadius(_SeededInitializer):
    """DLR p_n = sqrt(0.5·dt_n), dt_n log-uniform (so Re Λ_n = −p_n² = −dt_n/2).

    Args:
        dt_min: float > 0 (default 1e-4).
        dt_max: float >= dt_min (default 1e-1).
        seed: int or None.

    Returns (when called with `shape`):
        float tensor (N,).

    Example:
        >>> p = DLRRadius(1e-4, 1e-1, seed=0)((1024,))

    References:
        arXiv:2212.00768 (DLR initialization).
    """

    def __init__(self, dt_min=1e-4, dt_max=1e-1, seed=None):
        super().__init__(seed)
        self.dt_min, self.dt_max = _check_range("dt_min", dt_min, "dt_max", dt_max)

    def _values(self, shape):
        self._check_rank(shape, 1, "(N,)")
        p, _ = dlr_ring_init(self._rng(), max(shape[0], 1), self.dt_min, self.dt_max)
        return p[: shape[0]]

    def get_config(self):
        return {"dt_min": self.dt_min, "dt_max": self.dt_max, "seed": self.seed}


@keras.saving.register_keras_serializable(package="keras_ssm")
class DLRPhase(_NumpyInitializer):
    """DLR phases θ_n = 2πn/N mod 2π (deterministic ring of N-th roots of unity).

    Returns (when called with `shape`):
        float tensor (N,).

    Example:
        >>> theta = DLRPhase()((4,))   # [0, π/2, π, 3π/2]

    References:
        arXiv:2212.00768 (DLR initialization).
    """

    def _values(self, shape):
        self._check_rank(shape, 1, "(N,)")
        n = shape[0]
        return np.mod(2.0 * np.pi * np.arange(n) / max(n, 1), 2.0 * np.pi)

    def get_config(self):
        return {}


@keras.saving.register_keras_serializable(package="keras_ssm")
class DSSLambdaLogNegReal(_NumpyInitializer):
    """DSS log(−Re Λ) = log(0.5) for every state (Re λ_n = −exp(·) = −0.5).

    Returns (when called with `shape`):
        float tensor (N,).

    Example:
        >>> log_neg_re = DSSLambdaLogNegReal()((64,))

    References:
        arXiv:2203.14343 (DSS_EXP parameterization).
    """

    def _values(self, shape):
        self._check_rank(shape, 1, "(N,)")
        return np.full(shape, math.log(0.5))

    def get_config(self):
        return {}


@keras.saving.register_keras_serializable(package="keras_ssm")
class DSSLambdaImag(_SeededInitializer):
    """DSS Im Λ = ω (N,) from a named initialization.

    Options for `init`:
        - "hippo_skew": ω of `dss_skew_hippo_eigenvalues` (descending).
        - "lin": ω_n = πn.
        - "randn": ω_n ~ N(0, 1) (DLR repository's 'randn').

    Args:
        init: one of "hippo_skew", "lin", "randn".
        seed: int or None (only used by "randn").

    Returns (when called with `shape`):
        float tensor (N,).

    Example:
        >>> omega = DSSLambdaImag("hippo_skew")((64,))

    References:
        arXiv:2203.14343 (DSS), arXiv:2212.00768 (DLR, 'lin').
    """

    OPTIONS = ("hippo_skew", "lin", "randn")

    def __init__(self, init="hippo_skew", seed=None):
        super().__init__(seed)
        self.init = _check_option("init", init, self.OPTIONS)

    def _values(self, shape):
        self._check_rank(shape, 1, "(N,)")
        n = shape[0]
        if n == 0:
            return np.zeros((0,))
        if self.init == "hippo_skew":
            return dss_skew_hippo_eigenvalues(n).imag
        if self.init == "lin":
            return dss_lin_eigenvalues(n).imag
        return self._rng().standard_normal(size=(n,))

    def get_config(self):
        return {"init": self.init, "seed": self.seed}


@keras.saving.register_keras_serializable(package="keras_ssm")
class ComplexNormal(_SeededInitializer):
    """Complex Gaussian stored as (…, 2): real and imaginary parts i.i.d. N(0, stddev²).

    Used for DSS W (stddev 1) and DLR W (stddev W_scale = 1/N).

    Args:
        stddev: float >= 0, std of each real part (default 1.0).
        seed: int or None.

    Returns (when called with `shape`):
        float tensor (..., 2); the last axis is (re, im).

    Example:
        >>> w = ComplexNormal(1.0, seed=0)((1, 8, 64, 2))   # DSS W: (C, H, N, 2)

    References:
        arXiv:2203.14343 (DSS W), arXiv:2212.00768 (DLR W).
    """

    def __init__(self, stddev=1.0, seed=None):
        super().__init__(seed)
        stddev = float(stddev)
        if not stddev >= 0.0:
            raise ValueError(f"`stddev` must be >= 0, got {stddev}.")
        self.stddev = stddev

    def _values(self, shape):
        if len(shape) < 1 or shape[-1] != 2:
            raise self._shape_error("(..., 2) with last axis (re, im)", shape)
        return self.stddev * self._rng().standard_normal(size=shape)

    def get_config(self):
        return {"stddev": self.stddev, "seed": self.seed}


class _S5Initializer(_NumpyInitializer):
    """Shared S5 helpers: `blocks`, `conj_sym`, and Λ/V/V⁻¹ for a stored size P."""

    def __init__(self, blocks=1, conj_sym=True):
        self.blocks = _check_positive_int("blocks", blocks)
        self.conj_sym = bool(conj_sym)

    def _eigen(self, p, shape):
        p_full = 2 * p if self.conj_sym else p
        try:
            return s5_block_diagonal_init(p_full, self.blocks, self.conj_sym)
        except ValueError as e:
            raise ValueError(
                f"{type(self).__name__}: requested shape {shape} gives stored "
                f"state size P={p} "
                f"(state_size P_full={p_full}, conj_sym={self.conj_sym}) does "
                f"not fit blocks={self.blocks}: {e}"
            ) from e

    def get_config(self):
        return {"blocks": self.blocks, "conj_sym": self.conj_sym}


@keras.saving.register_keras_serializable(package="keras_ssm")
class S5LambdaReal(_S5Initializer):
    """S5 Re Λ (P,): −0.5 for every state (block-diagonal HiPPO-N).

    Args:
        blocks: int, J, number of HiPPO-N blocks.
        conj_sym: bool; with True the stored P is half of P_full = 2P.

    Returns (when called with `shape`):
        float tensor (P,).

    Example:
        >>> lam_re = S5LambdaReal(blocks=8)((8,))

    References:
        arXiv:2208.04933 (S5).
    """

    def _values(self, shape):
        self._check_rank(shape, 1, "(P,)")
        return self._eigen(shape[0], shape)[0].real


@keras.saving.register_keras_serializable(package="keras_ssm")
class S5LambdaImag(_S5Initializer):
    """S5 Im Λ (P,): HiPPO-N block spectrum tiled over `blocks` blocks.

    Args:
        blocks: int, J, number of HiPPO-N blocks.
        conj_sym: bool; with True only negative imaginary parts are kept.

    Returns (when called with `shape`):
        float tensor (P,).

    Example:
        >>> lam_im = S5LambdaImag(blocks=8)((8,))   # all −0.866

    References:
        arXiv:2208.04933 (S5).
    """

    def _values(self, shape):
        self._check_rank(shape, 1, "(P,)")
        return self._eigen(shape[0], shape)[0].imag


class _S5SeededInitializer(_S5Initializer):
    def __init__(self, blocks=1, conj_sym=True, seed=None):
        super().__init__(blocks, conj_sym)
        self.seed = _check_seed(seed)

    def _rng(self):
        return np.random.default_rng(self.seed)

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


@keras.saving.register_keras_serializable(package="keras_ssm")
class S5B(_S5SeededInitializer):
    """S5 B̃ = V⁻¹B (P, H) stored as (P, H, 2), with B ~ lecun_normal(P_full, H).

    B is real, truncated normal with std 1/sqrt(P_full) (fan_in = P_full,
    not H); V⁻¹ is the block-diagonal (P, P_full) of `s5_block_diagonal_init`.

    Args:
        blocks: int, J, number of HiPPO-N blocks.
        conj_sym: bool; with True P = P_full / 2.
        seed: int or None.

    Returns (when called with `shape`):
        float tensor (P, H, 2); the last axis is (re, im).

    Example:
        >>> b = S5B(blocks=4, seed=0)((32, 16, 2))   # P=32 (P_full=64), H=16

    References:
        arXiv:2208.04933 (S5 B initialization).
    """

    def _values(self, shape):
        if len(shape) != 3 or shape[-1] != 2:
            raise self._shape_error("(P, H, 2)", shape)
        p, h, _ = shape
        _, _, v_inv = self._eigen(p, shape)
        p_full = v_inv.shape[1]
        b = truncated_lecun_normal(self._rng(), (p_full, h), fan_in=p_full)
        return _complex_to_pairs(v_inv @ b)


@keras.saving.register_keras_serializable(package="keras_ssm")
class S5C(_S5SeededInitializer):
    """S5 C̃ (H, P) stored as (H, P, 2), by one of the official options.

    Options for `kind`:
        - "trunc_standard_normal": each row of C (H, P_full) complex, re/im
          truncated normal with std 1/sqrt(P_full); then C̃ = C V.
        - "lecun_normal": the whole (H, P_full, 2) array truncated normal with
          std 1/sqrt(H·P_full); then C̃ = C V.
        - "complex_normal": C̃ drawn directly, re/im i.i.d. N(0, 0.5); any P is
          accepted (e.g. 2P for a bidirectional layer) and V is not used.

    Args:
        blocks: int, J, number of HiPPO-N blocks.
        conj_sym: bool; with True P = P_full / 2.
        kind: one of "trunc_standard_normal", "lecun_normal", "complex_normal".
        seed: int or None.

    Returns (when called with `shape`):
        float tensor (H, P, 2); the last axis is (re, im).

    Example:
        >>> c = S5C(blocks=4, seed=0)((16, 32, 2))   # H=16, P=32 (P_full=64)

    References:
        arXiv:2208.04933 (S5 C initialization).
    """

    OPTIONS = ("trunc_standard_normal", "lecun_normal", "complex_normal")

    def __init__(self, blocks=1, conj_sym=True, kind="trunc_standard_normal", seed=None):
        super().__init__(blocks, conj_sym, seed)
        self.kind = _check_option("kind", kind, self.OPTIONS)

    def _values(self, shape):
        if len(shape) != 3 or shape[-1] != 2:
            raise self._shape_error("(H, P, 2)", shape)
        h, p, _ = shape
        rng = self._rng()
        if self.kind == "complex_normal":
            return math.sqrt(0.5) * rng.standard_normal(size=shape)
        _, v, _ = self._eigen(p, shape)
        p_full = v.shape[0]
        fan_in = p_full if self.kind == "trunc_standard_normal" else h * p_full
        c = truncated_lecun_normal(rng, (h, p_full, 2), fan_in=fan_in)
        return _complex_to_pairs((c[..., 0] + 1j * c[..., 1]) @ v)

    def get_config(self):
        return {**super().get_config(), "kind": self.kind}
