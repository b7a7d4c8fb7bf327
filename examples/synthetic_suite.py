"""Run the DLR paper's atomic synthetic tasks for every SSM family and attention; tabulate.

```bash
KERAS_BACKEND=jax python -m examples.synthetic_suite --seq-len 64 --output examples/results
python -m examples.synthetic_suite --tasks shift,sort --models dlr,attention --output runs/pair
```

Every (task, model) pair is one `examples/synthetic.py` run (in this process, preset
`small` unless `--preset` says otherwise) in `--runs-dir/<task>_<model>`; a pair whose
results.json already holds the same settings is not run again, so an interrupted suite
resumes. Into `--output` it writes, for length L:

- `synthetic_L{L}.md`: a task × model table of the held-out metric (R² for the regression
  tasks, token accuracy for the classification ones) and the settings;
- `synthetic_L{L}.png`: the same table as a heat map;
- `synthetic_L{L}.json`: every run's results.
"""

import argparse
import json
import os
import pathlib
import time

import keras
import numpy as np

from examples import run_folder
from examples import run_settings
from examples import synthetic
from keras_ssm.data.synthetic import ATOMIC_TASKS
from keras_ssm.data.synthetic import TASKS


def _names(text, allowed, what):
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in allowed]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown {what} {unknown or text!r}; choose from {', '.join(allowed)}"
        )
    return names


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--tasks",
        type=lambda t: _names(t, TASKS, "task"),
        default=list(ATOMIC_TASKS),
        help="comma-separated tasks (default: the 11 atomic ones)",
    )
    parser.add_argument(
        "--models",
        type=lambda t: _names(t, synthetic.MODELS, "model"),
        default=list(synthetic.MODELS),
        help="comma-separated models (default: every SSM family and attention)",
    )
    parser.add_argument("--seq-len", type=int, default=64)
    parser.add_argument("--preset", choices=sorted(synthetic.PRESETS), default="small")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--steps-per-epoch", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--val-samples", type=int, default=None)
    parser.add_argument("--eval-samples", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", required=True, help="folder of the table and heat map")
    parser.add_argument(
        "--runs-dir",
        default=None,
        help="folder of the individual runs (default: runs/synthetic_suite_L{L})",
    )
    parser.add_argument(
        "--verbose",
        type=int,
        choices=(0, 1, 2),
        default=0,
        help="Keras output of each run (default: 0; one line per run is printed)",
    )
    return parser.parse_args(argv)


def run_arguments(args, task, model, output):
    """The `examples/synthetic.py` command line of one pair."""
    argv = [
        "--task",
        task,
        "--model",
        model,
        "--preset",
        args.preset,
        "--seq-len",
        str(args.seq_len),
        "--seed",
        str(args.seed),
        "--output",
        str(output),
        "--verbose",
        str(args.verbose),
    ]
    for name in ("epochs", "steps_per_epoch", "batch_size", "val_samples", "eval_samples"):
        value = getattr(args, name)
        if value is not None:
            argv += [f"--{name.replace('_', '-')}", str(value)]
    return argv


def previous_results(output, argv):
    """The results.json of a finished run with the same settings and backend, else None."""
    path = pathlib.Path(output) / run_folder.RESULTS_JSON
    if not path.exists():
        return None
    results = json.loads(path.read_text())
    settings = run_folder._jsonable(synthetic.resolve(synthetic.parse_args(argv)))
    if results.get("settings") != settings or results.get("backend") != run_settings.backend_name():
        return None
    return results


def headline(results):
    """(metric name, value) shown in the table for one run."""
    metrics = results["metrics"]
    if "r2" in metrics:
        return "R²", metrics["r2"]
    return "accuracy", metrics["token_accuracy"]


def markdown_table(rows, tasks, models, title, notes):
    """The task × model table as markdown text."""
    lines = [
        f"# {title}",
        "",
        *notes,
        "",
        "| task | metric | " + " | ".join(models) + " |",
        "|---|---|" + "---:|" * len(models),
    ]
    for task in tasks:
        cells, metric = [], ""
        for model in models:
            result = rows.get((task, model))
            if result is None:
                cells.append("—")
                continue
            metric, value = headline(result)
            cells.append(f"{value:.4f}" if value is not None else "nan")
        lines.append(f"| {task} | {metric} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def heat_map(rows, tasks, models, title, path):
    """The table as a PNG heat map (colour clipped to [0, 1], the value printed); None
    without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    values = np.full((len(tasks), len(models)), np.nan)
    for i, task in enumerate(tasks):
        for j, model in enumerate(models):
            if (task, model) in rows:
                value = headline(rows[(task, model)])[1]
                values[i, j] = np.nan if value is None else value
    figure, axis = plt.subplots(figsize=(1.4 * len(models) + 2.6, 0.45 * len(tasks) + 1.4))
    image = axis.imshow(
        np.clip(values, 0.0, 1.0), cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto"
    )
    for i in range(len(tasks)):
        for j in range(len(models)):
            if not np.isnan(values[i, j]):
                clipped = min(max(values[i, j], 0.0), 1.0)
                axis.text(
                    j,
                    i,
                    f"{values[i, j]:.3f}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="black" if clipped > 0.6 else "white",
                )
    axis.set_xticks(range(len(models)), models)
    axis.set_yticks(range(len(tasks)), tasks)
    axis.set_title(title, fontsize=10)
    figure.colorbar(image, ax=axis, label="held-out R² (accuracy), clipped to [0, 1]")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def main(argv=None):
    """Runs the suite; returns {(task, model): results}."""
    start = time.perf_counter()
    args = parse_args(argv)
    output = pathlib.Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    runs_dir = pathlib.Path(args.runs_dir or f"runs/synthetic_suite_L{args.seq_len}")
    rows = {}
    for task in args.tasks:
        for model in args.models:
            run_output = runs_dir / f"{task}_{model}"
            argv_run = run_arguments(args, task, model, run_output)
            results = previous_results(run_output, argv_run)
            if results is None:
                results = synthetic.main(argv_run)
                keras.backend.clear_session()
            else:
                print(synthetic.summary_line(results) + "  [already run]", flush=True)
            rows[(task, model)] = results
    settings = {
        model: synthetic.resolve(
            synthetic.parse_args(run_arguments(args, args.tasks[0], model, runs_dir))
        )
        for model in args.models
    }
    total = time.perf_counter() - start
    run_time = sum(r["wall_time_s"] for r in rows.values())
    title = (
        f"Synthetic tasks at L = {args.seq_len}, preset '{args.preset}' "
        f"({run_settings.backend_name()})"
    )
    notes = [
        f"Held-out metric on {next(iter(rows.values()))['held_out_samples']} freshly generated "
        "samples (another seed than training), best-validation weights; "
        "R² = 1 − SSE/SST over all target values (1 is perfect, 0 is predicting the mean).",
        "",
        "Settings per model: "
        + "; ".join(
            f"{m}: {s['num_layers']} layer(s), H={s['hidden_size']}"
            + ("" if m == "attention" else f", N={s['state_size']}")
            + f", lr {s['lr']:g}"
            + ("" if s["ssm_lr"] is None or m == "attention" else f" (SSM {s['ssm_lr']:g})")
            + (
                ""
                if m in ("dlr", "lru", "mamba", "attention")
                else f", Δ ∈ [{s['dt_min']:g}, {s['dt_max']:g}]"
            )
            + f", {s['epochs']}×{s['steps_per_epoch']} steps of batch {s['batch_size']}"
            for m, s in settings.items()
        )
        + ".",
        "",
        f"Wall time: {run_time / 60:.1f} min of runs ({total / 60:.1f} min for this call) "
        f"on {os.cpu_count()} CPU cores.",
    ]
    stem = f"synthetic_L{args.seq_len}"
    (output / f"{stem}.md").write_text(markdown_table(rows, args.tasks, args.models, title, notes))
    run_folder.write_json(
        output / f"{stem}.json", [rows[(t, m)] for t in args.tasks for m in args.models]
    )
    heat_map(rows, args.tasks, args.models, title, output / f"{stem}.png")
    print(f"Wrote {output / stem}.md / .png / .json ({total / 60:.1f} min)", flush=True)
    return rows


if __name__ == "__main__":
    main()
