"""Train one model on one task of the DLR paper's synthetic suite; evaluate on held-out data.

```bash
KERAS_BACKEND=jax python -m examples.synthetic --task shift --model dlr --preset demo \
    --output runs/demo
python -m examples.synthetic --task cumsum --model s5 --preset small --seq-len 128 \
    --output runs/cumsum
python -m examples.synthetic --task sort --model dlr --preset paper --num-layers 6 \
    --output runs/sort
```

Tasks: the 13 of `keras_ssm.data.synthetic.TASKS` (spec dss_dlr.md, section C). Models (all
in the same backbone, spec C.0: Dense encoder → blocks → the last ℓ_out positions → Dense):

- `dlr`: DLR blocks (`keras_ssm.layers.DLR`);
- `dss`: DSS_EXP blocks with Λ init "lin" (the DLR paper's DSS-EXP baseline);
- `s5`: S5 blocks (the S5 layer in the same DSS/DLR block, for comparison);
- `s4d`: S4D blocks (S4D-Lin, ZOH), `lru`: LRU blocks (ring r ∈ [0, 1], phases in [0, 2π)),
  in the same block, for comparison;
- `mamba`: Mamba blocks, x + Mamba(RMSNorm(x)) as its authors' model (N = 16);
- `attention`: softmax attention blocks (`attention_baseline.build_attention_tagger`).

Tasks also include the Mamba paper's selective copying and induction heads (token inputs,
an Embedding encoder, cross-entropy on the last ℓ_out positions; token accuracy).

Training data is drawn fresh every epoch (`SyntheticSequence`), validation is a fixed set,
and the reported metrics are measured after training on `eval_samples` freshly generated
samples with another seed (`held_out_seed`), with the best-validation weights:

- regression tasks (the 11 atomic ones; loss MSE): R² = 1 − SSE / Σ(y − ȳ)² over all
  held-out target values, and the MSE;
- listops_subtrees, pathfinder_segmentation (cross-entropy; positions with target −100
  are ignored in the loss and metrics): token accuracy, macro-F1 (the F1 of each class
  present in the targets or predictions, averaged) and balanced accuracy (mean recall).
  PathfinderSegmentation weights each class by 1/its count in the batch, as the paper.

Presets (`PRESETS`, plain dicts below; any command-line value overrides them). DSS's and
S5's step ranges in `demo` and `small` are the paper's ranges rescaled to the preset's short
L (Δ·L as in the paper's L = 4096 runs, so the initial kernels span the sequence), and
scale as 1/L with `--seq-len`:

- `demo`: the `make demo` settings, for Shift (and other linear tasks): L = 256, a *linear*
  model (Dense → one bare SSM layer, DLR N = 256 with the ring init → Dense; no norm, GELU or
  residual, which only slow the fit of a linear map), lr 3e-3 (SSM parameters 1e-3), 500
  steps of batch 16: DLR reaches R² ≈ 0.999 in well under a minute on 2 CPU cores;
- `small`: the CPU settings of `synthetic_suite.py` (L = 64, one block, H = 32);
- `paper`: spec C.0's table: DLR-1 (add `--num-layers 6` for DLR-6), DSS-EXP-1,
  Attention-1 at L = 4096, 12 epochs of 14400 training samples (Shift 7200, MIPS 57600),
  with the listed exceptions (L = 512 runs, MIPS batch 4); ListOpsSubTrees and
  PathfinderSegmentation-128 per C.12/C.13. S5 has no synthetic-suite setting in its paper:
  its `paper` entry is the DSS-EXP-1 backbone (one block, H = 128, lr 1e-3) with P = 256,
  J = 8 and S5's default step range [1e-3, 0.1]. Neither have S4D and the LRU: the same
  backbone with N = 256 (S4D with its default step range [1e-3, 0.1]); in `demo` and
  `small` S4D takes S5's step range (both default to [1e-3, 0.1]), the LRU its default
  ring.

Everything a run writes goes to `--output` (see `examples/__init__.py`); rerunning the same
command resumes it, and a larger `--epochs` extends a finished run.
"""

