"""Renders PathfinderSegmentation images into .npz shards, in worker processes.

Shard s holds images [s * shard_size, ...) rendered in pieces of `PIECE_SIZE`, piece
p seeded with (seed, s, p), so the files do not depend on the number of workers.
Read them back with `keras_ssm.data.synthetic.pathfinder_segmentation.load_shards`; the
command line is ``python tools/build_pathfinder_segmentation.py``.
"""

import dataclasses
import json
import os

import numpy as np

from keras_ssm.data import _shared
from keras_ssm.data._shared import check_count
from keras_ssm.data._shared import map_in_workers
from keras_ssm.data.synthetic.pathfinder_segmentation import PIECE_SIZE
from keras_ssm.data.synthetic.pathfinder_segmentation import _setting
from keras_ssm.data.synthetic.pathfinder_segmentation import render


def _render_piece(args):
    """Worker: images [start, stop) of one shard, seeded (seed, shard, piece)."""
    seed, resolution, shard, piece, count, mark_distractors = args
    rng = np.random.default_rng([seed, shard, piece])
    images = np.empty((count, resolution, resolution), dtype=np.uint8)
    targets = np.empty((count, resolution, resolution), dtype=np.int8)
    labels = np.empty((count,), dtype=np.int8)
    for i in range(count):
        images[i], targets[i], labels[i] = render(rng, resolution, mark_distractors)
    return shard, images, targets, labels


def shard_path(out_dir, shard):
    """Path of shard number `shard` in `out_dir`."""
    return os.path.join(out_dir, f"shard_{shard:05d}.npz")


def build_shards(
    out_dir,
    resolution,
    num_images,
    shard_size=2500,
    workers=1,
    seed=0,
    verbose=True,
    mark_distractors=None,
):
    """Renders `num_images` images into .npz shards with worker processes.

    Shard s holds images [s * shard_size, ...) rendered in pieces of
    `PIECE_SIZE`, piece p seeded with (seed, s, p); pieces are spread over
    `workers` processes and assembled in order, so the files do not depend
    on `workers`.

    Each ``shard_XXXXX.npz`` has "images" uint8 (n, R, R), "targets" int8
    (n, R, R) and "labels" int8 (n,); ``meta.json`` records the setting.

    Args:
        out_dir: output folder (created).
        resolution: R, one of `RESOLUTIONS`.
        num_images: total images (>= 1).
        shard_size: images per shard (>= 1).
        workers: processes (1 renders in this process).
        seed: base seed.
        verbose: show a progress bar.
        mark_distractors: None (the resolution's setting) or a bool: markers on the
            distractors' starts (LRA's Pathfinder has none: False).

    Returns:
        list of the shard paths written.

    Example:

    >>> import tempfile
    >>> paths = build_shards(tempfile.mkdtemp(), 32, 5, shard_size=4,
    ...                      verbose=False)
    >>> len(paths)
    2
    """
    setting = _setting(resolution)
    if mark_distractors is not None:
        setting = dataclasses.replace(setting, mark_distractors=bool(mark_distractors))
    num_images = check_count("num_images", num_images, 1)
    shard_size = check_count("shard_size", shard_size, 1)
    workers = check_count("workers", workers, 1)
    os.makedirs(out_dir, exist_ok=True)
    num_shards = -(-num_images // shard_size)
    tasks, pieces_per_shard = [], []
    for shard in range(num_shards):
        size = min(shard_size, num_images - shard * shard_size)
        starts = range(0, size, PIECE_SIZE)
        pieces_per_shard.append(len(starts))
        for piece, start in enumerate(starts):
            count = min(PIECE_SIZE, size - start)
            tasks.append((seed, resolution, shard, piece, count, setting.mark_distractors))
    with open(os.path.join(out_dir, "meta.json"), "w") as f:
        json.dump(
            {
                "setting": dataclasses.asdict(setting),
                "seed": seed,
                "num_images": num_images,
                "shard_size": shard_size,
            },
            f,
            indent=1,
        )
    progress = _shared.progress_bar(num_images, 1 if verbose else 0)
    paths, pending, done = [], [], 0
    with map_in_workers(_render_piece, tasks, workers) as pieces:
        for shard, images, targets, labels in pieces:
            pending.append((images, targets, labels))
            done += len(labels)
            progress.update(done)
            if len(pending) == pieces_per_shard[shard]:
                path = shard_path(out_dir, shard)
                np.savez(
                    path,
                    images=np.concatenate([p[0] for p in pending]),
                    targets=np.concatenate([p[1] for p in pending]),
                    labels=np.concatenate([p[2] for p in pending]),
                )
                paths.append(path)
                pending = []
    return paths
