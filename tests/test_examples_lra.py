"""Tests for examples/lra.py (and the paper-classifier helpers of examples/paper_setup.py).

End to end with `--preset small` on tiny lra_release fixtures written in the released
formats by tests/test_lra.py's writers (ListOps TSV, AAN TSV, Pathfinder PNGs + metadata);
the reported test accuracy is recomputed here with numpy from best.weights.h5, pixels are
normalized here with the spec's formula, and the optimizer groups and presets are compared
with tables copied from the specs (s5.md C3/D, dss_dlr.md D.2).
"""

import json
import math

import keras
import numpy as np
import pytest

from examples import lra as script
from examples import paper_setup
from examples import presets
from keras_ssm.data import lra
from test_lra import LISTOPS_ROWS
from test_lra import RETRIEVAL_ROWS
from test_lra import write_pathfinder

RESULT_KEYS = {
    "task",
    "model",
    "preset",
    "backend",
    "seq_len",
    "num_classes",
    "test_accuracy",
    "test_loss",
    "best_val_accuracy",
    "best_epoch",
    "paper_test_accuracy",
    "samples",
    "epochs_completed",
    "parameters",
    "settings",
    "notes",
    "wall_time_s",
}


@pytest.fixture(scope="module")
def lra_root(tmp_path_factory):
    """lra_release/ with listops-1000, tsv_data and pathfinder32 (test_lra's rows/writers)."""
    root = tmp_path_factory.mktemp("lra_examples") / "lra_release"
    (root / "listops-1000").mkdir(parents=True)
    for split, rows in LISTOPS_ROWS.items():
        lines = ["Source\tTarget\n"] + [f"{source}\t{target}\n" for source, target in rows]
        (root / "listops-1000" / f"basic_{split}.tsv").write_text("".join(lines))
    (root / "tsv_data").mkdir()
    for split, rows in RETRIEVAL_ROWS.items():
        name = {"train": "train", "val": "eval", "test": "test"}[split]
        text = "".join("\t".join(row) + "\n" for row in rows)
        (root / "tsv_data" / f"new_aan_pairs.{name}.tsv").write_bytes(text.encode("utf-8"))
    write_pathfinder(root, "pathfinder32", 32, 6, 2, np.random.default_rng(3))
    return root


def run(root, output, task, model, *extra):
    argv = [
        "--task",
        task,
        "--model",
        model,
        "--preset",
        "small",
        "--data-dir",
        str(root),
        "--output",
        str(output),
        "--verbose",
        "0",
        *extra,
    ]
    return script.main(argv)


def scores(logits, labels):
    """(accuracy, mean cross-entropy) of logits, in float64 numpy."""
    logits = np.asarray(logits, np.float64)
    log_probs = logits - logits.max(-1, keepdims=True)
    log_probs -= np.log(np.exp(log_probs).sum(-1, keepdims=True))
    labels = np.asarray(labels)
    return (
        np.mean(logits.argmax(-1) == labels),
        -np.mean(log_probs[np.arange(len(labels)), labels]),
    )


def check_common_results(results, output, task, model, samples):
    assert set(results) == RESULT_KEYS
    assert results == json.loads((output / "results.json").read_text())
    assert (results["task"], results["model"], results["preset"]) == (task, model, "small")
    assert results["backend"] == keras.config.backend()
    assert results["num_classes"] == lra.TASK_INFO[task]["num_classes"]
    assert results["seq_len"] == lra.TASK_INFO[task]["seq_len"]
    assert results["samples"] == samples
    assert results["paper_test_accuracy"] == presets.PAPER_LRA[model][task]
    assert results["epochs_completed"] == 2
    history = json.loads((output / "history.json").read_text())
    val = [row["val_accuracy"] for row in history]
    assert results["best_val_accuracy"] == max(val)
    assert results["best_epoch"] == 1 + val.index(max(val))
    for name in (
        "config.json",
        "best.weights.h5",
        "history.csv",
        "training_curves.png",
        "backup/latest.weights.h5",
    ):
        assert (output / name).exists(), name


def reload_best(output, task, model, settings):
    rebuilt = script.build_model(task, model, settings, seed=0)
    rebuilt.load_weights(str(output / "best.weights.h5"))
    return rebuilt


