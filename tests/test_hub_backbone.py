"""keras_ssm.hub.SSMBackbone: keras-hub Backbone conventions, masking, streaming, optimizers."""

import importlib.metadata

import keras
import keras_hub
import numpy as np
import pytest

import keras_ssm
from keras_ssm.hub import SSMBackbone
from keras_ssm.hub import requirements

to_numpy = keras.ops.convert_to_numpy


def small_backbone(**kwargs):
    config = dict(
        vocabulary_size=11,
        hidden_dim=6,
        num_layers=2,
        ssm="dlr",
        ssm_kwargs={"state_size": 4},
        seed=3,
    )
    config.update(kwargs)
    return SSMBackbone(**config)


def token_inputs(rng, batch=2, length=9, vocabulary=11):
    return {
        "token_ids": rng.integers(1, vocabulary, (batch, length)).astype("int32"),
        "padding_mask": np.ones((batch, length), "int32"),
    }


def test_missing_keras_hub_is_a_clear_error(monkeypatch):
    def not_found(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_found)
    with pytest.raises(ImportError, match=r"keras-ssm\[hub\]"):
        requirements.require_keras_hub()


def test_tensorflow_and_tensorflow_cpu_not_both_installed():
    # keras-hub's tensorflow-text pulls `tensorflow`; beside `tensorflow-cpu` the two
    # wheels write the same files (the Makefile refuses such an environment too).
    names = {d.metadata["Name"].lower() for d in importlib.metadata.distributions()}
    assert not {"tensorflow", "tensorflow-cpu"} <= names


def test_backbone_is_a_keras_hub_backbone_of_ssm_blocks(rng):
    backbone = small_backbone()
    assert isinstance(backbone, keras_hub.models.Backbone)
    assert backbone.token_embedding is backbone.encoder
    assert [type(s).__name__ for s in backbone.ssm_layers] == ["DLR", "DLR"]
    x = token_inputs(rng)
    y = to_numpy(backbone(x))
    # The same layers applied one after the other.
    h = backbone.encoder(x["token_ids"])
    for block in backbone.ssm_blocks:
        h = block(h)
    expected = to_numpy(backbone.final_norm_layer(h))
    assert y.shape == (2, 9, 6)
    np.testing.assert_allclose(y, expected, atol=1e-5)


@pytest.mark.parametrize(
    "ssm,final_norm,norm,prenorm,activation",
    [
        ("s5", False, "batch", True, "half_glu1"),
        ("dss", None, "layer", False, "glu"),
    ],
)
def test_paper_choices_reach_the_blocks(ssm, final_norm, norm, prenorm, activation):
    backbone = small_backbone(
        ssm=ssm,
        final_norm=final_norm,
        norm=norm,
        prenorm=prenorm,
        activation=activation,
        bidirectional=True,
        dropout=0.1,
    )
    for block in backbone.ssm_blocks:
        assert (block.norm, block.prenorm, block.activation, block.dropout) == (
            norm,
            prenorm,
            activation,
            0.1,
        )
        assert block.ssm.bidirectional
        assert type(block.ssm).__name__ == ssm.upper()
    # S5 has no final norm; DSS post-norm neither (None: only for pre-norm stacks).
    assert backbone.final_norm_layer is None
    assert backbone.paper == ssm


def test_padding_leaves_valid_positions_unchanged(rng):
    backbone = small_backbone(bidirectional=True, ssm="s5")
    x = token_inputs(rng, batch=1, length=6)
    padded = {
        "token_ids": np.concatenate([x["token_ids"], [[7, 7, 7]]], axis=1),
        "padding_mask": np.array([[1] * 6 + [0] * 3], "int32"),
    }
    np.testing.assert_allclose(to_numpy(backbone(padded))[:, :6], to_numpy(backbone(x)), atol=1e-5)


def test_feature_inputs(rng):
    backbone = SSMBackbone(
        input_features=3, hidden_dim=5, num_layers=1, ssm_kwargs={"state_size": 2}, seed=1
    )
    x = {
        "features": rng.normal(size=(2, 7, 3)).astype("float32"),
        "padding_mask": np.ones((2, 7), "int32"),
    }
    assert tuple(backbone(x).shape) == (2, 7, 5)
    assert backbone.token_embedding is None


def test_exactly_one_input_kind():
    with pytest.raises(ValueError, match="exactly one"):
        SSMBackbone(hidden_dim=4)
    with pytest.raises(ValueError, match="exactly one"):
        SSMBackbone(vocabulary_size=3, input_features=2)


def test_chunked_state_equals_one_call(rng):
    backbone = small_backbone(ssm="s5")
    x = token_inputs(rng, length=10)
    full = to_numpy(backbone(x))
    states = backbone.get_initial_state(2)
    outputs = []
    for start, stop in [(0, 3), (3, 4), (4, 10)]:
        y, states = backbone.call_with_state(x["token_ids"][:, start:stop], states)
        outputs.append(to_numpy(y))
    np.testing.assert_allclose(np.concatenate(outputs, axis=1), full, atol=2e-5)


def test_bidirectional_backbone_does_not_stream():
    with pytest.raises(ValueError, match="bidirectional"):
        small_backbone(bidirectional=True).get_initial_state(1)
    assert small_backbone().causal and not small_backbone(bidirectional=True).causal
    softmax = small_backbone(ssm="dss", ssm_kwargs={"state_size": 4, "variant": "softmax"})
    assert not softmax.causal
    with pytest.raises(ValueError, match="softmax"):  # the layer's own message
        softmax.get_initial_state(1)
    assert small_backbone(ssm="dss", ssm_kwargs={"state_size": 4, "variant": "exp"}).causal


@pytest.mark.parametrize(
    "paper,ssm_names",
    [
        ("dlr", {"lambda_radius", "lambda_phase", "w"}),
        ("s5", {"lambda_re", "lambda_im", "b", "log_step"}),
    ],
)
def test_optimizer_groups_of_the_paper(paper, ssm_names):
    backbone = small_backbone(ssm=paper)
    optimizer = backbone.ssm_optimizer(lr=1e-2, ssm_lr=1e-4, weight_decay=0.1)
    assert isinstance(optimizer, keras_ssm.optimizers.GroupedOptimizer)
    for variable in backbone.trainable_variables:
        name = variable.path.split("/")[-1]
        in_ssm = "ssm_block" in variable.path and name in ssm_names
        # Group 0 is the paper's SSM group (own rate, no decay), the last the default.
        expected = 0 if in_ssm else len(optimizer.optimizers) - 1
        assert optimizer.group_index(variable) == expected, variable.path
