"""MaskedBatchNormalization against a numpy reference of BatchNorm over batch and time.

Training: the batch statistics of the valid positions (mean, biased variance), the moving
averages `moving * momentum + batch * (1 - momentum)`, and the normalized outputs;
inference: the moving statistics. Keras' own layer is not the reference (the class
replaces its training path so that torch.compile traces it).
"""

import keras
import numpy as np
import pytest

from keras_ssm.layers.batch_norm import MaskedBatchNormalization

EPSILON = 1e-5
MOMENTUM = 0.9


def reference(x, mask, gamma, beta, moving_mean, moving_variance):
    """(outputs, new moving mean, new moving variance) of one training call, in float64."""
    valid = x[mask] if mask is not None else x.reshape(-1, x.shape[-1])
    mean, variance = valid.mean(0), valid.var(0)
    outputs = gamma * (x - mean) / np.sqrt(variance + EPSILON) + beta
    return (
        outputs,
        moving_mean * MOMENTUM + mean * (1 - MOMENTUM),
        moving_variance * MOMENTUM + variance * (1 - MOMENTUM),
    )


@pytest.mark.parametrize("masked", [False, True])
def test_training_step_matches_reference(masked):
    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 3.0, size=(3, 7, 4)).astype("float32")
    mask = np.arange(7)[None, :] < np.array([[7], [4], [2]]) if masked else None
    layer = MaskedBatchNormalization(epsilon=EPSILON, momentum=MOMENTUM)
    layer.build(x.shape)
    gamma, beta = rng.normal(size=4), rng.normal(size=4)
    layer.gamma.assign(gamma.astype("float32"))
    layer.beta.assign(beta.astype("float32"))
    got = keras.ops.convert_to_numpy(layer(x, training=True, mask=mask))
    want, mean, variance = reference(x.astype("float64"), mask, gamma, beta, 0.0, 1.0)
    valid = mask if masked else np.ones(x.shape[:2], bool)
    np.testing.assert_allclose(got[valid], want[valid], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.moving_mean), mean, rtol=1e-5)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer.moving_variance), variance, rtol=1e-5
    )
    inference = keras.ops.convert_to_numpy(layer(x, training=False))
    np.testing.assert_allclose(
        inference, gamma * (x - mean) / np.sqrt(variance + EPSILON) + beta, rtol=1e-4, atol=1e-4
    )


def test_half_precision_statistics_in_float32():
    """A bfloat16 policy: statistics in float32 (moving averages stay float32), bfloat16 out."""
    x = np.random.default_rng(1).normal(3.0, 1.0, size=(4, 9, 3)).astype("float32")
    layer = MaskedBatchNormalization(dtype="mixed_bfloat16")
    outputs = layer(x, training=True)
    assert keras.backend.standardize_dtype(outputs.dtype) == "bfloat16"
    assert keras.backend.standardize_dtype(layer.moving_mean.dtype) == "float32"
    want = (x - x.mean((0, 1))) / np.sqrt(x.var((0, 1)) + 1e-3)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(keras.ops.cast(outputs, "float32")), want, atol=0.05
    )
