"""Tests for examples/speech_commands.py and `paper_setup.with_step_scale`.

End to end with `--preset small` on a tiny Speech Commands v0.02 folder written here with
tests/test_speech_commands.py's WAV writer (word folders, official lists). The 16 kHz and
zero-shot 8 kHz test numbers are recomputed from best.weights.h5: the 8 kHz model is
rebuilt independently at length 8000 with every log Δ raised by log 2 (Δ doubled in the
weights, not through `step_scale`), on every second sample of the 16 kHz clips.
"""

import json

import keras
import numpy as np
import pytest

from examples import paper_setup
from examples import presets
from examples import speech_commands as script
from keras_ssm.data.speech import speech_commands
from test_speech_commands import WORDS_35
from test_speech_commands import write_wav

# (word, clip index, number of samples, split); labels are indices in WORDS_35.
CLIPS = [
    ("bed", 0, 16000, "train"),
    ("cat", 0, 12000, "train"),
    ("down", 0, 16000, "train"),
    ("five", 0, 16000, "train"),
    ("bed", 1, 16000, "val"),
    ("down", 1, 9000, "val"),
    ("cat", 1, 16000, "test"),
    ("five", 1, 16000, "test"),
]


@pytest.fixture(scope="module")
def sc_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("sc_examples") / "speech_commands_v0.02"
    rng = np.random.default_rng(7)
    for word in WORDS_35:
        (root / word).mkdir(parents=True)
    lists = {"val": [], "test": []}
    for word, index, length, split in CLIPS:
        tone = np.sin(np.arange(length) * 0.002 * (1 + WORDS_35.index(word)))
        samples = (8000 * tone + rng.normal(0, 2000, length)).astype(np.int16)
        name = f"{word}/{index:02d}f00d_nohash_{index}.wav"
        write_wav(root / name, samples)
        if split in lists:
            lists[split].append(name)
    (root / "validation_list.txt").write_text("\n".join(lists["val"]) + "\n")
    (root / "testing_list.txt").write_text("\n".join(lists["test"]) + "\n")
    return root


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


def doubled_step_model(model_name, settings, output, length):
    """A fresh model of `length` with the best weights and every log Δ raised by log 2."""
    model = script.build_model(model_name, settings, 35, seed=0, sequence_length=length)
    model.load_weights(str(output / "best.weights.h5"))
    step_name = {"s5": "log_step", "dss": "log_dt"}[model_name]
    changed = 0
    for variable in model.weights:
        if variable.path.rsplit("/", 1)[-1] == step_name:
            variable.assign(keras.ops.convert_to_numpy(variable) + np.log(2.0))
            changed += 1
    assert changed == settings["num_layers"]
    return model


@pytest.mark.parametrize(
    "model_name",
    [
        "s5",
        # The script is the same for every model; what differs, the 8 kHz step scale, is
        # covered fast by test_with_step_scale_doubles_every_step (DSS) and
        # test_dlr_8khz_is_naive (DLR).
        pytest.param("dss", marks=pytest.mark.slow),
        pytest.param("dlr", marks=pytest.mark.slow),
    ],
)
def test_sc35_end_to_end_with_8khz_evaluation(sc_root, tmp_path, model_name):
    output = tmp_path / f"sc35_{model_name}"
    results = script.main(
        [
            "--classes",
            "35",
            "--model",
            model_name,
            "--preset",
            "small",
            "--data-dir",
            str(sc_root),
            "--output",
            str(output),
            "--verbose",
            "0",
        ]
    )
    assert results == json.loads((output / "results.json").read_text())
    assert (results["classes"], results["model"], results["backend"]) == (
        35,
        model_name,
        keras.config.backend(),
    )
    assert results["samples"] == {"train": 4, "val": 2, "test": 2}
    paper = {"s5": (96.52, 94.53), "dss": (None, None), "dlr": (None, None)}[model_name]
    assert (results["paper_test_accuracy"], results["paper_test_accuracy_8khz"]) == paper
    history = json.loads((output / "history.json").read_text())
    val = [row["val_accuracy"] for row in history]
    assert len(history) == results["epochs_completed"] == 2
    assert (results["best_val_accuracy"], results["best_epoch"]) == (
        max(val),
        1 + val.index(max(val)),
    )
    for name in ("best.weights.h5", "training_curves.png", "backup/latest.weights.h5"):
        assert (output / name).exists(), name

    x, y = speech_commands.load(sc_root, "test", verbose=0)
    np.testing.assert_array_equal(y, [WORDS_35.index("cat"), WORDS_35.index("five")])
    x = np.asarray(x)[..., None]
    settings = results["settings"]
    model = script.build_model(model_name, settings, 35, seed=0)
    model.load_weights(str(output / "best.weights.h5"))
    accuracy, loss = scores(model.predict(x, verbose=0), y)
    assert results["test_accuracy"] == pytest.approx(accuracy)
    assert results["test_loss"] == pytest.approx(loss, rel=1e-4)

    # 8 kHz: every second sample of the 16 kHz test clips.
    plain = script.build_model(model_name, settings, 35, seed=0, sequence_length=8000)
    plain.load_weights(str(output / "best.weights.h5"))
    plain_loss = scores(plain.predict(x[:, ::2], verbose=0), y)[1]
    if model_name == "dlr":  # no Δ: the same model on the shorter clips, said so
        assert results["step_scale_8khz"] == 1.0 and "naive" in results["eval_8khz"]
        accuracy, loss = scores(plain.predict(x[:, ::2], verbose=0), y)
    else:  # zero-shot: Δ doubled
        assert results["step_scale_8khz"] == 2.0 and "zero-shot" in results["eval_8khz"]
        model_8k = doubled_step_model(model_name, settings, output, 8000)
        accuracy, loss = scores(model_8k.predict(x[:, ::2], verbose=0), y)
        assert plain_loss != pytest.approx(loss, rel=1e-4)  # the rescaling changes the output
    assert results["test_accuracy_8khz"] == pytest.approx(accuracy)
    assert results["test_loss_8khz"] == pytest.approx(loss, rel=1e-4)


