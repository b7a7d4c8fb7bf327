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
import time

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
        values = [v for v in load_history(self.output_dir).get("elapsed_seconds", [])
                  if v is not None]
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



# ---------------------------------------------------------------------------
# Paper classifiers (LRA, Speech Commands)
# ---------------------------------------------------------------------------

SSM_MODELS = ("s5", "dss", "dlr")
"""The `--model` choices of the LRA and Speech Commands examples."""

S5_OPT_CONFIGS = ("standard", "BandCdecay", "BfastandCdecay", "noBCdecay")
"""S5's `opt_config` choices (see `paper_optimizer_groups`)."""

_SSM_KWARGS = {
    "s5": ("state_size", "blocks", "c_init", "clip_eigs", "dt_min", "dt_max"),
    "dss": ("state_size", "variant", "lambda_init", "dt_min", "dt_max"),
    "dlr": ("state_size", "dt_min", "dt_max"),
}


def ssm_model_kwargs(model_name, settings, seed=None):
    """The `keras_ssm.models` builder arguments of a preset (LRA, Speech Commands).

    Encoder → `num_layers` `SSMBlock`s of `model_name` (norm, pre/post-norm, activation,
    dropout, BatchNorm momentum from the settings) → a final norm for pre-norm DSS/DLR
    models (their backbone), none for S5 (its code has none).

    Args:
        model_name: "s5", "dss" or "dlr".
        settings: a preset dict (see `examples/presets.py`).
        seed: int or None.

    Returns:
        dict of keyword arguments for `build_classifier` / `build_retrieval_classifier`
        (without the input and head arguments).

    Example:

    ```python
    kwargs = ssm_model_kwargs("s5", presets.S5_SC35, seed=0)
    model = keras_ssm.models.build_classifier(35, input_features=1, **kwargs)
    ```
    """
    if model_name not in SSM_MODELS:
        raise ValueError(f"`model_name` must be one of {SSM_MODELS}, got {model_name!r}.")
    s = settings
    return dict(
        hidden_size=s["hidden_size"], num_layers=s["num_layers"], ssm=model_name,
        ssm_kwargs={key: s[key] for key in _SSM_KWARGS[model_name]},
        bidirectional=s["bidirectional"], norm=s["norm"], prenorm=s["prenorm"],
        activation=s["activation"], dropout=s["dropout"],
        final_norm=False if model_name == "s5" else None,
        block_kwargs={"norm_kwargs": {"momentum": s["norm_momentum"]}}, seed=seed)


def paper_optimizer_groups(model_name, settings):
    """The papers' SSM parameter groups: [(variable names, rate, weight decay), ...].

    Every other variable (encoder, norms, GLU/output Dense, head, and whatever a group
    does not name) is in the main group, AdamW(lr, weight_decay).

    - S5 (spec s5.md D), by `opt_config`; Λ = lambda_re, lambda_im; Δ = log_step:
      "standard": Λ, B, Δ at ssm_lr, no decay; "BandCdecay": Λ, Δ at ssm_lr, no decay and
      B at ssm_lr with decay; "BfastandCdecay": Λ, Δ at ssm_lr, no decay (B in the main
      group); "noBCdecay": Λ, Δ, B, C, D at ssm_lr, no decay. `dt_global=True` moves Δ to
      the main group (lr and decay).
    - DSS (spec dss_dlr.md A.6, D.2): Λ and W at ssm_lr, log Δ at `log_dt_lr` (None:
      ssm_lr), no decay.
    - DLR: Λ (radius, phase) and W at ssm_lr, no decay.

    Args:
        model_name: "s5", "dss" or "dlr".
        settings: a preset dict.

    Returns:
        list of (tuple of variable names, learning rate, weight decay).

    Example:

    ```python
    paper_optimizer_groups("s5", dict(opt_config="BandCdecay", dt_global=False,
                                      ssm_lr=6e-4, weight_decay=0.06))
    # [(('lambda_re', 'lambda_im', 'log_step'), 6e-4, 0.0), (('b',), 6e-4, 0.06)]
    ```
    """
    s = settings
    ssm_lr = s["ssm_lr"]
    if model_name == "s5":
        config = s["opt_config"]
        if config not in S5_OPT_CONFIGS:
            raise ValueError(f"`opt_config` must be one of {S5_OPT_CONFIGS}, got {config!r}.")
        core = ("lambda_re", "lambda_im") + (() if s["dt_global"] else ("log_step",))
        if config == "standard":
            return [(core + ("b",), ssm_lr, 0.0)]
        if config == "BandCdecay":
            return [(core, ssm_lr, 0.0), (("b",), ssm_lr, s["weight_decay"])]
        if config == "BfastandCdecay":
            return [(core, ssm_lr, 0.0)]
        return [(core + ("b", "c", "c_backward", "d"), ssm_lr, 0.0)]
    if model_name == "dss":
        kernel = ("lambda_re", "lambda_im", "lambda_log_neg_re", "lambda_imag", "w", "w_backward")
        log_dt_lr = s.get("log_dt_lr")
        if log_dt_lr is None or log_dt_lr == ssm_lr:
            return [(kernel + ("log_dt",), ssm_lr, 0.0)]
        return [(kernel, ssm_lr, 0.0), (("log_dt",), log_dt_lr, 0.0)]
    if model_name == "dlr":
        return [(("lambda_radius", "lambda_phase", "w", "w_backward"), ssm_lr, 0.0)]
    raise ValueError(f"`model_name` must be one of {SSM_MODELS}, got {model_name!r}.")


