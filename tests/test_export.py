"""Export for serving: round trips through the exported artifact, reference op paths, errors."""

import os

import keras
import numpy as np
import pytest

import layer_checks as lc
from keras_ssm import config
from keras_ssm import models
from keras_ssm.ops import registry
from model_checks import predict


@pytest.fixture(scope="module")
def classifier():
    model = models.build_classifier(
        2,
        vocab_size=11,
        sequence_length=12,
        hidden_size=8,
        num_layers=2,
        ssm_kwargs={"state_size": 4},
        mask_zero=True,
        norm="batch",
        seed=0,
    )
    x = np.random.default_rng(0).integers(0, 11, size=(3, 12)).astype("int32")
    x[1, 7:] = 0
    return model, x, predict(model, x)


def test_reference_implementations_scope():
    before = {op: config.get_implementation(op) for op in registry.OPS}
    with models.reference_implementations():
        assert all(config.get_implementation(op) == "reference" for op in registry.OPS)
    assert {op: config.get_implementation(op) for op in registry.OPS} == before


def test_export_runs_with_reference_paths(tmp_path):
    seen = {}

    class Recorder:
        def export(self, path, format, verbose, **kwargs):
            seen.update({op: config.get_implementation(op) for op in registry.OPS})
            seen["args"] = (path, format, kwargs)

    fmt = "torch" if lc.BACKEND == "torch" else "tf_saved_model"
    models.export_model(Recorder(), tmp_path / "out", format=fmt, opset_version=3)
    assert all(seen[op] == "reference" for op in registry.OPS)
    assert seen["args"] == (str(tmp_path / "out"), fmt, {"opset_version": 3})


@pytest.mark.skipif(
    lc.BACKEND == "torch",
    reason="tf_saved_model needs torch_xla on torch (tested below); torch has format='torch'",
)
def test_saved_model_round_trip(classifier, tmp_path):
    import tensorflow as tf

    model, x, expected = classifier
    path = str(tmp_path / "served")
    models.export_model(model, path)
    reloaded = tf.saved_model.load(path)
    lc.assert_close(reloaded.serve(x).numpy(), expected, atol=1e-5, what="SavedModel")


@pytest.mark.skipif(lc.BACKEND != "torch", reason="format='torch' is the torch backend's")
def test_torch_export_round_trip(classifier, tmp_path):
    import torch

    model, x, expected = classifier
    path = str(tmp_path / "served.pt2")
    # torch.export has no dynamic batch here: give the serving shape.
    models.export_model(
        model, path, format="torch", input_signature=[keras.InputSpec(shape=x.shape, dtype="int32")]
    )
    program = torch.export.load(path)
    got = program.module()(torch.tensor(x)).detach().cpu().numpy()
    lc.assert_close(got, expected, atol=1e-5, what="torch.export")


def test_missing_packages_give_a_clear_error(classifier, tmp_path):
    model = classifier[0]
    for fmt in ("onnx", "tf_saved_model"):
        missing = models.missing_requirements(fmt)
        if not missing:
            continue
        with pytest.raises(ImportError) as info:
            models.export_model(model, str(tmp_path / f"m.{fmt}"), format=fmt)
        message = str(info.value)
        assert "pip install " + " ".join(missing) in message and lc.BACKEND in message


def test_onnx_round_trip_when_available(classifier, tmp_path):
    model, x, expected = classifier
    if models.missing_requirements("onnx"):
        assert not os.path.exists(tmp_path / "model.onnx")
        return  # the error path is tested above
    path = str(tmp_path / "model.onnx")
    models.export_model(model, path, format="onnx")
    assert os.path.getsize(path) > 0
    try:
        import onnxruntime
    except ImportError:
        return
    session = onnxruntime.InferenceSession(path)
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    lc.assert_close(got, expected, atol=1e-4, what="ONNX")


def test_unknown_format():
    with pytest.raises(ValueError, match="format"):
        models.export_model(None, "x", format="pickle")
    with pytest.raises(ValueError, match="cannot export"):
        models.missing_requirements("torch", backend="jax")
