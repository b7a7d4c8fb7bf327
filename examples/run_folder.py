"""The run's output folder: config.json (resume check), results.json, history.json, JSON I/O."""

import json
import math
import os
import pathlib

import numpy as np

RESUMABLE_KEYS = ("epochs",)
"""Settings a rerun into the same output folder may change (everything else must match)."""


BEST_WEIGHTS = "best.weights.h5"


BACKUP_DIR = "backup"


HISTORY_JSON = "history.json"


HISTORY_CSV = "history.csv"


RESULTS_JSON = "results.json"


CONFIG_JSON = "config.json"


CURVES_PNG = "training_curves.png"


def _jsonable(value):
    """Numpy scalars and arrays, tuples and paths as plain JSON values."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, pathlib.PurePath):
        return str(value)
    return value


def write_json(path, data):
    """Writes `data` (numpy values allowed) as indented JSON, atomically.

    Returns:
        The path as a `pathlib.Path`.
    """
    path = pathlib.Path(path)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(_jsonable(data), indent=2) + "\n")
    os.replace(temporary, path)
    return path


def prepare_output_dir(path, config, resumable=RESUMABLE_KEYS):
    """Creates the output folder and records `config.json`; checks a resumed run matches.

    A folder that already holds a `config.json` is a run to resume: its settings must
    equal `config` except the `resumable` keys (which are updated).

    Args:
        path: the output folder.
        config: dict of the run's settings (JSON-serializable, numpy values allowed).
        resumable: keys that may differ from the recorded run.

    Returns:
        The folder as a `pathlib.Path`.

    Raises:
        ValueError: the folder holds a different run (names the settings that differ).

    Example:

    ```python
    output = prepare_output_dir("runs/demo", {"task": "shift", "epochs": 3})
    ```
    """
    output = pathlib.Path(path)
    output.mkdir(parents=True, exist_ok=True)
    config = _jsonable(config)
    recorded_path = output / CONFIG_JSON
    if recorded_path.exists():
        recorded = json.loads(recorded_path.read_text())
        keys = (set(recorded) | set(config)) - set(resumable)
        different = sorted(k for k in keys if recorded.get(k) != config.get(k))
        if different:
            details = ", ".join(f"{k}: {recorded.get(k)!r} -> {config.get(k)!r}" for k in different)
            raise ValueError(
                f"--output {str(output)!r} holds a different run ({details}). Resume it "
                "with the same settings (only --epochs may change), or choose a new --output."
            )
    write_json(recorded_path, config)
    return output


def write_results(output_dir, results):
    """Writes `results.json` into the output folder.

    Args:
        output_dir: the output folder.
        results: dict (numpy values allowed; non-finite floats become null).

    Returns:
        The path of results.json.
    """
    return write_json(pathlib.Path(output_dir) / RESULTS_JSON, results)


def load_history(output_dir, as_rows=False):
    """The recorded epochs of a run.

    Args:
        output_dir: the output folder.
        as_rows: return the list of per-epoch dicts instead of columns.

    Returns:
        dict name -> list of values per epoch (including "epoch", counted from 1), or
        the list of rows; empty if nothing was recorded.

    Example:

    ```python
    history = load_history("runs/demo")
    history["val_loss"][-1]
    ```
    """
    path = pathlib.Path(output_dir) / HISTORY_JSON
    rows = json.loads(path.read_text()) if path.exists() else []
    if as_rows:
        return rows
    names = []
    for row in rows:
        names += [k for k in row if k not in names]
    return {name: [row.get(name) for row in rows] for name in names}


def best_epoch(output_dir, monitor="val_accuracy", mode="max"):
    """(epoch counted from 1, value) of the best recorded `monitor`, or (None, None).

    The first epoch reaching the best value: the one `training_callbacks`' checkpoint kept.
    """
    history = load_history(output_dir)
    pairs = [
        (e, v) for e, v in zip(history.get("epoch", []), history.get(monitor, [])) if v is not None
    ]
    if not pairs:
        return None, None
    best = max(v for _, v in pairs) if mode == "max" else min(v for _, v in pairs)
    return next((e, v) for e, v in pairs if v == best)
