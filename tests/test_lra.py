"""Tests for keras_ssm.data.lra (reader, archive, encoding) on small fixtures written in
the released formats.

Every expectation is computed here from the fixture contents and the documented
encodings (a regex tokenizer, explicit id tables, an independent PNG encoder),
never by calling the reader's own helpers.
"""

import re
import struct
import sys
import types
import zlib
from contextlib import nullcontext

import numpy as np
import pytest

from keras_ssm.data import lra
from keras_ssm.data.lra import reader

# ---------------------------------------------------------------------------
# Independent expectations


LISTOPS_IDS = {
    **{str(d): 3 + d for d in range(10)},
    "[MAX": 13,
    "[MIN": 14,
    "[MED": 15,
    "[SM": 16,
    "]": 17,
}


def expected_listops(source, seq_len=2048):
    tokens = re.findall(r"\[MAX|\[MIN|\[MED|\[SM|\d|\]", source)
    ids = [LISTOPS_IDS[t] for t in tokens][: seq_len - 1] + [2]
    return np.array(ids + [0] * (seq_len - len(ids)), dtype=np.int64)


def expected_bytes(text, seq_len):
    data = text.encode("utf-8") if isinstance(text, str) else text
    ids = [b + 3 for b in data][: seq_len - 1] + [2]
    return np.array(ids + [0] * (seq_len - len(ids)), dtype=np.int64)


def expected_split(n, seed=42):
    perm = np.random.default_rng(seed).permutation(n)
    n_val = n_test = int(0.1 * n)
    n_train = n - n_val - n_test
    return {
        "train": sorted(perm[:n_train]),
        "val": sorted(perm[n_train : n_train + n_val]),
        "test": sorted(perm[n_train + n_val :]),
    }


def luma(rgb):
    """Pillow's ITU-R 601-2 luma in 16-bit fixed point (its Convert.c)."""
    r, g, b = (rgb[..., i].astype(np.int64) for i in range(3))
    return ((r * 19595 + g * 38470 + b * 7471 + 32768) >> 16).astype(np.uint8)


# ---------------------------------------------------------------------------
# A PNG encoder written for the tests (all five row filters, split IDAT)


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def png_bytes(pixels, filters=(0, 1, 2, 3, 4)):
    pixels = np.asarray(pixels, dtype=np.uint8)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    height, width, channels = pixels.shape
    color_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    raw = bytearray()
    previous = [0] * (width * channels)
    for y in range(height):
        row = pixels[y].reshape(-1).tolist()
        kind = filters[y % len(filters)]
        raw.append(kind)
        for x, value in enumerate(row):
            a = row[x - channels] if x >= channels else 0
            b = previous[x]
            c = previous[x - channels] if x >= channels else 0
            predictor = [0, a, b, (a + b) // 2, _paeth(a, b, c)][kind]
            raw.append((value - predictor) % 256)
        previous = row

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    compressed = zlib.compress(bytes(raw))
    half = len(compressed) // 2
    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", compressed[:half])
        + chunk(b"IDAT", compressed[half:])
        + chunk(b"IEND", b"")
    )


# ---------------------------------------------------------------------------
# Fixture: a tiny lra_release folder


LISTOPS_ROWS = {
    "train": [
        ("( ( ( [MAX 2 ) 9 ) ] )", 9),
        ("( ( ( ( [SM 3 ) ( ( [MIN 4 ) 7 ] ) ) 5 ) ] )", 2),
        ("( ( [MED 1 ) ( ( ( [MAX 0 ) 8 ) ] ) ] )", 8),
        ("[MAX " + "1 " * 3000 + "]", 1),  # longer than 2047 tokens
    ],
    "val": [("( ( [MIN 6 ) 3 ] )", 3)],
    "test": [("( ( ( [SM 9 ) 9 ) ] )", 8), ("( ( [MAX 4 ) 5 ] )", 5)],
}

