"""Tests for examples/sequential_image.py and examples/baselines.py.

End to end with `--preset small` on tiny Fashion-MNIST release files (tests/test_images.py's
writers): results.json, resume, the time budget, the baselines at a matched parameter
count, and the test accuracy recomputed here with numpy from best.weights.h5.
"""

import json

import keras
import numpy as np
import pytest

from examples import baselines
from examples import presets
from examples import run_folder
from examples import sequential_image as script
from keras_ssm.data import images
from test_images import clear_fashion_cache
from test_images import write_fashion_release

RESULT_KEYS = {
    "task",
    "model",
    "preset",
    "backend",
    "seq_len",
    "test_accuracy",
    "test_loss",
    "best_val_accuracy",
    "best_epoch",
    "paper_test_accuracy",
    "parameters",
    "width",
    "seconds_per_epoch",
    "training_seconds",
    "epochs_completed",
    "samples",
    "settings",
    "notes",
    "wall_time_s",
}


@pytest.fixture(scope="module")
def fashion(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fashion_release")
    write_fashion_release(folder, num_train=30, num_test=6, seed=5)
    yield folder
    clear_fashion_cache()


def run(folder, output, model, *extra, task="sfashion"):
    argv = [
        "--task",
        task,
        "--model",
        model,
        "--preset",
        "small",
        "--data-dir",
        str(folder),
        "--output",
        str(output),
        "--verbose",
        "0",
        *extra,
    ]
    return script.main(argv)


def numpy_accuracy(model, x, y):
    logits = keras.ops.convert_to_numpy(model.predict(x, verbose=0))
    return float(np.mean(np.argmax(logits, -1) == y))


# The script's code is the same for every SSM (the model builder aside, which
# test_every_ssm_model_builds_and_predicts covers fast): DSS's and DLR's runs with -m slow.
@pytest.mark.parametrize(
    "model_name",
    [
        "s5",
        pytest.param("dss", marks=pytest.mark.slow),
        pytest.param("dlr", marks=pytest.mark.slow),
    ],
)
def test_ssm_runs_end_to_end_and_resumes(fashion, tmp_path, model_name):
    results = run(fashion, tmp_path / "run", model_name)
    assert RESULT_KEYS <= set(results)
    written = json.loads((tmp_path / "run" / "results.json").read_text())
    assert written["test_accuracy"] == pytest.approx(results["test_accuracy"])
    assert results["samples"] == {"train": 27, "val": 3, "test": 6}
    assert results["epochs_completed"] == 1 and results["seconds_per_epoch"] > 0
    assert (tmp_path / "run" / "training_curves.png").exists()
    # The reported accuracy is the best-val checkpoint's, recomputed here.
    settings = script.resolve(
        script.parse_args(
            ["--task", "sfashion", "--model", model_name, "--preset", "small", "--output", "x"]
        )
    )
    model = script.build_ssm_model("sfashion", model_name, settings, seed=0)
    model.load_weights(str(tmp_path / "run" / run_folder.BEST_WEIGHTS))
    x_test, y_test = images.load("sfashion", fashion)["test"]
    assert results["test_accuracy"] == pytest.approx(numpy_accuracy(model, x_test, y_test))
    # Rerunning with more epochs continues after the finished one.
    more = run(fashion, tmp_path / "run", model_name, "--epochs", "2")
    history = run_folder.load_history(tmp_path / "run")
    assert history["epoch"] == [1, 2] and more["epochs_completed"] == 2
    assert history["elapsed_seconds"][1] > history["elapsed_seconds"][0]
    # compare_runs: measured minutes, or the share of the planned epochs of a budget.
    from examples import compare_runs

    measured = compare_runs.run_summary(tmp_path / "run")
    assert measured["minutes"] == pytest.approx([v / 60 for v in history["elapsed_seconds"]])
    assert compare_runs.run_summary(tmp_path / "run", budget_minutes=10.0)["minutes"] == [5.0, 10.0]
    png = tmp_path / "curves.png"
    compare_runs.main([str(tmp_path / "run"), "--budget-minutes", "10", "--output", str(png)])
    assert png.stat().st_size > 0


def test_permuted_task_and_time_budget(fashion, tmp_path):
    results = run(fashion, tmp_path / "run", "s5", "--time-budget", "1e-6", task="psfashion")
    assert any("--time-budget" in note for note in results["notes"])
    assert results["epochs_completed"] == 1


def _settings(model_name):
    """The settings main() resolves for `--model model_name --preset small`."""
    argv = ["--task", "sfashion", "--model", model_name, "--preset", "small", "--output", "x"]
    return script.resolve(script.parse_args(argv))


@pytest.mark.parametrize("model_name", ["dss", "dlr"])
def test_every_ssm_model_builds_and_predicts(fashion, model_name):
    model = script.build_ssm_model("sfashion", model_name, _settings(model_name), seed=0)
    x_test, _ = images.load("sfashion", fashion)["test"]
    logits = keras.ops.convert_to_numpy(model.predict(x_test, verbose=0))
    assert logits.shape == (len(x_test), 10) and np.all(np.isfinite(logits))


# The LSTM takes the GRU's path through `matching_width` (only the builder differs, checked
# in test_baseline_builder_shapes_and_errors); each width search builds a dozen models.
@pytest.mark.parametrize("kind", ["gru", "transformer"])
def test_baselines_match_the_s5_parameter_count(fashion, tmp_path, kind):
    settings = _settings(kind)
    # One baseline end to end (the script is the same for the others): the Transformer,
    # parallel over the 784 steps, trains fastest.
    if kind == "transformer":
        results = run(fashion, tmp_path / kind, kind)
        assert any("matches the S5" in note for note in results["notes"])
        width, parameters = results["width"], results["parameters"]
    else:
        width, parameters, _ = script.baseline_width("sfashion", kind, settings, seed=0)
    target = script.build_ssm_model("sfashion", "s5", settings, seed=0).count_params()
    step = 16 if kind == "transformer" else 1
    at_width = script.build_baseline_model("sfashion", kind, settings, width).count_params()
    smaller = script.build_baseline_model(
        "sfashion", kind, settings, max(step, width - step)
    ).count_params()
    larger = script.build_baseline_model("sfashion", kind, settings, width + step).count_params()
    # No other width is closer to the S5 model's count.
    assert parameters == at_width
    assert abs(parameters - target) <= abs(smaller - target)
    assert abs(parameters - target) <= abs(larger - target)


def test_hidden_size_overrides_the_baseline_width(fashion, tmp_path):
    results = run(fashion, tmp_path / "transformer", "transformer", "--hidden-size", "32")
    assert results["width"] == 32


def test_baseline_builder_shapes_and_errors():
    model = baselines.build_baseline_classifier(
        "lstm",
        3,
        input_features=2,
        sequence_length=7,
        hidden_size=4,
        num_layers=2,
        dropout=0.1,
        seed=1,
    )
    assert tuple(model.output.shape) == (None, 3)
    again = baselines.build_baseline_classifier(
        "lstm",
        3,
        input_features=2,
        sequence_length=7,
        hidden_size=4,
        num_layers=2,
        dropout=0.1,
        seed=1,
    )
    for a, b in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="`kind` must be one of"):
        baselines.build_baseline_classifier(
            "rnn", 3, input_features=1, sequence_length=4, hidden_size=4, num_layers=1
        )


def test_presets_cover_every_task_and_model():
    for preset, by_model in presets.IMAGE_PRESETS.items():
        assert set(by_model) == {"s5", "dss", "dlr", "s4d", "lru"}
        for model, by_task in by_model.items():
            assert set(by_task) == set(images.TASKS), (preset, model)
    paper = presets.IMAGE_PRESETS["paper"]["s5"]
    assert paper["sfashion"] == paper["smnist"] and paper["psfashion"] == paper["psmnist"]
