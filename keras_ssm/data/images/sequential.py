"""Sequential (pixel-by-pixel) image classification: sMNIST, psMNIST, sFashion, sCIFAR.

Each image becomes a sequence of its pixels in row-major order, one step per pixel:

| task | images | length L | channels per step | permuted |
|---|---|---|---|---|
| `smnist` | MNIST | 784 | 1 | no |
| `psmnist` | MNIST | 784 | 1 | one fixed, seeded permutation |
| `sfashion` | Fashion-MNIST | 784 | 1 | no |
| `psfashion` | Fashion-MNIST | 784 | 1 | one fixed, seeded permutation |
| `scifar` | CIFAR-10 (colour, as S4/S5 report sCIFAR) | 1024 | 3 | no |
| `scifar-gray` | CIFAR-10 in grey levels (LRA Image) | 1024 | 1 | no |

The images come from `keras.datasets` (`mnist`, `fashion_mnist`, `cifar10`), which
downloads them once into `keras.config.keras_home()/datasets`. Without the internet,
`load(task, data_dir=...)` links local copies of the released files to where that cache
expects them and lets Keras read them; nothing of Keras' loaders is re-implemented here:

- Fashion-MNIST: the four original `*-idx*-ubyte.gz` files. Debian's package
  `dataset-fashion-mnist` installs them in `/usr/share/datasets/fashion-mnist/`, which is
  searched when `data_dir` is None.
- MNIST: `mnist.npz` (Keras' own file; checked against its hash by Keras).
- CIFAR-10: `cifar-10-python.tar.gz` (the original release; checked by Keras).

Splits: validation is a seeded 10% of the official training split, test is the official
test split. Arrays are uint8 grey levels `(n, L, channels)`; models normalize them
(`NORMALIZATION`).
"""

import os
import pathlib

import numpy as np

TASKS = ("smnist", "psmnist", "sfashion", "psfashion", "scifar", "scifar-gray")

TASK_INFO = {
    "smnist": dict(dataset="mnist", seq_len=784, channels=1, permuted=False, num_classes=10),
    "psmnist": dict(dataset="mnist", seq_len=784, channels=1, permuted=True, num_classes=10),
    "sfashion": dict(
        dataset="fashion_mnist", seq_len=784, channels=1, permuted=False, num_classes=10
    ),
    "psfashion": dict(
        dataset="fashion_mnist", seq_len=784, channels=1, permuted=True, num_classes=10
    ),
    "scifar": dict(dataset="cifar10", seq_len=1024, channels=3, permuted=False, num_classes=10),
    "scifar-gray": dict(
        dataset="cifar10", seq_len=1024, channels=1, permuted=False, num_classes=10
    ),
}
"""Per task: the `keras.datasets` module, L, channels per step, permuted, classes."""

NORMALIZATION = {
    "mnist": ((33.32,), (78.57,)),  # 0.1307, 0.3081 of 255
    "fashion_mnist": ((72.94,), (90.02,)),  # 0.2860, 0.3530 of 255
    "cifar10": ((125.31, 122.95, 113.87), (62.99, 62.09, 66.70)),
    "cifar10-gray": ((122.6,), (61.0,)),  # LRA Image (S4/S5 loaders)
}
"""(mean, std) per channel in grey levels (0-255): models compute (x - mean) / std."""

PERMUTATION_SEED = 42
"""The seed of the fixed pixel permutation of psMNIST / psFashion."""

VALIDATION_FRACTION = 0.1
SPLIT_SEED = 0
"""Validation is a `VALIDATION_FRACTION` of train drawn with `numpy` seed `SPLIT_SEED`."""

DEBIAN_FASHION_DIR = "/usr/share/datasets/fashion-mnist"

FASHION_FILES = (
    "train-labels-idx1-ubyte.gz",
    "train-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
)

INSTALL_HINT = {
    "fashion_mnist": (
        "Fashion-MNIST was not found. Install the original release files with\n"
        "    apt-get update && apt-get install -y dataset-fashion-mnist   (or: make data)\n"
        f"which puts them in {DEBIAN_FASHION_DIR}, pass --data-dir FOLDER holding "
        f"{', '.join(FASHION_FILES)}, or let keras.datasets.fashion_mnist.load_data() "
        "download them once (needs the internet)."
    ),
    "mnist": (
        "MNIST was not found: keras.datasets.mnist.load_data() downloads mnist.npz once "
        "(needs the internet), or pass --data-dir FOLDER holding mnist.npz."
    ),
    "cifar10": (
        "CIFAR-10 was not found: keras.datasets.cifar10.load_data() downloads it once "
        "(needs the internet), or pass --data-dir FOLDER holding cifar-10-python.tar.gz."
    ),
}


