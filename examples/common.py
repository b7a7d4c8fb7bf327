"""Shared helpers of the example scripts (synthetic, LRA, Speech Commands).

A script imports this module (`import common`; the scripts' folder is on `sys.path`
when run as `python examples/<script>.py`) and follows the same five steps:

```python
parser = argparse.ArgumentParser()
common.add_training_arguments(parser, presets=PRESETS, default_preset="small")
args = parser.parse_args(argv)
settings = common.resolve_settings(PRESETS[args.preset], args)       # preset + CLI overrides
output = common.prepare_output_dir(args.output, config)               # config.json, resume check
with common.distribution_scope(args.distribution) as scope:          # one device or data parallel
    model = build(...); model.compile(...)
    model.fit(data, epochs=..., callbacks=common.training_callbacks(output, data=data),
              verbose=args.verbose)
common.restore_best_weights(model, output)
common.write_results(output, {...})                                   # results.json
common.plot_history(output)                                           # training_curves.png
```

What ends up in the output folder:

| file | written by | content |
|---|---|---|
| `config.json` | `prepare_output_dir` | the run's settings; a rerun must match them (except `RESUMABLE_KEYS`) |
| `backup/` | `keras_ssm.callbacks.BackupAndRestore` | weights, optimizer and RNG state after every epoch: rerunning the same command resumes there |
| `best.weights.h5` | `keras.callbacks.ModelCheckpoint` | the weights with the best monitored value so far |
| `history.json`, `history.csv` | `HistoryWriter` | one row per finished epoch (resumed runs keep the earlier rows) |
| `results.json` | `write_results` | the script's final metrics |
| `training_curves.png` | `plot_history` | loss and metrics per epoch (needs matplotlib) |

Resume: rerun the same command (or the same with a larger `--epochs`) with the same
`--output`: training continues after the last finished epoch. A finished run is kept
(`delete_checkpoint=False`), so raising `--epochs` extends it.
"""

import argparse
import csv
import json
import math
import os
import pathlib

import keras
import numpy as np

DISTRIBUTIONS = ("none", "auto", "data_parallel", "mirrored", "tpu")
"""Choices of `--distribution` (see `distribution_scope`)."""

RESUMABLE_KEYS = ("epochs",)
"""Settings a rerun into the same output folder may change (everything else must match)."""

BEST_WEIGHTS = "best.weights.h5"
BACKUP_DIR = "backup"
HISTORY_JSON = "history.json"
HISTORY_CSV = "history.csv"
RESULTS_JSON = "results.json"
CONFIG_JSON = "config.json"
CURVES_PNG = "training_curves.png"


# ---------------------------------------------------------------------------
# Arguments and settings
# ---------------------------------------------------------------------------


def add_training_arguments(parser, presets=None, default_preset=None, default_output=None):
    """Adds the arguments every example shares to an `argparse.ArgumentParser`.

    `--preset`, `--epochs`, `--batch-size`, `--steps-per-epoch`, `--lr`, `--output`,
    `--seed`, `--distribution`, `--verbose`. Training settings default to None, meaning
    "the preset's value" (see `resolve_settings`).

    Args:
        parser: the `argparse.ArgumentParser` to extend.
        presets: optional dict of preset names; adds `--preset` with those choices.
        default_preset: the default of `--preset`.
        default_output: the default of `--output` (None: required).

    Returns:
        The parser.

    Example:

    ```python
    parser = argparse.ArgumentParser()
    add_training_arguments(parser, presets={"small": {}, "paper": {}}, default_preset="small")
    args = parser.parse_args(["--epochs", "3", "--output", "runs/x"])
    ```
    """
    if presets is not None:
        parser.add_argument("--preset", choices=sorted(presets), default=default_preset,
                            help="named settings (default: %(default)s)")
    parser.add_argument("--epochs", type=_positive_int, default=None,
                        help="epochs to train (default: the preset's)")
    parser.add_argument("--batch-size", type=_positive_int, default=None,
                        help="batch size per replica (default: the preset's)")
    parser.add_argument("--steps-per-epoch", type=_positive_int, default=None,
                        help="training batches per epoch (default: the preset's)")
    parser.add_argument("--lr", type=float, default=None,
                        help="learning rate (default: the preset's)")
    parser.add_argument("--output", default=default_output, required=default_output is None,
                        help="output folder: checkpoints, history, results.json, plots; "
                             "rerun into it to resume")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--distribution", choices=DISTRIBUTIONS, default="none",
                        help="multi-device training (default: none); see "
                             "keras_ssm.models.distribution_scope")
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                        help="0 silent, 1 progress bar, 2 one line per epoch (default: 1)")
    return parser


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def resolve_settings(preset, args, names=None):
    """A preset's settings with the command-line values that were given on top.

    An argument overrides the preset key of the same name (dashes as underscores) when
    its value is not None.

    Args:
        preset: dict of settings.
        args: an `argparse.Namespace`.
        names: the argument names that may override (default: every key of `preset`).

    Returns:
        A new dict.

    Example:

    ```python
    settings = resolve_settings({"epochs": 10, "lr": 1e-3}, args)   # args.epochs = 2 -> 2
    ```
    """
    settings = dict(preset)
    for name in (names if names is not None else list(preset)):
        value = getattr(args, name, None)
        if value is not None:
            settings[name] = value
    return settings