import argparse
import time

import keras
import numpy as np

import keras_ssm
from examples import attention_baseline
from examples import plots
from examples import run_folder
from examples import run_settings
from examples import training
from keras_ssm.data import synthetic

MODELS = keras_ssm.layers.families.names() + ("attention",)
CLASSIFICATION_TASKS = ("listops_subtrees", "pathfinder_segmentation") + synthetic.MAMBA_TASKS
IGNORE_INDEX = -100
# The families whose `dt_min`, `dt_max` set their initial steps (DLR: its decays); the
# LRU's ring keeps its defaults r ∈ [0, 1].
STEP_RANGE_MODELS = ("dlr", "dss", "s5", "s4d")
HELD_OUT_SEED_OFFSET = 1_000_003
VALIDATION_SEED_OFFSET = 2_000_003


def _per_model(shared, **models):
    """{model: shared settings updated with that model's own}."""
    return {name: {**shared, **models.get(name, {})} for name in MODELS}


# Settings keys: seq_len, hidden_size, num_layers, state_size, blocks (S5), dt_min, dt_max,
# lr, ssm_lr (None: lr), weight_decay, schedule ("constant"/"cosine"), warmup_steps,
# batch_size, epochs, steps_per_epoch, val_samples, eval_samples, prenorm, activation,
# positions (attention), block ("residual": the papers' SSMBlock; "linear": bare SSM layers,
# see `build_linear_model`).
_COMMON = dict(
    weight_decay=0.0,
    schedule="constant",
    warmup_steps=0,
    prenorm=False,
    activation="gelu",
    positions="rotary",
    blocks=1,
    block="residual",
)

# Mamba in its own block, x + Mamba(RMSNorm(x)) (no GELU or output Dense: the mixer has its
# gate and projection), N = 16, A_log and D at the model's rate (no weight decay).
_MAMBA = dict(state_size=16, ssm_lr=None, norm="rms", activation=None, prenorm=True)

PRESETS = {
    "demo": _per_model(
        dict(
            _COMMON,
            block="linear",
            seq_len=256,
            hidden_size=32,
            num_layers=1,
            state_size=256,
            dt_min=1e-5,
            dt_max=1e-5,
            lr=3e-3,
            ssm_lr=1e-3,
            batch_size=16,
            epochs=5,
            steps_per_epoch=100,
            val_samples=128,
            eval_samples=512,
        ),
        dss=dict(dt_min=1.6e-3, dt_max=0.16),  # the paper's [1e-4, 1e-2] at L=4096, times 16
        s5=dict(state_size=64, blocks=4, dt_min=2.5e-3, dt_max=0.25),
        s4d=dict(state_size=64, dt_min=2.5e-3, dt_max=0.25),  # S5's (the same default range)
        lru=dict(state_size=64),
        mamba=_MAMBA,
        attention=dict(lr=3e-3),
    ),
    "small": _per_model(
        dict(
            _COMMON,
            seq_len=64,
            hidden_size=32,
            num_layers=1,
            state_size=64,
            dt_min=1e-5,
            dt_max=1e-5,
            lr=3e-3,
            ssm_lr=1e-3,
            batch_size=16,
            epochs=10,
            steps_per_epoch=100,
            val_samples=128,
            eval_samples=256,
        ),
        dss=dict(dt_min=6.4e-3, dt_max=0.64),  # the paper's [1e-4, 1e-2] at L=4096, times 4096/64
        s5=dict(state_size=64, blocks=4, dt_min=1e-2, dt_max=1.0),
        s4d=dict(state_size=64, dt_min=1e-2, dt_max=1.0),  # S5's (the same default range)
        lru=dict(state_size=64),
        mamba=_MAMBA,
        attention=dict(lr=3e-3),
    ),
    "paper": _per_model(
        dict(
            _COMMON,
            seq_len=4096,
            hidden_size=128,
            num_layers=1,
            state_size=4096,
            dt_min=1e-5,
            dt_max=1e-5,
            lr=1e-4,
            ssm_lr=None,
            batch_size=16,
            epochs=12,
            steps_per_epoch=900,
            val_samples=1600,
            eval_samples=1600,
        ),
        dss=dict(dt_min=1e-4, dt_max=1e-2, lr=1e-3),
        s5=dict(state_size=256, blocks=8, dt_min=1e-3, dt_max=1e-1, lr=1e-3),
        s4d=dict(state_size=256, dt_min=1e-3, dt_max=1e-1, lr=1e-3),
        lru=dict(state_size=256, lr=1e-3),
        mamba=dict(_MAMBA, num_layers=2, hidden_size=64, lr=1e-3),  # its paper's E.1 models
        attention=dict(lr=1e-3),
    ),
}
"""PRESETS[preset][model]: the settings of one run (see the module docstring)."""


