"""Tests for keras_ssm.ops.reference.vandermonde_factorized (the `factorized`
vandermonde_kernel): the block layout, the memory rule that hands long kernels to
`reference`, and the accuracy of the doubled power table against complex128 numpy at
lengths where blocks and offsets both matter. Values and gradients at small sizes are
covered for every implementation by tests/test_vandermonde_kernel.py."""

import numpy as np
import pytest
from keras import ops

import keras_ssm
from keras_ssm.ops.reference import vandermonde_factorized as vandermonde


@pytest.mark.parametrize(
    "length, expected", [(1, 1), (2, 2), (7, 8), (64, 32), (784, 128), (4096, 256), (65536, 1024)]
)
def test_block_size(length, expected):
    t = vandermonde.block_size(length)
    assert t == expected
    assert t & (t - 1) == 0  # a power of two


def test_table_elements_counts_p_and_q():
    # H=3, N=5, L=100: T=32 (4·sqrt(100)=40 -> 32), S=4.
    assert vandermonde.block_size(100) == 32
    assert vandermonde.table_elements((5,), (3, 5), 100) == 2 * (3 * 4 * 5 + 5 * 32)
    assert vandermonde.table_elements((3, 5), (3, 5), 100) == 2 * (3 * 4 * 5 + 3 * 5 * 32)


def test_long_kernels_go_to_reference(monkeypatch):
    lam = (ops.zeros((4, 8)), ops.zeros((4, 8)))
    c = (ops.zeros((4, 8)), ops.zeros((4, 8)))
    assert keras_ssm.ops.resolve("vandermonde_kernel", lam, c, 256) == "factorized"
    monkeypatch.setattr(
        vandermonde, "MAX_TABLE_ELEMENTS", vandermonde.table_elements((4, 8), (4, 8), 256) - 1
    )
    assert keras_ssm.ops.resolve("vandermonde_kernel", lam, c, 256) == "reference"
    reason = vandermonde.supports(lam, c, 256)
    assert "reference" in reason


@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("length", [1000, 4096])
def test_accuracy_of_doubled_powers(shared, length):
    """Slow decay and small and large phases: max error relative to Σ|c||λ|^l stays
    within the documented 3T/8 + 8 epsilons (the direct form's error grows as l|log λ|)."""
    rng = np.random.default_rng(0)
    rows, states = 3, 6
    z_shape = (states,) if shared else (rows, states)
    z = -rng.uniform(1e-4, 1e-3, z_shape) + 1j * rng.choice([1e-3, 0.3, 3.0], z_shape)
    z = z.astype(np.complex64).astype(np.complex128)
    c = rng.standard_normal((rows, states)) + 1j * rng.standard_normal((rows, states))
    c = c.astype(np.complex64).astype(np.complex128)
    out = vandermonde.vandermonde_kernel(
        (
            ops.convert_to_tensor(z.real.astype("float32")),
            ops.convert_to_tensor(z.imag.astype("float32")),
        ),
        (
            ops.convert_to_tensor(c.real.astype("float32")),
            ops.convert_to_tensor(c.imag.astype("float32")),
        ),
        length,
    )
    out = ops.convert_to_numpy(out).astype(np.float64)
    steps = np.arange(length)
    zz = np.broadcast_to(z, c.shape)
    v = np.exp(zz[..., None] * steps)
    expected = np.einsum("hn,hnl->hl", c, v).real
    scale = np.einsum("hn,hnl->hl", np.abs(c), np.abs(v))
    eps = 2.0**-24
    t = vandermonde.block_size(length)
    # block phases sT·|z| are rounded as in the direct form; offsets add <= 3T/8 + 8 eps.
    bound = eps * (steps * np.max(np.abs(z)) + 3 * t / 8 + 8) * scale
    err = np.abs(out - expected)
    assert np.all(err <= 2 * bound), f"max err/bound {np.max(err / bound):.3g}"
