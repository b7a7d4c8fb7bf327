"""Tests for keras_ssm.initializers against references written from the papers' definitions."""

import math

import keras
import numpy as np
import pytest

from keras_ssm import initializers as ki

# --------------------------------------------------------------------------
# Independent references (plain loops / numpy definitions from the papers)
# --------------------------------------------------------------------------


def ref_hippo_legs(n_size):
    a = np.zeros((n_size, n_size))
    for n in range(n_size):
        for k in range(n_size):
            if n > k:
                a[n, k] = -math.sqrt((2 * n + 1) * (2 * k + 1))
            elif n == k:
                a[n, k] = -(n + 1)
    return a


def ref_hippo_normal(n_size):
    """S5 spec A2 entrywise formula for S = A + p pᵀ."""
    s = np.zeros((n_size, n_size))
    for n in range(n_size):
        for k in range(n_size):
            if n > k:
                s[n, k] = -math.sqrt((n + 0.5) * (k + 0.5))
            elif n == k:
                s[n, k] = -0.5
            else:
                s[n, k] = math.sqrt((n + 0.5) * (k + 0.5))
    return s


def ref_dss_skew_omega(n_size):
    """Positive imaginary parts, descending, of eig((M − Mᵀ)/2) for the 2N×2N M."""
    m = np.zeros((2 * n_size, 2 * n_size))
    for n in range(2 * n_size):
        for k in range(n):
            m[n, k] = math.sqrt((2 * n + 1) * (2 * k + 1))
    eig = np.linalg.eigvals(0.5 * (m - m.T))  # general (non-Hermitian) solver
    return np.sort(eig.imag)[::-1][:n_size]


def ref_truncated_std(bound=2.0):
    """Std of N(0, 1) truncated to [−bound, bound], by numerical integration."""
    z = np.linspace(-bound, bound, 200001)
    pdf = np.exp(-0.5 * z**2)
    return math.sqrt(np.trapezoid(z**2 * pdf, z) / np.trapezoid(pdf, z))


def to_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def as_complex(pairs):
    return pairs[..., 0] + 1j * pairs[..., 1]


# Spec numbers: dss_dlr.md A.3 and s5.md A2.
DSS_N4_OMEGA = [19.86, 5.35, 1.96, 0.43]
S5_POSITIVE_IMAG = {
    2: [0.866],
    8: [0.427, 1.958, 5.354, 19.857],
    16: [0.352, 1.372, 2.900, 5.090, 8.362, 13.834, 25.629, 80.966],
}


# --------------------------------------------------------------------------
# HiPPO matrices
# --------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 5, 16])
def test_hippo_legs_entries(n):
    np.testing.assert_allclose(ki.hippo_legs(n), ref_hippo_legs(n), rtol=0, atol=1e-12)


@pytest.mark.parametrize("n", [1, 2, 5, 16])
def test_hippo_normal_entries(n):
    s = ki.hippo_normal(n)
    np.testing.assert_allclose(s, ref_hippo_normal(n), rtol=0, atol=1e-12)
    np.testing.assert_allclose(s + s.T, -np.eye(n), atol=1e-12)  # −½I + skew


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_hippo_size_must_be_positive_int(bad):
    with pytest.raises(ValueError, match="`n`"):
        ki.hippo_legs(bad)


# --------------------------------------------------------------------------
# DSS spectra
# --------------------------------------------------------------------------


def test_dss_skew_spectrum_n4_matches_spec():
    lam = ki.dss_skew_hippo_eigenvalues(4)
    assert lam.shape == (4,) and np.iscomplexobj(lam)
    np.testing.assert_allclose(lam.real, -0.5, atol=1e-12)
    np.testing.assert_allclose(lam.imag, ref_dss_skew_omega(4), rtol=1e-9)
    np.testing.assert_allclose(lam.imag, DSS_N4_OMEGA, atol=5e-3)


def test_dss_skew_spectrum_n64_range():
    lam = ki.dss_skew_hippo_eigenvalues(64)
    omega = lam.imag
    assert omega.shape == (64,)
    assert np.all(np.diff(omega) < 0), "sorted by imaginary part, descending"
    assert np.all(omega > 0)
    np.testing.assert_allclose(omega, ref_dss_skew_omega(64), rtol=1e-7)
    np.testing.assert_allclose(omega[0], 5214.7, atol=0.05)
    np.testing.assert_allclose(omega[-1], 0.235, atol=5e-4)


