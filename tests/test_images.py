"""Tests for keras_ssm.data.images (`sequential`): the sequential-image tasks on keras.datasets.

Fixtures are the released files written byte for byte in their formats (idx: a big-endian
magic number 0x0801 or 0x0803, the sizes, then the uint8 data; gzip-compressed, the four
Fashion-MNIST names), read through Keras' own loader; expectations come from plain numpy
loops over the images, not from the module.
"""

import gzip
import pathlib
import struct

import keras
import numpy as np
import pytest

from keras_ssm.data.images import sequential as images

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def write_idx_images(path, array):
    """An idx3-ubyte.gz file: magic 0x00000803, n, rows, cols (big-endian), then pixels."""
    n, rows, cols = array.shape
    header = struct.pack(">IIII", 0x0803, n, rows, cols)
    with gzip.open(path, "wb") as handle:
        handle.write(header + np.ascontiguousarray(array, np.uint8).tobytes())


def write_idx_labels(path, labels):
    """An idx1-ubyte.gz file: magic 0x00000801, n (big-endian), then the labels."""
    header = struct.pack(">II", 0x0801, len(labels))
    with gzip.open(path, "wb") as handle:
        handle.write(header + np.asarray(labels, np.uint8).tobytes())


def write_fashion_release(folder, num_train=40, num_test=10, seed=0):
    """The four Fashion-MNIST release files of random 28 x 28 images; returns the arrays."""
    rng = np.random.default_rng(seed)
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, n in (("train", num_train), ("t10k", num_test)):
        x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, n, dtype=np.uint8)
        write_idx_images(folder / f"{split}-images-idx3-ubyte.gz", x)
        write_idx_labels(folder / f"{split}-labels-idx1-ubyte.gz", y)
        arrays[split] = (x, y)
    return arrays


def clear_fashion_cache():
    """Removes the links earlier tests made in Keras' cache (the test KERAS_HOME)."""
    folder = images.keras_datasets_dir() / "fashion-mnist"
    for name in images.FASHION_FILES:
        path = folder / name
        if path.is_symlink():
            path.unlink()


@pytest.fixture
def fashion_dir(tmp_path):
    clear_fashion_cache()
    arrays = write_fashion_release(tmp_path / "fashion")
    yield tmp_path / "fashion", arrays
    clear_fashion_cache()


def sequence_loop(image, permutation=None):
    """Pixels of one image (H, W[, C]) row by row as (L, C), by an explicit loop."""
    image = image if image.ndim == 3 else image[..., None]
    height, width, channels = image.shape
    order = range(height * width) if permutation is None else permutation
    out = np.zeros((height * width, channels), np.uint8)
    for t, p in enumerate(order):
        out[t] = image[p // width, p % width]
    return out


def test_permutation_is_fixed_and_invertible():
    first = images.pixel_permutation(784)
    second = images.pixel_permutation(784)
    np.testing.assert_array_equal(first, second)
    assert sorted(first.tolist()) == list(range(784))
    assert not np.array_equal(first, np.arange(784))
    inverse = np.argsort(first)
    x = np.random.default_rng(1).integers(0, 256, (3, 784))
    np.testing.assert_array_equal(x[:, first][:, inverse], x)
    # Pinned: a changed permutation would silently change the psMNIST/psFashion task.
    assert first[:8].tolist() == np.random.default_rng(42).permutation(784)[:8].tolist()
    assert images.PERMUTATION_SEED == 42


@pytest.mark.parametrize("task", ["smnist", "psmnist", "sfashion", "psfashion"])
def test_to_sequences_matches_a_pixel_loop(task):
    x = np.random.default_rng(2).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    got = images.to_sequences(x, task)
    permutation = images.pixel_permutation(784) if task.startswith("p") else None
    expected = np.stack([sequence_loop(image, permutation) for image in x])
    assert got.shape == (3, 784, 1) and got.dtype == np.uint8
    np.testing.assert_array_equal(got, expected)


def test_to_sequences_cifar_colour_and_grey():
    x = np.random.default_rng(3).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    colour = images.to_sequences(x, "scifar")
    assert colour.shape == (2, 1024, 3)
    np.testing.assert_array_equal(colour, np.stack([sequence_loop(image) for image in x]))
    grey = images.to_sequences(x, "scifar-gray")
    assert grey.shape == (2, 1024, 1)
    rgb = x.astype(np.int64)
    luma = (rgb[..., 0] * 19595 + rgb[..., 1] * 38470 + rgb[..., 2] * 7471 + 32768) >> 16
    np.testing.assert_array_equal(grey[..., 0], luma.reshape(2, 1024))


def test_to_sequences_rejects_wrong_shapes():
    with pytest.raises(ValueError, match="channel"):
        images.to_sequences(np.zeros((1, 32, 32, 3), np.uint8), "smnist")
    with pytest.raises(ValueError, match="784 pixels"):
        images.to_sequences(np.zeros((1, 20, 20), np.uint8), "sfashion")
    with pytest.raises(ValueError, match="`task` must be one of"):
        images.to_sequences(np.zeros((1, 28, 28), np.uint8), "mnist")


def test_split_validation_partitions_and_is_seeded():
    train, val = images.split_validation(1000)
    assert len(val) == 100 and len(train) == 900
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(1000))
    again_train, again_val = images.split_validation(1000)
    np.testing.assert_array_equal(val, again_val)
    _, other_val = images.split_validation(1000, seed=1)
    assert not np.array_equal(val, other_val)
    with pytest.raises(ValueError, match="fraction"):
        images.split_validation(10, fraction=1.0)


