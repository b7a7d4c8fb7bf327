"""The Long Range Arena entry point: one split of one task, as numpy arrays.

``load(task, data_dir, split)`` returns ``(inputs, labels)`` for the six LRA
tasks. ``data_dir`` is the extracted ``lra_release`` folder of
https://storage.googleapis.com/long-range-arena/lra_release.gz (the folder
holding ``listops-1000/``, ``tsv_data/``, ``pathfinder32/`` ...
``pathfinder256/``; its parent is accepted too). IMDB (``text``) and CIFAR-10
(``image``) are not in that archive: see ``docs/data.md``.

Encodings (fixed, so that train, val and test agree without reading train):

- ListOps: ``]`` becomes ``X``, ``(`` and ``)`` are dropped, tokens split on
  whitespace, ids from ``LISTOPS_VOCAB`` (``<pad>``=0, ``<unk>``=1,
  ``<eos>``=2, digits ``0``-``9`` = 3-12, ``[MAX``=13, ``[MIN``=14,
  ``[MED``=15, ``[SM``=16, ``X``=17), at most 2047 tokens then ``<eos>``,
  zeros after.
- Text and Retrieval: byte level, ``id = byte + 3`` (``<pad>``=0,
  ``<unk>``=1 (never produced), ``<eos>``=2; ids 3-258), at most ``L - 1``
  bytes then ``<eos>``, zeros after (L = 4096 for text, 4000 per document).
- Image, Pathfinder, Path-X: raw 0-255 grey levels, row-major, ``uint8``;
  scaling belongs to the model.

Token and pixel arrays are 2-D ``(n, L)``; a model reading pixels as one real
channel adds the trailing axis. Labels are ``int32``. ListOps, Retrieval,
Pathfinder and Path-X are cached as ``.npy`` under ``cache_dir`` (default
``data_dir/.keras_ssm_cache``) on the first call and memory-mapped afterwards.
"""

from pathlib import Path

import numpy as np

from keras_ssm.data import _shared
from keras_ssm.data.lra import archive
from keras_ssm.data.lra.archive import _DOWNLOAD_HINT
from keras_ssm.data.lra.archive import PATHFINDER_FOLDERS
from keras_ssm.data.lra.encoding import BYTE_VOCAB_SIZE
from keras_ssm.data.lra.encoding import LISTOPS_VOCAB
from keras_ssm.data.lra.encoding import _encode_bytes_into
from keras_ssm.data.lra.encoding import rgb_to_grayscale

TASKS = ("listops", "text", "retrieval", "image", "pathfinder", "pathx")
SPLITS = ("train", "val", "test")

TASK_INFO = {
    "listops": dict(
        seq_len=2048,
        vocab_size=len(LISTOPS_VOCAB),
        input_channels=None,
        num_classes=10,
        inputs="tokens",
        dtype="int32",
    ),
    "text": dict(
        seq_len=4096,
        vocab_size=BYTE_VOCAB_SIZE,
        input_channels=None,
        num_classes=2,
        inputs="tokens",
        dtype="int32",
    ),
    "retrieval": dict(
        seq_len=4000,
        vocab_size=BYTE_VOCAB_SIZE,
        input_channels=None,
        num_classes=2,
        inputs="token_pairs",
        dtype="int32",
    ),
    "image": dict(
        seq_len=1024,
        vocab_size=None,
        input_channels=1,
        num_classes=10,
        inputs="pixels",
        dtype="uint8",
    ),
    "pathfinder": dict(
        seq_len=1024,
        vocab_size=None,
        input_channels=1,
        num_classes=2,
        inputs="pixels",
        dtype="uint8",
    ),
    "pathx": dict(
        seq_len=16384,
        vocab_size=None,
        input_channels=1,
        num_classes=2,
        inputs="pixels",
        dtype="uint8",
    ),
}
"""Per task: ``seq_len`` (per document for retrieval), ``vocab_size`` (token
tasks, pad included) or ``input_channels`` (pixel tasks), ``num_classes``,
``inputs`` ("tokens", "token_pairs" or "pixels") and the inputs' ``dtype``."""


# --------------------------------------------------------------------------
# Public entry point


