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


def packed_language_model_batch(tokens, sequence_length, start_id=None, end_id=None, pad_id=0):
    """Tokenized documents packed into rows: next-token inputs, labels and weights.

    The documents ([start_id] + tokens + [end_id]) are concatenated and cut into rows
    of `sequence_length + 1` tokens (the last row padded), as language models pack
    their training text; a document may continue in the next row. Inputs are a row's
    first `sequence_length` tokens, labels its last ones; a label is weighted 1 only
    when it is the next token of the same document (never the next document's first).

    Args:
        tokens: a batch of token id sequences (lists, a ragged or padded array; a
            tf.RaggedTensor in a tf.data pipeline).
        sequence_length: int, the model's input length.
        start_id, end_id: ids added around each document, or None.
        pad_id: the id of padding.

    Returns:
        (x, y, sample_weight): x = {"token_ids", "padding_mask", "segment_ids"}
        (rows, sequence_length), segment_ids the document's index + 1 (0 on padding);
        y (rows, sequence_length) labels; sample_weight (rows, sequence_length) float32.
        tf tensors for tf inputs, numpy arrays otherwise.

    Example:

    ```python
    from keras_ssm.hub.sequences import packed_language_model_batch
    x, y, w = packed_language_model_batch([[5, 6, 7], [8, 9]], 4, start_id=1, end_id=2)
    # x["token_ids"] [[1, 5, 6, 7], [1, 8, 9, 2]], x["segment_ids"] [[1, 1, 1, 1], [2, 2, 2, 2]]
    ```
    """
    row = int(sequence_length) + 1
    if ssm_backend.is_tf_tensor(tokens):
        ids, segments = ssm_backend.tf_pack_documents(tokens, row, start_id, end_id, pad_id)
        where = ssm_backend.tf_where
    else:
        ids, segments = _pack_numpy(tokens, row, start_id, end_id, pad_id)
        where = np.where
    x = {
        "token_ids": ids[:, :-1],
        "padding_mask": segments[:, :-1] != 0,
        "segment_ids": segments[:, :-1],
    }
    same = (segments[:, 1:] == segments[:, :-1]) & (segments[:, 1:] != 0)
    weight = where(same, np.float32(1.0), np.float32(0.0))
    return x, ids[:, 1:], weight


def _pack_numpy(tokens, row, start_id, end_id, pad_id):
    """(token_ids, segment_ids) int32 (rows, row): `tf_data.pack_documents` in numpy."""
    flat, ids = [], []
    for index, document in enumerate(tokens, start=1):
        document = [int(t) for t in np.asarray(document).reshape(-1)]
        document = ([start_id] if start_id is not None else []) + document
        document += [end_id] if end_id is not None else []
        flat += document
        ids += [index] * len(document)
    rows = max(1, -(-len(flat) // row))
    pad = rows * row - len(flat)
    flat = np.asarray(flat + [pad_id] * pad, "int32").reshape(rows, row)
    ids = np.asarray(ids + [0] * pad, "int32").reshape(rows, row)
    return flat, ids