def _ssm_layers(layer):
    """Every DSS/DLR/S5 layer inside `layer` (nested models and SSMBlocks included)."""
    from keras_ssm.layers import SSMBlock
    from keras_ssm.layers.base import DiagonalSSMLayer

    if isinstance(layer, DiagonalSSMLayer):
        return [layer]
    if isinstance(layer, SSMBlock):
        return _ssm_layers(layer.ssm)
    found = []
    for sub in getattr(layer, "layers", []):
        found += [l for l in _ssm_layers(sub) if all(l is not f for f in found)]
    return found


def paper_optimizer(model, model_name, settings, steps_per_epoch):
    """The paper's optimizer of a preset: SSM groups (`paper_optimizer_groups`) + AdamW.

    Each group selects the exact variables of the model's SSM layers by path. Rates:
    `schedule="cosine"`: `keras_ssm.optimizers.WarmupCosine` per group (linear warmup for
    `warmup_epochs`, cosine to 0 at `epochs`, stepped every optimizer step; S5's code
    measures its cosine from step 0, so it reaches 0 one warmup length earlier);
    "plateau"/"constant": constant rates (`paper_callbacks` adds ReduceLROnPlateau).
    Groups without decay are Adam, the others AdamW; β = (0.9, 0.999), ε = 1e-8.

    Args:
        model: the built model.
        model_name: "s5", "dss" or "dlr".
        settings: a preset dict.
        steps_per_epoch: int, optimizer steps per epoch.

    Returns:
        A `keras_ssm.optimizers.GroupedOptimizer`.

    Example:

    ```python
    optimizer = paper_optimizer(model, "s5", presets.S5_SC35, steps_per_epoch=5300)
    ```
    """
    import re

    from keras_ssm.optimizers import GroupedOptimizer
    from keras_ssm.optimizers import WarmupCosine

    s = settings
    if s["schedule"] not in ("cosine", "plateau", "constant"):
        raise ValueError(f"`schedule` must be 'cosine', 'plateau' or 'constant', got "
                         f"{s['schedule']!r}.")
    warmup = int(round(float(s.get("warmup_epochs", 0)) * int(steps_per_epoch)))
    total = max(int(s["epochs"]) * int(steps_per_epoch), warmup + 1)

    def rate(value):
        return WarmupCosine(value, warmup, total) if s["schedule"] == "cosine" else value

    def adam(value, weight_decay, name):
        if weight_decay:
            return keras.optimizers.AdamW(rate(value), weight_decay=weight_decay,
                                          epsilon=1e-8, name=name)
        return keras.optimizers.Adam(rate(value), epsilon=1e-8, name=name)

    layers = _ssm_layers(model)
    if not layers:
        raise ValueError("The model has no DSS/DLR/S5 layer.")
    groups = []
    for index, (names, value, weight_decay) in enumerate(paper_optimizer_groups(model_name, s)):
        paths = [v.path for layer in layers for v in layer.trainable_weights
                 if v.path.rsplit("/", 1)[-1] in names]
        if paths:
            patterns = ["^" + re.escape(path) + "$" for path in paths]
            groups.append((patterns, adam(value, weight_decay, f"ssm_group_{index}")))
    return GroupedOptimizer(groups, default=adam(s["lr"], s["weight_decay"], "main"),
                            name=f"{model_name}_paper")


