"""Initializations of diagonal state-space layers: HiPPO spectra, DLR ring, step sizes.

The math is plain numpy in float64 (functions taking an explicit
`numpy.random.Generator` where random). The Keras initializers at the bottom
are thin wrappers: they compute the numpy array, check that the requested
shape is the one they produce, and convert it to a float tensor.

Symbols follow the papers: Λ (diagonal state matrix, complex), V (its
eigenvectors), B̃ = V⁻¹B and C̃ = CV (input/output matrices in the eigenbasis),
Δ (step size). Complex arrays stored as real tensors carry (re, im) on their
last axis.

References:
    - DSS: Gupta, Gu, Berant, "Diagonal State Spaces are as Effective as
      Structured State Spaces", arXiv:2203.14343.
    - DLR: Gupta, Mehta, Berant, "Simplifying and Understanding State Space
      Models with Diagonal Linear RNNs", arXiv:2212.00768.
    - S5: Smith, Warrington, Linderman, "Simplified State Space Layers for
      Sequence Modeling", arXiv:2208.04933.
"""

import math

import keras
import numpy as np

__all__ = [
    "hippo_legs",
    "hippo_normal",
    "dss_skew_hippo_eigenvalues",
    "dss_lin_eigenvalues",
    "s5_hippo_n_eigendecomposition",
    "s5_block_diagonal_init",
    "log_uniform",
    "truncated_lecun_normal",
    "dlr_ring_init",
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


# --------------------------------------------------------------------------
# Argument checks
# --------------------------------------------------------------------------


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(
            f"`{name}` must be a positive integer, got {value!r} "
            f"(type {type(value).__name__})."
        )
    if value < 1:
        raise ValueError(f"`{name}` must be a positive integer, got {value}.")
    return int(value)


def _check_option(name, value, valid):
    if value not in valid:
        raise ValueError(
            f"Unknown `{name}`={value!r}. Valid options: "
            + ", ".join(repr(v) for v in valid)
            + "."
        )
    return value


def _check_seed(seed):
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(
            f"`seed` must be a non-negative int or None, got {seed!r}."
        )
    if seed < 0:
        raise ValueError(f"`seed` must be a non-negative int or None, got {seed}.")
    return int(seed)


def _check_range(min_name, minval, max_name, maxval):
    minval, maxval = float(minval), float(maxval)
    if not minval > 0.0:
        raise ValueError(f"`{min_name}` must be > 0, got {minval}.")
    if maxval < minval:
        raise ValueError(
            f"`{max_name}` ({maxval}) must be >= `{min_name}` ({minval})."
        )
    return minval, maxval


# --------------------------------------------------------------------------
# HiPPO matrices and their spectra
# --------------------------------------------------------------------------


def hippo_legs(n):
    """Negated HiPPO-LegS state matrix A.

    A_nk = −sqrt((2n+1)(2k+1)) for n > k, A_nn = −(n+1), A_nk = 0 for n < k.

    Args:
        n: int, state size N.

    Returns:
        float64 array (N, N), lower triangular.

    Example:
        >>> hippo_legs(2)
        array([[-1.        ,  0.        ],
               [-1.73205081, -2.        ]])

    References:
        arXiv:2208.04933 (S5, appendix on HiPPO-N), arXiv:2203.14343 (DSS).
    """
    n = _check_positive_int("n", n)
    q = np.sqrt(2.0 * np.arange(n) + 1.0)
    a = np.tril(-np.outer(q, q), k=-1)
    a -= np.diag(np.arange(n) + 1.0)
    return a


def hippo_normal(n):
    """Normal part S = A + p pᵀ of the negated HiPPO-LegS matrix ("HiPPO-N").

    With p_n = sqrt(n + 1/2), S = −½·I + K where K is real skew-symmetric:
    S_nk = −sqrt((n+½)(k+½)) (n > k), −½ (n = k), +sqrt((n+½)(k+½)) (n < k).

    Args:
        n: int, state size N.

    Returns:
        float64 array (N, N).

    Example:
        >>> S = hippo_normal(4)
        >>> bool(np.allclose(S + S.T, -np.eye(4)))
        True

    References:
        arXiv:2208.04933 (S5, section on HiPPO-N).
    """
    n = _check_positive_int("n", n)
    p = np.sqrt(np.arange(n) + 0.5)
    return hippo_legs(n) + np.outer(p, p)


def dss_skew_hippo_eigenvalues(state_size):
    """DSS 'Skew-HiPPO' initial Λ (`hippo_skew_pos_imag`): λ_n = −0.5 + iω_n.

    The ω_n are the positive imaginary parts of the eigenvalues of the
    skew-symmetric part (M − Mᵀ)/2 of the 2N×2N HiPPO-LegS magnitude matrix
    M_nk = sqrt((2n+1)(2k+1)) (n > k, else 0), sorted descending.

    Args:
        state_size: int, N.

    Returns:
        complex128 array (N,), real parts −0.5, imaginary parts descending.

    Example:
        >>> np.round(dss_skew_hippo_eigenvalues(4).imag, 2)
        array([19.86,  5.35,  1.96,  0.43])

    References:
        arXiv:2203.14343 (DSS, section 3 and appendix on initialization).
    """
    n = _check_positive_int("state_size", state_size)
    magnitude = -np.tril(hippo_legs(2 * n), k=-1)
    skew = 0.5 * (magnitude - magnitude.T)
    # skew is real skew-symmetric, so −i·skew is Hermitian with real spectrum ω
    # and skew's eigenvalues are iω.
    omega = np.linalg.eigvalsh(-1j * skew)
    omega = np.sort(omega)[::-1][:n]
    return -0.5 + 1j * omega


def dss_lin_eigenvalues(state_size):
    """DSS/DLR 'lin' initial Λ: λ_n = −0.5 + iπn for n = 0..N−1 (as S4D-Lin).

    Args:
        state_size: int, N.

    Returns:
        complex128 array (N,).

    Example:
        >>> dss_lin_eigenvalues(3)
        array([-0.5+0.j        , -0.5+3.14159265j, -0.5+6.28318531j])

    References:
        arXiv:2212.00768 (DLR, DSS-EXP runs), arXiv:2203.14343 (DSS).
    """
    n = _check_positive_int("state_size", state_size)
    return -0.5 + 1j * np.pi * np.arange(n)


def s5_hippo_n_eigendecomposition(block_size, conj_sym=True):
    """Diagonalize one HiPPO-N block: S = V diag(Λ) Vᴴ, as in S5.

    Re Λ is mean(diag S) = −0.5 for every eigenvalue. Im Λ and V come from the
    Hermitian eigendecomposition of (−i)·S after symmetrization (which drops
    the real diagonal), so Im Λ is ascending and V is unitary. With
    `conj_sym=True` only the first N/2 eigenpairs are kept: those with
    negative imaginary part, most negative first.

    Args:
        block_size: int, N (the HiPPO block size). Must be even with conj_sym.
        conj_sym: bool, keep only one eigenvalue of each conjugate pair.

    Returns:
        Tuple (Λ, V):
            Λ: complex128 (N,) or (N/2,) with conj_sym.
            V: complex128 (N, N) or (N, N/2) with conj_sym; orthonormal columns.

    Raises:
        ValueError: if `block_size` is odd while `conj_sym=True`.

    Example:
        >>> lam, v = s5_hippo_n_eigendecomposition(2)
        >>> np.round(lam, 3)
        array([-0.5-0.866j])
        >>> v.shape
        (2, 1)

    References:
        arXiv:2208.04933 (S5, sections on initialization and conjugate symmetry).
    """
    n = _check_positive_int("block_size", block_size)
    if conj_sym and n % 2:
        raise ValueError(
            f"`block_size` must be even when `conj_sym=True` (eigenvalues are "
            f"kept in conjugate pairs), got block_size={n}. Use an even block "
            f"size or conj_sym=False."
        )
    s = hippo_normal(n)
    real_part = np.mean(np.diag(s))
    h = -1j * s
    h = 0.5 * (h + h.conj().T)  # Hermitian part: −i·K (K = skew part of S)
    imag_part, v = np.linalg.eigh(h)
    lam = real_part + 1j * imag_part
    if conj_sym:
        lam, v = lam[: n // 2], v[:, : n // 2]
    return lam, v


def s5_block_diagonal_init(state_size, blocks, conj_sym=True):
    """S5 block-diagonal initialization of Λ, V and V⁻¹ from J HiPPO-N blocks.

    N = state_size / blocks. Λ is the (kept) HiPPO-N spectrum of one block
    tiled J times; V = blockdiag(V_N, …, V_N) and V⁻¹ := blockdiag(V_Nᴴ, …).

    Args:
        state_size: int, P_full (the full state size before conj_sym halving).
        blocks: int, J, number of HiPPO-N blocks. Must divide `state_size`,
            and with conj_sym the block size state_size / blocks must be even.
        conj_sym: bool, keep one eigenvalue of each conjugate pair (P = P_full/2).

    Returns:
        Tuple (Λ, V, V_inv):
            Λ: complex128 (P,).
            V: complex128 (P_full, P).
            V_inv: complex128 (P, P_full), equal to Vᴴ.
        With conj_sym P = P_full / 2, otherwise P = P_full.

    Raises:
        ValueError: naming `state_size` and `blocks` when they do not fit.

    Example:
        >>> lam, v, v_inv = s5_block_diagonal_init(16, 8)
        >>> lam.shape, v.shape, v_inv.shape
        ((8,), (16, 8), (8, 16))

    References:
        arXiv:2208.04933 (S5, block-diagonal initialization).
    """
    p_full = _check_positive_int("state_size", state_size)
    j = _check_positive_int("blocks", blocks)
    if p_full % j:
        raise ValueError(
            f"`state_size` ({p_full}) must be divisible by `blocks` ({j}). "
            f"Choose `blocks` among the divisors of `state_size`."
        )
    n = p_full // j
    if conj_sym and n % 2:
        raise ValueError(
            f"With conj_sym=True the block size `state_size` / `blocks` = "
            f"{p_full} / {j} = {n} must be even. Change `state_size` or `blocks` "
            f"(or use conj_sym=False)."
        )
    lam_n, v_n = s5_hippo_n_eigendecomposition(n, conj_sym=conj_sym)
    kept = lam_n.shape[0]
    lam = np.tile(lam_n, j)
    v = np.zeros((p_full, j * kept), dtype=np.complex128)
    for b in range(j):
        v[b * n : (b + 1) * n, b * kept : (b + 1) * kept] = v_n
    v_inv = v.conj().T.copy()
    return lam, v, v_inv


# --------------------------------------------------------------------------
# Random draws
# --------------------------------------------------------------------------


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


def _complex_to_pairs(z):
    return np.stack([z.real, z.imag], axis=-1)


class _NumpyInitializer(keras.initializers.Initializer):
    """Base: computes a float64 numpy array and converts it to a float tensor."""

    def __call__(self, shape, dtype=None):
        try:
            shape = tuple(int(d) for d in shape)
        except TypeError as e:
            raise ValueError(
                f"{type(self).__name__}: `shape` must be a tuple of ints, "
                f"got {shape!r}."
            ) from e
        if any(d < 0 for d in shape):
            raise ValueError(
                f"{type(self).__name__}: `shape` must be non-negative, got {shape}."
            )
        dtype = keras.backend.standardize_dtype(dtype or keras.config.floatx())
        if not keras.backend.is_float_dtype(dtype):
            raise ValueError(
                f"{type(self).__name__} produces real floating values; "
                f"`dtype` must be a float dtype, got {dtype!r}."
            )
        values = np.asarray(self._values(shape), dtype=np.float64)
        if values.shape != shape:  # internal consistency guard
            raise ValueError(
                f"{type(self).__name__} produced shape {values.shape}, "
                f"expected {shape}."
            )
        return keras.ops.convert_to_tensor(values.astype(np.float32), dtype=dtype)

    def _values(self, shape):
        raise NotImplementedError

    def _shape_error(self, expected, shape):
        return ValueError(
            f"{type(self).__name__} initializes arrays of shape {expected}; "
            f"got shape {shape}."
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
        return {"minval": self.minval, "maxval": self.maxval, "log": self.log,
                "seed": self.seed}


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
        p, _ = dlr_ring_init(self._rng(), max(shape[0], 1), self.dt_min,
                             self.dt_max)
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

    def __init__(self, blocks=1, conj_sym=True, kind="trunc_standard_normal",
                 seed=None):
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
