"""Inputs to the backbone's sequences, in both keras-hub workflows (tf.data graphs and Python).

keras-hub maps a preprocessor over a `tf.data` pipeline (tf tensors) when TensorFlow is
installed, and over numpy batches otherwise (or when called directly), so these helpers
take either and return the same kind (tf tensors stay in TensorFlow through
`keras_ssm.ops.backend`).
"""

import numpy as np

from keras_ssm.ops import backend as ssm_backend


def feature_sequence(x, scale=1.0, offset=0.0):
    """A batch as (batch, length, features) float32 features, and an all-ones padding mask.

    (batch, length) audio or pixels → one feature per step; (batch, length, features)
    as is; (batch, height, width, channels) images → row-major pixels, `channels`
    features per step (sCIFAR). Then x · scale + offset.

    Returns:
        (features, padding_mask int32 (batch, length)), tf tensors for tf inputs,
        numpy arrays otherwise.
    """
    if ssm_backend.is_tf_tensor(x):
        return ssm_backend.tf_feature_sequence(x, scale, offset)
    x = np.asarray(x, dtype="float32")
    if x.ndim == 2:
        x = x[:, :, None]
    elif x.ndim == 4:
        x = x.reshape(x.shape[0], x.shape[1] * x.shape[2], x.shape[3])
    elif x.ndim != 3:
        raise ValueError(f"Feature inputs must have rank 2, 3 or 4, got shape {x.shape}.")
    x = x * np.float32(scale) + np.float32(offset)
    return x, np.ones(x.shape[:2], "int32")
