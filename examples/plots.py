"""Training curves of a run (training_curves.png; needs matplotlib)."""

import pathlib

import numpy as np

from examples.run_folder import CURVES_PNG
from examples.run_folder import load_history


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
        metrics = [
            k
            for k in history
            if k != "epoch" and not k.startswith("val_") and k not in ("learning_rate", "lr")
        ]
    metrics = [m for m in metrics if m in history or f"val_{m}" in history]
    if not metrics:
        return None
    epochs = history["epoch"]
    figure, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.2), squeeze=False)
    for axis, name in zip(axes[0], metrics):
        for key, label in ((name, "train"), (f"val_{name}", "validation")):
            values = history.get(key)
            if values and any(v is not None for v in values):
                axis.plot(
                    epochs, [np.nan if v is None else v for v in values], marker=".", label=label
                )
        if name == "loss" or name.endswith("mse"):
            positive = [
                v for v in history.get(name, []) + history.get(f"val_{name}", []) if v is not None
            ]
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
