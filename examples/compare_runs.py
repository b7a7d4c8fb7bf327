"""Compare finished example runs: validation accuracy against wall-clock time, and a table.

Reads each run folder's history.json (with `elapsed_seconds`, written by
`training.EpochTimer`) and results.json, draws validation accuracy against elapsed minutes
(one line per run), and prints a markdown table.

```bash
python -m examples.compare_runs runs/sfashion_s5 runs/sfashion_gru runs/sfashion_lstm \
    --output examples/results/sequential_image_sfashion.png
```
"""

import argparse
import json
import pathlib

from examples import run_folder


def run_summary(folder, budget_minutes=None):
    """{label, minutes, val_accuracy, results} of one run folder.

    With `budget_minutes`, `minutes` is the share of the run's planned epochs that each
    epoch ends, times that budget: runs given a budget as an epoch count (so that it does
    not depend on how loaded the machine was) are plotted on one time axis.
    """
    folder = pathlib.Path(folder)
    history = run_folder.load_history(folder)
    results_path = folder / run_folder.RESULTS_JSON
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    label = (
        f"{results.get('model', folder.name)} ({results.get('backend', '?')}, "
        f"{results.get('parameters', '?')} params)"
    )
    minutes = [v / 60.0 for v in history.get("elapsed_seconds", [])]
    planned = results.get("settings", {}).get("epochs")
    if budget_minutes is not None and planned:
        epochs = len(history.get("val_accuracy", []))
        minutes = [budget_minutes * (i + 1) / planned for i in range(epochs)]
    return dict(
        label=label,
        minutes=minutes,
        val_accuracy=history.get("val_accuracy", []),
        results=results,
        folder=str(folder),
    )


def markdown(summaries):
    """A markdown table: model, backend, parameters, epochs, minutes, s/epoch, val, test."""
    lines = [
        "| run | model | backend | parameters | epochs | minutes | s / epoch | best val | test |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        r = s["results"]
        minutes = s["minutes"][-1] if s["minutes"] else float("nan")

        def pct(value):
            return "-" if value is None else f"{100 * value:.2f}%"

        lines.append(
            f"| `{pathlib.Path(s['folder']).name}` | {r.get('model', '?')} | "
            f"{r.get('backend', '?')} | {r.get('parameters', '?')} | "
            f"{r.get('epochs_completed', '?')} | {minutes:.1f} | "
            f"{r.get('seconds_per_epoch') or float('nan'):.0f} | "
            f"{pct(r.get('best_val_accuracy'))} | {pct(r.get('test_accuracy'))} |"
        )
    return "\n".join(lines)


def plot(summaries, path, title=None, xlabel="wall-clock minutes (2-core CPU)"):
    """Validation accuracy against elapsed minutes, one line per run, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6.5, 4))
    for s in summaries:
        if s["minutes"]:
            axis.plot(
                s["minutes"], [100 * v for v in s["val_accuracy"]], marker="o", label=s["label"]
            )
    axis.set_xlabel(xlabel)
    axis.set_ylabel("validation accuracy (%)")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    if title:
        axis.set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run folders (--output of the examples)")
    parser.add_argument("--output", default=None, help="PNG of val accuracy against time")
    parser.add_argument("--title", default=None)
    parser.add_argument(
        "--budget-minutes",
        type=float,
        default=None,
        help="plot epoch e of E planned at e / E x this many minutes (runs whose "
        "budget is an epoch count), not at the measured elapsed time",
    )
    args = parser.parse_args(argv)
    summaries = [run_summary(folder, args.budget_minutes) for folder in args.runs]
    print(markdown(summaries))
    if args.output:
        xlabel = (
            "share of the budget, in quiet-machine minutes"
            if args.budget_minutes
            else "wall-clock minutes (2-core CPU)"
        )
        plot(summaries, args.output, args.title, xlabel)
    return summaries


if __name__ == "__main__":
    main()