def paper_exceptions(task, model, settings):
    """The paper's per-task exceptions to its C.0 table (applied for `--preset paper`).

    - Shift: 8000 samples per epoch (7200 training); MIPS: 64000 (57600), batch 4 and,
      for attention, lr 1e-4.
    - L = 512: DLR-6 uses lr 5e-5 and batch 64; Attention-2 (2 layers) batch 64.
    - ListOpsSubTrees (C.12): L = 8192, 6 layers, post-norm, GLU, N = 1024,
      dt ∈ [1e-4, 0.1], AdamW (wd 0.01), batch 32, cosine with 5000 warmup steps;
      DLR lr 8e-4, DSS lr 1e-3 with dt ∈ [1e-4, 1e-2].
    - PathfinderSegmentation-128 (C.13): L = 16384, 5 layers, pre-norm, GLU, bidirectional,
      N = 1024, batch 16, 30 epochs, cosine with 3000 warmup steps; DLR lr 1e-4,
      DSS lr 1e-3.
    - The Mamba paper's tasks (its App. E.1): selective copying at L = 4096, 400K steps of
      batch 64, constant lr 1e-4; induction heads at L = 256, 25 × 8192 steps of batch 8.

    Args:
        task, model: names.
        settings: the resolved settings (after command-line overrides).

    Returns:
        A new settings dict.
    """
    s = dict(settings)
    train_samples = {"shift": 7200, "mips": 57600}.get(task, 14400)
    if task == "mips":
        s["batch_size"] = 4
        if model == "attention":
            s["lr"] = 1e-4
    if s["seq_len"] == 512 and task not in CLASSIFICATION_TASKS:
        if model == "dlr" and s["num_layers"] == 6:
            s.update(lr=5e-5, batch_size=64)
        if model == "attention":
            s.update(num_layers=2, batch_size=64)
    if task == "listops_subtrees":
        s.update(
            seq_len=8192,
            num_layers=6,
            state_size=1024,
            dt_min=1e-4,
            dt_max=0.1,
            activation="glu",
            prenorm=False,
            weight_decay=0.01,
            batch_size=32,
            schedule="cosine",
            warmup_steps=5000,
            epochs=100,
        )
        s["lr"] = {"dlr": 8e-4, "dss": 1e-3, "attention": 1e-3}.get(model, s["lr"])
        if model == "dss":
            s.update(dt_max=1e-2)
        train_samples = 96000
    if task == "pathfinder_segmentation":
        s.update(
            seq_len=16384,
            num_layers=5,
            state_size=1024,
            dt_min=1e-4,
            dt_max=0.1,
            activation="glu",
            prenorm=True,
            batch_size=16,
            schedule="cosine",
            warmup_steps=3000,
            epochs=30,
        )
        s["lr"] = {"dlr": 1e-4, "dss": 1e-3, "attention": 1e-3}.get(model, s["lr"])
        if model == "dss":
            s.update(dt_max=1e-2)
        train_samples = 80000
    if task == "selective_copying":  # Mamba paper E.1: L 4096, 400K steps of 64, lr 1e-4
        s.update(seq_len=4096, batch_size=64, lr=1e-4, epochs=40, schedule="constant")
        train_samples = 10000 * 64
    if task == "induction_heads":  # E.1: L 256, 25 "epochs" of 8192 steps of batch 8
        s.update(seq_len=256, batch_size=8, epochs=25, schedule="constant")
        train_samples = 8192 * 8
    s["steps_per_epoch"] = max(1, train_samples // s["batch_size"])
    return s


def default_seq_len(task, preset):
    """The preset's length, or the classification tasks' smallest sensible one."""
    if task == "pathfinder_segmentation" and preset != "paper":
        return 32 * 32  # the smallest PathfinderSegmentation image
    return None


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------


def add_sample_weights(info, inputs, targets):
    """(inputs, targets) for regression; (inputs, targets, weights) for classification.

    Classification targets equal to −100 get weight 0 (and target 0); PathfinderSegmentation
    weights every position by 1/count of its class in the batch (the paper's class-weighted
    loss). Weights are scaled to sum to the number of positions, so Keras' mean over
    positions is the mean over the weighted ones.
    """
    if info.kind != "classification":
        return inputs, targets
    targets = np.asarray(targets)
    valid = targets != IGNORE_INDEX
    weights = valid.astype(np.float32)
    if info.task == "pathfinder_segmentation":
        counts = np.bincount(targets[valid].ravel(), minlength=info.num_classes)
        per_class = np.where(counts > 0, 1.0 / np.maximum(counts, 1), 0.0).astype(np.float32)
        weights = np.where(valid, per_class[np.where(valid, targets, 0)], 0.0).astype(np.float32)
    total = weights.sum()
    if total > 0:
        weights *= weights.size / total
    return inputs, np.where(valid, targets, 0).astype(np.int32), weights


class TrainingBatches(synthetic.SyntheticSequence):
    """Fresh batches every epoch that a resumed run draws again (`set_epoch`), with weights.

    Batch i of epoch e is `generate(task, batch_size, seq_len, seed=f(seed, e, i))`.

    Example:

    ```python
    data = TrainingBatches("shift", 256, batch_size=16, batches_per_epoch=100, seed=0)
    ```
    """

    def set_epoch(self, epoch):
        """Makes `epoch` the one whose batches are drawn (called by the backup callback)."""
        self.epoch = int(epoch)

    def __getitem__(self, index):
        return add_sample_weights(self.info, *super().__getitem__(index))


# ---------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="keras_ssm_examples")
class R2(keras.metrics.Metric):
    """R² = 1 − SSE / Σ(y − ȳ)², pooled over every target value seen in the epoch."""

    def __init__(self, name="r2", **kwargs):
        super().__init__(name=name, **kwargs)
        self.totals = [
            self.add_variable((), initializer="zeros", name=n)
            for n in ("count", "sum", "sum_squares", "sse")
        ]

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = keras.ops.cast(y_true, "float32")
        y_pred = keras.ops.cast(y_pred, "float32")
        updates = (
            keras.ops.cast(keras.ops.size(y_true), "float32"),
            keras.ops.sum(y_true),
            keras.ops.sum(y_true * y_true),
            keras.ops.sum((y_true - y_pred) ** 2),
        )
        for variable, update in zip(self.totals, updates):
            variable.assign_add(update)

    def result(self):
        count, total, squares, sse = self.totals
        sst = squares - total * total / keras.ops.maximum(count, 1.0)
        return 1.0 - sse / keras.ops.maximum(sst, 1e-12)


def regression_metrics(y_true, y_pred):
    """{"r2", "mse"} of held-out predictions (float64)."""
    y_true = np.asarray(y_true, np.float64)
    y_pred = np.asarray(y_pred, np.float64)
    sse = np.sum((y_true - y_pred) ** 2)
    sst = np.sum((y_true - y_true.mean()) ** 2)
    return {"r2": float(1.0 - sse / sst), "mse": float(sse / y_true.size)}


def classification_metrics(y_true, logits, num_classes):
    """{"token_accuracy", "macro_f1", "balanced_accuracy"} over positions with y ≠ −100."""
    y_true = np.asarray(y_true).ravel()
    y_pred = np.argmax(np.asarray(logits), axis=-1).ravel()
    valid = y_true != IGNORE_INDEX
    y_true, y_pred = y_true[valid], y_pred[valid]
    confusion = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(confusion, (y_true, y_pred), 1)
    true_positive = np.diag(confusion).astype(np.float64)
    actual = confusion.sum(axis=1)
    predicted = confusion.sum(axis=0)
    present = (actual + predicted) > 0
    f1 = np.where(present, 2 * true_positive / np.maximum(actual + predicted, 1), 0.0)
    recall = true_positive[actual > 0] / actual[actual > 0]
    return {
        "token_accuracy": float(true_positive.sum() / max(y_true.size, 1)),
        "macro_f1": float(f1[present].mean()),
        "balanced_accuracy": float(recall.mean()),
    }


# ---------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------


def build_model(task_info, model_name, settings, seed=None):
    """The tagger of `model_name` for a task (see the module docstring).

    Args:
        task_info: `keras_ssm.data.synthetic.TaskInfo`.
        model_name: one of `MODELS`.
        settings: a resolved settings dict.
        seed: int or None.

    Returns:
        An uncompiled `keras.Model`.
    """
    s = settings
    info = task_info
    kwargs = dict(
        sequence_length=info.input_length,
        output_length=None if info.output_length == info.input_length else info.output_length,
        hidden_size=s["hidden_size"],
        num_layers=s["num_layers"],
        bidirectional=info.task == "pathfinder_segmentation",
        norm=s.get("norm", "layer"),
        prenorm=s["prenorm"],
        seed=seed,
        name=f"{model_name}_{info.task}",
    )
    if info.vocab_size is not None:  # token inputs (the Mamba paper's tasks)
        kwargs["vocab_size"] = info.vocab_size
    elif info.task == "listops_subtrees":
        from keras_ssm.data.synthetic import listops_subtrees

        kwargs["vocab_size"] = len(listops_subtrees.VOCAB)
    else:
        kwargs["input_features"] = info.d_in
    if model_name == "attention":
        return attention_baseline.build_attention_tagger(
            info.d_out, num_heads=4, positions=s["positions"], **kwargs
        )
    ssm_kwargs = dict(state_size=s["state_size"])
    if model_name in STEP_RANGE_MODELS:
        ssm_kwargs.update(dt_min=s["dt_min"], dt_max=s["dt_max"])
    if model_name == "dss":
        ssm_kwargs.update(variant="exp", lambda_init="lin")
    if model_name == "s5":
        ssm_kwargs.update(blocks=s["blocks"])
    if s["block"] == "linear":
        return build_linear_model(info, model_name, ssm_kwargs, s, seed)
    return keras_ssm.models.build_tagger(
        info.d_out, ssm=model_name, ssm_kwargs=ssm_kwargs, activation=s["activation"], **kwargs
    )


def build_linear_model(task_info, model_name, ssm_kwargs, settings, seed=None):
    """Dense encoder → `num_layers` bare SSM layers → (last ℓ_out) → Dense: a linear model.

    No norm, nonlinearity or residual: the whole model is one linear time-invariant map,
    enough for linear tasks such as Shift (a DLR with N >= L and the ring init can hold
    any length-L kernel, spec B.2), and faster to fit than the residual block.
    """
    info = task_info
    seed_at = (lambda i: None) if seed is None else (lambda i: int(seed) + 101 * i)
    if info.task in CLASSIFICATION_TASKS:
        raise ValueError(
            f"The demo preset's linear model is for the regression tasks, not "
            f"{info.task!r}; use --preset small or paper."
        )
    inputs = keras.Input((info.input_length, info.d_in), name="inputs")
    encoder_init = keras.initializers.GlorotUniform(seed=seed_at(0))
    x = keras.layers.Dense(
        settings["hidden_size"], kernel_initializer=encoder_init, name="encoder"
    )(inputs)
    ssm_class = keras_ssm.layers.families.layer_class(model_name)
    for i in range(settings["num_layers"]):
        x = ssm_class(seed=seed_at(i + 1), name=f"{model_name}_{i}", **ssm_kwargs)(x)
    if info.output_length != info.input_length:
        x = keras_ssm.models.TakeLast(info.output_length, name="take_last")(x)
    outputs = keras.layers.Dense(info.d_out, name="head")(x)
    return keras.Model(inputs, outputs, name=f"linear_{model_name}_{info.task}")


def make_optimizer(model, model_name, settings, total_steps):
    """Adam(W) with the SSM group of the model's paper at `ssm_lr` (no decay)."""
    s = settings
    schedule = dict(
        schedule=s["schedule"],
        warmup_steps=s["warmup_steps"],
        total_steps=max(total_steps, s["warmup_steps"] + 1),
    )
    if model_name == "attention":
        rate = s["lr"]
        if s["schedule"] == "cosine":
            rate = keras_ssm.optimizers.WarmupCosine(
                s["lr"], schedule["warmup_steps"], schedule["total_steps"]
            )
        return keras.optimizers.AdamW(rate, weight_decay=s["weight_decay"])
    return keras_ssm.optimizers.ssm_optimizer(
        model,
        paper=model_name,
        lr=s["lr"],
        ssm_lr=s["lr"] if s["ssm_lr"] is None else s["ssm_lr"],
        weight_decay=s["weight_decay"],
        **schedule,
    )


# ---------------------------------------------------------------------------
# Script
# ---------------------------------------------------------------------------


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Train a DLR/DSS/S5/attention model on one synthetic task of the DLR paper."
    )
    parser.add_argument("--task", choices=synthetic.TASKS, default="shift")
    parser.add_argument("--model", choices=MODELS, default="dlr")
    parser.add_argument("--seq-len", type=int, default=None, help="the task's L (default: preset)")
    parser.add_argument("--num-layers", type=int, default=None)
    parser.add_argument("--hidden-size", type=int, default=None)
    parser.add_argument("--state-size", type=int, default=None)
    parser.add_argument(
        "--val-samples",
        type=int,
        default=None,
        help="validation samples, a fixed set (default: preset)",
    )
    parser.add_argument(
        "--eval-samples", type=int, default=None, help="held-out samples (default: preset)"
    )
    run_settings.add_training_arguments(parser, presets=PRESETS, default_preset="small")
    return parser.parse_args(argv)