@pytest.mark.parametrize("task", ["sfashion", "psfashion"])
def test_load_reads_the_released_files_through_keras(fashion_dir, task):
    folder, arrays = fashion_dir
    splits = images.load(task, data_dir=folder)
    x_train, y_train = arrays["train"]
    x_test, y_test = arrays["t10k"]
    train_rows, val_rows = images.split_validation(len(x_train))
    permutation = images.pixel_permutation(784) if task == "psfashion" else None
    for split, rows, source_x, source_y in (
        ("train", train_rows, x_train, y_train),
        ("val", val_rows, x_train, y_train),
        ("test", np.arange(len(x_test)), x_test, y_test),
    ):
        x, y = splits[split]
        assert x.shape == (len(rows), 784, 1) and x.dtype == np.uint8
        np.testing.assert_array_equal(y, source_y[rows].astype(np.int32))
        expected = np.stack([sequence_loop(source_x[r], permutation) for r in rows])
        np.testing.assert_array_equal(x, expected)
    links = sorted(p.name for p in (images.keras_datasets_dir() / "fashion-mnist").iterdir())
    assert set(images.FASHION_FILES) <= set(links)


def test_load_uses_the_debian_folder_by_default(fashion_dir, monkeypatch):
    folder, arrays = fashion_dir
    monkeypatch.setattr(images, "DEBIAN_FASHION_DIR", str(folder))
    x, y = images.load("sfashion")["test"]
    np.testing.assert_array_equal(y, arrays["t10k"][1])


def test_missing_data_names_the_install_command(tmp_path, monkeypatch):
    clear_fashion_cache()

    def offline():
        raise OSError("no network")

    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", offline)
    monkeypatch.setattr(images, "DEBIAN_FASHION_DIR", str(tmp_path / "absent"))
    with pytest.raises(FileNotFoundError, match="apt-get install -y dataset-fashion-mnist"):
        images.load("sfashion")
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        images.load("sfashion", data_dir=tmp_path / "absent")


def test_mnist_and_cifar_go_through_keras_datasets(monkeypatch):
    rng = np.random.default_rng(4)
    mnist = (
        (rng.integers(0, 256, (20, 28, 28), dtype=np.uint8), rng.integers(0, 10, 20)),
        (rng.integers(0, 256, (5, 28, 28), dtype=np.uint8), rng.integers(0, 10, 5)),
    )
    cifar = (
        (rng.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, (20, 1))),
        (rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, (5, 1))),
    )
    monkeypatch.setattr(keras.datasets.mnist, "load_data", lambda: mnist)
    monkeypatch.setattr(keras.datasets.cifar10, "load_data", lambda: cifar)
    x, y = images.load("psmnist")["test"]
    np.testing.assert_array_equal(
        x[0, :, 0], mnist[1][0][0].reshape(-1)[images.pixel_permutation(784)]
    )
    x, y = images.load("scifar")["val"]
    assert x.shape == (2, 1024, 3) and y.shape == (2,) and y.dtype == np.int32


def test_link_into_keras_cache_rejects_unknown_datasets(tmp_path):
    with pytest.raises(ValueError, match="`dataset` must be"):
        images.link_into_keras_cache("imagenet", tmp_path)
    assert images.link_into_keras_cache("mnist", tmp_path) == []


def test_normalization_per_task():
    assert images.normalization("scifar") == images.NORMALIZATION["cifar10"]
    assert images.normalization("scifar-gray") == ((122.6,), (61.0,))
    assert len(images.normalization("psfashion")[0]) == 1
