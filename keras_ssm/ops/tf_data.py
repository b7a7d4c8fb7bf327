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


def pack_documents(tokens, row_length, start_id=None, end_id=None, pad_id=0):
    """Documents (a ragged batch of token ids) concatenated and cut into rows.

    Each document becomes [start_id] + tokens + [end_id] (where the ids are given);
    the stream of all of them is cut into rows of `row_length`, the last one padded.

    Returns:
        (token_ids, segment_ids) int32 (rows, row_length): segment_ids is the
        document's index + 1 in the batch, 0 on padding.
    """
    tokens = tf.cast(tokens, "int32")
    if not isinstance(tokens, tf.RaggedTensor):
        tokens = tf.RaggedTensor.from_tensor(tokens)
    column = lambda value: tf.fill([tokens.nrows(), 1], tf.constant(value, "int32"))
    parts = ([column(start_id)] if start_id is not None else []) + [tokens]
    parts += [column(end_id)] if end_id is not None else []
    documents = tf.concat(parts, axis=1)
    flat = documents.flat_values
    ids = tf.cast(documents.value_rowids(), "int32") + 1
    total = tf.shape(flat)[0]
    rows = (total + row_length - 1) // row_length
    pad = rows * row_length - total
    flat = tf.concat([flat, tf.fill([pad], tf.constant(pad_id, "int32"))], axis=0)
    ids = tf.concat([ids, tf.zeros([pad], "int32")], axis=0)
    return tf.reshape(flat, [rows, row_length]), tf.reshape(ids, [rows, row_length])