def load(task, data_dir=None, split="train", cache_dir=None, verbose=1):
    """Loads one split of one LRA task as numpy arrays.

    Args:
        task: one of "listops", "text", "retrieval", "image", "pathfinder",
            "pathx".
        data_dir: the extracted ``lra_release`` folder (or its parent);
            required for listops, retrieval, pathfinder and pathx. For
            "text" it may hold an extracted ``aclImdb/`` folder; "image" does
            not use it (see Notes).
        split: "train", "val" or "test". Text has no validation split: "val"
            returns the test set, as in LRA. Retrieval "val" reads the
            released ``eval`` file.
        cache_dir: folder for the ``.npy`` caches; default
            ``data_dir/.keras_ssm_cache``.
        verbose: 0 silent, 1 progress bar while building a cache.

    Returns:
        ``(inputs, labels)``. inputs: int32 ``(n, L)`` token ids (listops,
        text), a pair ``(docs1, docs2)`` of int32 ``(n, 4000)`` arrays
        (retrieval), or uint8 ``(n, L)`` grey levels (image, pathfinder,
        pathx); labels: int32 ``(n,)``. Cached tasks return read-only
        memory-mapped arrays.

    Notes:
        Pathfinder/Path-X read ``pathfinder32`` / ``pathfinder128``
        ``/curv_contour_length_14`` and split the samples (metadata files in
        numeric order, lines in file order, empty files skipped) with
        ``perm = np.random.default_rng(42).permutation(n)``:
        ``n_val = n_test = int(0.1 * n)``, train = ``perm[:n - n_val - n_test]``,
        val = the next ``n_val``, test = the rest; each split then sorted.
        Image: CIFAR-10 from ``keras.datasets.cifar10`` (downloaded to
        ``~/.keras/datasets`` on first use) or, failing that,
        tensorflow-datasets; train = first 90% of the training set, val = the
        last 10%, test = the test set.

    Example:
        >>> from keras_ssm.data.lra import listops_release   # a tiny release in the LRA format
        >>> paths = listops_release.write_release("lra_release", seed=0, sizes=(8, 2, 2),
        ...                                       min_length=10, max_length=60)
        >>> inputs, labels = load("listops", "lra_release", "val", verbose=0)
        >>> inputs.shape, labels.shape   # the real release: ((2000, 2048), (2000,))
        ((2, 2048), (2,))
    """
    if task not in TASKS:
        raise ValueError(f"task={task!r} is not an LRA task; use one of {TASKS}.")
    if split not in SPLITS:
        raise ValueError(f"split={split!r} is not valid; use one of {SPLITS}.")
    if task == "text":
        return _load_text(data_dir, split)
    if task == "image":
        return _load_image(split)
    if data_dir is None:
        raise ValueError(f"task={task!r} needs data_dir=. {_DOWNLOAD_HINT}")
    root = find_lra_root(data_dir)
    cache_dir = _shared.resolve_cache_dir(root, cache_dir)
    seq_len = TASK_INFO[task]["seq_len"]
    if task == "listops":
        return archive._load_listops(root, split, cache_dir, verbose, seq_len)
    if task == "retrieval":
        docs1, docs2, labels = archive._load_retrieval(root, split, cache_dir, verbose, seq_len)
        return (docs1, docs2), labels
    return archive._load_pathfinder(task, root, split, cache_dir, verbose, seq_len)


def find_lra_root(data_dir):
    """Returns the folder holding the task folders, given it or a parent.

    The archive extracts to ``lra_release/`` (sometimes nested once more), so
    ``data_dir`` may be that folder or up to two ``lra_release`` levels above.

    Args:
        data_dir: str or Path.

    Returns:
        Path.

    Example:
        >>> import os
        >>> os.makedirs("data/lra_release/listops-1000")
        >>> find_lra_root("data")
        PosixPath('data/lra_release')
    """
    root = _require_dir(Path(data_dir).expanduser())
    markers = ("listops-1000", "tsv_data", *PATHFINDER_FOLDERS.values())
    for _ in range(2):
        if any((root / marker).exists() for marker in markers):
            break
        if (root / "lra_release").is_dir():
            root = root / "lra_release"
    return root


