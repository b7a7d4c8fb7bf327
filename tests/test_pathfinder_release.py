"""Tests for keras_ssm.data.synthetic.pathfinder_release and tools/generate_pathfinder.py: the
LRA Pathfinder layout written from the renderer, read back by `keras_ssm.data.lra`.

PNGs are decoded with Pillow (when installed) and by the standard-library zlib here, and
compared with the renderer's own images drawn again from the same seeds.
"""

import hashlib
import importlib.util
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from keras_ssm.data import lra
from keras_ssm.data.synthetic import pathfinder_release
from keras_ssm.data.synthetic import pathfinder_segmentation_build as build

ROOT = Path(__file__).resolve().parents[1]


def decode_gray_png(data):
    """A plain decoder for the 8-bit grey, unfiltered PNGs written here."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, idat, header = 8, b"", None
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        assert crc == zlib.crc32(kind + body)
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        position += 12 + length
    width, height, depth, colour = header[:4]
    assert (depth, colour) == (8, 0)
    rows = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(height, width + 1)
    assert not rows[:, 0].any()
    return rows[:, 1:]


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pf") / "generated"
    record = pathfinder_release.write_release(folder, 30, seed=5, verbose=0)
    return folder, record


def test_layout_and_labels(release):
    folder, record = release
    root = folder / "pathfinder32" / "curv_contour_length_14"
    lines = (root / "metadata" / "0.npy").read_text().splitlines()
    assert len(lines) == 30
    labels = []
    for line in lines:
        fields = line.split()
        assert fields[0] == "imgs/0" and (root / fields[0] / fields[1]).is_file()
        labels.append(int(fields[3]))
    assert {"0": labels.count(0), "1": labels.count(1)} == record["labels"]
    assert 0 < labels.count(1) < 30
    assert not (folder / "_shards").exists() and record["complete"]


def test_png_pixels_are_the_renderers(release, tmp_path):
    folder, _ = release
    reference = tmp_path / "shards"
    build.build_shards(
        str(reference),
        32,
        30,
        pathfinder_release.IMAGES_PER_FOLDER,
        1,
        5,
        verbose=False,
        mark_distractors=False,
    )
    with np.load(build.shard_path(str(reference), 0)) as shard:
        images, labels = shard["images"], shard["labels"]
    root = folder / "pathfinder32" / "curv_contour_length_14" / "imgs" / "0"
    for i in range(30):
        data = (root / f"sample_{i}.png").read_bytes()
        np.testing.assert_array_equal(decode_gray_png(data), images[i])
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(root / "sample_3.png") as image:
        np.testing.assert_array_equal(np.asarray(image.convert("L")), images[3])
    assert labels.dtype.kind == "i"


def marker_blobs(image):
    """The number of separate marker discs: pixels above any dash's intensity (0.9)."""
    from scipy import ndimage

    return ndimage.label(image >= 235)[1]


def test_only_the_two_markers_as_in_lra(release, tmp_path):
    """LRA's images mark the two ends in question only; with markers on the distractors'
    starts too (the segmentation task's drawing) the question is ambiguous, and a
    classifier stays at chance (examples/results/generated_runs.md)."""
    folder, _ = release
    images, _ = lra.load("pathfinder", folder, "train", verbose=0)
    assert [marker_blobs(i.reshape(32, 32)) for i in images] == [2] * len(images)
    build.build_shards(str(tmp_path / "marked"), 32, 10, 10, 1, 5, verbose=False)
    with np.load(build.shard_path(str(tmp_path / "marked"), 0)) as shard:
        assert max(marker_blobs(i) for i in shard["images"]) > 2


def test_reader_reads_it(release):
    folder, record = release
    x = {split: lra.load("pathfinder", folder, split, verbose=0) for split in lra.SPLITS}
    assert [len(x[s][1]) for s in ("train", "val", "test")] == [24, 3, 3]
    assert x["train"][0].shape == (24, 1024) and x["train"][0].dtype == np.uint8
    total = sum(int(x[s][1].sum()) for s in x)
    assert total == record["labels"]["1"]


def test_deterministic_and_refuses_other_settings(release, tmp_path):
    folder, _ = release

    def digests(path):
        return {
            str(p.relative_to(path)): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*.png")) + sorted(path.rglob("*.npy"))
            if ".keras_ssm_cache" not in p.parts
        }

    path = ROOT / "tools" / "generate_pathfinder.py"
    spec = importlib.util.spec_from_file_location("generate_pathfinder", path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    tool.main(["--out", str(tmp_path / "again"), "--num-images", "30", "--seed", "5", "--quiet"])
    assert digests(tmp_path / "again") == digests(folder)
    with pytest.raises(ValueError, match="other settings"):
        pathfinder_release.write_release(folder, 30, seed=6, verbose=0)
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "x").write_text("")
    with pytest.raises(ValueError, match="not empty"):
        pathfinder_release.write_release(tmp_path / "foreign", 30, verbose=0)