def resolve(args):
    """The run's settings: preset, then the command line, then the paper's exceptions."""
    settings = dict(PRESETS[args.preset][args.model])
    preset_length = settings["seq_len"]
    task_default = default_seq_len(args.task, args.preset)
    if task_default is not None:
        settings["seq_len"] = task_default
    settings = run_settings.resolve_settings(settings, args)
    if args.preset != "paper" and args.model in ("dss", "s5", "s4d"):
        # Δ·L stays what the preset chose for its own length.
        ratio = preset_length / settings["seq_len"]
        settings.update(dt_min=settings["dt_min"] * ratio, dt_max=settings["dt_max"] * ratio)
    if args.preset == "paper":
        settings = paper_exceptions(args.task, args.model, settings)
        settings = run_settings.resolve_settings(settings, args)  # the command line wins
    return settings


def _training_accuracy_name(task):
    """The logged accuracy: class-balanced for PathfinderSegmentation (its weights)."""
    return "balanced_accuracy" if task == "pathfinder_segmentation" else "accuracy"


def held_out_seed(seed):
    """The seed of the held-out evaluation set (never used for training or validation)."""
    return HELD_OUT_SEED_OFFSET + int(seed)


def summary_line(results):
    """The one-line result, e.g. `shift  dlr  L=256  R²=0.9987  MSE=1.2e-04  (held-out, ...)`."""
    m = results["metrics"]
    if "r2" in m:
        scores = f"R²={m['r2']:.4f}  MSE={m['mse']:.1e}"
    else:
        scores = f"accuracy={m['token_accuracy']:.4f}  macro-F1={m['macro_f1']:.4f}"
    return (
        f"{results['task']}  {results['model']}  L={results['seq_len']}  {scores}  "
        f"(held-out, {results['held_out_samples']} samples, {results['wall_time_s']:.0f} s)"
    )