def _require_dir(path):
    """Raises FileNotFoundError with the LRA download hint unless path is a folder."""
    return _shared.require_path(path, "dir", _DOWNLOAD_HINT)


# --------------------------------------------------------------------------
# Text (IMDB) and Image (CIFAR-10): downloaded data, no cache of ours

_IMDB_HINT = (
    "IMDB is not in lra_release. Either download "
    "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz and extract it "
    "into data_dir (giving data_dir/aclImdb/train/pos/...), or pip install "
    "tensorflow-datasets (it downloads imdb_reviews on first use)."
)


def _load_text(data_dir, split):
    source_split = "train" if split == "train" else "test"  # LRA: test doubles as val
    texts, labels = _load_imdb_raw(data_dir, source_split)
    seq_len = TASK_INFO["text"]["seq_len"]
    inputs = np.zeros((len(texts), seq_len), dtype=np.int32)
    for row, text in enumerate(texts):
        _encode_bytes_into(inputs[row], text)
    return inputs, np.asarray(labels, dtype=np.int32)


def _load_imdb_raw(data_dir, split):
    """Returns (list of review bytes, labels 0=neg 1=pos) of "train" or "test".

    Reads ``data_dir/aclImdb`` when present, else tensorflow-datasets
    ``imdb_reviews``.
    """
    folder = None
    if data_dir is not None:
        data_dir = Path(data_dir).expanduser()
        for candidate in (data_dir / "aclImdb", data_dir):
            if (candidate / "train" / "pos").is_dir():
                folder = candidate
                break
    if folder is not None:
        return _read_aclimdb_split(folder / split)
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        where = f" (looked for {data_dir}/aclImdb)" if data_dir is not None else ""
        raise FileNotFoundError(f"IMDB data not found{where}. {_IMDB_HINT}") from None
    texts, labels = [], []
    dataset = tfds.load("imdb_reviews", split=split, as_supervised=True)
    for text, label in tfds.as_numpy(dataset):
        texts.append(bytes(text))
        labels.append(int(label))
    return texts, labels


def _read_aclimdb_split(folder):
    texts, labels = [], []
    for label, polarity in enumerate(("neg", "pos")):
        polarity_dir = _shared.require_path(folder / polarity, "dir", _IMDB_HINT)
        for path in sorted(polarity_dir.glob("*.txt")):
            texts.append(path.read_bytes())
            labels.append(label)
    return texts, labels


_CIFAR_HINT = (
    "CIFAR-10 could not be loaded: keras.datasets.cifar10.load_data() needs "
    "network access once (it caches to ~/.keras/datasets), or pip install "
    "tensorflow-datasets with cifar10 prepared in its data dir."
)


def _load_image(split):
    images, labels = _load_cifar10_raw()["train" if split != "test" else "test"]
    gray = rgb_to_grayscale(images).reshape(len(images), -1)
    labels = np.asarray(labels, dtype=np.int32).reshape(-1)
    if split == "test":
        return gray, labels
    n_train = int(0.9 * len(gray))
    if split == "train":
        return gray[:n_train], labels[:n_train]
    return gray[n_train:], labels[n_train:]


def _load_cifar10_raw():
    """Returns ``{"train"|"test": (uint8 images (n, 32, 32, 3), labels)}``.

    keras.datasets.cifar10 first (original order, so the split is the same on
    every machine), then tensorflow-datasets ``cifar10``.
    """
    import keras

    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()
    except Exception as keras_error:  # offline and not cached
        try:
            import tensorflow_datasets as tfds
        except ImportError:
            raise FileNotFoundError(f"{_CIFAR_HINT} ({keras_error})") from keras_error
        result = {}
        for split in ("train", "test"):
            images, labels = tfds.as_numpy(
                tfds.load("cifar10", split=split, as_supervised=True, batch_size=-1)
            )
            result[split] = (images, labels)
        return result
    if x_train.shape[-1] != 3:  # channels_first image data format
        x_train, x_test = x_train.transpose(0, 2, 3, 1), x_test.transpose(0, 2, 3, 1)
    return {"train": (x_train, y_train), "test": (x_test, y_test)}