def paper_callbacks(settings, verbose=0):
    """`ReduceLROnPlateau` on val accuracy for `schedule="plateau"` (DSS/DLR), else none.

    Factor `plateau_factor` (0.2), `patience` epochs, mode max; it scales every group's
    rate. Its counters start afresh when a run is resumed.

    Returns:
        A list of callbacks (put them before `training_callbacks`, so history.json
        records the reduced rates).
    """
    if settings["schedule"] != "plateau":
        return []
    return [keras.callbacks.ReduceLROnPlateau(
        monitor="val_accuracy", mode="max", factor=settings["plateau_factor"],
        patience=settings["patience"], verbose=1 if verbose else 0)]


def with_step_scale(model, step_scale=1.0, sequence_length=None):
    """The same model (the same layers and weights) with its SSM steps Δ times `step_scale`.

    Rebuilds the functional graph of `model` with `keras.models.clone_model`, reusing
    every layer (`clone_function` returns the layer itself, so nothing is copied and
    later weight changes show in both) and calling every `SSMBlock` with
    `step_scale=step_scale` (`call_function`). With `sequence_length` the new inputs have
    that length: a 16 kHz model evaluated zero-shot on 8 kHz audio is
    `with_step_scale(model, 2.0, 8000)` (S5 paper B2; DSS the same). DLR has no Δ: use
    step_scale 1.0 (a naive evaluation at the new length).

    Args:
        model: a functional model whose SSMBlocks are called directly in its graph (the
            `keras_ssm.models` builders' models); nested functional models are not
            entered.
        step_scale: float > 0, multiplies every SSM's Δ.
        sequence_length: int or None, the new inputs' length (None: keep the model's).

    Returns:
        A `keras.Model` for inference (do not train it with a different step).

    Example:

    ```python
    model_8k = with_step_scale(model_16k, 2.0, sequence_length=8000)
    logits = model_8k.predict(x_8k)
    ```
    """
    from keras_ssm.layers import SSMBlock

    if not float(step_scale) > 0:
        raise ValueError(f"`step_scale` must be positive, got {step_scale!r}.")
    stepless = [layer.name for layer in _ssm_layers(model) if not getattr(layer, "has_step", True)]
    if stepless and float(step_scale) != 1.0:
        raise ValueError(
            f"`step_scale` must be 1.0 for a model with SSM layers without a step Δ "
            f"({', '.join(stepless)}: DLR); evaluate it naively at the new length.")
    input_tensors = None
    if sequence_length is not None:
        input_tensors = [
            keras.Input((int(sequence_length),) + tuple(tensor.shape[2:]), dtype=tensor.dtype,
                        name=f"{tensor.name.split(':')[0]}_rescaled")
            for tensor in model.inputs]
        if len(input_tensors) == 1:
            input_tensors = input_tensors[0]

    def call_function(layer, *args, **kwargs):
        if isinstance(layer, SSMBlock) and float(step_scale) != 1.0:
            kwargs["step_scale"] = float(step_scale)
        return layer(*args, **kwargs)

    return keras.models.clone_model(model, input_tensors=input_tensors,
                                    clone_function=lambda layer: layer,
                                    call_function=call_function)


