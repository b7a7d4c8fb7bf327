"""Tests for examples/synthetic.py, examples/synthetic_suite.py and examples/run_folder.py.

The scripts run in-process through their `main(argv)` with tiny settings; expected values
(held-out metrics, weights, F1) are recomputed here with numpy.
"""

import json

import keras
import numpy as np
import pytest

from examples import run_folder
from examples import synthetic as script
from examples import synthetic_suite
from keras_ssm.data import synthetic

TINY = [
    "--preset",
    "small",
    "--seq-len",
    "16",
    "--hidden-size",
    "8",
    "--state-size",
    "16",
    "--batch-size",
    "4",
    "--steps-per-epoch",
    "2",
    "--val-samples",
    "8",
    "--eval-samples",
    "8",
    "--verbose",
    "0",
]


def run(output, *extra):
    return script.main(["--output", str(output), *TINY, *extra])


def test_end_to_end_results_and_resume(tmp_path):
    output = tmp_path / "run"
    first = run(output, "--task", "cumsum", "--model", "dlr", "--epochs", "1")

    results = json.loads((output / "results.json").read_text())
    assert {"task", "model", "backend", "seq_len", "metrics"} <= set(results)
    assert (results["task"], results["model"], results["seq_len"]) == ("cumsum", "dlr", 16)
    assert results["backend"] == keras.config.backend()
    assert set(results["metrics"]) == {"r2", "mse"}
    assert results["epochs_completed"] == 1
    assert results == json.loads(json.dumps(first))  # what main returns is what it wrote
    for name in (
        "config.json",
        "history.json",
        "history.csv",
        "best.weights.h5",
        "backup/latest.weights.h5",
        "training_curves.png",
    ):
        assert (output / name).exists(), name

    # The held-out metrics, recomputed: the best weights on freshly generated data.
    settings = results["settings"]
    info = synthetic.task_info("cumsum", 16)
    model = script.build_model(info, "dlr", settings, seed=0)
    model.load_weights(str(output / "best.weights.h5"))
    x, y = synthetic.generate("cumsum", 8, 16, seed=results["held_out_seed"])
    assert results["held_out_seed"] != 0
    prediction = keras.ops.convert_to_numpy(model.predict(x, verbose=0)).astype(np.float64)
    mse = np.mean((prediction - y) ** 2)
    np.testing.assert_allclose(results["metrics"]["mse"], mse, rtol=1e-4)
    np.testing.assert_allclose(
        results["metrics"]["r2"], 1 - mse / np.var(y.astype(np.float64)), rtol=1e-4
    )

    # Resume: epoch 1 is not run again (its marked row survives), epoch 2 is added.
    history = json.loads((output / "history.json").read_text())
    history[0]["loss"] = 123.0
    (output / "history.json").write_text(json.dumps(history))
    second = run(output, "--task", "cumsum", "--model", "dlr", "--epochs", "2")
    history = json.loads((output / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2]
    assert history[0]["loss"] == 123.0
    assert history[1]["loss"] != 123.0
    assert second["epochs_completed"] == 2
    metadata = json.loads((output / "backup" / "training_metadata.json").read_text())
    assert metadata["epoch"] == 2

    # Another run's settings are refused in the same folder.
    with pytest.raises(ValueError, match="seq_len"):
        script.main(
            [
                "--output",
                str(output),
                *TINY[:2],
                "--seq-len",
                "24",
                *TINY[4:],
                "--task",
                "cumsum",
                "--model",
                "dlr",
                "--epochs",
                "2",
            ]
        )


def test_suite_on_a_two_by_two_subset(tmp_path):
    """A regression and a classification task (ListOpsSubTrees, targets -100 ignored)."""
    output = tmp_path / "table"
    argv = [
        "--seq-len",
        "16",
        "--epochs",
        "1",
        "--steps-per-epoch",
        "2",
        "--batch-size",
        "4",
        "--val-samples",
        "8",
        "--eval-samples",
        "8",
        "--output",
        str(output),
        "--runs-dir",
        str(tmp_path / "runs"),
    ]
    rows = synthetic_suite.main(
        ["--tasks", "cumsum,listops_subtrees", "--models", "dlr,attention", *argv]
    )
    pairs = {(t, m) for t in ("cumsum", "listops_subtrees") for m in ("dlr", "attention")}
    assert set(rows) == pairs
    for model in ("dlr", "attention"):
        assert set(rows[("cumsum", model)]["metrics"]) == {"r2", "mse"}
        metrics = rows[("listops_subtrees", model)]["metrics"]
        assert set(metrics) == {"token_accuracy", "macro_f1", "balanced_accuracy"}
        assert all(0.0 <= v <= 1.0 for v in metrics.values())
        history = run_folder.load_history(tmp_path / "runs" / f"listops_subtrees_{model}")
        assert np.isfinite(history["loss"][0]) and 0.0 <= history["accuracy"][0] <= 1.0

    table = (output / "synthetic_L16.md").read_text()
    lines = [line for line in table.splitlines() if line.startswith("| ")]
    assert lines[0].split("|")[3:5] == [" dlr ", " attention "]
    for task, metric, key in (
        ("cumsum", "R²", "r2"),
        ("listops_subtrees", "accuracy", "token_accuracy"),
    ):
        row = next(line for line in lines if line.startswith(f"| {task} |"))
        cells = [c.strip() for c in row.split("|")[2:5]]
        expected = [f"{rows[(task, m)]['metrics'][key]:.4f}" for m in ("dlr", "attention")]
        assert cells == [metric, *expected]
    assert (output / "synthetic_L16.png").exists()
    assert len(json.loads((output / "synthetic_L16.json").read_text())) == 4

    # A second call finds the run done and trains nothing.
    again = synthetic_suite.main(["--tasks", "cumsum", "--models", "dlr", *argv])
    assert again[("cumsum", "dlr")]["wall_time_s"] == rows[("cumsum", "dlr")]["wall_time_s"]


def test_sample_weights_ignore_index_and_balance_classes():
    listops = synthetic.task_info("listops_subtrees", 16)
    y = np.array([[3, -100, 7, -100]])
    x, targets, weights = script.add_sample_weights(listops, np.zeros((1, 4)), y)
    np.testing.assert_array_equal(targets, [[3, 0, 7, 0]])
    np.testing.assert_allclose(weights, [[2.0, 0.0, 2.0, 0.0]])  # mean over the 2 valid

    pathfinder = synthetic.task_info("pathfinder_segmentation", 1024)
    y = np.array([[0, 0, 0, 1, 2, 2]])
    _, _, weights = script.add_sample_weights(pathfinder, np.zeros((1, 6, 1)), y)
    # Each class gets the same total weight; the total is the number of positions.
    per_class = [weights[y == c].sum() for c in range(3)]
    np.testing.assert_allclose(per_class, [2.0, 2.0, 2.0])


def test_classification_metrics_against_a_count():
    y_true = np.array([0, 0, 1, 1, 2, -100, -100])
    predicted = np.array([0, 1, 1, 1, 0, 2, 2])
    logits = np.eye(3)[predicted]
    metrics = script.classification_metrics(y_true, logits, num_classes=3)
    # Valid positions: 5; correct: 3. Per class (tp, fp, fn): 0 (1, 1, 1), 1 (2, 1, 0),
    # 2 (0, 0, 1); F1 = 2tp / (2tp + fp + fn).
    f1 = [2 / 4, 4 / 5, 0.0]
    assert metrics["token_accuracy"] == pytest.approx(3 / 5)
    assert metrics["macro_f1"] == pytest.approx(np.mean(f1))
    assert metrics["balanced_accuracy"] == pytest.approx(np.mean([1 / 2, 2 / 2, 0 / 1]))


def test_r2_metric_pools_over_batches(rng):
    y = rng.normal(size=(6, 5, 2)).astype("float32")
    p = (y + 0.3 * rng.normal(size=y.shape)).astype("float32")
    metric = script.R2()
    metric.update_state(y[:2], p[:2])
    metric.update_state(y[2:], p[2:])
    expected = 1 - np.sum((y - p) ** 2) / np.sum((y - y.mean()) ** 2)
    np.testing.assert_allclose(float(metric.result()), expected, rtol=1e-5)


def test_presets_and_paper_exceptions():
    args = script.parse_args(
        ["--task", "mips", "--model", "attention", "--preset", "paper", "--output", "unused"]
    )
    settings = script.resolve(args)
    assert (settings["seq_len"], settings["batch_size"], settings["lr"]) == (4096, 4, 1e-4)
    assert settings["steps_per_epoch"] == 57600 // 4
    args = script.parse_args(
        [
            "--task",
            "shift",
            "--model",
            "dlr",
            "--preset",
            "paper",
            "--num-layers",
            "6",
            "--seq-len",
            "512",
            "--output",
            "unused",
        ]
    )
    settings = script.resolve(args)
    assert (settings["num_layers"], settings["lr"], settings["batch_size"]) == (6, 5e-5, 64)
    assert settings["state_size"] == 4096 and settings["dt_min"] == settings["dt_max"] == 1e-5
    # Small preset: DSS's step range scales as 1/L away from the preset's length.
    small = script.PRESETS["small"]["dss"]
    args = script.parse_args(
        ["--model", "dss", "--seq-len", str(4 * small["seq_len"]), "--output", "unused"]
    )
    settings = script.resolve(args)
    assert settings["dt_max"] == pytest.approx(small["dt_max"] / 4)


def test_prepare_output_dir_allows_more_epochs_only(tmp_path):
    run_folder.prepare_output_dir(tmp_path, {"task": "shift", "epochs": 1})
    run_folder.prepare_output_dir(tmp_path, {"task": "shift", "epochs": 5})
    assert json.loads((tmp_path / "config.json").read_text())["epochs"] == 5
    with pytest.raises(ValueError, match="task"):
        run_folder.prepare_output_dir(tmp_path, {"task": "sort", "epochs": 5})