def pixel_permutation(length, seed=PERMUTATION_SEED):
    """The fixed permutation of pixel positions of the permuted tasks.

    Args:
        length: int, L.
        seed: int, the numpy seed (default `PERMUTATION_SEED`).

    Returns:
        int64 array (L,): sequence step t reads pixel `permutation[t]`.

    Example:

    ```python
    perm = pixel_permutation(784)
    assert sorted(perm.tolist()) == list(range(784))
    inverse = np.argsort(perm)           # undoes it: x[:, perm][:, inverse] == x
    ```
    """
    return np.random.default_rng(int(seed)).permutation(int(length))


def to_sequences(images, task):
    """Images as pixel sequences of `task`.

    Args:
        images: uint8 array (n, height, width) or (n, height, width, 3) (channels last).
        task: one of `TASKS`.

    Returns:
        uint8 array (n, L, channels): row-major pixels, permuted for `ps*` tasks,
        grey levels for `scifar-gray` (`keras_ssm.data.lra.rgb_to_grayscale`).

    Example:

    ```python
    x = to_sequences(np.zeros((2, 28, 28), np.uint8), "psmnist")
    assert x.shape == (2, 784, 1)
    ```
    """
    info = _task_info(task)
    images = np.asarray(images)
    if task == "scifar-gray":
        from keras_ssm.data.lra.encoding import rgb_to_grayscale

        images = rgb_to_grayscale(images)
    channels = images.shape[-1] if images.ndim == 4 else 1
    if channels != info["channels"]:
        raise ValueError(
            f"`images` of task {task!r} must have {info['channels']} channel(s), "
            f"got shape {images.shape}."
        )
    sequences = images.reshape(len(images), -1, channels)
    if sequences.shape[1] != info["seq_len"]:
        raise ValueError(
            f"`images` of task {task!r} must have {info['seq_len']} pixels, got "
            f"shape {images.shape}."
        )
    if info["permuted"]:
        sequences = sequences[:, pixel_permutation(info["seq_len"])]
    return np.ascontiguousarray(sequences, dtype=np.uint8)


def split_validation(num_train, fraction=VALIDATION_FRACTION, seed=SPLIT_SEED):
    """Indices of the training and validation parts of the official training split.

    Args:
        num_train: int, the official training split's size.
        fraction: float in (0, 1), the validation share.
        seed: int.

    Returns:
        (train_indices, val_indices), sorted int64 arrays that partition range(num_train).

    Example:

    ```python
    train, val = split_validation(60000)
    assert len(val) == 6000 and len(train) == 54000
    ```
    """
    if not 0.0 < float(fraction) < 1.0:
        raise ValueError(f"`fraction` must be in (0, 1), got {fraction!r}.")
    order = np.random.default_rng(int(seed)).permutation(int(num_train))
    num_val = int(round(float(fraction) * int(num_train)))
    return np.sort(order[num_val:]), np.sort(order[:num_val])


def link_into_keras_cache(dataset, data_dir):
    """Links released files from `data_dir` to where `keras.datasets` looks for them.

    Files already cached by Keras (regular files) are left alone; links we made earlier
    are replaced, so the latest `data_dir` wins.

    Args:
        dataset: "fashion_mnist", "mnist" or "cifar10".
        data_dir: the folder holding the released files (see the module docstring).

    Returns:
        The list of links made (pathlib.Path), empty when `data_dir` holds none of the
        files.

    Example:

    ```python
    # Not run by the tests (needs the dataset files or the internet).
    link_into_keras_cache("fashion_mnist", "/usr/share/datasets/fashion-mnist")
    ```
    """
    data_dir = pathlib.Path(data_dir).expanduser()
    datasets = keras_datasets_dir()
    if dataset == "fashion_mnist":
        pairs = [(data_dir / name, datasets / "fashion-mnist" / name) for name in FASHION_FILES]
    elif dataset == "mnist":
        pairs = [(data_dir / "mnist.npz", datasets / "mnist.npz")]
    elif dataset == "cifar10":
        pairs = [
            (data_dir / "cifar-10-python.tar.gz", datasets / "cifar-10-batches-py-target_archive")
        ]
    else:
        raise ValueError(
            f"`dataset` must be 'fashion_mnist', 'mnist' or 'cifar10', got {dataset!r}."
        )
    linked = []
    for source, target in pairs:
        if not source.is_file():
            continue
        if target.is_symlink():
            target.unlink()
        elif target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(source.resolve(), target)
        linked.append(target)
    return linked