RETRIEVAL_ROWS = {
    "train": [
        ("1", "aan/1", "aan/2", 'Graph parsing "quoted" text.', "Caf\u00e9 na\u00efve \u2013 dash"),
        ("0", "aan/3", "aan/4", "x" * 4500, "short"),
        ("1.0", "aan/5", "aan/6", "", "only the second"),
    ],
    "val": [("0.0", "aan/7", "aan/8", "eval doc one", "eval doc two")],
    "test": [("1", "aan/9", "aan/10", "test a", "test b")],
}


def write_pathfinder(root, folder, side, n_metadata, per_file, rng, empty=None):
    """Writes <folder>/curv_contour_length_14 with metadata/<k>.npy text files.

    Returns the expected (pixels (side*side,), label) in reader order.
    """
    base = root / folder / "curv_contour_length_14"
    (base / "metadata").mkdir(parents=True)
    expected = []
    for k in range(n_metadata):
        (base / "imgs" / str(k)).mkdir(parents=True)
        lines = []
        for j in range(per_file):
            name = f"sample_{j}.png"
            label = int(rng.integers(0, 2))
            if empty == (k, j):
                (base / "imgs" / str(k) / name).write_bytes(b"")
            else:
                pixels = rng.integers(0, 256, size=(side, side), dtype=np.uint8)
                filters = tuple(np.roll([0, 1, 2, 3, 4], k + j).tolist())
                (base / "imgs" / str(k) / name).write_bytes(png_bytes(pixels, filters))
                expected.append((pixels.reshape(-1), label))
            lines.append(f"imgs/{k} {name} {j} {label} 0.75 2 14\n")
        (base / "metadata" / f"{k}.npy").write_text("".join(lines))
    return expected


@pytest.fixture(scope="module")
def lra_dir(tmp_path_factory):
    outer = tmp_path_factory.mktemp("lra")
    root = outer / "lra_release"
    (root / "listops-1000").mkdir(parents=True)
    for split, rows in LISTOPS_ROWS.items():
        lines = ["Source\tTarget\r\n"] + [f"{s}\t{t}\r\n" for s, t in rows]
        (root / "listops-1000" / f"basic_{split}.tsv").write_text("".join(lines), newline="")
    (root / "tsv_data").mkdir()
    for split, rows in RETRIEVAL_ROWS.items():
        name = {"train": "train", "val": "eval", "test": "test"}[split]
        text = "".join("\t".join(row) + "\n" for row in rows) + "\n"  # trailing blank line
        (root / "tsv_data" / f"new_aan_pairs.{name}.tsv").write_bytes(text.encode("utf-8"))
    rng = np.random.default_rng(0)
    pathfinder = write_pathfinder(root, "pathfinder32", 32, 12, 2, rng, empty=(3, 1))
    pathx = write_pathfinder(root, "pathfinder128", 128, 2, 5, rng)
    return {"outer": outer, "root": root, "pathfinder": pathfinder, "pathx": pathx}


# ---------------------------------------------------------------------------
# Tokenizers


def test_encode_listops_matches_hand_ids():
    ids = lra.encode_listops("( ( ( [MAX 2 ) 9 ) ] )", seq_len=8)
    assert ids.tolist() == [13, 5, 12, 17, 2, 0, 0, 0]
    assert ids.dtype == np.int32


def test_vocabulary_constants():
    assert len(lra.LISTOPS_VOCAB) == 18 == lra.TASK_INFO["listops"]["vocab_size"]
    for token, index in LISTOPS_IDS.items():
        assert lra.LISTOPS_VOCAB[index] == ("X" if token == "]" else token)
    assert lra.LISTOPS_VOCAB[:3] == ("<pad>", "<unk>", "<eos>")
    assert lra.TASK_INFO["retrieval"]["vocab_size"] == 259
    assert lra.encode_listops("[FIRST 1 ]", seq_len=5).tolist() == [1, 4, 17, 2, 0]


def test_encode_bytes_utf8_truncation():
    np.testing.assert_array_equal(
        lra.encode_bytes("\u00e9a", 6), [0xC3 + 3, 0xA9 + 3, 100, 2, 0, 0]
    )
    np.testing.assert_array_equal(lra.encode_bytes(b"abcdef", 4), [100, 101, 102, 2])


