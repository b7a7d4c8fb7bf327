"""Readers of the files in the ``lra_release`` archive: TSVs and PNGs to cached arrays.

ListOps (``listops-1000/basic_*.tsv``), Retrieval (``tsv_data/new_aan_pairs.*.tsv``)
and Pathfinder / Path-X (``pathfinder32``, ``pathfinder128``: PNGs listed in
``metadata/*.npy``), each built once into ``.npy`` caches and memory-mapped
afterwards (`keras_ssm.data._shared`). `keras_ssm.data.lra.load` (`reader`) is the entry
point; the encodings are in `encoding`.
"""

import warnings

import numpy as np

from keras_ssm.data import _shared
from keras_ssm.data.lra.encoding import _encode_bytes_into
from keras_ssm.data.lra.encoding import encode_listops
from keras_ssm.data.lra.encoding import read_png_gray

PATHFINDER_FOLDERS = {"pathfinder": "pathfinder32", "pathx": "pathfinder128"}
PATHFINDER_DIFFICULTY = "curv_contour_length_14"
PATHFINDER_SPLIT_SEED = 42
KNOWN_EMPTY_FILES = frozenset({"pathfinder32/curv_baseline/imgs/0/sample_172.png"})

CACHE_VERSION = "v1"

_DOWNLOAD_HINT = (
    "Download https://storage.googleapis.com/long-range-arena/lra_release.gz, "
    "extract it (tar xzf lra_release.gz) and pass data_dir= the extracted "
    "lra_release folder (see docs/data.md)."
)


# --------------------------------------------------------------------------
# ListOps


def _load_listops(root, split, cache_dir, verbose, seq_len):
    """(inputs, labels) of ``listops-1000/basic_{split}.tsv``, cached."""
    path = _shared.require_path(
        root / "listops-1000" / f"basic_{split}.tsv", "file", _DOWNLOAD_HINT
    )

    def build(allocate):
        lines = _tsv_lines(path)
        line_number, header = next(lines, (1, []))
        if header != [b"Source", b"Target"]:
            raise _shared.malformed_line(
                path,
                line_number,
                f"expected the header Source<TAB>Target, got {b'<TAB>'.join(header)!r}",
            )
        rows = _count_data_lines(path) - 1
        inputs = allocate("inputs", (rows, seq_len), np.int32)
        labels = allocate("labels", (rows,), np.int32)
        bar = _shared.progress_bar(rows, verbose)
        for index, (line_number, fields) in enumerate(lines):
            if len(fields) != 2:
                raise _shared.malformed_line(
                    path,
                    line_number,
                    f"expected 2 tab-separated fields (Source, Target), got {len(fields)}",
                )
            labels[index] = _parse_label(path, line_number, fields[1], 10)
            inputs[index] = encode_listops(fields[0].decode("utf-8", "replace"), seq_len)
            if (index + 1) % 1000 == 0:
                bar.update(index + 1)
        bar.update(rows, finalize=True)

    return _shared.load_or_build(
        cache_dir, f"listops-{split}-{CACHE_VERSION}", ("inputs", "labels"), build
    )


# --------------------------------------------------------------------------
# Retrieval (AAN)

_RETRIEVAL_FILES = {"train": "train", "val": "eval", "test": "test"}


def _load_retrieval(root, split, cache_dir, verbose, seq_len):
    """(docs1, docs2, labels) of ``tsv_data/new_aan_pairs.{split}.tsv``, cached."""
    name = f"new_aan_pairs.{_RETRIEVAL_FILES[split]}.tsv"
    path = _shared.require_path(root / "tsv_data" / name, "file", _DOWNLOAD_HINT)

    def build(allocate):
        rows = _count_data_lines(path)
        docs1 = allocate("docs1", (rows, seq_len), np.int32)
        docs2 = allocate("docs2", (rows, seq_len), np.int32)
        labels = allocate("labels", (rows,), np.int32)
        bar = _shared.progress_bar(rows, verbose)
        index = 0
        for line_number, fields in _tsv_lines(path):
            if len(fields) != 5:
                raise _shared.malformed_line(
                    path,
                    line_number,
                    "expected 5 tab-separated fields (label, id1, id2, text1, text2), "
                    f"got {len(fields)}",
                )
            labels[index] = _parse_label(path, line_number, fields[0], 2)
            _encode_bytes_into(docs1[index], fields[3])
            _encode_bytes_into(docs2[index], fields[4])
            index += 1
            if index % 1000 == 0:
                bar.update(index)
        bar.update(rows, finalize=True)

    key = f"retrieval-{split}-{CACHE_VERSION}"
    return _shared.load_or_build(cache_dir, key, ("docs1", "docs2", "labels"), build)


# --------------------------------------------------------------------------
# TSV helpers


