"""Pixel-by-pixel image classification (sMNIST, psMNIST, sFashion, psFashion, sCIFAR).

```bash
make data                                   # Fashion-MNIST from Debian's package, where possible
KERAS_BACKEND=torch python -m examples.sequential_image --task sfashion --model s5 \
    --preset cpu --output runs/sfashion_s5
python -m examples.sequential_image --task psmnist --model s5 --preset paper \
    --output runs/psmnist_s5                # MNIST/CIFAR-10 come from keras.datasets
python -m examples.sequential_image --task sfashion --model gru --preset cpu \
    --time-budget 60 --output runs/sfashion_gru   # a baseline, one hour of wall-clock time
```

Tasks (`keras_ssm.data.images`): each image is the sequence of its pixels, row by row;
`ps*` tasks read the pixels in one fixed, seeded order; `scifar` reads the 3 colour
channels per step (L = 1024, as S4/S5 report sCIFAR), `scifar-gray` the grey levels (LRA
Image). Validation is a seeded 10% of the official training split; test is the official
test split, evaluated once at the end with the weights of the best validation epoch.

Models:

- `s5`, `dss`, `dlr`, `s4d`, `lru` (every layer family): `keras_ssm.models.build_classifier`
  (a linear encoder, SSM blocks, mean pooling), trained with the papers' optimizer groups
  (`paper_setup.paper_optimizer`).
- `gru`, `lstm`, `transformer`: plain Keras layers (`examples/baselines.py`) at the S5
  preset's depth, with the width that matches the S5 model's parameter count (or
  `--hidden-size`), trained with AdamW and the same warmup + cosine schedule.

Presets (`examples/presets.py`, `IMAGE_PRESETS`): `paper`, S5's pixel-level settings (paper
Table 11; Fashion-MNIST takes MNIST's, DSS/DLR/S4D their LRA Image settings, the LRU its
paper's sCIFAR settings); `cpu`, a model and schedule that train well on a 2-core CPU (S4D
and the LRU at S5's depth, width and rates, with their papers' blocks); `small`, a tiny
model for tests.

Data: Fashion-MNIST from `/usr/share/datasets/fashion-mnist` (Debian's
`dataset-fashion-mnist`), `--data-dir`, or `keras.datasets` (downloads once); MNIST and
CIFAR-10 from `keras.datasets` or `--data-dir` (`mnist.npz`, `cifar-10-python.tar.gz`).

Output (`--output`; rerun the same command to resume after a kill): config.json, backup/,
best.weights.h5, history.json/csv (with `epoch_seconds`, `elapsed_seconds`),
training_curves.png, and results.json: test accuracy at the best validation epoch,
parameter count, seconds per epoch, backend.
"""

import argparse
import time

import keras
import numpy as np

import keras_ssm
from examples import baselines
from examples import paper_setup
from examples import plots
from examples import presets
from examples import run_folder
from examples import run_settings
from examples import training
from keras_ssm.data import images

TASKS = images.TASKS
MODELS = paper_setup.SSM_MODELS + baselines.BASELINES
PRESETS = presets.IMAGE_PRESETS


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Train an SSM or a baseline on pixel-by-pixel image classification."
    )
    parser.add_argument("--task", choices=TASKS, default="sfashion")
    parser.add_argument("--model", choices=MODELS, default="s5")
    parser.add_argument(
        "--data-dir",
        default=None,
        help="folder of the released files (default: keras.datasets' cache; "
        f"Fashion-MNIST also {images.DEBIAN_FASHION_DIR})",
    )
    parser.add_argument(
        "--hidden-size",
        type=int,
        default=None,
        help="the model width H (default: the preset's; baselines: the width "
        "matching the S5 model's parameter count)",
    )
    parser.add_argument(
        "--time-budget",
        type=float,
        default=None,
        help="stop training after this many minutes of wall-clock time (resumed sessions included)",
    )
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        help="use only the first LIMIT samples of each split (smoke tests)",
    )
    run_settings.add_training_arguments(parser, presets=PRESETS, default_preset="cpu")
    return parser.parse_args(argv)