def test_listops_s5_end_to_end(lra_root, tmp_path):
    output = tmp_path / "listops"
    results = run(lra_root, output, "listops", "s5")
    check_common_results(results, output, "listops", "s5", {"train": 4, "val": 1, "test": 2})
    assert results["settings"] == presets.LRA_PRESETS["small"]["s5"]["listops"]

    # Test accuracy at the best-val checkpoint, recomputed from the token ids written here.
    x, y = lra.load("listops", lra_root, "test", verbose=0)
    labels = [target for _, target in LISTOPS_ROWS["test"]]
    np.testing.assert_array_equal(y, labels)
    model = reload_best(output, "listops", "s5", results["settings"])
    accuracy, loss = scores(model.predict(np.asarray(x), verbose=0), labels)
    assert results["test_accuracy"] == pytest.approx(accuracy)
    assert results["test_loss"] == pytest.approx(loss, rel=1e-4)

    # A different run cannot reuse the folder.
    with pytest.raises(ValueError, match="batch_size"):
        run(lra_root, output, "listops", "s5", "--batch-size", "3")


def test_retrieval_dlr_end_to_end(lra_root, tmp_path):
    output = tmp_path / "retrieval"
    results = run(lra_root, output, "retrieval", "dlr")
    check_common_results(results, output, "retrieval", "dlr", {"train": 3, "val": 1, "test": 1})
    assert any("DLR" in note for note in results["notes"])

    (docs1, docs2), y = lra.load("retrieval", lra_root, "test", verbose=0)
    model = reload_best(output, "retrieval", "dlr", results["settings"])
    assert [tuple(t.shape) for t in model.inputs] == [(None, 4000), (None, 4000)]
    logits = model.predict([np.asarray(docs1), np.asarray(docs2)], verbose=0)
    accuracy, loss = scores(logits, [int(float(row[0])) for row in RETRIEVAL_ROWS["test"]])
    assert results["test_accuracy"] == pytest.approx(accuracy)
    assert results["test_loss"] == pytest.approx(loss, rel=1e-4)


def test_pathfinder_dss_end_to_end_normalizes_pixels(lra_root, tmp_path):
    output = tmp_path / "pathfinder"
    results = run(lra_root, output, "pathfinder", "dss")
    # 12 images: 80/10/10 -> 10, 1, 1.
    check_common_results(results, output, "pathfinder", "dss", {"train": 10, "val": 1, "test": 1})

    x, y = lra.load("pathfinder", lra_root, "test", verbose=0)
    model = reload_best(output, "pathfinder", "dss", results["settings"])
    # The inner classifier on pixels normalized here as S5's loader does: (x/255 - 0.5)/0.5.
    classifier = model.get_layer("dss_pathfinder_classifier")
    normalized = ((np.asarray(x, np.float64) / 255.0 - 0.5) / 0.5)[..., None].astype("float32")
    logits = classifier.predict(normalized, verbose=0)
    np.testing.assert_allclose(
        model.predict(np.asarray(x), verbose=0), logits, rtol=1e-4, atol=1e-5
    )
    accuracy, loss = scores(logits, y)
    assert results["test_accuracy"] == pytest.approx(accuracy)
    assert results["test_loss"] == pytest.approx(loss, rel=1e-4)


def test_image_normalization_is_cifar_mean_and_std():
    settings = presets.LRA_PRESETS["small"]["dlr"]["image"]
    model = script.build_model("image", "dlr", settings, seed=0)
    layer = model.get_layer("pixel_normalization")
    grey = np.array([[0.0, 122.6, 183.6, 255.0]], "float32")
    expected = (grey / 255.0 - 122.6 / 255.0) / (61.0 / 255.0)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer(grey)), expected, rtol=1e-5, atol=1e-5
    )


# ---------------------------------------------------------------------------
# Presets: the spec tables, copied here.

