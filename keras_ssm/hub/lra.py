"""LRA Text and Retrieval through keras-hub's byte tokenizer and packer.

`LRABytePreprocessor` gives exactly the ids of `keras_ssm.data.lra` (id = byte + 3,
<pad> 0, <eos> 2, at most L - 1 bytes then <eos>), from keras-hub's `ByteTokenizer`
(through `SSMByteTokenizer`) and `StartEndPacker` instead of the hand-written encoder.
`load` reads the raw IMDB reviews and AAN document pairs (the files `keras_ssm.data.lra`
reads) and encodes them with it: the inputs of `examples/lra.py` when keras-hub is
installed.
"""

import keras
import keras_hub
import numpy as np

from keras_ssm.data import _shared as _cache
from keras_ssm.data.lra import archive as lra_files
from keras_ssm.data.lra import reader as data_lra
from keras_ssm.data.lra.encoding import BYTE_OFFSET
from keras_ssm.data.lra.encoding import EOS_ID
from keras_ssm.hub.tokenizer import SSMByteTokenizer
from keras_ssm.ops import backend as ssm_backend

# The input names of keras_ssm.models.build_retrieval_classifier.
PAIR_KEYS = ("document_1", "document_2")
TASKS = ("text", "retrieval")
CACHE_VERSION = "hub-v1"
"""Cache key part of the keras-hub encoded retrieval arrays (beside the plain reader's)."""


@keras.saving.register_keras_serializable(package="keras_ssm")
class LRABytePreprocessor(keras_hub.models.Preprocessor):
    """Documents to LRA byte ids: byte + 3, then <eos> = 2, zero padding to `sequence_length`.

    One text per example (LRA Text, IMDB): {"token_ids", "padding_mask"}, the inputs
    of an `SSMBackbone` with `vocabulary_size=259`. A pair (LRA Retrieval, AAN):
    `x = {"document_1": texts, "document_2": texts}` gives the same dict of token ids,
    the named inputs of `keras_ssm.models.build_retrieval_classifier`. Texts are str
    (encoded as UTF-8) or raw bytes (any bytes, as the released files hold them).
    Labels pass through.

    Args:
        tokenizer: a byte tokenizer (default `SSMByteTokenizer()`; its special ids are
            not used: the packer adds <eos> and padding itself).
        sequence_length: int, L (4096 for Text, 4000 per Retrieval document).
        **kwargs: forwarded to `keras_hub.models.Preprocessor`.

    Call arguments:
        x: a list (or 1-D array or tensor) of n texts, or a dict of two (retrieval).
        y, sample_weight: passed through.

    Returns:
        token ids int32 (n, L) (and a boolean padding mask (n, L) for single texts):
        tf tensors where TensorFlow is installed, numpy arrays otherwise.

    Example:

    ```python
    preprocessor = keras_ssm.hub.lra.LRABytePreprocessor(sequence_length=4)
    preprocessor(["ab"])["token_ids"]      # [[100, 101, 2, 0]]
    ```
    """

    tokenizer_cls = SSMByteTokenizer

    def __init__(self, tokenizer=None, sequence_length=4096, **kwargs):
        super().__init__(**kwargs)
        self.tokenizer = tokenizer or SSMByteTokenizer()
        self.sequence_length = int(sequence_length)
        # The packer's end id is <eos> - offset, so that the shift below maps it to <eos>.
        self.packer = keras_hub.layers.StartEndPacker(
            sequence_length=self.sequence_length,
            end_value=EOS_ID - BYTE_OFFSET,
            pad_value=0,
            return_padding_mask=True,
        )

    def encode(self, texts):
        """(token ids (n, L) int32, padding mask (n, L) bool) of a batch of texts.

        Args:
            texts: n str or bytes.

        Example:

        ```python
        preprocessor = keras_ssm.hub.lra.LRABytePreprocessor(sequence_length=5)
        ids, mask = preprocessor.encode([b"\\xff\\x00"])   # ids [[258, 3, 2, 0, 0]]
        ```
        """
        token_ids, padding_mask = self.packer(self.tokenizer(texts))
        if ssm_backend.is_tf_tensor(token_ids):
            token_ids = ssm_backend.tf_where(padding_mask, token_ids + BYTE_OFFSET, 0)
        else:
            mask = keras.ops.convert_to_numpy(padding_mask)
            token_ids = keras.ops.convert_to_numpy(token_ids)
            token_ids = ((token_ids + BYTE_OFFSET) * mask).astype("int32")
        return token_ids, padding_mask

    def call(self, x, y=None, sample_weight=None):
        if isinstance(x, dict) and set(x) == set(PAIR_KEYS):
            x = {key: self.encode(x[key])[0] for key in PAIR_KEYS}
        else:
            token_ids, padding_mask = self.encode(x)
            x = {"token_ids": token_ids, "padding_mask": padding_mask}
        return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)

    def get_config(self):
        config = super().get_config()
        config.update(sequence_length=self.sequence_length)
        return config


# ----------------------------------------------------------------------------
# the released files, encoded by keras-hub


