"""Tensors of a tf.data pipeline, whatever the Keras backend.

keras-hub maps its preprocessors over `tf.data` (TensorFlow tensors) when TensorFlow is
installed, under every Keras backend, so a preprocessor's helpers meet tf tensors even
on JAX or torch, where `keras.ops` would convert them to that backend's arrays. These
functions stay in TensorFlow. :mod:`keras_ssm.ops.backend` imports this module only for
a tf tensor (`is_tf_tensor`), so TensorFlow is never imported for it.

Example:

```python
from keras_ssm.ops import tf_data
x, mask = tf_data.feature_sequence(tf.ones((2, 4, 4, 3)))   # (2, 16, 3), (2, 16)
```
"""

import tensorflow as tf


def feature_sequence(x, scale=1.0, offset=0.0):
    """A batch as (batch, length, features) float32 features, and an all-ones padding mask.

    (batch, length) → one feature per step; (batch, length, features) as is;
    (batch, height, width, channels) → row-major pixels, `channels` features per step.
    Then x · scale + offset.

    Returns:
        (features, padding_mask int32 (batch, length)), tf tensors.

    Raises:
        ValueError: an input of another rank.
    """
    x = tf.cast(x, "float32")
    rank = x.shape.rank
    shape = tf.shape(x)
    if rank == 2:
        x = x[:, :, None]
    elif rank == 4:
        x = tf.reshape(x, [shape[0], shape[1] * shape[2], shape[3]])
    elif rank != 3:
        raise ValueError(f"Feature inputs must have rank 2, 3 or 4, got shape {x.shape}.")
    x = x * scale + offset
    return x, tf.ones(tf.shape(x)[:2], "int32")


def where(condition, x, y):
    """`tf.where(condition, x, y)`: x where `condition`, else y (broadcast)."""
    return tf.where(condition, x, y)