def _tsv_lines(path):
    """Yields (1-based line number, bytes fields split on tabs) of non-blank lines.

    Lines end at ``\\n`` (a trailing ``\\r`` is dropped); no quote handling, as
    the LRA pipelines read these files with quoting off.
    """
    with open(path, "rb") as file:
        for line_number, line in enumerate(file, start=1):
            if line.strip(_BLANK):
                yield line_number, line.rstrip(b"\r\n").split(b"\t")


def _count_data_lines(path):
    """The number of non-blank lines of a file."""
    with open(path, "rb") as file:
        return sum(1 for line in file if line.strip(_BLANK))


_BLANK = b" \t\r\n\x0b\x0c"


def _parse_label(path, line_number, field, num_classes):
    """An integer label in [0, num_classes) from a text field, else a malformed-line error."""
    if isinstance(field, bytes):
        field = field.decode("utf-8", "replace")
    try:
        value = float(field)
    except ValueError:
        value = None
    if value is None or not value.is_integer() or not 0 <= value < num_classes:
        raise _shared.malformed_line(
            path,
            line_number,
            f"label {field!r} is not an integer in [0, {num_classes})",
        )
    return int(value)


# --------------------------------------------------------------------------
# Pathfinder / Path-X


def _load_pathfinder(task, root, split, cache_dir, verbose, seq_len):
    """(inputs, labels) of one split of Pathfinder or Path-X, cached."""
    resolution_folder = PATHFINDER_FOLDERS[task]
    folder = root / resolution_folder / PATHFINDER_DIFFICULTY
    side = int(np.sqrt(seq_len))

    def build(allocate):
        samples = _pathfinder_samples(folder, f"{resolution_folder}/{PATHFINDER_DIFFICULTY}")
        chosen = _split_indices(len(samples), PATHFINDER_SPLIT_SEED)[split]
        inputs = allocate("inputs", (len(chosen), side * side), np.uint8)
        labels = allocate("labels", (len(chosen),), np.int32)
        bar = _shared.progress_bar(len(chosen), verbose)
        for row, sample_index in enumerate(chosen):
            path, label = samples[sample_index]
            pixels = read_png_gray(path)
            if pixels.shape != (side, side):
                raise ValueError(
                    f"Image {path} has shape {pixels.shape}; {task} expects ({side}, {side})."
                )
            inputs[row] = pixels.reshape(-1)
            labels[row] = label
            if (row + 1) % 256 == 0:
                bar.update(row + 1)
        bar.update(len(chosen), finalize=True)

    key = f"{task}-{split}-seed{PATHFINDER_SPLIT_SEED}-{CACHE_VERSION}"
    return _shared.load_or_build(cache_dir, key, ("inputs", "labels"), build)


def _pathfinder_samples(folder, relative_folder):
    """Lists (png path, label) from metadata/*.npy (text lines, despite the name).

    Files are taken in numeric order of their stem, lines in file order.
    Whitespace-separated fields: 0 = image folder, 1 = file name, 3 = label.
    Files in ``KNOWN_EMPTY_FILES`` and zero-byte files are skipped (warned).
    """
    metadata_dir = _shared.require_path(folder / "metadata", "dir", _DOWNLOAD_HINT)
    metadata_files = sorted(
        metadata_dir.glob("*.npy"),
        key=lambda p: (0, int(p.stem), "") if p.stem.isdigit() else (1, 0, p.stem),
    )
    if not metadata_files:
        raise FileNotFoundError(f"No metadata/*.npy files in {metadata_dir}. {_DOWNLOAD_HINT}")
    samples, empty = [], []
    for metadata_file in metadata_files:
        with open(metadata_file, encoding="utf-8") as file:
            for line_number, line in enumerate(file, start=1):
                fields = line.split()
                if not fields:
                    continue
                if len(fields) < 4:
                    raise _shared.malformed_line(
                        metadata_file,
                        line_number,
                        "expected at least 4 whitespace-separated fields "
                        f"(folder, file, _, label), got {len(fields)}",
                    )
                label = _parse_label(metadata_file, line_number, fields[3], 2)
                relative = f"{fields[0]}/{fields[1]}"
                if f"{relative_folder}/{relative}" in KNOWN_EMPTY_FILES:
                    continue
                path = folder / relative
                try:
                    size = path.stat().st_size
                except FileNotFoundError:
                    raise FileNotFoundError(
                        f"Image {path} (listed in {metadata_file}, line {line_number}) not found."
                    ) from None
                if size == 0:
                    empty.append(path)
                    continue
                samples.append((path, label))
    if empty:
        warnings.warn(f"Skipped {len(empty)} empty image file(s), e.g. {empty[0]}.")
    return samples


def _split_indices(n, seed):
    """Seeded 80/10/10 split of range(n); each split's indices sorted."""
    permutation = np.random.default_rng(seed).permutation(n)
    n_val = n_test = int(0.1 * n)
    n_train = n - n_val - n_test
    return {
        "train": np.sort(permutation[:n_train]),
        "val": np.sort(permutation[n_train : n_train + n_val]),
        "test": np.sort(permutation[n_train + n_val :]),
    }
