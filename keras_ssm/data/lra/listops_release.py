"""Writes generated LRA ListOps as the released files: ``listops-1000/basic_{split}.tsv``.

One pool of distinct samples from `keras_ssm.data.lra.listops.generate_split` is cut into
train, val and test and written as the published generator's csv.writer did, with
``generated.json`` (the settings) beside the TSVs; `keras_ssm.data.lra.load("listops",
folder, split)` reads them.
"""

import json
import os
from pathlib import Path

from keras_ssm.data.lra.listops import FORMAT_VERSION
from keras_ssm.data.lra.listops import MARKER_FILE
from keras_ssm.data.lra.listops import MAX_ARGS
from keras_ssm.data.lra.listops import MAX_DEPTH
from keras_ssm.data.lra.listops import MAX_LENGTH
from keras_ssm.data.lra.listops import MIN_LENGTH
from keras_ssm.data.lra.listops import RELEASE_FOLDER
from keras_ssm.data.lra.listops import RELEASE_SIZES
from keras_ssm.data.lra.listops import SPLITS
from keras_ssm.data.lra.listops import TASK_NAME
from keras_ssm.data.lra.listops import _check_settings
from keras_ssm.data.lra.listops import generate_split


def release_paths(folder):
    """``{split: folder/listops-1000/basic_{split}.tsv}`` (the reader's paths).

    Example:

    ```python
    release_paths("/tmp/lra")["val"].name       # 'basic_val.tsv'
    ```
    """
    root = Path(folder).expanduser() / RELEASE_FOLDER
    return {split: root / f"{TASK_NAME}_{split}.tsv" for split in SPLITS}


def read_marker(folder):
    """The settings `write_release` recorded in ``folder/listops-1000``, or None.

    Example:

    ```python
    read_marker("/tmp/nothing_here")            # None
    ```
    """
    path = Path(folder).expanduser() / RELEASE_FOLDER / MARKER_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def release_settings(
    seed,
    sizes=RELEASE_SIZES,
    min_length=MIN_LENGTH,
    max_length=MAX_LENGTH,
    max_depth=MAX_DEPTH,
    max_args=MAX_ARGS,
):
    """The settings dict `write_release` records in ``generated.json``, checked.

    Raises:
        ValueError: sizes are not 3 positive ints, or no tree fits the settings.

    Example:

    ```python
    release_settings(0)["sizes"]                # [96000, 2000, 2000]
    ```
    """
    sizes = [int(size) for size in sizes]
    if len(sizes) != len(SPLITS) or min(sizes) < 1:
        raise ValueError(f"sizes must be 3 positive ints (train, val, test), got {sizes}.")
    _check_settings(max_depth, max_args, min_length, max_length)
    return dict(
        # The generator's name as recorded since format 1 (its module is now
        # keras_ssm.data.lra.listops): a new name would invalidate generated releases.
        generator="keras_ssm.data.listops",
        format_version=FORMAT_VERSION,
        seed=int(seed),
        sizes=sizes,
        min_length=None if min_length is None else int(min_length),
        max_length=None if max_length is None else int(max_length),
        max_depth=int(max_depth),
        max_args=int(max_args),
    )


def write_tsv(path, sources, labels):
    """Writes ``Source<TAB>Target`` rows as the generator's csv.writer does (``\\r\\n``).

    Written under a temporary name, then renamed.

    Args:
        path: str or Path of the TSV file.
        sources: sequence of str (no tab, quote or line break).
        labels: sequence of ints.

    Returns:
        The Path.

    Example:

    ```python
    import os, tempfile

    write_tsv(os.path.join(tempfile.mkdtemp(), "demo.tsv"), ["( ( ( [MAX 2 ) 9 ) ] )"], [9])
    ```
    """
    path = Path(path)
    lines = ["Source\tTarget\r\n"]
    lines.extend(f"{source}\t{int(label)}\r\n" for source, label in zip(sources, labels))
    temporary = path.with_name(f"{path.name}.partial-{os.getpid()}")
    with open(temporary, "w", encoding="ascii", newline="") as file:
        file.writelines(lines)
    os.replace(temporary, path)
    return path


def write_release(
    folder,
    seed,
    sizes=RELEASE_SIZES,
    min_length=MIN_LENGTH,
    max_length=MAX_LENGTH,
    max_depth=MAX_DEPTH,
    max_args=MAX_ARGS,
    verbose=0,
):
    """Generates ListOps and writes it as ``folder/listops-1000/basic_{split}.tsv``.

    One pool of ``sum(sizes)`` distinct samples is drawn with `generate_split`
    and cut in order into train, val and test (no expression is in two
    splits), as the published script does. ``generated.json`` (the settings,
    `release_settings`) is written last, beside the TSVs. Then
    ``keras_ssm.data.lra.load("listops", folder, split)`` reads the files.

    The full release (96,000 / 2,000 / 2,000, 660 MB of text) took 68 s on
    one CPU core (one process; measured with ``nice -n 19`` on a 2-core machine).

    Args:
        folder: str or Path; created if needed (plays the ``lra_release`` folder).
        seed: int seed of ``numpy.random.default_rng``.
        sizes: (train, val, test) sample counts.
        min_length, max_length, max_depth, max_args: as in `generate_split`.
        verbose: 0 silent, 1 a progress line on stderr.

    Returns:
        ``{split: Path}`` of the three TSV files.

    Example:

    ```python
    import tempfile
    from keras_ssm.data import lra

    folder = tempfile.mkdtemp()
    write_release(folder, seed=0, sizes=(8, 2, 2), min_length=10, max_length=60)
    inputs, labels = lra.load("listops", folder, "val", verbose=0)     # (2, 2048), (2,)
    ```
    """
    settings = release_settings(seed, sizes, min_length, max_length, max_depth, max_args)
    sizes = settings["sizes"]
    sources, labels = generate_split(
        sum(sizes), seed, min_length, max_length, max_depth, max_args, verbose=verbose
    )
    paths = release_paths(folder)
    paths["train"].parent.mkdir(parents=True, exist_ok=True)
    marker = paths["train"].parent / MARKER_FILE
    if marker.exists():
        marker.unlink()
    start = 0
    for split, size in zip(SPLITS, sizes):
        write_tsv(paths[split], sources[start : start + size], labels[start : start + size])
        start += size
    temporary = marker.with_name(MARKER_FILE + ".partial")
    temporary.write_text(json.dumps(settings, indent=2) + "\n")
    os.replace(temporary, marker)
    return paths