def test_dss_lin_eigenvalues():
    lam = ki.dss_lin_eigenvalues(5)
    expected = np.array([complex(-0.5, math.pi * n) for n in range(5)])
    np.testing.assert_allclose(lam, expected, atol=1e-12)


# --------------------------------------------------------------------------
# S5 HiPPO-N diagonalization
# --------------------------------------------------------------------------


@pytest.mark.parametrize("n", sorted(S5_POSITIVE_IMAG))
def test_s5_hippo_n_spectrum_matches_spec(n):
    lam, _ = ki.s5_hippo_n_eigendecomposition(n, conj_sym=False)
    positive = np.array(S5_POSITIVE_IMAG[n])
    expected_imag = np.concatenate([-positive[::-1], positive])  # eigh: ascending
    np.testing.assert_allclose(lam.real, -0.5, atol=1e-12)
    np.testing.assert_allclose(lam.imag, expected_imag, atol=6e-4)


@pytest.mark.parametrize("n", [2, 5, 8, 16, 32])
def test_s5_hippo_n_v_unitary_and_reconstructs_s(n):
    lam, v = ki.s5_hippo_n_eigendecomposition(n, conj_sym=False)
    assert lam.shape == (n,) and v.shape == (n, n)
    np.testing.assert_allclose(v.conj().T @ v, np.eye(n), atol=1e-10)
    s_rebuilt = v @ np.diag(lam) @ v.conj().T
    np.testing.assert_allclose(s_rebuilt, ref_hippo_normal(n), atol=1e-9 * n)


