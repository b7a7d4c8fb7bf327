"""Builds the fixed ListOpsSubTrees splits on disk, drawing samples in worker processes.

Chunk i of samples is drawn with seed (seed, i), so the files do not depend on the
number of workers (the reference seeds per worker). Read the files back with
`keras_ssm.data.synthetic.listops_subtrees.load_split`; the command line is
``python tools/build_listops_subtrees.py``.
"""

import dataclasses
import hashlib
import json
import os

import numpy as np

from keras_ssm.data import _shared
from keras_ssm.data._shared import check_count
from keras_ssm.data._shared import map_in_workers
from keras_ssm.data.synthetic.listops_subtrees import IGNORE_INDEX
from keras_ssm.data.synthetic.listops_subtrees import PAD_ID
from keras_ssm.data.synthetic.listops_subtrees import ListOpsSetting  # noqa: F401  (docstring)
from keras_ssm.data.synthetic.listops_subtrees import _resolve_setting
from keras_ssm.data.synthetic.listops_subtrees import sample_in_window
from keras_ssm.data.synthetic.listops_subtrees import template_ids


def _digest(ids):
    return hashlib.blake2b(
        np.ascontiguousarray(ids, dtype=np.uint8).tobytes(), digest_size=16
    ).digest()


def _chunk_task(args):
    """Worker: one chunk of samples with its keys for deduplication."""
    seed, chunk_index, chunk_size, setting = args
    rng = np.random.default_rng([seed, chunk_index])
    samples = []
    for _ in range(chunk_size):
        ids, targets = sample_in_window(rng, setting)
        ids = ids.astype(np.uint8)
        samples.append((ids, targets.astype(np.int8), _digest(ids), _digest(template_ids(ids))))
    return samples


def build_fixed_splits(
    out_dir,
    num_train,
    num_val,
    num_test,
    setting="paper",
    seed=0,
    workers=1,
    chunk_size=64,
    verbose=True,
    max_chunks=None,
):
    """Builds the fixed train/val/test sets with duplicate filtering.

    Chunk i of `chunk_size` samples is drawn with seed (seed, i) by a pool of
    `workers` processes; chunks are consumed in order, so the result does not
    depend on `workers`. A sample is dropped when its ids, or its template
    (`template_ids`), were already kept in any split. Kept samples fill
    train, then val, then test.

    Writes ``{out_dir}/{train,val,test}.npz`` with arrays ``inputs`` (uint8
    ids, shape (n, l_max), `PAD_ID`-padded) and ``targets`` (int8, -100
    ignored), plus ``setting.json``. Use `load_split` to read them as int32.

    Args:
        out_dir: output folder (created).
        num_train, num_val, num_test: split sizes (>= 0, total >= 1).
        setting: `ListOpsSetting` or "paper"/"lra".
        seed: base seed.
        workers: number of processes (1 runs in this process).
        chunk_size: samples per task.
        verbose: show a progress bar.
        max_chunks: give up with RuntimeError after this many chunks
            (default: enough for 20x the requested samples).

    Returns:
        dict with the split sizes and the counts of dropped duplicates and
        template duplicates.

    Example:

    >>> import tempfile
    >>> s = ListOpsSetting(5, 5, 20, 40, 40)
    >>> stats = build_fixed_splits(tempfile.mkdtemp(), 8, 2, 2, s, verbose=False)
    >>> stats["train"], stats["test"]
    (8, 2)
    """
    setting = _resolve_setting(setting)
    sizes = {
        "train": check_count("num_train", num_train, 0),
        "val": check_count("num_val", num_val, 0),
        "test": check_count("num_test", num_test, 0),
    }
    total = sum(sizes.values())
    if total < 1:
        raise ValueError("Ask for at least one sample in num_train/val/test.")
    workers = check_count("workers", workers, 1)
    chunk_size = check_count("chunk_size", chunk_size, 1)
    if max_chunks is None:
        max_chunks = 20 * (-(-total // chunk_size)) + 10
    l_max = setting.l_max
    inputs = np.full((total, l_max), PAD_ID, dtype=np.uint8)
    targets = np.full((total, l_max), IGNORE_INDEX, dtype=np.int8)
    seen, seen_templates = set(), set()
    stats = {"duplicates": 0, "template_duplicates": 0, "drawn": 0}
    progress = _shared.progress_bar(total, 1 if verbose else 0)
    tasks = ((seed, i, chunk_size, setting) for i in range(max_chunks))
    kept = 0
    with map_in_workers(_chunk_task, tasks, workers) as chunks:
        for chunk in chunks:
            for ids, target, key, template_key in chunk:
                stats["drawn"] += 1
                if key in seen:
                    stats["duplicates"] += 1
                    continue
                if template_key in seen_templates:
                    stats["template_duplicates"] += 1
                    continue
                seen.add(key)
                seen_templates.add(template_key)
                inputs[kept, : len(ids)] = ids
                targets[kept, : len(ids)] = target
                kept += 1
                if kept == total:
                    break
            progress.update(kept)
            if kept == total:
                break
    if kept < total:
        raise RuntimeError(
            f"Only {kept} distinct samples of {total} after {max_chunks} "
            "chunks: the setting has too few distinct templates; widen its "
            "length window or raise max_chunks."
        )
    os.makedirs(out_dir, exist_ok=True)
    start = 0
    for name in ("train", "val", "test"):
        stop = start + sizes[name]
        np.savez(
            os.path.join(out_dir, f"{name}.npz"),
            inputs=inputs[start:stop],
            targets=targets[start:stop],
        )
        start = stop
    with open(os.path.join(out_dir, "setting.json"), "w") as f:
        json.dump(
            {"setting": dataclasses.asdict(setting), "seed": seed, **stats},
            f,
            indent=1,
        )
    stats.update(sizes)
    return stats