# S5 (s5.md C3): layers, H, P, J, ssm_lr, lr, batch, epochs, dropout, wd, warmup epochs,
# C init, opt_config, dt_global, activation.
S5_TABLE = {
    "listops": (
        8,
        128,
        16,
        8,
        1e-3,
        3e-3,
        50,
        40,
        0.0,
        0.04,
        1,
        "lecun_normal",
        "BfastandCdecay",
        False,
        "half_glu2",
    ),
    "text": (
        6,
        256,
        192,
        12,
        1e-3,
        4e-3,
        50,
        35,
        0.1,
        0.07,
        0,
        "lecun_normal",
        "standard",
        True,
        "half_glu2",
    ),
    "retrieval": (
        6,
        128,
        256,
        16,
        1e-3,
        2e-3,
        32,
        20,
        0.0,
        0.05,
        1,
        "trunc_standard_normal",
        "standard",
        True,
        "half_glu1",
    ),
    "image": (
        6,
        512,
        384,
        3,
        1e-3,
        4.5e-3,
        50,
        250,
        0.1,
        0.07,
        1,
        "lecun_normal",
        "BfastandCdecay",
        False,
        "half_glu1",
    ),
    "pathfinder": (
        6,
        192,
        256,
        8,
        9e-4,
        4.5e-3,
        64,
        200,
        0.05,
        0.03,
        1,
        "trunc_standard_normal",
        "standard",
        False,
        "half_glu1",
    ),
    "pathx": (
        6,
        128,
        256,
        16,
        6e-4,
        1.8e-3,
        32,
        75,
        0.0,
        0.06,
        1,
        "complex_normal",
        "BandCdecay",
        False,
        "half_glu1",
    ),
}
S5_KEYS = (
    "num_layers",
    "hidden_size",
    "state_size",
    "blocks",
    "ssm_lr",
    "lr",
    "batch_size",
    "epochs",
    "dropout",
    "weight_decay",
    "warmup_epochs",
    "c_init",
    "opt_config",
    "dt_global",
    "activation",
)

# DSS (dss_dlr.md D.2): layers, H, pre-norm, dropout, batch, lr, wd, patience, epochs.
DSS_TABLE = {
    "listops": (6, 128, False, 0.0, 50, 0.01, 0.01, 5, 50),
    "text": (4, 128, True, 0.0, 50, 0.01, 0.0, 10, 40),
    "retrieval": (6, 256, True, 0.0, 64, 0.002, 0.0, 20, 25),
    "image": (6, 512, False, 0.2, 50, 0.004, 0.01, 10, 200),
    "pathfinder": (6, 256, True, 0.1, 100, 0.004, 0.0, 13, 200),
    "pathx": (6, 256, True, 0.0, 16, 5e-4, 0.0, 40, 35),
}
DSS_KEYS = (
    "num_layers",
    "hidden_size",
    "prenorm",
    "dropout",
    "batch_size",
    "lr",
    "weight_decay",
    "patience",
    "epochs",
)


@pytest.mark.parametrize("task", list(S5_TABLE))
def test_paper_presets_match_the_papers_scripts(task):
    s5 = presets.LRA_PRESETS["paper"]["s5"][task]
    assert tuple(s5[k] for k in S5_KEYS) == S5_TABLE[task]
    assert (s5["norm"], s5["prenorm"], s5["bidirectional"], s5["pooling"], s5["schedule"]) == (
        "batch",
        True,
        True,
        "mean",
        "cosine",
    )
    assert s5["norm_momentum"] == (0.9 if task in ("pathfinder", "pathx") else 0.95)
    assert s5["dt_min"] == (1e-4 if task == "pathx" else 1e-3) and s5["dt_max"] == 0.1
    assert s5["clip_eigs"] == (task == "image")

    dss = presets.LRA_PRESETS["paper"]["dss"][task]
    assert tuple(dss[k] for k in DSS_KEYS) == DSS_TABLE[task]
    assert (
        dss["state_size"],
        dss["variant"],
        dss["bidirectional"],
        dss["activation"],
        dss["norm"],
        dss["schedule"],
        dss["plateau_factor"],
        dss["ssm_lr"],
    ) == (64, "softmax", False, "gelu", "batch", "plateau", 0.2, 1e-3)
    assert dss["log_dt_lr"] == {"listops": 0.02, "text": 0.02, "pathx": 1e-4}.get(task)
    assert (dss["dt_min"], dss["dt_max"]) == ((1e-4, 1e-2) if task == "pathx" else (1e-3, 0.1))
    assert dss["pooling"] == ("last" if task in ("text", "pathfinder") else "mean")

    dlr = presets.LRA_PRESETS["paper"]["dlr"][task]
    assert tuple(dlr[k] for k in DSS_KEYS) == DSS_TABLE[task]  # DSS's settings ...
    assert (dlr["state_size"], dlr["ssm_lr"], dlr["dt_min"], dlr["dt_max"]) == (
        1024,
        1e-4,
        1e-4,
        0.1,
    )  # ... with DLR's SSM
    assert "log_dt_lr" not in dlr and "variant" not in dlr