class OrderedBatches(keras.utils.PyDataset):
    """Batches of (inputs[, labels]) in order, for validation and prediction.

    Reads only the rows of each batch, so memory-mapped arrays are never loaded whole.

    Args:
        inputs: an array or a tuple of arrays with the same first dimension.
        labels: optional array.
        batch_size: int.

    Example:

    ```python
    model.fit(train, validation_data=OrderedBatches(x_val, y_val, 64))
    ```
    """

    def __init__(self, inputs, labels=None, batch_size=32, **kwargs):
        super().__init__(**kwargs)
        self.inputs, self.labels = inputs, labels
        self.size = len(keras.tree.flatten(inputs)[0])
        self.batch_size = int(batch_size)

    @property
    def num_batches(self):
        return -(-self.size // self.batch_size)

    def __getitem__(self, index):
        rows = slice(int(index) * self.batch_size, (int(index) + 1) * self.batch_size)
        x = keras.tree.map_structure(lambda a: np.asarray(a[rows]), self.inputs)
        if self.labels is None:
            return (x,)
        return x, np.asarray(self.labels[rows])


def classification_scores(model, inputs, labels, batch_size):
    """Accuracy and mean cross-entropy of a logits model on a labelled set, in numpy.

    Args:
        model: a model returning (batch, classes) logits.
        inputs: array (or tuple of arrays; memory-mapped arrays are read batch by batch).
        labels: int array (n,).
        batch_size: int.

    Returns:
        {"accuracy": float in [0, 1], "loss": float, "samples": n}.

    Example:

    ```python
    classification_scores(model, x_test, y_test, batch_size=64)["accuracy"]
    ```
    """
    labels = np.asarray(labels).astype(np.int64)
    batches = OrderedBatches(inputs, batch_size=batch_size)
    logits = np.asarray(keras.ops.convert_to_numpy(model.predict(batches, verbose=0)),
                        np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return {
        "accuracy": float(np.mean(np.argmax(logits, axis=-1) == labels)),
        "loss": float(-np.mean(log_probs[np.arange(len(labels)), labels])),
        "samples": int(len(labels)),
    }


def fit_paper_classifier(build, loaded, model_name, settings, output_dir, *, seed, verbose,
                         num_replicas=1, make_optimizer=None, extra_callbacks=()):
    """Train a classifier the papers' way, resumably, and restore its best weights.

    Shuffled, resumable training batches; the papers' optimizer and callbacks; sparse
    cross-entropy on logits; checkpoints and history in `output_dir` (a rerun resumes
    after the last finished epoch); at the end, the weights of the best validation
    accuracy. Call inside `distribution_scope`.

    Args:
        build: callable() -> an uncompiled keras.Model returning logits.
        loaded: {"train": (inputs, labels), "val": (inputs, labels)}.
        model_name: "s5", "dss" or "dlr" (selects the optimizer groups).
        settings: resolved preset (batch_size, epochs, steps_per_epoch, drop_remainder, ...).
        output_dir: the run folder (from `prepare_output_dir`).
        seed: the shuffling seed.
        verbose: keras verbosity.
        num_replicas: data-parallel replicas; the global batch is batch_size * replicas.
        make_optimizer: optional callable(model, steps_per_epoch) -> optimizer, instead of
            the papers' (`paper_optimizer`): for models without SSM layers (baselines).
        extra_callbacks: callbacks run before the checkpoint and history writers (so
            values they add to the logs, e.g. `EpochTimer`'s, are recorded).

    Returns:
        (model, batch_size): the trained model and the global batch size.

    Example:

    ```python
    with distribution_scope("none") as scope:
        model, batch = fit_paper_classifier(lambda: build_model(...), loaded, "s5",
                                            settings, out, seed=0, verbose=1)
    ```
    """
    from keras_ssm.callbacks import ResumableBatches

    batch_size = settings["batch_size"] * num_replicas
    train = ResumableBatches(*loaded["train"], batch_size=batch_size, shuffle=True, seed=seed,
                             steps_per_epoch=settings["steps_per_epoch"],
                             drop_remainder=settings["drop_remainder"])
    validation = OrderedBatches(*loaded["val"], batch_size=batch_size)
    model = build()
    if make_optimizer is None:
        optimizer = paper_optimizer(model, model_name, settings, train.steps_per_epoch)
    else:
        optimizer = make_optimizer(model, train.steps_per_epoch)
    model.compile(optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[keras.metrics.SparseCategoricalAccuracy("accuracy")])
    callbacks = paper_callbacks(settings, verbose) + list(extra_callbacks) + training_callbacks(
        output_dir, monitor="val_accuracy", mode="max", data=train)
    model.fit(train, epochs=settings["epochs"], validation_data=validation, shuffle=False,
              verbose=verbose, callbacks=callbacks)
    restore_best_weights(model, output_dir)
    return model, batch_size


def best_epoch(output_dir, monitor="val_accuracy", mode="max"):
    """(epoch counted from 1, value) of the best recorded `monitor`, or (None, None).

    The first epoch reaching the best value: the one `training_callbacks`' checkpoint kept.
    """
    history = load_history(output_dir)
    pairs = [(e, v) for e, v in zip(history.get("epoch", []), history.get(monitor, []))
             if v is not None]
    if not pairs:
        return None, None
    best = max(v for _, v in pairs) if mode == "max" else min(v for _, v in pairs)
    return next((e, v) for e, v in pairs if v == best)
