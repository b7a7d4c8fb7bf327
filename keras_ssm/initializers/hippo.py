"""HiPPO matrices and the diagonal spectra derived from them: pure numpy, float64.

The DSS eigenvalue sets (skew-HiPPO, linear), the S5 HiPPO-N eigendecomposition,
with its block-diagonal form, and the S4D initializations (Lin, Inv, LegS with its B).
Symbols follow the papers: Λ (diagonal state matrix, complex), V (its eigenvectors), V⁻¹.

References:
    - HiPPO: Gu, Dao, Ermon, Rudra, Ré, "HiPPO: Recurrent Memory with Optimal
      Polynomial Projections", arXiv:2008.07669.
    - DSS: Gupta, Gu, Berant, arXiv:2203.14343.
    - S5: Smith, Warrington, Linderman, arXiv:2208.04933.
    - S4D: Gu, Gupta, Goel, Ré, "On the Parameterization and Initialization of
      Diagonal State Space Models", arXiv:2206.11893.
"""

import numpy as np

from keras_ssm.initializers._checks import _check_positive_int

__all__ = [
    "hippo_legs",
    "hippo_normal",
    "dss_skew_hippo_eigenvalues",
    "dss_lin_eigenvalues",
    "s5_hippo_n_eigendecomposition",
    "s5_block_diagonal_init",
    "s4d_init",
]

# S4D-LegS clamps Im B̃ to [-B_CLIP, B_CLIP] (the S4 code's `B_clip`).
B_CLIP = 2.0
S4D_INITS = ("lin", "inv", "legs")


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


def s4d_init(state_size, init="lin"):
    """S4D's initial diagonal A and input B: N/2 modes, one of each conjugate pair.

    With N = `state_size` (the real state size) and n = 0..N/2−1, every init has
    Re A_n = −½ and

    - "lin" (S4D-Lin):  A_n = −½ + iπn,                       B_n = 1;
    - "inv" (S4D-Inv):  A_n = −½ + i(N/π)(N/(2n+1) − 1),      B_n = 1;
    - "legs" (S4D-LegS): the diagonal of the normal part S = A_LegS + p pᵀ of
      HiPPO-LegS (`hippo_normal`), S = V diag(Λ) Vᴴ from the Hermitian
      eigendecomposition of −iS, and B = Vᴴ b with b_n = sqrt(2n+1) (HiPPO-LegS's
      B), Im B clamped to [−2, 2] as the authors' code does (`B_clip`).

    The kept modes have Im A >= 0 (the authors' minimal S4D code's sign); the S4
    repository's full kernel stores the conjugates (Im A <= 0, B conjugated), which
    give the same real kernel 2 Re Σ_n C_n B̄_n Ā_n^l. LegS modes are in the order of
    the eigendecomposition (largest Im A first), Lin and Inv in the order of n.

    Args:
        state_size: int, N, even.
        init: "lin", "inv" or "legs".

    Returns:
        Tuple (A, B), each complex128 (N/2,).

    Raises:
        ValueError: an odd `state_size` or an unknown `init`.

    Example:
        >>> a, b = s4d_init(8, "legs")
        >>> np.round(a.imag, 3)
        array([19.857,  5.354,  1.958,  0.427])
        >>> a, b = s4d_init(4, "inv")
        >>> np.round(a.imag, 3)
        array([3.82 , 0.424])

    References:
        arXiv:2206.11893 (S4D, section 4 and its code: state-spaces/s4
        src/models/sequence/kernels/dplr.py and hippo.py).
    """
    n = _check_positive_int("state_size", state_size)
    if n % 2:
        raise ValueError(
            f"`state_size` must be even: S4D keeps N/2 modes, one of each conjugate pair; "
            f"got {n}. Use an even state_size such as {n + 1}."
        )
    if init not in S4D_INITS:
        raise ValueError(f"`init` must be one of {S4D_INITS}, got {init!r}.")
    half = np.arange(n // 2)
    if init == "lin":
        return -0.5 + 1j * np.pi * half, np.ones(n // 2, np.complex128)
    if init == "inv":
        imag = n / np.pi * (n / (2.0 * half + 1.0) - 1.0)
        return -0.5 + 1j * imag, np.ones(n // 2, np.complex128)
    s = hippo_normal(n)
    # −iS on its lower triangle (what a Hermitian solver reads): the skew part of S.
    omega, v = np.linalg.eigh(-1j * s, UPLO="L")
    # Ascending: the first N/2 have Im <= 0 (the S4 code's kept half); conjugating
    # (A, B) gives the Im A >= 0 half with the same kernel.
    a = np.mean(np.diag(s)) + 1j * omega[: n // 2]
    b = v[:, : n // 2].conj().T @ np.sqrt(2.0 * np.arange(n) + 1.0)
    b = b.real + 1j * np.clip(b.imag, -B_CLIP, B_CLIP)
    return np.conj(a), np.conj(b)
