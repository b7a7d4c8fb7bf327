"""keras_ssm.models.trunk: the one stack (encoder, SSMBlocks, final norm) and its one seed rule."""

import keras
import numpy as np
import pytest

import layer_checks as lc
from keras_ssm import models
from keras_ssm.models.trunk import Trunk
from keras_ssm.models.trunk import ssm_block_config

MODULUS = 2**31 - 1


def _rule(seed, index):
    # The documented rule, written out: (seed · 101 + index) mod (2^31 − 1).
    return (seed * 101 + index) % MODULUS


@pytest.mark.parametrize("seed", [0, 5, 10**9])
def test_one_seed_rule_for_encoder_blocks_and_their_ssms(seed):
    trunk = Trunk(
        vocab_size=9, hidden_size=4, num_layers=3, ssm_kwargs={"state_size": 2}, seed=seed
    )
    for i, block in enumerate(trunk.blocks):
        assert block.seed == _rule(seed, i + 1)
        assert block.ssm.seed == _rule(seed, i + 1)
    trunk.encoder.build((None, 3))
    expected = keras.initializers.RandomNormal(stddev=1.0, seed=_rule(seed, 0))((9, 4))
    lc.assert_close(lc.to_numpy(trunk.encoder.embeddings), lc.to_numpy(expected), atol=0)


def test_unseeded_trunk_leaves_seeds_to_the_parts():
    trunk = Trunk(input_features=3, hidden_size=4, num_layers=1, ssm_kwargs={"state_size": 2})
    assert trunk.blocks[0].seed is None and trunk.blocks[0].ssm.seed is None


def test_layer_names_and_final_norm():
    trunk = Trunk(
        input_features=3,
        hidden_size=4,
        num_layers=2,
        norm="batch",
        name="m",
        layer_names={"block": "b{i}"},
    )
    assert trunk.encoder.name == "m_encoder"
    assert [b.name for b in trunk.blocks] == ["b0", "b1"]
    assert isinstance(trunk.final_norm, keras.layers.BatchNormalization)
    assert Trunk(input_features=3, num_layers=1, prenorm=False).final_norm is None


def test_builder_and_backbone_share_the_trunk():
    pytest.importorskip("keras_hub")
    from keras_ssm.hub import SSMBackbone

    kwargs = dict(num_layers=2, ssm="s5", ssm_kwargs={"state_size": 4}, norm="batch", seed=7)
    model = models.build_tagger(3, vocab_size=11, hidden_size=6, **kwargs)
    backbone = SSMBackbone(vocabulary_size=11, hidden_dim=6, **kwargs)
    trunk_layers = [
        layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)
    ][:-1]
    backbone_layers = [backbone.encoder, *backbone.ssm_blocks, backbone.final_norm_layer]
    assert len(trunk_layers) == len(backbone_layers) == 4
    for ours, theirs in zip(trunk_layers, backbone_layers):
        assert type(ours) is type(theirs)
        for a, b in zip(ours.weights, theirs.weights):
            np.testing.assert_array_equal(lc.to_numpy(a), lc.to_numpy(b), err_msg=a.path)


def test_ssm_block_config_refuses_a_layer_config():
    with pytest.raises(ValueError, match="family name"):
        ssm_block_config({"class_name": "dlr", "config": {}}, None, None, None)