# ---------------------------------------------------------------------------
# with_step_scale on short sequences (S5, DSS: Δ doubled; DLR: naive)


def _tiny(model_name, length, seed=3):
    settings = dict(presets.SC_PRESETS["small"][model_name], num_layers=2)
    return settings, script.build_model(model_name, settings, 35, seed=seed, sequence_length=length)


@pytest.mark.parametrize("model_name, step_name", [("s5", "log_step"), ("dss", "log_dt")])
def test_with_step_scale_doubles_every_step(model_name, step_name, rng):
    settings, model = _tiny(model_name, 64)
    rescaled = paper_setup.with_step_scale(model, 2.0, sequence_length=32)
    assert tuple(rescaled.inputs[0].shape) == (None, 32, 1)
    assert all(a is b for a, b in zip(rescaled.weights, model.weights))  # shared, not copied

    _, reference = _tiny(model_name, 32, seed=11)
    reference.set_weights(model.get_weights())
    for variable in reference.weights:
        if variable.path.rsplit("/", 1)[-1] == step_name:
            variable.assign(keras.ops.convert_to_numpy(variable) + np.log(2.0))
    x = rng.normal(size=(3, 32, 1)).astype("float32")
    expected = keras.ops.convert_to_numpy(reference(x, training=False))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(rescaled(x, training=False)), expected, rtol=1e-4, atol=1e-5
    )
    # step_scale 1 at the new length is the plain model: different from the rescaled one.
    naive = paper_setup.with_step_scale(model, 1.0, sequence_length=32)
    assert not np.allclose(
        keras.ops.convert_to_numpy(naive(x, training=False)), expected, rtol=1e-4, atol=1e-5
    )


def test_dlr_8khz_is_naive(rng):
    # Zero-shot (Δ × 2) for the families with a step Δ; naive for DLR and the LRU.
    expected = {"s5": 2.0, "dss": 2.0, "s4d": 2.0, "dlr": 1.0, "lru": 1.0}
    assert {name: script.STEP_SCALE_8K[name] for name in expected} == expected
    assert "naive" in script.eval_8khz_description("dlr")
    assert "zero-shot" in script.eval_8khz_description("s5")
    _, model = _tiny("dlr", 64)
    naive = paper_setup.with_step_scale(model, 1.0, sequence_length=32)
    _, reference = _tiny("dlr", 32, seed=11)
    reference.set_weights(model.get_weights())
    x = rng.normal(size=(2, 32, 1)).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(naive(x, training=False)),
        keras.ops.convert_to_numpy(reference(x, training=False)),
        rtol=1e-5,
        atol=1e-6,
    )
    with pytest.raises(ValueError, match="step_scale"):
        paper_setup.with_step_scale(model, 2.0, sequence_length=32)


def test_with_step_scale_rejects_non_positive_scale():
    _, model = _tiny("s5", 16)
    with pytest.raises(ValueError, match="step_scale"):
        paper_setup.with_step_scale(model, 0.0)


# ---------------------------------------------------------------------------
# Presets (s5.md C3 row SC35; dss_dlr.md D.2 row SC10)


def test_paper_presets():
    s5 = presets.SC_PRESETS["paper"]["s5"]
    # layers, H, P, J, ssm_lr, lr, batch, epochs, dropout, wd, warmup, C init, opt_config, act
    assert tuple(
        s5[k]
        for k in (
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
            "activation",
        )
    ) == (
        6,
        96,
        128,
        16,
        2e-3,
        8e-3,
        16,
        40,
        0.1,
        0.04,
        1,
        "lecun_normal",
        "noBCdecay",
        "half_glu1",
    )
    assert (
        s5["bidirectional"],
        s5["prenorm"],
        s5["norm"],
        s5["norm_momentum"],
        s5["schedule"],
        s5["dt_global"],
    ) == (True, True, "batch", 0.95, "cosine", False)

    dss = presets.SC_PRESETS["paper"]["dss"]
    # layers, H, pre-norm, dropout, batch, lr, wd, patience, epochs
    keys = (
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
    assert tuple(dss[k] for k in keys) == (6, 128, True, 0.1, 20, 0.01, 0.0, 20, 200)
    assert (
        dss["state_size"],
        dss["bidirectional"],
        dss["activation"],
        dss["pooling"],
        dss["schedule"],
    ) == (64, False, "gelu", "mean", "plateau")
    dlr = presets.SC_PRESETS["paper"]["dlr"]
    assert tuple(dlr[k] for k in keys) == tuple(dss[k] for k in keys)
    assert (dlr["state_size"], dlr["ssm_lr"]) == (1024, 1e-4)
    assert presets.PAPER_SC["s5"][35] == {"16khz": 96.52, "8khz": 94.53}


def test_s5_paper_model_has_the_papers_parameter_count():
    # s5.md A11: 283,523 for the SC35 script (trainable parameters; BatchNorm's running
    # statistics are not parameters).
    model = script.build_model("s5", presets.SC_PRESETS["paper"]["s5"], 35, seed=0)
    assert int(sum(np.prod(v.shape) for v in model.trainable_weights)) == 283_523