# Spec s4d_lru.md A8 (the S4 configs): task -> (H, N, prenorm, dropout, lr, batch, epochs,
# warmup epochs = 10% of the steps, dt_min, Δ at the main rate).
S4D_TABLE = {
    "listops": (256, 4, False, 0.0, 0.01, 32, 40, 4, 1e-3, True),
    "text": (256, 4, True, 0.0, 0.01, 16, 32, 3.2, 1e-3, True),
    "retrieval": (256, 4, True, 0.0, 0.01, 64, 20, 2, 1e-3, True),
    "image": (512, 64, False, 0.1, 0.01, 50, 200, 20, 1e-3, False),
    "pathfinder": (256, 64, True, 0.0, 0.004, 64, 200, 20, 1e-3, False),
    "pathx": (256, 64, True, 0.0, 0.001, 16, 50, 5, 1e-4, False),
}
# B6 (LRU Table 9, Table 8, §3.4): task -> (H, N, batch, LR factor, dropout, r_min, r_max,
# max phase, bidirectional, iterations, training-set size).
LRU_TABLE = {
    "image": (512, 384, 50, 0.25, 0.1, 0.9, 0.999, 2 * np.pi, False, 180_000, 45_000),
    "listops": (128, 256, 32, 0.5, 0.0, 0.0, 0.99, 2 * np.pi, False, 80_000, 96_000),
    "text": (256, 192, 32, 0.1, 0.1, 0.5, 0.9, 2 * np.pi, False, 50_000, 25_000),
    "retrieval": (128, 256, 64, 0.5, 0.1, 0.5, 0.9, 2 * np.pi, False, 100_000, 147_086),
    "pathfinder": (192, 256, 64, 0.25, 0.0, 0.9, 0.999, 2 * np.pi, True, 500_000, 160_000),
    "pathx": (128, 256, 32, 0.25, 0.0, 0.999, 0.9999, np.pi / 10, True, 250_000, 160_000),
}


def test_s4d_and_lru_paper_presets_match_the_spec():
    for task, row in S4D_TABLE.items():
        s = presets.LRA_PRESETS["paper"]["s4d"][task]
        keys = ("hidden_size", "state_size", "prenorm", "dropout", "lr", "batch_size", "epochs")
        keys += ("warmup_epochs", "dt_min", "dt_global")
        assert tuple(s[k] for k in keys) == row, task
        assert (s["num_layers"], s["init"], s["bidirectional"], s["norm"]) == (
            6,
            "legs",
            True,
            "batch",
        )
        assert (s["ssm_lr"], s["weight_decay"], s["dt_max"], s["activation"]) == (
            1e-3,
            0.05,
            0.1,
            "glu",
        )
    for task, (
        h,
        n,
        batch,
        factor,
        dropout,
        r_min,
        r_max,
        phase,
        bi,
        steps,
        size,
    ) in LRU_TABLE.items():
        s = presets.LRA_PRESETS["paper"]["lru"][task]
        assert (s["hidden_size"], s["state_size"], s["batch_size"], s["dropout"]) == (
            h,
            n,
            batch,
            dropout,
        ), task
        assert (s["r_min"], s["r_max"], s["bidirectional"]) == (r_min, r_max, bi), task
        assert s["max_phase"] == pytest.approx(phase) and s["ssm_lr"] == pytest.approx(
            s["lr"] * factor
        )
        assert s["epochs"] == round(steps * batch / size), task
        assert s["warmup_epochs"] == pytest.approx(0.1 * s["epochs"])
        assert (s["num_layers"], s["weight_decay"], s["prenorm"], s["norm"]) == (
            6,
            0.05,
            True,
            "batch",
        )
        assert s["activation"] == ("half_glu1" if task == "pathx" else "full_glu")
    assert presets.PAPER_LRA["s4d"]["pathx"] == 91.9 and presets.PAPER_LRA["lru"]["text"] == 89.4


def _trainable_parameters(model):
    return int(sum(np.prod(v.shape) for v in model.trainable_weights))