def resolve(args):
    """The run's settings: the preset's for (model, task), then the command line."""
    source = args.model if args.model in paper_setup.SSM_MODELS else "s5"
    settings = run_settings.resolve_settings(
        PRESETS[args.preset][source][args.task],
        args,
        names=["epochs", "batch_size", "steps_per_epoch", "lr"],
    )
    if args.model in paper_setup.SSM_MODELS and args.hidden_size is not None:
        settings["hidden_size"] = int(args.hidden_size)
    return settings


def _normalized_inputs(task, name):
    """(inputs, normalized) of a pixel model: uint8 levels → (x − mean) / std per channel."""
    info = images.TASK_INFO[task]
    mean, std = images.normalization(task)
    inputs = keras.Input((info["seq_len"], info["channels"]), name="pixels")
    normalized = keras.layers.Normalization(
        axis=-1, mean=list(mean), variance=[s * s for s in std], name=f"{name}_normalization"
    )(inputs)
    return inputs, normalized


def build_ssm_model(task, model_name, settings, seed=None):
    """The SSM classifier of a task: normalization → `build_classifier` (logits).

    Args:
        task: one of `TASKS`.
        model_name: a layer family ("s5", "dss", "dlr", "s4d", "lru").
        settings: resolved settings.
        seed: int or None.

    Returns:
        An uncompiled `keras.Model` (batch, L, channels) uint8 levels → (batch, 10) logits.
    """
    info = images.TASK_INFO[task]
    name = f"{model_name}_{task.replace('-', '_')}"
    classifier = keras_ssm.models.build_classifier(
        info["num_classes"],
        input_features=info["channels"],
        sequence_length=info["seq_len"],
        pooling=settings["pooling"],
        name=f"{name}_classifier",
        **paper_setup.ssm_model_kwargs(model_name, settings, seed=seed),
    )
    inputs, x = _normalized_inputs(task, name)
    return keras.Model(inputs, classifier(x), name=name)


def build_baseline_model(task, kind, settings, hidden_size, seed=None):
    """A GRU/LSTM/Transformer classifier of a task (normalization → `baselines`)."""
    info = images.TASK_INFO[task]
    name = f"{kind}_{task.replace('-', '_')}"
    classifier = baselines.build_baseline_classifier(
        kind,
        info["num_classes"],
        input_features=info["channels"],
        sequence_length=info["seq_len"],
        hidden_size=hidden_size,
        num_layers=settings["num_layers"],
        dropout=settings["dropout"],
        seed=seed,
        name=f"{name}_classifier",
    )
    inputs, x = _normalized_inputs(task, name)
    return keras.Model(inputs, classifier(x), name=name)


def baseline_width(task, kind, settings, seed=None):
    """(width, parameters, S5 parameters): the width of equal parameter count to S5's."""
    info = images.TASK_INFO[task]
    target = build_ssm_model(task, "s5", settings, seed=seed).count_params()
    width, count = baselines.matching_width(
        kind,
        target,
        num_classes=info["num_classes"],
        input_features=info["channels"],
        sequence_length=info["seq_len"],
        num_layers=settings["num_layers"],
    )
    return width, count, target


def baseline_optimizer(settings):
    """AdamW(lr, weight decay) on the S5 preset's warmup + cosine schedule, clipnorm 1."""
    from keras_ssm.optimizers import WarmupCosine

    def make(model, steps_per_epoch):
        warmup = int(round(float(settings.get("warmup_epochs", 0)) * steps_per_epoch))
        total = max(int(settings["epochs"]) * int(steps_per_epoch), warmup + 1)
        return keras.optimizers.AdamW(
            WarmupCosine(settings["lr"], warmup, total),
            weight_decay=settings["weight_decay"],
            epsilon=1e-8,
            clipnorm=1.0,
        )

    return make


def load_data(task, data_dir, limit=None):
    """{"train" | "val" | "test": (uint8 (n, L, C), int32 (n,))}, optionally truncated."""
    loaded = images.load(task, data_dir)
    if limit:
        loaded = {k: (x[:limit], y[:limit]) for k, (x, y) in loaded.items()}
    return loaded