def encode_into(out, texts, preprocessor, batch_size=512):
    """Writes the ids of `texts` into the rows of `out` (an array or memmap), a batch at a time.

    Args:
        out: int32 array (n, L), L = `preprocessor.sequence_length`.
        texts: n str or bytes.
        preprocessor: an `LRABytePreprocessor`.
        batch_size: int, texts per keras-hub call.

    Example:

    ```python
    out = np.zeros((3, 6), "int32")
    encode_into(out, ["ab", b"c", ""], LRABytePreprocessor(sequence_length=6), batch_size=2)
    out[1]                                 # [102, 2, 0, 0, 0, 0]
    ```
    """
    if len(out) != len(texts) or out.shape[1] != preprocessor.sequence_length:
        raise ValueError(
            f"`out` must have shape ({len(texts)}, {preprocessor.sequence_length}) for "
            f"{len(texts)} texts, got {tuple(out.shape)}."
        )
    for start in range(0, len(texts), batch_size):
        batch = list(texts[start : start + batch_size])
        out[start : start + len(batch)] = np.asarray(preprocessor.encode(batch)[0])
    return out


def _retrieval_rows(path):
    """(docs1, docs2, labels) bytes and ints of an AAN pairs TSV (label, id1, id2, text1, text2)."""
    docs1, docs2, labels = [], [], []
    for line_number, fields in lra_files._tsv_lines(path):
        if len(fields) != 5:
            raise _cache.malformed_line(
                path,
                line_number,
                "expected 5 tab-separated fields (label, id1, id2, text1, "
                f"text2), got {len(fields)}",
            )
        labels.append(lra_files._parse_label(path, line_number, fields[0], 2))
        docs1.append(fields[3])
        docs2.append(fields[4])
    return docs1, docs2, labels


def load(task, data_dir=None, split="train", cache_dir=None, verbose=1):
    """`keras_ssm.data.lra.load` for "text" and "retrieval", the texts encoded by keras-hub.

    The same files, splits and ids as `keras_ssm.data.lra.load` (the tests check it on
    fixtures in the released formats), with the reviews and documents encoded by
    `LRABytePreprocessor` (keras-hub's `ByteTokenizer` and `StartEndPacker`) instead of
    the hand-written byte encoder. Retrieval is cached as `.npy` files beside the plain
    reader's (key `retrieval-<split>-hub-v1`) and memory-mapped afterwards.

    Args:
        task: "text" or "retrieval".
        data_dir: for "text" a folder holding `aclImdb/` (else tensorflow-datasets);
            for "retrieval" the extracted `lra_release` folder (or its parent).
        split: "train", "val" or "test" (Text: "val" is the test set, as in LRA).
        cache_dir: the cache folder (default `data_dir/.keras_ssm_cache`).
        verbose: 0 silent, 1 a progress bar while building the retrieval cache.

    Returns:
        (inputs, labels): text int32 (n, 4096); retrieval a pair of int32 (n, 4000)
        arrays; labels int32 (n,).

    Example:

    ```python
    import os
    os.makedirs("lra/tsv_data")
    with open("lra/tsv_data/new_aan_pairs.test.tsv", "wb") as f:
        f.write(b"1\\taan/1\\taan/2\\tfirst paper\\tsecond paper\\n")
    (docs1, docs2), labels = keras_ssm.hub.lra.load("retrieval", "lra", "test", verbose=0)
    docs1.shape, labels                   # (1, 4000), [1]
    ```
    """
    if task not in TASKS:
        raise ValueError(
            f"task={task!r}: keras_ssm.hub.lra.load reads {TASKS}; the other "
            "LRA tasks have no text (keras_ssm.data.lra.load)."
        )
    if split not in data_lra.SPLITS:
        raise ValueError(f"split={split!r} is not valid; use one of {data_lra.SPLITS}.")
    seq_len = data_lra.TASK_INFO[task]["seq_len"]
    preprocessor = LRABytePreprocessor(sequence_length=seq_len)
    if task == "text":
        texts, labels = data_lra._load_imdb_raw(data_dir, "train" if split == "train" else "test")
        inputs = encode_into(np.zeros((len(texts), seq_len), "int32"), texts, preprocessor)
        return inputs, np.asarray(labels, "int32")
    if data_dir is None:
        raise ValueError("task='retrieval' needs data_dir= (the extracted lra_release folder).")
    root = data_lra.find_lra_root(data_dir)
    name = {"train": "train", "val": "eval", "test": "test"}[split]
    path = _cache.require_path(
        root / "tsv_data" / f"new_aan_pairs.{name}.tsv",
        "file",
        "Download and extract lra_release.gz (docs/data.md).",
    )

    def build(allocate):
        docs1, docs2, labels = _retrieval_rows(path)
        bar = _cache.progress_bar(2 * len(labels), verbose)
        for i, (key, docs) in enumerate((("docs1", docs1), ("docs2", docs2))):
            encode_into(allocate(key, (len(docs), seq_len), np.int32), docs, preprocessor)
            bar.update((i + 1) * len(labels))
        allocate("labels", (len(labels),), np.int32)[:] = labels

    cache_dir = _cache.resolve_cache_dir(root, cache_dir)
    docs1, docs2, labels = _cache.load_or_build(
        cache_dir, f"retrieval-{split}-{CACHE_VERSION}", ("docs1", "docs2", "labels"), build
    )
    return (docs1, docs2), labels