@pytest.mark.parametrize(
    "task, spec_count, spec_encoder, our_encoder",
    [
        # s5.md A11: the S5 scripts' parameter counts, with a one-hot Dense(in_dim -> H) encoder
        # (ListOps in_dim 20); ours is an Embedding of the 18 ids (no bias). Path-X: same encoder.
        ("listops", 188_490, 20 * 128 + 128, 18 * 128),
        ("pathx", 694_018, 0, 0),
    ],
)
def test_s5_paper_models_have_the_papers_parameter_count(
    task, spec_count, spec_encoder, our_encoder
):
    settings = presets.LRA_PRESETS["paper"]["s5"][task]
    model = script.build_model(task, "s5", settings, seed=0)
    assert _trainable_parameters(model) == spec_count - spec_encoder + our_encoder


def test_command_line_overrides_the_preset():
    args = script.parse_args(
        [
            "--task",
            "pathx",
            "--model",
            "s5",
            "--epochs",
            "3",
            "--batch-size",
            "7",
            "--output",
            "unused",
        ]
    )
    settings = script.resolve(args)
    assert (settings["epochs"], settings["batch_size"], settings["lr"]) == (3, 7, 1.8e-3)
    assert args.preset == "paper"


# ---------------------------------------------------------------------------
# Optimizer groups (s5.md D; dss_dlr.md A.6, D.2)

# (settings overrides, {variable name: (rate, weight decay)} for the SSM variables;
# everything else is in the main group at (lr, weight_decay)).
LR, SSM_LR, WD = 5e-3, 1e-3, 0.05
GROUP_CASES = [
    (
        "s5",
        dict(opt_config="standard", dt_global=False),
        {
            "lambda_re": (SSM_LR, 0),
            "lambda_im": (SSM_LR, 0),
            "log_step": (SSM_LR, 0),
            "b": (SSM_LR, 0),
            "c": (LR, WD),
            "c_backward": (LR, WD),
            "d": (LR, WD),
        },
    ),
    (
        "s5",
        dict(opt_config="standard", dt_global=True),
        {
            "lambda_re": (SSM_LR, 0),
            "lambda_im": (SSM_LR, 0),
            "log_step": (LR, WD),
            "b": (SSM_LR, 0),
            "c": (LR, WD),
            "c_backward": (LR, WD),
            "d": (LR, WD),
        },
    ),
    (
        "s5",
        dict(opt_config="BandCdecay", dt_global=False),
        {
            "lambda_re": (SSM_LR, 0),
            "lambda_im": (SSM_LR, 0),
            "log_step": (SSM_LR, 0),
            "b": (SSM_LR, WD),
            "c": (LR, WD),
            "c_backward": (LR, WD),
            "d": (LR, WD),
        },
    ),
    (
        "s5",
        dict(opt_config="BfastandCdecay", dt_global=False),
        {
            "lambda_re": (SSM_LR, 0),
            "lambda_im": (SSM_LR, 0),
            "log_step": (SSM_LR, 0),
            "b": (LR, WD),
            "c": (LR, WD),
            "c_backward": (LR, WD),
            "d": (LR, WD),
        },
    ),
    (
        "s5",
        dict(opt_config="noBCdecay", dt_global=False),
        {
            "lambda_re": (SSM_LR, 0),
            "lambda_im": (SSM_LR, 0),
            "log_step": (SSM_LR, 0),
            "b": (SSM_LR, 0),
            "c": (SSM_LR, 0),
            "c_backward": (SSM_LR, 0),
            "d": (SSM_LR, 0),
        },
    ),
    (
        "dss",
        dict(log_dt_lr=0.02),
        {
            "lambda_re": (SSM_LR, 0),
            "lambda_im": (SSM_LR, 0),
            "w": (SSM_LR, 0),
            "log_dt": (0.02, 0),
            "d": (LR, WD),
        },
    ),
    (
        "dss",
        dict(log_dt_lr=None),
        {
            "lambda_re": (SSM_LR, 0),
            "lambda_im": (SSM_LR, 0),
            "w": (SSM_LR, 0),
            "log_dt": (SSM_LR, 0),
            "d": (LR, WD),
        },
    ),
    (
        "dlr",
        dict(),
        {
            "lambda_radius": (SSM_LR, 0),
            "lambda_phase": (SSM_LR, 0),
            "w": (SSM_LR, 0),
            "d": (LR, WD),
        },
    ),
    # S4D (spec s4d_lru.md A7, A8): Δ, A, B at the SSM rate without decay; "dt global":
    # Δ at the main rate, still without decay.
    (
        "s4d",
        dict(dt_global=False),
        {
            "log_dt": (SSM_LR, 0),
            "log_a_real": (SSM_LR, 0),
            "a_imag": (SSM_LR, 0),
            "b": (SSM_LR, 0),
            "c": (LR, WD),
            "d": (LR, WD),
        },
    ),
    (
        "s4d",
        dict(dt_global=True),
        {
            "log_dt": (LR, 0),
            "log_a_real": (SSM_LR, 0),
            "a_imag": (SSM_LR, 0),
            "b": (SSM_LR, 0),
            "c": (LR, WD),
            "d": (LR, WD),
        },
    ),
    # LRU (B5): ν, θ, γ, B at the reduced rate without decay; C, D with the model.
    (
        "lru",
        dict(),
        {
            "nu_log": (SSM_LR, 0),
            "theta_log": (SSM_LR, 0),
            "gamma_log": (SSM_LR, 0),
            "b": (SSM_LR, 0),
            "c": (LR, WD),
            "d": (LR, WD),
        },
    ),
]