def summary_line(results):
    """One line: `sfashion  s5  test accuracy 0.9012 (best val 0.9050, epoch 6; 412 s/epoch)`."""
    return (
        f"{results['task']}  {results['model']}  test accuracy {results['test_accuracy']:.4f} "
        f"(best val {results['best_val_accuracy']:.4f}, epoch {results['best_epoch']}; "
        f"{results['seconds_per_epoch']:.0f} s/epoch, {results['parameters']} parameters, "
        f"{results['backend']})"
    )


def main(argv=None):
    """Runs the script; returns the results dict (also written to OUTPUT/results.json)."""
    start = time.perf_counter()
    args = parse_args(argv)
    settings = resolve(args)
    task, model_name, seed = args.task, args.model, args.seed
    keras.utils.set_random_seed(seed)
    is_ssm = model_name in paper_setup.SSM_MODELS
    width_note = None
    if is_ssm:
        width = settings["hidden_size"]
    elif args.hidden_size is not None:
        width = int(args.hidden_size)
    else:
        width, _, target = baseline_width(task, model_name, settings, seed=seed)
        width_note = f"width {width} matches the S5 preset's {target} parameters"
    config = dict(
        task=task,
        model=model_name,
        preset=args.preset,
        seed=seed,
        backend=run_settings.backend_name(),
        width=width,
        limit=args.limit,
        time_budget_minutes=args.time_budget,
        **settings,
    )
    output = run_folder.prepare_output_dir(
        args.output, config, resumable=run_folder.RESUMABLE_KEYS + ("time_budget_minutes",)
    )
    loaded = load_data(task, args.data_dir, args.limit)

    extra = [training.EpochTimer(output)]
    budget = None
    if args.time_budget is not None:
        budget = training.TimeBudget(60.0 * args.time_budget, output)
        extra.append(budget)
    with training.distribution_scope(args.distribution) as scope:
        if is_ssm:

            def build():
                return build_ssm_model(task, model_name, settings, seed=seed)

            make_optimizer = None
        else:

            def build():
                return build_baseline_model(task, model_name, settings, width, seed=seed)

            make_optimizer = baseline_optimizer(settings)
        model, batch_size = paper_setup.fit_paper_classifier(
            build,
            loaded,
            model_name,
            settings,
            output,
            seed=seed,
            verbose=args.verbose,
            num_replicas=scope.num_replicas,
            make_optimizer=make_optimizer,
            extra_callbacks=extra,
        )
        test = paper_setup.classification_scores(model, *loaded["test"], batch_size=batch_size)

    history = run_folder.load_history(output)
    epoch_seconds = [v for v in history.get("epoch_seconds", []) if v is not None]
    epoch, val_accuracy = run_folder.best_epoch(output)
    notes = []
    if width_note:
        notes.append(width_note)
    if budget is not None and budget.exhausted:
        notes.append(f"stopped by --time-budget {args.time_budget} min")
    results = dict(
        task=task,
        model=model_name,
        preset=args.preset,
        backend=run_settings.backend_name(),
        seq_len=images.TASK_INFO[task]["seq_len"],
        test_accuracy=test["accuracy"],
        test_loss=test["loss"],
        best_val_accuracy=val_accuracy,
        best_epoch=epoch,
        paper_test_accuracy=presets.PAPER_IMAGE.get(model_name, {}).get(task),
        parameters=int(model.count_params()),
        width=width,
        seconds_per_epoch=float(np.median(epoch_seconds)) if epoch_seconds else None,
        training_seconds=float(sum(epoch_seconds)),
        epochs_completed=len(history.get("epoch", [])),
        samples={split: len(labels) for split, (_, labels) in loaded.items()},
        settings=settings,
        notes=notes,
        wall_time_s=time.perf_counter() - start,
    )
    run_folder.write_results(output, results)
    plots.plot_history(
        output,
        metrics=["loss", "accuracy"],
        title=f"{task} / {model_name} ({run_settings.backend_name()})",
    )
    print(summary_line(results), flush=True)
    return results


if __name__ == "__main__":
    main()
