"""Mixed precision at length 4096, in the spirit of keras-hub's run_precision_test.

Under `mixed_bfloat16` and `mixed_float16` every layer keeps float32 variables and runs
its kernels and scans in float32, so its low-precision outputs differ from the float32
layer's (same weights, the same rounded inputs) only by the final rounding to the compute
dtype. Stated tolerance, per element:

    |y_low - y_32| <= REL[dtype] * |y_32| + 1e-4 * max|y_32|

with REL = 2^-8 for bfloat16 and 2^-11 for float16 (half a unit in the last place: one
rounding), the second term for float32 round-off over 4096 steps. A layer that ran its
recurrence or FFT in the low dtype would miss it by orders of magnitude at this length.
The float32 outputs themselves match the numpy simulation of `discrete_system()`.
"""

import keras
import numpy as np
import pytest

import layer_checks as lc
from keras_ssm.layers import DLR
from keras_ssm.layers import DSS
from keras_ssm.layers import LRU
from keras_ssm.layers import S4D
from keras_ssm.layers import S5

LENGTH, H, N = 4096, 2, 4
REL = {"bfloat16": 2.0**-8, "float16": 2.0**-11}
CASES = {
    "dss_exp-convolution-bidirectional": lambda **kw: DSS(
        state_size=N, mode="convolution", bidirectional=True, **kw
    ),
    "dss_softmax-convolution": lambda **kw: DSS(state_size=N, variant="softmax", **kw),
    "dlr-convolution": lambda **kw: DLR(state_size=N, mode="convolution", **kw),
    "dlr-recurrence": lambda **kw: DLR(state_size=N, mode="recurrence", **kw),
    "s5-bidirectional": lambda **kw: S5(state_size=N, bidirectional=True, **kw),
    "s4d-convolution-bidirectional": lambda **kw: S4D(
        state_size=N, init="legs", mode="convolution", bidirectional=True, **kw
    ),
    # The LRU has no Δ: the step range is dropped; its ring near the unit circle (memory
    # of thousands of steps, as PathX's) is where a low-precision scan would drift most.
    # Causal: its backward scan is S5's path (above), which costs ~20 s at 4096 on TF.
    "lru": lambda dt_min, dt_max, **kw: LRU(state_size=N, r_min=0.99, r_max=0.9999, **kw),
}
# (The recurrence is one op for every layer; DSS's is checked at short lengths by
# test_layer_contract.py. A 4096-step scan costs seconds on TensorFlow's CPU path.)


@pytest.fixture(scope="module")
def u():
    return np.random.default_rng(0).normal(size=(1, LENGTH, H)).astype("float32")


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_low_precision_within_tolerance_of_float32(case, policy, u):
    make = CASES[case]
    compute = keras.mixed_precision.Policy(policy).compute_dtype
    u_low = lc.to_numpy(keras.ops.cast(keras.ops.cast(u, compute), "float32")).astype("float32")
    layer32 = make(seed=3, dt_min=1e-3, dt_max=1e-1)
    y32 = lc.to_numpy(layer32(u_low)).astype(np.float64)
    lc.assert_close(y32, lc.expected_output(layer32, u_low), atol=1e-4, what="float32 vs numpy")
    layer = make(seed=3, dt_min=1e-3, dt_max=1e-1, dtype=policy)
    y = layer(u_low)
    assert keras.backend.standardize_dtype(y.dtype) == compute
    assert all(keras.backend.standardize_dtype(w.dtype) == "float32" for w in layer.weights)
    for w32, w in zip(layer32.get_weights(), layer.get_weights(), strict=True):
        np.testing.assert_array_equal(w32, w)
    y = lc.to_numpy(keras.ops.cast(y, "float32")).astype(np.float64)
    bound = REL[compute] * np.abs(y32) + 1e-4 * np.abs(y32).max()
    excess = np.abs(y - y32) - bound
    assert excess.max() <= 0, (
        f"{case} under {policy}: error {np.abs(y - y32).max():.3g} exceeds the bound at "
        f"{int((excess > 0).sum())} of {y.size} outputs"
    )
