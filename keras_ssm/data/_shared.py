"""The private helpers every data family shares: caches, progress bars, checks, workers.

- Caches: the readers turn released files (TSVs, PNGs, WAVs) into numpy arrays once
  and keep them as ``.npy`` files in a cache folder; later loads memory-map those
  files (``np.load(..., mmap_mode="r")``), so even Path-X (16,384 steps per image)
  or Speech Commands (16,000 samples per clip) never has to fit in RAM. Cache files
  are written under a temporary name and renamed when complete, so an interrupted
  first read never leaves a half-written cache behind.
- Errors and progress: `require_path`, `malformed_line`, `progress_bar`.
- `check_count`: the argument check the generators and disk builders share.
- `map_in_workers`: runs a disk builder's tasks in worker processes, results in task
  order (the builders seed each task from its index, so their files do not depend
  on the number of workers).
"""

import contextlib
import multiprocessing
import os
from pathlib import Path

import numpy as np

CACHE_FOLDER_NAME = ".keras_ssm_cache"


def resolve_cache_dir(data_dir, cache_dir):
    """Returns the cache folder: ``cache_dir`` or ``data_dir/.keras_ssm_cache``.

    Args:
        data_dir: str or Path, the dataset folder.
        cache_dir: str, Path or None; None selects the default.

    Returns:
        Path of the cache folder (not created here).

    Example:
        >>> resolve_cache_dir("/data/lra_release", None).name
        '.keras_ssm_cache'
    """
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    return Path(data_dir).expanduser() / CACHE_FOLDER_NAME


def require_path(path, kind, hint):
    """Raises FileNotFoundError naming ``path`` unless it exists.

    Args:
        path: Path to check.
        kind: "file" or "dir".
        hint: str, what to download or pass to fix it.

    Returns:
        ``path`` (a Path).

    Example:
        >>> require_path(Path("/"), "dir", "")
        PosixPath('/')
    """
    path = Path(path)
    ok = path.is_file() if kind == "file" else path.is_dir()
    if not ok:
        what = "file" if kind == "file" else "folder"
        raise FileNotFoundError(f"Expected {what} not found: {path}. {hint}")
    return path


def malformed_line(path, line_number, problem):
    """Builds the ValueError for a bad line, naming file and 1-based line.

    Args:
        path: the file.
        line_number: int, 1-based.
        problem: str, what is wrong.

    Returns:
        ValueError (to raise).

    Example:
        >>> str(malformed_line("a.tsv", 3, "expected 2 fields"))
        'Malformed line in a.tsv, line 3: expected 2 fields'
    """
    return ValueError(f"Malformed line in {path}, line {line_number}: {problem}")


class _Silent:
    def update(self, current, finalize=None):
        del current, finalize


def progress_bar(target, verbose):
    """Returns a ``keras.utils.Progbar`` (or a silent stand-in for verbose=0).

    Args:
        target: int, the total count the bar reaches.
        verbose: 0 (silent), 1 (bar) or 2 (one line at the end).

    Returns:
        An object with ``update(current, finalize=None)``.

    Example:
        >>> bar = progress_bar(10, verbose=0)
        >>> bar.update(10)
    """
    if not verbose:
        return _Silent()
    import keras

    return keras.utils.Progbar(target, verbose=verbose, unit_name="item")


class _Allocator:
    """Hands out writable .npy memmaps under temporary names."""

    def __init__(self, cache_dir, key, names):
        self.cache_dir = cache_dir
        self.key = key
        self.names = names
        self.arrays = {}
        self.temp_paths = {}

    def __call__(self, name, shape, dtype):
        if name not in self.names:
            raise ValueError(f"Unknown cache array {name!r}; expected {self.names}.")
        temp = self.cache_dir / f"{self.key}.{name}.npy.partial-{os.getpid()}"
        self.temp_paths[name] = temp
        array = np.lib.format.open_memmap(temp, mode="w+", dtype=dtype, shape=shape)
        self.arrays[name] = array
        return array

    def commit(self, final_paths):
        missing = [n for n in self.names if n not in self.arrays]
        if missing:
            raise RuntimeError(f"Cache builder did not allocate {missing}.")
        for name in self.names:
            self.arrays[name].flush()
        self.arrays.clear()
        for name in self.names:
            os.replace(self.temp_paths[name], final_paths[name])

    def discard(self):
        self.arrays.clear()
        for temp in self.temp_paths.values():
            try:
                os.remove(temp)
            except OSError:
                pass