# ---------------------------------------------------------------------------
# ListOps


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_listops_splits(lra_dir, tmp_path, split):
    inputs, labels = lra.load("listops", lra_dir["root"], split, cache_dir=tmp_path, verbose=0)
    rows = LISTOPS_ROWS[split]
    assert inputs.shape == (len(rows), 2048) and inputs.dtype == np.int32
    assert labels.dtype == np.int32
    np.testing.assert_array_equal(labels, [t for _, t in rows])
    for row, (source, _) in zip(inputs, rows):
        np.testing.assert_array_equal(row, expected_listops(source))


def test_listops_truncates_to_2047_tokens_plus_eos(lra_dir, tmp_path):
    inputs, _ = lra.load("listops", lra_dir["root"], "train", cache_dir=tmp_path, verbose=0)
    long_row = inputs[3]
    assert long_row[0] == 13 and np.all(long_row[1:2047] == 4) and long_row[2047] == 2


def test_listops_cache_is_memory_mapped_and_reused(lra_dir, tmp_path):
    first = lra.load("listops", lra_dir["outer"], "val", cache_dir=tmp_path, verbose=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "listops-val-v1.inputs.npy",
        "listops-val-v1.labels.npy",
    ]
    second = lra.load("listops", lra_dir["outer"], "val", cache_dir=tmp_path, verbose=0)
    assert isinstance(second[0], np.memmap) and isinstance(second[1], np.memmap)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])


def test_default_cache_dir_inside_data_dir(tmp_path):
    root = tmp_path / "lra_release"
    (root / "listops-1000").mkdir(parents=True)
    path = root / "listops-1000" / "basic_test.tsv"
    path.write_text("Source\tTarget\n( ( [MAX 1 ) 2 ] )\t2\n")
    inputs, _ = lra.load("listops", tmp_path, "test", verbose=0)
    assert (root / ".keras_ssm_cache" / "listops-test-v1.inputs.npy").is_file()
    path.write_text("Source\tTarget\n( ( [MIN 1 ) 2 ] )\t1\n")  # ignored: cached
    again, labels = lra.load("listops", root, "test", verbose=0)
    np.testing.assert_array_equal(again, inputs)
    assert labels.tolist() == [2]


# ---------------------------------------------------------------------------
# Retrieval


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_retrieval_splits(lra_dir, tmp_path, split):
    (docs1, docs2), labels = lra.load(
        "retrieval", lra_dir["root"], split, cache_dir=tmp_path, verbose=0
    )
    rows = RETRIEVAL_ROWS[split]
    assert docs1.shape == docs2.shape == (len(rows), 4000)
    assert docs1.dtype == docs2.dtype == labels.dtype == np.int32
    np.testing.assert_array_equal(labels, [int(float(r[0])) for r in rows])
    for i, row in enumerate(rows):
        np.testing.assert_array_equal(docs1[i], expected_bytes(row[3], 4000))
        np.testing.assert_array_equal(docs2[i], expected_bytes(row[4], 4000))
    second = lra.load("retrieval", lra_dir["root"], split, cache_dir=tmp_path, verbose=0)
    assert all(isinstance(a, np.memmap) for a in (*second[0], second[1]))


def test_retrieval_long_document_truncated(lra_dir, tmp_path):
    (docs1, _), _ = lra.load("retrieval", lra_dir["root"], "train", cache_dir=tmp_path, verbose=0)
    assert np.all(docs1[1, :3999] == ord("x") + 3) and docs1[1, 3999] == 2
    assert docs1[2, 0] == 2 and np.all(docs1[2, 1:] == 0)  # empty text: EOS only


# ---------------------------------------------------------------------------
# Pathfinder / Path-X