def backend_name():
    """The Keras backend in use: "jax", "tensorflow" or "torch"."""
    return keras.config.backend()


# ---------------------------------------------------------------------------
# Output folder
# ---------------------------------------------------------------------------


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
            details = ", ".join(
                f"{k}: {recorded.get(k)!r} -> {config.get(k)!r}" for k in different
            )
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


# ---------------------------------------------------------------------------
# Distribution
# ---------------------------------------------------------------------------


def distribution_scope(kind="none"):
    """The context manager that builds, compiles and fits on one or several devices.

    `keras_ssm.models.distribution_scope`: "none" (one device), "data_parallel"
    (`keras.distribution.DataParallel` on JAX, `tf.distribute.MirroredStrategy` on
    TensorFlow), "mirrored", "tpu", or "auto". Its `num_replicas` multiplies the
    per-replica batch size.

    Args:
        kind: one of `DISTRIBUTIONS`.

    Returns:
        A context manager whose value has `num_replicas`.

    Example:

    ```python
    with distribution_scope("data_parallel") as scope:
        model = build(); model.compile(...)
        model.fit(data, batch_size=16 * scope.num_replicas)
    ```
    """
    from keras_ssm.models import distribution_scope as scope

    return scope(kind)


# ---------------------------------------------------------------------------
# Callbacks, history, checkpoints
# ---------------------------------------------------------------------------


class HistoryWriter(keras.callbacks.Callback):
    """Writes every finished epoch's logs to history.json and history.csv.

    Rows are keyed by epoch: a resumed run keeps the earlier rows and replaces a
    repeated epoch. Learning rates and other logged values are kept as floats.

    Args:
        output_dir: the output folder.

    Example:

    ```python
    model.fit(..., callbacks=[HistoryWriter("runs/demo")])
    ```
    """

    def __init__(self, output_dir):
        super().__init__()
        self.output_dir = pathlib.Path(output_dir)

    def on_epoch_end(self, epoch, logs=None):
        rows = {row["epoch"]: row for row in load_history(self.output_dir, as_rows=True)}
        row = {"epoch": int(epoch) + 1}
        for key, value in (logs or {}).items():
            try:
                row[key] = float(keras.ops.convert_to_numpy(value))
            except (TypeError, ValueError):
                continue
        rows[row["epoch"]] = row
        ordered = [rows[k] for k in sorted(rows)]
        write_json(self.output_dir / HISTORY_JSON, ordered)
        columns = ["epoch"] + sorted({k for r in ordered for k in r} - {"epoch"})
        temporary = self.output_dir / (HISTORY_CSV + ".tmp")
        with open(temporary, "w", newline="") as handle:
            writer = csv.DictWriter(handle, columns)
            writer.writeheader()
            writer.writerows(ordered)
        os.replace(temporary, self.output_dir / HISTORY_CSV)


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