def cache_paths(cache_dir, key, names):
    """Returns ``{name: cache_dir/<key>.<name>.npy}``.

    Args:
        cache_dir: Path of the cache folder.
        key: str naming the dataset variant (task, split, options, version).
        names: sequence of array names, e.g. ("inputs", "labels").

    Returns:
        dict of Paths.

    Example:
        >>> cache_paths(Path("c"), "listops-train-v1", ["labels"])["labels"].name
        'listops-train-v1.labels.npy'
    """
    return {name: Path(cache_dir) / f"{key}.{name}.npy" for name in names}


def load_or_build(cache_dir, key, names, build):
    """Memory-maps cached arrays, building them first if they are missing.

    Args:
        cache_dir: Path of the cache folder (created when needed).
        key: str naming the variant; one file ``<key>.<name>.npy`` per name.
        names: tuple of array names.
        build: callable ``build(allocate)``; ``allocate(name, shape, dtype)``
            returns a zero-filled writable memmap which ``build`` fills.

    Returns:
        tuple of read-only memory-mapped arrays, in the order of ``names``.

    Example:
        >>> def build(allocate):
        ...     allocate("x", (3,), "int32")[:] = [1, 2, 3]
        >>> (x,) = load_or_build(Path("/tmp/c"), "demo", ("x",), build)
    """
    cache_dir = Path(cache_dir)
    final = cache_paths(cache_dir, key, names)
    if not all(path.is_file() for path in final.values()):
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OSError(
                f"Cannot create the cache folder {cache_dir} ({error}). "
                "Pass cache_dir= a writable folder."
            ) from error
        allocator = _Allocator(cache_dir, key, tuple(names))
        try:
            build(allocator)
            allocator.commit(final)
        except BaseException:
            allocator.discard()
            raise
    return tuple(np.load(final[name], mmap_mode="r") for name in names)


# --------------------------------------------------------------------------
# Argument checks


def check_count(name, value, minimum):
    """`value` as an int when it is an int (not a bool) >= `minimum`, else a ValueError.

    Args:
        name: str, the argument's name in the message.
        value: the value given.
        minimum: int, the smallest valid value.

    Returns:
        int.

    Example:

    ```python
    from keras_ssm.data._shared import check_count

    check_count("num_samples", np.int64(4), 1)   # 4
    # check_count("num_samples", 0, 1) raises
    # ValueError: num_samples must be an int >= 1, got 0.
    ```
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}.")
    return int(value)


# --------------------------------------------------------------------------
# Worker processes


@contextlib.contextmanager
def map_in_workers(function, tasks, workers):
    """Yields the results of `function` over `tasks`, in order, from `workers` processes.

    With `workers` > 1 a `multiprocessing` pool computes the results ahead of the
    reader (`Pool.imap`); leaving the block (done, `break` or an error) terminates
    the pool. With 1 the results are computed here, one by one, as they are read.

    Args:
        function: a picklable (module-level) function of one task.
        tasks: an iterable of tasks (picklable when `workers` > 1).
        workers: int >= 1, the number of processes.

    Yields:
        An iterator over `function(task)` for each task, in the order of `tasks`.

    Example:

    ```python
    from keras_ssm.data._shared import map_in_workers

    with map_in_workers(abs, [-1, 2, -3], workers=1) as results:
        print(list(results))    # [1, 2, 3]
    ```
    """
    pool = None
    try:
        if workers > 1:
            pool = multiprocessing.get_context().Pool(workers)
            yield pool.imap(function, tasks)
        else:
            yield map(function, tasks)
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