@pytest.mark.parametrize("task,side", [("pathfinder", 32), ("pathx", 128)])
def test_pathfinder_split_pixels_labels(lra_dir, tmp_path, task, side):
    expected = lra_dir[task]
    split_of = expected_split(len(expected))
    seen = []
    for split in ("train", "val", "test"):
        warns = (
            pytest.warns(UserWarning, match="empty image")
            if task == "pathfinder"
            else nullcontext()
        )
        with warns:
            inputs, labels = lra.load(task, lra_dir["root"], split, cache_dir=tmp_path, verbose=0)
        indices = split_of[split]
        assert inputs.shape == (len(indices), side * side) and inputs.dtype == np.uint8
        assert labels.dtype == np.int32
        np.testing.assert_array_equal(inputs, np.stack([expected[i][0] for i in indices]))
        np.testing.assert_array_equal(labels, [expected[i][1] for i in indices])
        seen.extend(indices)
    assert sorted(seen) == list(range(len(expected)))


def test_pathfinder_fixture_sizes(lra_dir):
    # 12 metadata files x 2 lines, one empty image skipped; metadata "10.npy"
    # and "11.npy" come after "9.npy" (numeric order) in the expected order.
    assert len(lra_dir["pathfinder"]) == 23
    assert len(expected_split(23)["val"]) == 2
    assert len(lra_dir["pathx"]) == 10


def test_pathfinder_without_pillow_says_how_to_install_it(lra_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)  # `from PIL import Image` fails
    with pytest.raises(ImportError, match="pip install pillow"):
        lra.load("pathfinder", lra_dir["root"], "val", cache_dir=tmp_path, verbose=0)


def test_pathx_cached_then_memory_mapped(lra_dir, tmp_path):
    first = lra.load("pathx", lra_dir["root"], "train", cache_dir=tmp_path, verbose=0)
    assert (tmp_path / "pathx-train-seed42-v1.inputs.npy").is_file()
    second = lra.load("pathx", lra_dir["root"], "train", cache_dir=tmp_path, verbose=0)
    assert isinstance(second[0], np.memmap) and not second[0].flags.writeable
    np.testing.assert_array_equal(first[0], second[0])


# ---------------------------------------------------------------------------
# PNG decoding


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_decode_png_gray_all_filters(channels):
    rng = np.random.default_rng(channels)
    pixels = rng.integers(0, 256, size=(7, 9, channels), dtype=np.uint8)
    decoded = lra.decode_png_gray(png_bytes(pixels))
    expected = pixels[..., 0] if channels <= 2 else luma(pixels[..., :3])
    np.testing.assert_array_equal(decoded, expected)
    assert decoded.dtype == np.uint8 and decoded.shape == (7, 9)


def test_decode_png_agrees_with_pillow(tmp_path):
    pil = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(5)
    rgb = rng.integers(0, 256, size=(6, 11, 3), dtype=np.uint8)
    pil.fromarray(rgb, "RGB").save(tmp_path / "a.png")
    with pil.open(tmp_path / "a.png") as image:
        reference = np.asarray(image.convert("L"))
    np.testing.assert_array_equal(lra.decode_png_gray((tmp_path / "a.png").read_bytes()), reference)