@pytest.mark.parametrize("n", [2, 8, 16])
def test_s5_hippo_n_conj_sym_keeps_negative_half(n):
    lam_full, _ = ki.s5_hippo_n_eigendecomposition(n, conj_sym=False)
    lam, v = ki.s5_hippo_n_eigendecomposition(n, conj_sym=True)
    assert lam.shape == (n // 2,) and v.shape == (n, n // 2)
    assert np.all(lam.imag < 0)
    assert np.all(np.diff(lam.imag) > 0), "most negative first"
    np.testing.assert_allclose(lam, lam_full[: n // 2], atol=1e-12)
    # Kept columns are orthonormal eigenvectors of S for the kept eigenvalues.
    s = ref_hippo_normal(n)
    np.testing.assert_allclose(v.conj().T @ v, np.eye(n // 2), atol=1e-10)
    np.testing.assert_allclose(s @ v, v * lam[None, :], atol=1e-9 * n)
    # The dropped half is the conjugate of the kept half.
    np.testing.assert_allclose(np.sort(lam_full[n // 2 :].imag), np.sort(-lam.imag), atol=1e-9)


def test_s5_hippo_n_odd_block_with_conj_sym_raises():
    with pytest.raises(ValueError, match="block_size"):
        ki.s5_hippo_n_eigendecomposition(5, conj_sym=True)


# --------------------------------------------------------------------------
# S5 block-diagonal init
# --------------------------------------------------------------------------


@pytest.mark.parametrize("conj_sym", [True, False])
@pytest.mark.parametrize("state_size,blocks", [(16, 4), (16, 8), (12, 1), (24, 3)])
def test_s5_block_diagonal_structure(state_size, blocks, conj_sym):
    lam, v, v_inv = ki.s5_block_diagonal_init(state_size, blocks, conj_sym=conj_sym)
    n = state_size // blocks
    kept = n // 2 if conj_sym else n
    p = blocks * kept
    assert lam.shape == (p,) and v.shape == (state_size, p) and v_inv.shape == (p, state_size)

    s_block = ref_hippo_normal(n)
    s_full = np.zeros((state_size, state_size))
    for b in range(blocks):
        s_full[b * n : (b + 1) * n, b * n : (b + 1) * n] = s_block
    ref_imag = np.sort(np.linalg.eigvals(s_block).imag)[:kept]

    for b in range(blocks):
        rows, cols = slice(b * n, (b + 1) * n), slice(b * kept, (b + 1) * kept)
        np.testing.assert_allclose(lam[cols].imag, ref_imag, atol=1e-9)
        np.testing.assert_allclose(v[rows, cols], v[:n, :kept], atol=0)  # same block
        off = v.copy()
        off[rows, cols] = 0
        assert np.all(off[rows, :] == 0), "V must be block diagonal"
    np.testing.assert_allclose(lam.real, -0.5, atol=1e-12)
    np.testing.assert_allclose(v_inv, v.conj().T, atol=0)
    np.testing.assert_allclose(v_inv @ v, np.eye(p), atol=1e-10)
    np.testing.assert_allclose(s_full @ v, v * lam[None, :], atol=1e-9 * n)


def test_s5_block_size_two_gives_listops_eigenvalues():
    lam, _, _ = ki.s5_block_diagonal_init(16, 8, conj_sym=True)
    np.testing.assert_allclose(lam, np.full(8, -0.5 - 1j * math.sqrt(3) / 2), atol=1e-12)


@pytest.mark.parametrize("state_size,blocks", [(12, 4), (6, 2), (10, 4)])
def test_s5_block_errors_name_both_args(state_size, blocks):
    with pytest.raises(ValueError) as err:
        ki.s5_block_diagonal_init(state_size, blocks, conj_sym=True)
    assert "state_size" in str(err.value) and "blocks" in str(err.value)


def test_s5_odd_block_allowed_without_conj_sym():
    lam, v, _ = ki.s5_block_diagonal_init(12, 4, conj_sym=False)
    assert lam.shape == (12,) and v.shape == (12, 12)


# --------------------------------------------------------------------------
# Random draws
# --------------------------------------------------------------------------


def test_log_uniform_range_and_log_uniformity():
    rng = np.random.default_rng(0)
    lo, hi = 1e-4, 1e-1
    x = ki.log_uniform(rng, (200, 100), lo, hi)
    assert x.shape == (200, 100)
    assert x.min() >= lo and x.max() <= hi
    # Kolmogorov–Smirnov distance of the normalised logs to U[0, 1].
    u = np.sort((np.log(x.ravel()) - math.log(lo)) / (math.log(hi) - math.log(lo)))
    n = u.size
    ecdf_hi = np.arange(1, n + 1) / n
    ecdf_lo = np.arange(0, n) / n
    ks = max(np.max(ecdf_hi - u), np.max(u - ecdf_lo))
    assert ks < 1.63 / math.sqrt(n)  # 1% critical value
    # 2 of the 3 decades lie below 1e-2 (a plain uniform on [lo, hi] would give ≈ 0.1).
    assert 0.64 < np.mean(x < 1e-2) < 0.69


def test_log_uniform_degenerate_range_and_errors():
    x = ki.log_uniform(np.random.default_rng(0), (5,), 1e-5, 1e-5)
    np.testing.assert_allclose(x, 1e-5, rtol=1e-12)
    with pytest.raises(ValueError, match="minval"):
        ki.log_uniform(np.random.default_rng(0), (5,), 0.0, 1.0)
    with pytest.raises(ValueError, match="maxval"):
        ki.log_uniform(np.random.default_rng(0), (5,), 1e-1, 1e-2)


@pytest.mark.parametrize("fan_in", [1, 16, 64])
def test_truncated_lecun_normal_std_and_bound(fan_in):
    x = ki.truncated_lecun_normal(np.random.default_rng(1), (400, 500), fan_in=fan_in)
    target = 1.0 / math.sqrt(fan_in)
    bound = 2.0 * target / ref_truncated_std()
    assert x.shape == (400, 500)
    np.testing.assert_allclose(x.std(), target, rtol=0.01)
    np.testing.assert_allclose(x.mean(), 0.0, atol=0.01 * target)
    assert np.max(np.abs(x)) <= bound * (1 + 1e-12)
    assert np.max(np.abs(x)) > 0.99 * bound  # the cut is at ±2 pre-rescaling σ


def test_dlr_ring_init_phases_and_radii():
    n = 12
    p, theta = ki.dlr_ring_init(np.random.default_rng(0), n, 1e-4, 1e-1)
    roots = np.exp(2j * np.pi * np.arange(n) / n)
    np.testing.assert_allclose(theta, np.mod(np.angle(roots), 2 * np.pi), atol=1e-12)
    assert np.all((theta >= 0) & (theta < 2 * np.pi))
    radius = np.exp(-(p**2))
    assert np.all(radius >= math.exp(-0.05) - 1e-15) and np.all(radius <= math.exp(-5e-5) + 1e-15)
    assert len(np.unique(p)) == n  # one dt per state
    p_const, _ = ki.dlr_ring_init(np.random.default_rng(0), 4, 1e-5, 1e-5)
    np.testing.assert_allclose(np.exp(-(p_const**2)), 1 - 5e-6, atol=1e-10)


# --------------------------------------------------------------------------
# Keras initializers: common contract
# --------------------------------------------------------------------------

# name -> (factory(seed), good shape, wrong shape, is_random)
CASES = {
    "LogUniform": (lambda s: ki.LogUniform(1e-3, 1e-1, seed=s), (4, 3), None, True),
    "LogUniform_raw": (lambda s: ki.LogUniform(1e-3, 1e-1, log=False, seed=s), (7,), None, True),
    "DLRRadius": (lambda s: ki.DLRRadius(1e-4, 1e-1, seed=s), (16,), (16, 1), True),
    "DLRPhase": (lambda s: ki.DLRPhase(), (16,), (4, 4), False),
    "DSSLambdaLogNegReal": (lambda s: ki.DSSLambdaLogNegReal(), (8,), (8, 2), False),
    "DSSLambdaImag_skew": (lambda s: ki.DSSLambdaImag("hippo_skew"), (8,), (8, 1), False),
    "DSSLambdaImag_lin": (lambda s: ki.DSSLambdaImag("lin"), (8,), (2, 4), False),
    "DSSLambdaImag_randn": (lambda s: ki.DSSLambdaImag("randn", seed=s), (8,), (), True),
    "ComplexNormal": (lambda s: ki.ComplexNormal(1.0, seed=s), (2, 3, 4, 2), (2, 3), True),
    "S5LambdaReal": (lambda s: ki.S5LambdaReal(blocks=2), (8,), (7,), False),
    "S5LambdaImag": (lambda s: ki.S5LambdaImag(blocks=2), (8,), (8, 2), False),
    "S5LambdaImag_noconj": (lambda s: ki.S5LambdaImag(blocks=2, conj_sym=False), (8,), (7,), False),
    "S5B": (lambda s: ki.S5B(blocks=2, seed=s), (8, 3, 2), (8, 3), True),
    "S5B_noconj": (lambda s: ki.S5B(blocks=2, conj_sym=False, seed=s), (8, 3, 2), (7, 3, 2), True),
    "S5C_trunc": (lambda s: ki.S5C(blocks=2, seed=s), (3, 8, 2), (3, 7, 2), True),
    "S5C_lecun": (lambda s: ki.S5C(blocks=2, kind="lecun_normal", seed=s), (3, 8, 2), (3, 8), True),
    "S5C_complex": (
        lambda s: ki.S5C(blocks=2, kind="complex_normal", seed=s),
        (3, 8, 2),
        (3, 8, 3),
        True,
    ),
    "S4DInit_inv": (lambda s: ki.S4DInit("inv", "a_imag"), (2, 4), (2, 4, 2), False),
    "S4DInit_legs_b": (lambda s: ki.S4DInit("legs", "b"), (2, 4, 2), (2, 4), False),
    "LRURing": (lambda s: ki.LRURing("gamma_log", 0.5, 0.9, seed=s), (8,), (8, 1), True),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_keras_initializer_shape_dtype(name):
    factory, shape, _, _ = CASES[name]
    x = factory(1)(shape)
    assert tuple(x.shape) == shape
    assert keras.backend.standardize_dtype(x.dtype) == "float32"
    assert np.all(np.isfinite(to_numpy(x)))


@pytest.mark.parametrize("name", sorted(CASES))
def test_keras_initializer_seed_determinism(name):
    factory, shape, _, is_random = CASES[name]
    a = to_numpy(factory(3)(shape))
    init = factory(3)
    np.testing.assert_array_equal(a, to_numpy(init(shape)))
    np.testing.assert_array_equal(a, to_numpy(init(shape)))  # repeated call, same values
    other = to_numpy(factory(4)(shape))
    if is_random:
        assert not np.allclose(a, other), "different seeds must differ"
        unseeded = [to_numpy(factory(None)(shape)) for _ in range(2)]
        assert not np.allclose(unseeded[0], unseeded[1]), "seed=None draws fresh values"
    else:
        np.testing.assert_array_equal(a, other)


@pytest.mark.parametrize("name", sorted(CASES))
def test_keras_initializer_config_round_trip(name):
    factory, shape, _, _ = CASES[name]
    init = factory(5)
    config = init.get_config()
    clone = type(init).from_config(config)
    assert clone.get_config() == config
    np.testing.assert_array_equal(to_numpy(clone(shape)), to_numpy(init(shape)))
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(init))
    assert type(restored) is type(init)
    assert restored.get_config() == config
    np.testing.assert_array_equal(to_numpy(restored(shape)), to_numpy(init(shape)))


@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if c[2] is not None))
def test_keras_initializer_wrong_shape_raises(name):
    factory, _, wrong, _ = CASES[name]
    with pytest.raises(ValueError, match="shape"):
        factory(0)(wrong)


def test_keras_initializer_other_float_dtype_and_non_float_dtype():
    x = ki.DSSLambdaImag("lin")((4,), dtype="float16")
    assert keras.backend.standardize_dtype(x.dtype) == "float16"
    with pytest.raises(ValueError, match="dtype"):
        ki.DSSLambdaImag("lin")((4,), dtype="int32")


def test_keras_initializer_works_in_add_weight():
    layer = keras.layers.Layer()
    w = layer.add_weight(shape=(8, 3, 2), initializer=ki.S5B(blocks=2, seed=0))
    np.testing.assert_allclose(to_numpy(w), to_numpy(ki.S5B(blocks=2, seed=0)((8, 3, 2))))


@pytest.mark.parametrize(
    "make,option",
    [
        (lambda: ki.DSSLambdaImag("skew"), "hippo_skew"),
        (lambda: ki.S5C(kind="normal"), "complex_normal"),
    ],
)
def test_unknown_options_list_valid_ones(make, option):
    with pytest.raises(ValueError, match=option):
        make()


@pytest.mark.parametrize("seed", [-1, 1.5, "0"])
def test_bad_seed_raises(seed):
    with pytest.raises(ValueError, match="seed"):
        ki.ComplexNormal(seed=seed)


def test_s5_initializer_block_mismatch_names_blocks():
    # P=6 with conj_sym -> P_full=12, blocks=4 -> odd block size 3.
    with pytest.raises(ValueError, match="blocks"):
        ki.S5LambdaImag(blocks=4)((6,))


# --------------------------------------------------------------------------
# Keras initializers: values
# --------------------------------------------------------------------------


def test_log_uniform_initializer_values():
    log_dt = to_numpy(ki.LogUniform(1e-3, 1e-1, seed=0)((1000,)))
    dt = to_numpy(ki.LogUniform(1e-3, 1e-1, log=False, seed=0)((1000,)))
    assert log_dt.min() >= math.log(1e-3) - 1e-6 and log_dt.max() <= math.log(1e-1) + 1e-6
    np.testing.assert_allclose(np.exp(log_dt), dt, rtol=1e-5)
    assert abs(np.mean(log_dt) - 0.5 * (math.log(1e-3) + math.log(1e-1))) < 0.15


def test_dlr_initializers_values():
    n = 16
    p = to_numpy(ki.DLRRadius(1e-4, 1e-1, seed=0)((n,)))
    assert np.all(p >= math.sqrt(0.5e-4) * (1 - 1e-6)) and np.all(p <= math.sqrt(0.05) * (1 + 1e-6))
    theta = to_numpy(ki.DLRPhase()((n,)))
    np.testing.assert_allclose(theta, [2 * math.pi * k / n for k in range(n)], atol=1e-6)


def test_dss_initializers_values():
    np.testing.assert_allclose(to_numpy(ki.DSSLambdaLogNegReal()((4,))), math.log(0.5), rtol=1e-6)
    skew = to_numpy(ki.DSSLambdaImag("hippo_skew")((4,)))
    np.testing.assert_allclose(skew, DSS_N4_OMEGA, atol=5e-3)
    lin = to_numpy(ki.DSSLambdaImag("lin")((4,)))
    np.testing.assert_allclose(lin, [math.pi * n for n in range(4)], rtol=1e-6)
    randn = to_numpy(ki.DSSLambdaImag("randn", seed=0)((4000,)))
    assert abs(randn.mean()) < 0.06 and abs(randn.std() - 1) < 0.04


def test_complex_normal_values():
    w = to_numpy(ki.ComplexNormal(0.25, seed=0)((50, 40, 2)))
    np.testing.assert_allclose(w[..., 0].std(), 0.25, rtol=0.04)
    np.testing.assert_allclose(w[..., 1].std(), 0.25, rtol=0.04)
    assert abs(np.corrcoef(w[..., 0].ravel(), w[..., 1].ravel())[0, 1]) < 0.06


@pytest.mark.parametrize("conj_sym", [True, False])
def test_s5_lambda_initializers_values(conj_sym):
    # P_full=16, blocks=2 -> HiPPO-N block of 8 (spec numbers).
    p = 8 if conj_sym else 16
    re = to_numpy(ki.S5LambdaReal(blocks=2, conj_sym=conj_sym)((p,)))
    im = to_numpy(ki.S5LambdaImag(blocks=2, conj_sym=conj_sym)((p,)))
    positive = np.array(S5_POSITIVE_IMAG[8])
    block = -positive[::-1] if conj_sym else np.concatenate([-positive[::-1], positive])
    np.testing.assert_allclose(re, -0.5, atol=1e-7)
    np.testing.assert_allclose(im, np.tile(block, 2), atol=6e-4)


@pytest.mark.parametrize("conj_sym", [True, False])
def test_s5b_values(conj_sym):
    p_full, h, blocks = 64, 96, 4
    p = p_full // 2 if conj_sym else p_full
    init = ki.S5B(blocks=blocks, conj_sym=conj_sym, seed=0)
    b_tilde = as_complex(to_numpy(init((p, h, 2))).astype(np.float64))
    _, v, _ = ki.s5_block_diagonal_init(p_full, blocks, conj_sym)
    # Recover the real B: V B̃ = B (unitary V) or 2·Re(V B̃) = B (conjugate halves).
    recovered = v @ b_tilde
    if conj_sym:
        b = 2.0 * recovered.real
    else:
        np.testing.assert_allclose(recovered.imag, 0.0, atol=1e-5)
        b = recovered.real
    target = 1.0 / math.sqrt(p_full)  # fan_in = P_full, not H
    np.testing.assert_allclose(b.std(), target, rtol=0.04)
    assert np.max(np.abs(b)) <= 2.0 * target / ref_truncated_std() * (1 + 1e-4)


@pytest.mark.parametrize("conj_sym", [True, False])
@pytest.mark.parametrize("kind", ["trunc_standard_normal", "lecun_normal", "complex_normal"])
def test_s5c_values(kind, conj_sym):
    p_full, h, blocks = 64, 48, 4
    p = p_full // 2 if conj_sym else p_full
    init = ki.S5C(blocks, conj_sym, kind=kind, seed=0)
    c_tilde = as_complex(to_numpy(init((h, p, 2))).astype(np.float64))
    if kind == "complex_normal":
        np.testing.assert_allclose(c_tilde.real.std(), math.sqrt(0.5), rtol=0.05)
        np.testing.assert_allclose(c_tilde.imag.std(), math.sqrt(0.5), rtol=0.05)
        return
    fan_in = p_full if kind == "trunc_standard_normal" else h * p_full
    target = 1.0 / math.sqrt(fan_in)
    # Each unit-norm column of V keeps E|c̃|² = 2·target² (re and im parts of C).
    np.testing.assert_allclose(np.mean(np.abs(c_tilde) ** 2), 2 * target**2, rtol=0.08)
    if not conj_sym:
        _, v, _ = ki.s5_block_diagonal_init(p_full, blocks, conj_sym=False)
        c = c_tilde @ v.conj().T  # C̃ = C V with unitary V
        parts = np.stack([c.real, c.imag])
        np.testing.assert_allclose(parts.std(), target, rtol=0.04)
        assert np.max(np.abs(parts)) <= 2.0 * target / ref_truncated_std() * (1 + 1e-4)
