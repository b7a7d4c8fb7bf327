"""Training the example models: device scope, resumable fit, checkpoints, history, time limits."""

import csv
import os
import pathlib
import time

import keras

from examples.run_folder import BACKUP_DIR
from examples.run_folder import BEST_WEIGHTS
from examples.run_folder import HISTORY_CSV
from examples.run_folder import HISTORY_JSON
from examples.run_folder import load_history
from examples.run_folder import write_json


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


class EpochTimer(keras.callbacks.Callback):
    """Adds `epoch_seconds` and `elapsed_seconds` to every epoch's logs.

    `epoch_seconds`: wall-clock seconds of the epoch (training and validation);
    `elapsed_seconds`: the run's total, resumed runs included (it continues from the
    last epoch recorded in history.json). Put it before `HistoryWriter`.

    Args:
        output_dir: the output folder (for the elapsed time of earlier sessions).

    Example:

    ```python
    model.fit(..., callbacks=[EpochTimer("runs/demo"), HistoryWriter("runs/demo")])
    ```
    """

    def __init__(self, output_dir):
        super().__init__()
        self.output_dir = pathlib.Path(output_dir)
        self.started = None

    def elapsed_before(self):
        """Seconds recorded by the epochs already in history.json."""
        values = [
            v for v in load_history(self.output_dir).get("elapsed_seconds", []) if v is not None
        ]
        return max(values) if values else 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is None or self.started is None:
            return
        seconds = time.perf_counter() - self.started
        logs["epoch_seconds"] = seconds
        logs["elapsed_seconds"] = self.elapsed_before() + seconds


class TimeBudget(keras.callbacks.Callback):
    """Stops training once the run's wall-clock time reaches a budget.

    Counted like `EpochTimer.elapsed_seconds` (resumed sessions included); checked after
    every batch, so the last epoch may be partial (it is still validated and recorded).

    Args:
        seconds: float, the budget.
        output_dir: the output folder.

    Example:

    ```python
    model.fit(..., callbacks=[TimeBudget(3600, "runs/demo")])
    ```
    """

    def __init__(self, seconds, output_dir):
        super().__init__()
        self.seconds = float(seconds)
        self.timer = EpochTimer(output_dir)
        self.session_start = None
        self.before = 0.0
        self.exhausted = False

    def on_train_begin(self, logs=None):
        self.before = self.timer.elapsed_before()
        self.session_start = time.perf_counter()
        if self.before >= self.seconds:
            self.exhausted = True
            self.model.stop_training = True

    def on_train_batch_end(self, batch, logs=None):
        if self.before + time.perf_counter() - self.session_start >= self.seconds:
            self.exhausted = True
            self.model.stop_training = True


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
        str(output / BEST_WEIGHTS),
        monitor=monitor,
        mode=mode,
        save_best_only=True,
        save_weights_only=True,
        initial_value_threshold=_best_so_far(output, monitor, mode),
    )
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


def fit_resumably(
    model,
    data,
    *,
    epochs,
    validation_data,
    output_dir,
    verbose,
    monitor="val_loss",
    mode="min",
    callbacks=(),
    **fit_kwargs,
):
    """`model.fit` that resumes in `output_dir`, then restores the best checkpoint's weights.

    The training loop of every example script: `callbacks` first (their log values are
    recorded), then `training_callbacks` (backup for resume, best checkpoint, history);
    batches come from `data` in its own order (`shuffle=False`).

    Args:
        model: a compiled model.
        data: the training batches (a `keras.utils.PyDataset`; resumable ones continue
            mid-run).
        epochs: int.
        validation_data: as `model.fit`'s.
        output_dir: the run folder (from `prepare_output_dir`).
        verbose: keras verbosity.
        monitor, mode: the value the checkpoint keeps the best of.
        callbacks: callbacks run before the checkpoint and history writers.
        **fit_kwargs: more `model.fit` arguments (e.g. `validation_batch_size`).

    Returns:
        The model, with its best weights.

    Example:

    ```python
    fit_resumably(model, data, epochs=10, validation_data=(x, y), output_dir=out, verbose=1)
    ```
    """
    model.fit(
        data,
        epochs=epochs,
        validation_data=validation_data,
        shuffle=False,
        verbose=verbose,
        callbacks=list(callbacks)
        + training_callbacks(output_dir, monitor=monitor, mode=mode, data=data),
        **fit_kwargs,
    )
    restore_best_weights(model, output_dir)
    return model