def test_decode_png_errors():
    good = png_bytes(np.zeros((2, 2), np.uint8))
    with pytest.raises(ValueError, match="f.png"):
        lra.decode_png_gray(b"GIF89a", name="f.png")
    with pytest.raises(ValueError, match="f.png"):
        lra.decode_png_gray(good[: len(good) // 2], name="f.png")


# ---------------------------------------------------------------------------
# Text and Image (downloaded data; fake raw loaders and fixture folders)


def test_text_tokenization_and_val_is_test(monkeypatch):
    train = [b"Great movie!", "na\u00efve <br /> plot".encode(), b"y" * 5000]
    test = [b"bad", b""]
    raw = {"train": (train, [1, 1, 0]), "test": (test, [0, 1])}
    monkeypatch.setattr(reader, "_load_imdb_raw", lambda data_dir, split: raw[split])
    inputs, labels = lra.load("text", None, "train")
    assert inputs.shape == (3, 4096) and inputs.dtype == np.int32
    for row, text in zip(inputs, train):
        np.testing.assert_array_equal(row, expected_bytes(text, 4096))
    np.testing.assert_array_equal(labels, [1, 1, 0])
    val, val_labels = lra.load("text", None, "val")
    tst, tst_labels = lra.load("text", None, "test")
    np.testing.assert_array_equal(val, tst)
    np.testing.assert_array_equal(val_labels, [0, 1])
    np.testing.assert_array_equal(tst[0], expected_bytes(b"bad", 4096))


def test_text_reads_extracted_aclimdb_folder(tmp_path):
    reviews = {
        ("train", "pos"): [b"good", b"great"],
        ("train", "neg"): [b"awful"],
        ("test", "pos"): [b"fine"],
        ("test", "neg"): [b"meh", b"no"],
    }
    for (split, polarity), texts in reviews.items():
        folder = tmp_path / "aclImdb" / split / polarity
        folder.mkdir(parents=True)
        for i, text in enumerate(texts):
            (folder / f"{i}_{7 if polarity == 'pos' else 2}.txt").write_bytes(text)
    (tmp_path / "aclImdb" / "train" / "unsup").mkdir()
    (tmp_path / "aclImdb" / "train" / "unsup" / "0_0.txt").write_bytes(b"unlabelled")
    inputs, labels = lra.load("text", tmp_path, "train")
    texts = reviews[("train", "neg")] + reviews[("train", "pos")]
    np.testing.assert_array_equal(labels, [0, 1, 1])
    np.testing.assert_array_equal(inputs, np.stack([expected_bytes(t, 4096) for t in texts]))
    _, test_labels = lra.load("text", tmp_path / "aclImdb", "test")
    np.testing.assert_array_equal(test_labels, [0, 0, 1])


def test_text_missing_data_names_download(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)
    with pytest.raises(FileNotFoundError, match="aclImdb_v1.tar.gz") as info:
        lra.load("text", tmp_path, "train")
    assert "tensorflow-datasets" in str(info.value) and str(tmp_path) in str(info.value)


def fake_tfds(datasets):
    """A stand-in tensorflow_datasets module: load(name, split=...) from a dict."""
    module = types.ModuleType("tensorflow_datasets")
    calls = []

    def load(name, split, **kwargs):
        calls.append((name, split, kwargs))
        return datasets[(name, split)]

    module.load = load
    module.as_numpy = lambda dataset: dataset
    module.calls = calls
    return module


def test_text_through_tensorflow_datasets(tmp_path, monkeypatch):
    tfds = fake_tfds({("imdb_reviews", "test"): [(np.bytes_(b"ok"), np.int64(1)), (b"no", 0)]})
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", tfds)
    inputs, labels = lra.load("text", tmp_path, "val")  # no aclImdb in tmp_path
    assert tfds.calls == [("imdb_reviews", "test", {"as_supervised": True})]
    np.testing.assert_array_equal(
        inputs, np.stack([expected_bytes(b"ok", 4096), expected_bytes(b"no", 4096)])
    )
    np.testing.assert_array_equal(labels, [1, 0])


def test_image_falls_back_to_tensorflow_datasets(monkeypatch):
    import keras

    rng = np.random.default_rng(8)
    images = {
        s: rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
        for s, n in [("train", 10), ("test", 2)]
    }
    tfds = fake_tfds({("cifar10", s): (images[s], np.arange(len(images[s]))) for s in images})

    def offline():
        raise OSError("network unreachable")

    monkeypatch.setattr(keras.datasets.cifar10, "load_data", offline)
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", tfds)
    x, y = lra.load("image", split="val")
    np.testing.assert_array_equal(x, luma(images["train"][9:]).reshape(1, 1024))
    np.testing.assert_array_equal(y, [9])


def test_image_grayscale_rowmajor_and_split(monkeypatch):
    rng = np.random.default_rng(3)
    train = rng.integers(0, 256, size=(20, 32, 32, 3), dtype=np.uint8)
    test = rng.integers(0, 256, size=(4, 32, 32, 3), dtype=np.uint8)
    train_labels = rng.integers(0, 10, size=(20, 1))
    monkeypatch.setattr(
        reader,
        "_load_cifar10_raw",
        lambda: {"train": (train, train_labels), "test": (test, np.arange(4).reshape(4, 1))},
    )
    x, y = lra.load("image", None, "train")
    assert x.shape == (18, 1024) and x.dtype == np.uint8 and y.dtype == np.int32
    np.testing.assert_array_equal(x, luma(train[:18]).reshape(18, 1024))
    np.testing.assert_array_equal(y, train_labels[:18, 0])
    x_val, y_val = lra.load("image", None, "val")
    np.testing.assert_array_equal(x_val, luma(train[18:]).reshape(2, 1024))
    np.testing.assert_array_equal(y_val, train_labels[18:, 0])
    x_test, y_test = lra.load("image", None, "test")
    # row-major: pixel (row 1, column 0) is step 32
    assert x_test[2, 32] == luma(test[2, 1, 0])
    np.testing.assert_array_equal(y_test, [0, 1, 2, 3])


def test_grayscale_equals_pillow():
    pil = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(4)
    rgb = rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    reference = np.asarray(pil.fromarray(rgb, "RGB").convert("L"))
    np.testing.assert_array_equal(lra.rgb_to_grayscale(rgb), reference)
    np.testing.assert_array_equal(luma(rgb), reference)


def test_image_uses_keras_cifar10(monkeypatch):
    import keras

    rng = np.random.default_rng(6)
    x_train = rng.integers(0, 256, size=(10, 32, 32, 3), dtype=np.uint8)
    x_test = rng.integers(0, 256, size=(3, 32, 32, 3), dtype=np.uint8)
    monkeypatch.setattr(
        keras.datasets.cifar10,
        "load_data",
        lambda: ((x_train, np.arange(10).reshape(10, 1)), (x_test, np.zeros((3, 1), np.uint8))),
    )
    x, y = lra.load("image", split="train")
    np.testing.assert_array_equal(x, luma(x_train[:9]).reshape(9, 1024))
    np.testing.assert_array_equal(y, np.arange(9))


def test_image_offline_without_tfds_names_options(monkeypatch):
    import keras

    def offline():
        raise OSError("network unreachable")

    monkeypatch.setattr(keras.datasets.cifar10, "load_data", offline)
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)
    with pytest.raises(FileNotFoundError, match="keras.datasets.cifar10") as info:
        lra.load("image", split="test")
    assert "tensorflow-datasets" in str(info.value)


# ---------------------------------------------------------------------------
# Errors and TASK_INFO


def test_missing_file_names_expected_path(tmp_path):
    (tmp_path / "listops-1000").mkdir()
    with pytest.raises(
        FileNotFoundError, match=re.escape(str(tmp_path / "listops-1000" / "basic_val.tsv"))
    ):
        lra.load("listops", tmp_path, "val", verbose=0)
    with pytest.raises(FileNotFoundError, match="new_aan_pairs.eval.tsv"):
        lra.load("retrieval", tmp_path, "val", verbose=0)
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "pathfinder128"))):
        lra.load("pathx", tmp_path, "val", verbose=0)
    with pytest.raises(FileNotFoundError, match="lra_release.gz"):
        lra.load("listops", tmp_path / "nowhere", "val", verbose=0)


