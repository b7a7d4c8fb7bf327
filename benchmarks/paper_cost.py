"""Paper scale, costed: seconds per training step of the papers' LRA and SC35 presets, and
the time their epoch counts would take on this device.

Each (model, task) builds the classifier of `examples/lra.py` / `examples/speech_commands.py`
at its `paper` preset (the papers' widths, depths, state sizes, batch sizes and optimizer
groups), compiles its train step with one `train_on_batch`, then times `--repeats` more on
random full-length inputs (no padding: the longest case). Where `--max-batch` is below the
paper's batch (memory), the step is timed at that batch and scaled linearly to the paper's
batch (a CPU step is close to linear in the batch; on a GPU it is an upper bound), and the
table says so. Epoch time = steps per epoch (train size / batch) x seconds per step, the
training steps only (validation passes not counted).

```bash
KERAS_BACKEND=torch python -m benchmarks.paper_cost --models s5 \
    --output benchmarks/results/paper_cost-torch-cpu.md
python -m benchmarks.paper_cost --check      # every paper preset builds and takes a step
```

`--check` builds every paper preset of s5, dss and dlr for every task and takes one step at
batch 2 (`--check-batch`), the check that the presets run on a GPU without edits.
"""

import argparse
import gc
import math
import pathlib
import sys
import time

import keras
import numpy as np

from benchmarks import _timing as T
from examples import lra
from examples import paper_setup
from examples import presets
from examples import speech_commands

TASKS = ("listops", "text", "retrieval", "image", "pathfinder", "pathx", "sc35")

TRAIN_SIZES = {
    "listops": 96_000,
    "text": 25_000,
    "retrieval": 147_086,
    "image": 45_000,
    "pathfinder": 160_000,
    "pathx": 160_000,
    "sc35": 84_843,
}
"""Training samples per epoch of the released data: ListOps 96,000; IMDB 25,000; AAN
147,086; CIFAR-10 45,000 (90% of 50,000); Pathfinder-32 and Path-X 160,000 (80% of 200,000
curv_contour_length_14 images); SC35 84,843 (the official lists)."""


def settings_for(model_name, task):
    """The `paper` preset of (model, task) (task "sc35": Speech Commands)."""
    if task == "sc35":
        return dict(presets.SC_PRESETS["paper"][model_name])
    return dict(presets.LRA_PRESETS["paper"][model_name][task])