def _best_so_far(output_dir, monitor, mode):
    values = [v for v in load_history(output_dir).get(monitor, []) if v is not None]
    if not values:
        return None
    return min(values) if mode == "min" else max(values)


def training_callbacks(output_dir, monitor="val_loss", mode="min", data=None):
    """The callbacks of every example: checkpoint, backup for resume, history.

    - `keras.callbacks.ModelCheckpoint`: `best.weights.h5`, the best `monitor` value
      (on resume it only improves on the best epoch recorded in history.json);
    - `keras_ssm.callbacks.BackupAndRestore` (Keras' `BackupAndRestore` that also
      restores dropout's random state): `backup/`, kept after training so a rerun with
      more epochs continues;
    - `HistoryWriter`: history.json and history.csv.

    The progress bar is Keras' own: pass `verbose=1` to `fit`.

    Args:
        output_dir: the output folder (from `prepare_output_dir`).
        monitor: the logged value that selects the best checkpoint.
        mode: "min" or "max".
        data: optional training dataset with `set_epoch(epoch)`, told which epoch runs
            (so a resumed run draws the batches it would have drawn).

    Returns:
        A list of callbacks for `model.fit`.

    Example:

    ```python
    model.fit(data, epochs=10, callbacks=training_callbacks("runs/x", data=data))
    ```
    """
    from keras_ssm.callbacks import BackupAndRestore

    if mode not in ("min", "max"):
        raise ValueError(f"`mode` must be 'min' or 'max', got {mode!r}.")
    output = pathlib.Path(output_dir)
    checkpoint = keras.callbacks.ModelCheckpoint(
        str(output / BEST_WEIGHTS), monitor=monitor, mode=mode, save_best_only=True,
        save_weights_only=True, initial_value_threshold=_best_so_far(output, monitor, mode))
    backup = BackupAndRestore(str(output / BACKUP_DIR), data=data, delete_checkpoint=False)
    return [backup, checkpoint, HistoryWriter(output)]


def restore_best_weights(model, output_dir):
    """Loads `best.weights.h5` into `model` if the run wrote one.

    Returns:
        True if weights were loaded.
    """
    path = pathlib.Path(output_dir) / BEST_WEIGHTS
    if not path.exists():
        return False
    model.load_weights(str(path))
    return True


# ---------------------------------------------------------------------------
# Plots
# ---------------------------------------------------------------------------


def plot_history(output_dir, metrics=None, title=None, filename=CURVES_PNG):
    """Draws the training curves (one panel per metric, train and validation) as a PNG.

    matplotlib is imported here (the `examples` extra); without it nothing is drawn.

    Args:
        output_dir: the output folder holding history.json.
        metrics: names without the "val_" prefix (default: every logged one except the
            learning rate).
        title: optional figure title.
        filename: the PNG's name in the output folder.

    Returns:
        The PNG's path, or None (no matplotlib or no history).

    Example:

    ```python
    plot_history("runs/demo", metrics=["loss", "r2"], title="shift / dlr")
    ```
    """
    history = load_history(output_dir)
    if not history.get("epoch"):
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    if metrics is None:
        metrics = [k for k in history if k != "epoch" and not k.startswith("val_")
                   and k not in ("learning_rate", "lr")]
    metrics = [m for m in metrics if m in history or f"val_{m}" in history]
    if not metrics:
        return None
    epochs = history["epoch"]
    figure, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.2),
                                squeeze=False)
    for axis, name in zip(axes[0], metrics):
        for key, label in ((name, "train"), (f"val_{name}", "validation")):
            values = history.get(key)
            if values and any(v is not None for v in values):
                axis.plot(epochs, [np.nan if v is None else v for v in values], marker=".",
                          label=label)
        if name == "loss" or name.endswith("mse"):
            positive = [v for v in history.get(name, []) + history.get(f"val_{name}", [])
                        if v is not None]
            if positive and min(positive) > 0:
                axis.set_yscale("log")
        axis.set_xlabel("epoch")
        axis.set_title(name)
        axis.grid(alpha=0.3)
        axis.legend()
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    path = pathlib.Path(output_dir) / filename
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path

