"""Writes rendered Pathfinder images in the LRA release layout, for the LRA Pathfinder task.

The images are those of `keras_ssm.data.synthetic.pathfinder_segmentation` (two long
snakes of dashes, distractors, two markers; label 1 when the markers sit on the ends of the
same snake), rendered into shards by `pathfinder_segmentation_build.build_shards` and
written as the released archive holds them, so that `keras_ssm.data.lra.load("pathfinder",
folder, split)` (and ``python -m examples.lra --task pathfinder --data-dir folder``) reads
them unchanged (command line: ``python tools/generate_pathfinder.py``)::

    folder/
      pathfinder32/curv_contour_length_14/      (pathfinder128/... for resolution 128)
        imgs/<k>/sample_<i>.png                 8-bit grey PNGs
        metadata/<k>.npy                        text lines "imgs/<k> sample_<i>.png 0 <label> ..."
      generated.json                            the settings

The folder names are the reader's; the drawing is our renderer's at that resolution (see
`pathfinder_segmentation`), not the LRA generator's "curv_contour_length_14" images, and
accuracies on it are not LRA Pathfinder accuracies. As in LRA's images, only the two
markers are drawn: the distractors carry none (the segmentation task marks them, which
makes "are the two markers joined?" ambiguous: five markers, two of them the question's).
The reader splits the samples 80/10/10 with its own seeded permutation. Same settings,
same bytes (the shards are seeded per piece, independent of `workers`). It lives in
`synthetic` because the renderer does (`lra` never imports `synthetic`).
"""

import json
import shutil
import struct
import sys
import zlib
from pathlib import Path

import numpy as np

from keras_ssm.data.lra.archive import PATHFINDER_DIFFICULTY
from keras_ssm.data.synthetic import pathfinder_segmentation_build as build

FOLDERS = {32: "pathfinder32", 128: "pathfinder128"}
"""Resolution -> the release folder the LRA reader reads (task "pathfinder", "pathx")."""
MARKER_FILE = "generated.json"
IMAGES_PER_FOLDER = 1000
FORMAT_VERSION = 2
"""2: the two markers only, as LRA's images (version 1 also marked every distractor's start)."""


def png_bytes(image):
    """A grey 8-bit PNG of a uint8 (height, width) array (zlib level 9, no filter).

    Example:

    ```python
    data = png_bytes(np.zeros((32, 32), np.uint8))  # b"\\x89PNG..."
    ```
    """
    image = np.ascontiguousarray(image, np.uint8)
    height, width = image.shape

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + image[r].tobytes() for r in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


def write_release(folder, num_images, seed=0, resolution=32, workers=1, verbose=1):
    """Renders `num_images` Pathfinder images into `folder` in the release layout.

    Args:
        folder: output folder (new, empty, or one written with the same settings, which
            is kept as it is).
        num_images: total images (the reader takes 80/10/10 of them).
        seed: int, the rendering seed.
        resolution: 32 (task "pathfinder") or 128 (task "pathx").
        workers: rendering processes (the images do not depend on it).
        verbose: 0 silent, 1 progress on stderr.

    Returns:
        The settings dict written to `generated.json` (with the label counts).

    Example:

    ```python
    from keras_ssm.data import lra

    write_release("pf", num_images=20, seed=0, verbose=0)
    x, y = lra.load("pathfinder", "pf", "test", verbose=0)  # (2, 1024) uint8, labels 0/1
    ```
    """
    if resolution not in FOLDERS:
        raise ValueError(f"`resolution` must be one of {sorted(FOLDERS)}, got {resolution!r}.")
    folder = Path(folder)
    settings = dict(
        generator="keras_ssm.data.synthetic.pathfinder_release",
        format_version=FORMAT_VERSION,
        num_images=int(num_images),
        seed=int(seed),
        resolution=int(resolution),
    )
    marker = folder / MARKER_FILE
    if marker.exists():
        recorded = json.loads(marker.read_text())
        if {k: recorded.get(k) for k in settings} != settings:
            raise ValueError(
                f"{folder} holds Pathfinder images generated with other settings "
                f"({marker}); choose another folder or delete it."
            )
        if recorded.get("complete"):
            return recorded
    elif folder.exists() and any(folder.iterdir()):
        raise ValueError(
            f"{folder} is not empty and was not written by this generator "
            f"(no {MARKER_FILE}); choose an empty or new folder."
        )
    root = folder / FOLDERS[resolution] / PATHFINDER_DIFFICULTY
    shards = folder / "_shards"
    (root / "metadata").mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(dict(settings, complete=False), indent=1) + "\n")
    build.build_shards(
        str(shards),
        resolution,
        num_images,
        IMAGES_PER_FOLDER,
        workers,
        seed,
        verbose=bool(verbose),
        mark_distractors=False,
    )
    counts = [0, 0]
    for index in range(-(-int(num_images) // IMAGES_PER_FOLDER)):
        with np.load(build.shard_path(str(shards), index)) as shard:
            images, labels = shard["images"], shard["labels"]
        image_dir = root / "imgs" / str(index)
        image_dir.mkdir(parents=True, exist_ok=True)
        lines = []
        for i, (image, label) in enumerate(zip(images, labels)):
            (image_dir / f"sample_{i}.png").write_bytes(png_bytes(image))
            lines.append(f"imgs/{index} sample_{i}.png 0 {int(label)} {resolution} {seed}\n")
            counts[int(label)] += 1
        (root / "metadata" / f"{index}.npy").write_text("".join(lines))
        if verbose:
            print(f"wrote folder {index}", file=sys.stderr, flush=True)
    shutil.rmtree(shards)
    record = dict(settings, labels={"0": counts[0], "1": counts[1]}, complete=True)
    marker.write_text(json.dumps(record, indent=1) + "\n")
    return record