def main(argv=None):
    """Runs the script; returns the results dict (also written to DIR/results.json)."""
    start = time.perf_counter()
    args = parse_args(argv)
    settings = resolve(args)
    task, model_name, seed = args.task, args.model, args.seed
    info = synthetic.task_info(task, settings["seq_len"])
    keras.utils.set_random_seed(seed)
    config = dict(
        task=task,
        model=model_name,
        preset=args.preset,
        seed=seed,
        backend=run_settings.backend_name(),
        **settings,
    )
    output = run_folder.prepare_output_dir(args.output, config)

    with training.distribution_scope(args.distribution) as scope:
        batch_size = settings["batch_size"] * scope.num_replicas
        data = TrainingBatches(
            task,
            settings["seq_len"],
            batch_size=batch_size,
            batches_per_epoch=settings["steps_per_epoch"],
            seed=seed,
        )
        validation = add_sample_weights(
            info,
            *synthetic.generate(
                task,
                settings["val_samples"],
                settings["seq_len"],
                seed=VALIDATION_SEED_OFFSET + seed,
            ),
        )
        model = build_model(info, model_name, settings, seed=seed)
        total_steps = settings["epochs"] * settings["steps_per_epoch"]
        optimizer = make_optimizer(model, model_name, settings, total_steps)
        if info.kind == "regression":
            model.compile(optimizer, loss="mse", metrics=[R2()])
        else:
            # Weighted by the sample weights: PathfinderSegmentation's is balanced accuracy.
            model.compile(
                optimizer,
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                weighted_metrics=[
                    keras.metrics.SparseCategoricalAccuracy(_training_accuracy_name(task))
                ],
            )
        training.fit_resumably(
            model,
            data,
            epochs=settings["epochs"],
            validation_data=validation,
            output_dir=output,
            verbose=args.verbose,
            validation_batch_size=batch_size,
        )

        eval_seed = held_out_seed(seed)
        x_test, y_test = synthetic.generate(
            task, settings["eval_samples"], settings["seq_len"], seed=eval_seed
        )
        predictions = model.predict(x_test, batch_size=batch_size, verbose=0)
    if info.kind == "regression":
        metrics = regression_metrics(y_test, predictions)
    else:
        metrics = classification_metrics(y_test, predictions, info.num_classes)
    history = run_folder.load_history(output)
    results = dict(
        task=task,
        model=model_name,
        backend=run_settings.backend_name(),
        seq_len=settings["seq_len"],
        preset=args.preset,
        metrics=metrics,
        held_out_samples=settings["eval_samples"],
        held_out_seed=eval_seed,
        epochs_completed=len(history.get("epoch", [])),
        parameters=model.count_params(),
        settings=settings,
        wall_time_s=time.perf_counter() - start,
    )
    run_folder.write_results(output, results)
    metric_names = ["loss", "r2" if info.kind == "regression" else _training_accuracy_name(task)]
    plots.plot_history(
        output,
        metrics=metric_names,
        title=f"{task} / {model_name}, L={settings['seq_len']} ({run_settings.backend_name()})",
    )
    print(summary_line(results), flush=True)
    return results


if __name__ == "__main__":
    main()