@pytest.mark.parametrize(
    "content,line,problem",
    [
        ("Source\tTarget\n( [MAX 1 ] )\t1\n( [MIN 2 ] )\t2\textra\n", 3, "2 tab-separated"),
        ("Source\tTarget\n( [MAX 1 ] )\tseven\n", 2, "label 'seven'"),
        ("Source\tTarget\n( [MAX 1 ] )\t10\n", 2, "label '10'"),
        ("( [MAX 1 ] )\t1\n", 1, "header"),
    ],
)
def test_malformed_listops_names_file_and_line(tmp_path, content, line, problem):
    (tmp_path / "listops-1000").mkdir()
    (tmp_path / "listops-1000" / "basic_train.tsv").write_text(content)
    with pytest.raises(ValueError, match=f"basic_train.tsv, line {line}: .*{problem}"):
        lra.load("listops", tmp_path, "train", verbose=0)
    assert not list((tmp_path / ".keras_ssm_cache").glob("*"))  # nothing half-written


def test_malformed_retrieval_names_file_and_line(tmp_path):
    (tmp_path / "tsv_data").mkdir()
    (tmp_path / "tsv_data" / "new_aan_pairs.test.tsv").write_text(
        "1\ta\tb\tx\ty\n\n0\ta\tb\tonly four\n"
    )
    with pytest.raises(ValueError, match="new_aan_pairs.test.tsv, line 3: expected 5"):
        lra.load("retrieval", tmp_path, "test", verbose=0)