def _rate_and_decay(optimizer):
    rate = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    return rate, float(getattr(optimizer, "weight_decay", None) or 0.0)


@pytest.mark.parametrize("model_name, overrides, expected", GROUP_CASES)
def test_paper_optimizer_groups(model_name, overrides, expected):
    settings = dict(
        presets.LRA_PRESETS["small"][model_name]["listops"],
        lr=LR,
        ssm_lr=SSM_LR,
        weight_decay=WD,
        schedule="plateau",
        **overrides,
    )
    if model_name == "s5":
        settings["bidirectional"] = True  # c_backward exists
    model = script.build_model("listops", model_name, settings, seed=0)
    optimizer = paper_setup.paper_optimizer(model, model_name, settings, steps_per_epoch=10)
    optimizer.build(model.trainable_variables)
    seen = set()
    for variable in model.trainable_variables:
        name = variable.path.rsplit("/", 1)[-1]
        inner = optimizer.optimizer_for(variable)
        rate, decay = _rate_and_decay(inner)
        want = expected.get(name, (LR, WD))
        assert rate == pytest.approx(want[0]) and decay == pytest.approx(want[1]), variable.path
        if want[1] == 0:
            assert not isinstance(inner, keras.optimizers.AdamW) or not inner.weight_decay
        seen.add(name)
    assert set(expected) <= seen


def test_cosine_schedule_per_step_with_linear_warmup():
    settings = dict(
        presets.LRA_PRESETS["small"]["s5"]["listops"],
        lr=4e-3,
        ssm_lr=1e-3,
        epochs=5,
        warmup_epochs=1,
        schedule="cosine",
    )
    model = script.build_model("listops", "s5", settings, seed=0)
    optimizer = paper_setup.paper_optimizer(model, "s5", settings, steps_per_epoch=10)
    main, ssm = optimizer.default, optimizer.optimizers[0]
    warmup, total = 10, 50
    for step in (0, 4, 9, 10, 25, 49, 50, 70):
        if step < warmup:
            factor = (step + 1) / warmup
        else:
            factor = 0.5 * (
                1 + math.cos(math.pi * min(step - warmup, total - warmup) / (total - warmup))
            )
        for inner, base in ((main, 4e-3), (ssm, 1e-3)):
            inner.iterations.assign(step)  # the schedule's value at `step`
            value = float(keras.ops.convert_to_numpy(inner.learning_rate))
            # float32 schedule: absolute error ~ eps * base near the end of the cosine
            assert value == pytest.approx(base * factor, rel=1e-5, abs=1e-6 * base), (step, base)


def test_plateau_callback_only_for_plateau_schedules():
    dss = presets.LRA_PRESETS["paper"]["dss"]["pathx"]
    (callback,) = paper_setup.paper_callbacks(dss)
    assert isinstance(callback, keras.callbacks.ReduceLROnPlateau)
    assert (callback.monitor, callback.mode, callback.factor, callback.patience) == (
        "val_accuracy",
        "max",
        0.2,
        40,
    )
    assert paper_setup.paper_callbacks(presets.LRA_PRESETS["paper"]["s5"]["pathx"]) == []