def build(model_name, task, settings):
    """The compiled paper model of `task` (the examples' builders and optimizer)."""
    if task == "sc35":
        model = speech_commands.build_model(model_name, settings, 35, seed=0)
    else:
        model = lra.build_model(task, model_name, settings, seed=0)
    steps = max(TRAIN_SIZES[task] // settings["batch_size"], 1)
    model.compile(
        paper_setup.paper_optimizer(model, model_name, settings, steps),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def random_batch(task, settings, batch_size, rng):
    """Random full-length inputs and labels shaped as the example feeds them."""
    if task == "sc35":
        return rng.standard_normal((batch_size, 16000, 1)).astype("float32"), rng.integers(
            0, 35, batch_size
        ).astype("int32")
    info = lra.task_info(task)
    length = lra.sequence_length(task, settings)
    labels = rng.integers(0, info["num_classes"], batch_size).astype("int32")
    if info["inputs"] == "pixels":
        return rng.integers(0, 256, (batch_size, length)).astype("uint8"), labels
    tokens = rng.integers(3, info["vocab_size"], (batch_size, length)).astype("int32")
    if info["inputs"] == "token_pairs":
        other = rng.integers(3, info["vocab_size"], (batch_size, length)).astype("int32")
        return (tokens, other), labels
    return tokens, labels


def time_task(model_name, task, max_batch, repeats):
    """One table row: the paper model's median step, scaled to the paper's batch and epochs."""
    settings = settings_for(model_name, task)
    paper_batch = settings["batch_size"]
    batch = min(paper_batch, max_batch) if max_batch else paper_batch
    model = build(model_name, task, settings)
    x, y = random_batch(task, settings, batch, np.random.default_rng(0))
    start = time.perf_counter()
    model.train_on_batch(x, y)
    compile_s = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.train_on_batch(x, y)
        times.append(time.perf_counter() - start)
    measured = float(np.median(times))
    per_step = measured * paper_batch / batch
    steps = (
        TRAIN_SIZES[task] // paper_batch
        if settings.get("drop_remainder")
        else math.ceil(TRAIN_SIZES[task] / paper_batch)
    )
    row = dict(
        model=model_name,
        task=task,
        parameters=model.count_params(),
        batch=paper_batch,
        measured_batch=batch,
        compile_s=compile_s,
        measured_s=measured,
        step_s=per_step,
        steps_per_epoch=steps,
        epoch_h=steps * per_step / 3600,
        epochs=settings["epochs"],
        total_h=steps * per_step * settings["epochs"] / 3600,
    )
    del model
    gc.collect()
    return row


def check_presets(models, tasks, batch):
    """Every paper preset builds and takes one training step at `batch`: [(model, task, s)]."""
    done = []
    for model_name in models:
        for task in tasks:
            settings = settings_for(model_name, task)
            start = time.perf_counter()
            model = build(model_name, task, settings)
            x, y = random_batch(task, settings, batch, np.random.default_rng(0))
            loss = float(np.asarray(model.train_on_batch(x, y)))
            if not np.isfinite(loss):
                raise FloatingPointError(f"{model_name} {task}: loss {loss}")
            seconds = time.perf_counter() - start
            print(
                f"  {model_name} {task}: built, one step at batch {batch} "
                f"(loss {loss:.3f}) in {seconds:.1f} s",
                flush=True,
            )
            done.append((model_name, task, seconds))
            del model
            gc.collect()
    return done


def report(rows, header, args, argv):
    """The markdown report of the rows measured so far."""
    table = T.markdown_table(
        [
            "model",
            "task",
            "parameters (with BatchNorm statistics)",
            "batch",
            "timed at batch",
            "s / step",
            "steps / epoch",
            "h / epoch",
            "epochs",
            "h to the paper's epochs",
        ],
        [
            [
                r["model"],
                r["task"],
                f"{r['parameters']:,}",
                str(r["batch"]),
                str(r["measured_batch"]),
                f"{r['step_s']:.2f}",
                f"{r['steps_per_epoch']:,}",
                f"{r['epoch_h']:.2f}",
                str(r["epochs"]),
                f"{r['total_h']:,.1f}",
            ]
            for r in rows
        ],
    )
    return "\n".join(
        [
            "# Paper presets: seconds per training step and time to the papers' epochs",
            "",
            f"- {header}; load average after the last row {T.load_average()}",
            f"- command: `KERAS_BACKEND={T.backend()} python -m benchmarks.paper_cost "
            f"{' '.join(argv if argv is not None else sys.argv[1:])}`",
            f"- median of {args.repeats} `train_on_batch` steps after one compiling step; random "
            "full-length inputs; a step timed at a smaller batch is scaled linearly to the "
            "paper's batch; training steps only (no validation)",
            "",
            table,
            "",
        ]
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models", nargs="+", default=["s5"], choices=sorted(presets.LRA_PRESETS["paper"])
    )
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    parser.add_argument(
        "--max-batch",
        type=int,
        default=None,
        help="time at most this batch and scale to the paper's",
    )
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--check", action="store_true", help="only check that every paper preset builds and steps"
    )
    parser.add_argument("--check-batch", type=int, default=2)
    parser.add_argument("--output", default=None, help="also write the table to this .md file")
    args = parser.parse_args(argv)
    header = (
        f"{T.backend()} on {T.device_description()}; {time.strftime('%Y-%m-%d')}; "
        f"load average {T.load_average()}"
    )
    print(header, flush=True)
    if args.check:
        check_presets(args.models, args.tasks, args.check_batch)
        return None
    rows = []
    for model_name in args.models:
        for task in args.tasks:
            row = time_task(model_name, task, args.max_batch, args.repeats)
            rows.append(row)
            print(
                f"  {row['model']} {row['task']}: {row['step_s']:.2f} s/step "
                f"(measured {row['measured_s']:.2f} s at batch {row['measured_batch']}), "
                f"{row['epoch_h']:.2f} h/epoch, {row['total_h']:.1f} h for "
                f"{row['epochs']} epochs; load {T.load_average()}",
                flush=True,
            )
            text = report(rows, header, args, argv)
            if args.output:  # after every task: a run cut short keeps what it measured
                pathlib.Path(args.output).write_text(text)
    print(text, flush=True)
    return rows


if __name__ == "__main__":
    main()