def test_pathfinder_errors_name_files(tmp_path):
    base = tmp_path / "pathfinder32" / "curv_contour_length_14"
    (base / "metadata").mkdir(parents=True)
    (base / "imgs" / "0").mkdir(parents=True)
    (base / "imgs" / "0" / "sample_0.png").write_bytes(png_bytes(np.zeros((32, 32), np.uint8)))
    (base / "metadata" / "0.npy").write_text("imgs/0 sample_0.png 0 1\nimgs/0 sample_1.png 1\n")
    with pytest.raises(ValueError, match=r"0.npy, line 2: expected at least 4"):
        lra.load("pathfinder", tmp_path, "train", verbose=0)
    (base / "metadata" / "0.npy").write_text("imgs/0 sample_0.png 0 1\nimgs/0 sample_1.png 1 1\n")
    with pytest.raises(FileNotFoundError, match=r"sample_1.png \(listed in .*0.npy, line 2\)"):
        lra.load("pathfinder", tmp_path, "train", verbose=0)
    (base / "imgs" / "0" / "sample_1.png").write_bytes(png_bytes(np.zeros((16, 16), np.uint8)))
    with pytest.raises(ValueError, match=r"sample_1.png has shape \(16, 16\)"):
        lra.load("pathfinder", tmp_path, "train", verbose=0)
    (base / "metadata" / "0.npy").write_text("imgs/0 sample_0.png 0 2\n")
    with pytest.raises(ValueError, match=r"0.npy, line 1: label '2'"):
        lra.load("pathfinder", tmp_path, "train", verbose=0)


def test_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="task='cifar'"):
        lra.load("cifar", tmp_path)
    with pytest.raises(ValueError, match="split='dev'"):
        lra.load("listops", tmp_path, "dev")
    with pytest.raises(ValueError, match="needs data_dir"):
        lra.load("pathx", None, "train")


def test_task_info_matches_loaded_shapes(lra_dir, tmp_path):
    assert set(lra.TASK_INFO) == set(lra.TASKS)
    assert {t: i["seq_len"] for t, i in lra.TASK_INFO.items()} == {
        "listops": 2048,
        "text": 4096,
        "retrieval": 4000,
        "image": 1024,
        "pathfinder": 1024,
        "pathx": 16384,
    }
    assert {t: i["num_classes"] for t, i in lra.TASK_INFO.items()} == {
        "listops": 10,
        "text": 2,
        "retrieval": 2,
        "image": 10,
        "pathfinder": 2,
        "pathx": 2,
    }
    for task in ("image", "pathfinder", "pathx"):
        assert (
            lra.TASK_INFO[task]["input_channels"] == 1 and lra.TASK_INFO[task]["vocab_size"] is None
        )
    inputs, _ = lra.load("pathx", lra_dir["root"], "val", cache_dir=tmp_path, verbose=0)
    assert inputs.shape[1] == lra.TASK_INFO["pathx"]["seq_len"]


def test_progress_bar_prints_when_verbose(lra_dir, tmp_path, capsys):
    lra.load("listops", lra_dir["root"], "test", cache_dir=tmp_path, verbose=1)
    assert "2/2" in capsys.readouterr().out
