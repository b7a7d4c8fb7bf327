"""keras-hub presets: save_to_preset then from_preset give the same outputs, here and across."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import keras_hub
import numpy as np

from keras_ssm.hub import SSMBackbone
from keras_ssm.hub import SSMByteTokenizer
from keras_ssm.hub import SSMSequenceClassifier
from keras_ssm.hub import SSMSequenceClassifierPreprocessor

BACKEND = keras.config.backend()
to_numpy = keras.ops.convert_to_numpy

TEXTS = ["state space", "models", "läuft überall"]


def make_classifier():
    backbone = SSMBackbone(
        vocabulary_size=256,
        hidden_dim=6,
        num_layers=2,
        ssm="s5",
        ssm_kwargs={"state_size": 4, "blocks": 2},
        norm="batch",
        activation="half_glu1",
        final_norm=False,
        seed=7,
    )
    preprocessor = SSMSequenceClassifierPreprocessor(SSMByteTokenizer(), sequence_length=16)
    return SSMSequenceClassifier(backbone, 3, preprocessor=preprocessor, pooling="mean")


def test_backbone_preset_round_trip(tmp_path, rng):
    backbone = SSMBackbone(
        vocabulary_size=9,
        hidden_dim=5,
        num_layers=2,
        ssm="dss",
        ssm_kwargs={"state_size": 3},
        seed=2,
    )
    x = {
        "token_ids": rng.integers(0, 9, (2, 7)).astype("int32"),
        "padding_mask": np.ones((2, 7), "int32"),
    }
    expected = to_numpy(backbone(x))
    backbone.save_to_preset(str(tmp_path))
    assert {"config.json", "metadata.json", "model.weights.h5"} <= set(os.listdir(tmp_path))
    with open(tmp_path / "config.json") as f:
        assert json.load(f)["registered_name"] == "keras_ssm>SSMBackbone"
    # From the class and from keras-hub's base class (which reads the class from the preset).
    for cls in (SSMBackbone, keras_hub.models.Backbone):
        loaded = cls.from_preset(str(tmp_path))
        assert type(loaded) is SSMBackbone
        np.testing.assert_array_equal(to_numpy(loaded(x)), expected)
    fresh = SSMBackbone.from_preset(str(tmp_path), load_weights=False)
    assert fresh.get_config() == backbone.get_config()


def test_task_preset_round_trip(tmp_path):
    classifier = make_classifier()
    expected = classifier.predict(TEXTS, verbose=0)
    classifier.save_to_preset(str(tmp_path))
    for name in ("task.json", "task.weights.h5", "preprocessor.json", "tokenizer.json"):
        assert (tmp_path / name).exists(), name
    loaded = keras_hub.models.TextClassifier.from_preset(str(tmp_path))
    assert type(loaded) is SSMSequenceClassifier
    assert type(loaded.preprocessor.tokenizer) is SSMByteTokenizer
    # keras-hub's base-class lookups of the preset's parts (the tokenizer needs its
    # `backbone_cls`, the preprocessor to be a TextClassifierPreprocessor).
    tokenizer = keras_hub.tokenizers.Tokenizer.from_preset(str(tmp_path))
    assert type(tokenizer) is SSMByteTokenizer
    preprocessor = keras_hub.models.TextClassifierPreprocessor.from_preset(str(tmp_path))
    assert type(preprocessor) is SSMSequenceClassifierPreprocessor
    assert preprocessor.sequence_length == 16
    np.testing.assert_array_equal(loaded.predict(TEXTS, verbose=0), expected)
    # A new head: the backbone's weights, a fresh classifier for 5 classes.
    other = SSMSequenceClassifier.from_preset(str(tmp_path), num_classes=5)
    assert other.predict(TEXTS, verbose=0).shape == (3, 5)


SAVE_ON_OTHER_BACKEND = textwrap.dedent(
    """
    import sys, numpy as np
    from test_hub_presets import make_classifier, TEXTS
    classifier = make_classifier()
    # One training step so that the BatchNorm statistics and weights are not the initial ones.
    classifier.fit(TEXTS, np.array([0, 1, 2]), batch_size=3, epochs=1, verbose=0)
    classifier.save_to_preset(sys.argv[1])
    np.save(sys.argv[2], classifier.predict(TEXTS, verbose=0))
    weights = classifier.get_weights()
    np.savez(sys.argv[2] + ".weights.npz", *weights)
    """
)


def test_preset_saved_on_another_backend_loads_here(tmp_path):
    # Saved on torch, loaded here (on torch: saved on jax).
    other = "jax" if BACKEND == "torch" else "torch"
    preset = str(tmp_path / "preset")
    outputs = str(tmp_path / "outputs.npy")
    # The child imports this module as pytest does: tests/ and the repository root on its path.
    tests = os.path.dirname(os.path.abspath(__file__))
    path = [tests, os.path.dirname(tests), os.environ.get("PYTHONPATH", "")]
    env = dict(
        os.environ,
        KERAS_BACKEND=other,
        CUDA_VISIBLE_DEVICES="",
        PYTHONPATH=os.pathsep.join(p for p in path if p),
    )
    proc = subprocess.run(
        [sys.executable, "-c", SAVE_ON_OTHER_BACKEND, preset, outputs],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, f"saving on {other} failed:\n{proc.stderr[-3000:]}"
    loaded = SSMSequenceClassifier.from_preset(preset)
    saved_weights = np.load(outputs + ".weights.npz")
    for i, weight in enumerate(loaded.get_weights()):
        np.testing.assert_array_equal(weight, saved_weights[f"arr_{i}"])
    np.testing.assert_allclose(loaded.predict(TEXTS, verbose=0), np.load(outputs), atol=1e-5)


def test_example_models_become_presets(tmp_path, rng):
    # A plain-Keras model of keras_ssm.models (what the examples train and checkpoint).
    from keras_ssm.hub import convert
    from keras_ssm.models import build_classifier
    from keras_ssm.models import build_tagger

    model = build_classifier(
        3,
        vocab_size=20,
        hidden_size=6,
        num_layers=2,
        ssm="s5",
        ssm_kwargs={"state_size": 4},
        norm="batch",
        activation="half_glu2",
        bidirectional=True,
        mask_zero=True,
        seed=3,
    )
    tokens = rng.integers(1, 20, (2, 9)).astype("int32")
    tokens[1, 6:] = 0
    classifier = convert.classifier_from_model(model)
    classifier.save_to_preset(str(tmp_path / "classifier"))
    loaded = SSMSequenceClassifier.from_preset(str(tmp_path / "classifier"))
    x = {"token_ids": tokens, "padding_mask": (tokens != 0).astype("int32")}
    np.testing.assert_allclose(to_numpy(loaded(x)), to_numpy(model(tokens)), atol=1e-5)

    tagger_model = build_tagger(
        2,
        input_features=3,
        hidden_size=5,
        num_layers=1,
        ssm="dlr",
        ssm_kwargs={"state_size": 4},
        seed=4,
    )
    features = rng.normal(size=(2, 7, 3)).astype("float32")
    tagger = convert.tagger_from_model(tagger_model)
    y = tagger({"features": features, "padding_mask": np.ones((2, 7), "int32")})
    np.testing.assert_allclose(to_numpy(y), to_numpy(tagger_model(features)), atol=1e-5)