def keras_datasets_dir():
    """The folder where `keras.datasets` caches its files (`keras.utils.get_file`'s default).

    `$KERAS_HOME/datasets`, else `~/.keras/datasets` (`/tmp/.keras/datasets` where the home
    folder or the Keras folder is not writable), as Keras decides it.

    Example:

    ```python
    keras_datasets_dir()          # e.g. PosixPath('/root/.keras/datasets')
    ```
    """
    if "KERAS_HOME" in os.environ:
        home = os.environ["KERAS_HOME"]
    else:
        base = os.path.expanduser("~")
        home = os.path.join(base if os.access(base, os.W_OK) else "/tmp", ".keras")
    home = os.path.expanduser(home)
    if not os.access(home, os.W_OK):
        if os.path.exists(home) or not os.access(os.path.dirname(home) or ".", os.W_OK):
            home = os.path.join("/tmp", ".keras")
    return pathlib.Path(home) / "datasets"


def load_images(dataset, data_dir=None):
    """The official train and test images of a `keras.datasets` data set.

    Args:
        dataset: "fashion_mnist", "mnist" or "cifar10".
        data_dir: optional folder of released files (linked into Keras' cache first);
            for Fashion-MNIST, None also tries `DEBIAN_FASHION_DIR`.

    Returns:
        ((x_train, y_train), (x_test, y_test)): uint8 images (n, H, W) or (n, H, W, 3),
        int32 labels (n,).

    Raises:
        FileNotFoundError: nothing found and no download possible; the message names the
            install command.

    Example:

    ```python
    # Not run by the tests (needs the dataset files or the internet).
    (x_train, y_train), (x_test, y_test) = load_images("fashion_mnist")
    ```
    """
    import keras

    if data_dir is not None:
        if not pathlib.Path(data_dir).expanduser().is_dir():
            raise FileNotFoundError(
                f"--data-dir {str(data_dir)!r} is not a folder. {INSTALL_HINT[dataset]}"
            )
        link_into_keras_cache(dataset, data_dir)
    elif dataset == "fashion_mnist" and pathlib.Path(DEBIAN_FASHION_DIR).is_dir():
        link_into_keras_cache(dataset, DEBIAN_FASHION_DIR)
    loader = getattr(keras.datasets, dataset).load_data
    try:
        (x_train, y_train), (x_test, y_test) = loader()
    except Exception as error:  # not cached and no network: urllib/OSError/ValueError
        raise FileNotFoundError(
            f"{INSTALL_HINT[dataset]} ({type(error).__name__}: {error})"
        ) from error
    if dataset == "cifar10" and x_train.shape[-1] != 3:  # channels_first image data format
        x_train, x_test = x_train.transpose(0, 2, 3, 1), x_test.transpose(0, 2, 3, 1)
    return (
        (np.asarray(x_train, np.uint8), np.asarray(y_train, np.int32).reshape(-1)),
        (np.asarray(x_test, np.uint8), np.asarray(y_test, np.int32).reshape(-1)),
    )


def load(task, data_dir=None, validation_fraction=VALIDATION_FRACTION, split_seed=SPLIT_SEED):
    """The train, validation and test splits of a sequential image task.

    Args:
        task: one of `TASKS`.
        data_dir: optional folder of released files (see `load_images`).
        validation_fraction: the share of the official train split held out.
        split_seed: the seed of that hold-out.

    Returns:
        {"train" | "val" | "test": (uint8 (n, L, channels), int32 labels (n,))}.

    Example:

    ```python
    # Not run by the tests (needs the dataset files or the internet).
    splits = load("sfashion")
    x, y = splits["train"]          # (54000, 784, 1), (54000,)
    ```
    """
    info = _task_info(task)
    (x_train, y_train), (x_test, y_test) = load_images(info["dataset"], data_dir)
    train_rows, val_rows = split_validation(len(x_train), validation_fraction, split_seed)
    sequences = to_sequences(x_train, task)
    return {
        "train": (sequences[train_rows], y_train[train_rows]),
        "val": (sequences[val_rows], y_train[val_rows]),
        "test": (to_sequences(x_test, task), y_test),
    }


def normalization(task):
    """(mean, std) per channel of a task's pixel sequences, in grey levels.

    Example:

    ```python
    mean, std = normalization("scifar")      # three values each
    ```
    """
    key = "cifar10-gray" if task == "scifar-gray" else _task_info(task)["dataset"]
    return NORMALIZATION[key]


def _task_info(task):
    if task not in TASK_INFO:
        raise ValueError(f"`task` must be one of {TASKS}, got {task!r}.")
    return TASK_INFO[task]
