"""keras_ssm.layers.families: the one registry of layer families; every consumer finds a new one.

Expected facts come from the papers (DSS: Λ, Δ, W at 1e-3; DLR: Λ, W at 1e-4; S5: Λ, B̃,
Δ at 1e-3; S4D: A, B, Δ at 1e-3; LRU: ν, θ, γ, B at 1e-3), not from the registry. A
throwaway family registered in a test must then build through SSMBlock, the builders,
`ssm_optimizer(paper=...)` and `SSMBackbone` with no edit to their code: that is what "a new
family is one module" means.
"""

import keras
import numpy as np
import pytest

import layer_checks as lc
from keras_ssm import models
from keras_ssm import optimizers
from keras_ssm.layers import DLR
from keras_ssm.layers import DSS
from keras_ssm.layers import LRU
from keras_ssm.layers import S4D
from keras_ssm.layers import S5
from keras_ssm.layers import Mamba
from keras_ssm.layers import SSMBlock
from keras_ssm.layers import families

# The papers' optimizer facts, written out from the papers and their code.
PAPERS = {
    "dss": (DSS, 1e-3, {"eigenvalues", "step", "output"}),
    "dlr": (DLR, 1e-4, {"eigenvalues", "output"}),
    "s5": (S5, 1e-3, {"eigenvalues", "step", "input"}),
    # S4D: the S4 code's Δ, A, B at 1e-3 without decay (spec s4d_lru.md A7); LRU: ν, θ, γ
    # and B at the reduced rate without decay (B5), 0.004 × 0.25 on sCIFAR (B6).
    "s4d": (S4D, 1e-3, {"eigenvalues", "step", "input"}),
    "lru": (LRU, 1e-3, {"eigenvalues", "input"}),
    # Mamba: A_log and D without weight decay, at the model's rate (mamba_simple.py's
    # _no_weight_decay; spec mamba.md B4): no rate of their own.
    "mamba": (Mamba, None, {"eigenvalues", "feedthrough"}),
}


# ----------------------------------------------------------------------------------------
# the built-in families


def test_builtin_families_and_their_facts():
    assert set(PAPERS) <= set(families.names())
    assert list(families.names()) == sorted(families.names())
    for name, (cls, ssm_lr, roles) in PAPERS.items():
        assert families.layer_class(name) is cls
        assert families.default_ssm_lr(name) == ssm_lr
        assert set(families.family(name).roles) == roles
        assert families.name_of(cls) == name
        assert families.name_of(cls(state_size=4)) == name


@pytest.mark.parametrize("spelling", ["dlr", "DLR", "Dlr"])
def test_lookup_is_case_insensitive_and_takes_the_class_name(spelling):
    assert families.layer_class(spelling) is DLR
    assert families.family(spelling).name == "dlr"


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"Unknown SSM layer family 'lstm'.*'dlr', 'dss'.*'s5'"):
        families.layer_class("lstm")
    with pytest.raises(ValueError, match="`paper`"):
        families.default_ssm_lr("s4")


def test_name_of_a_subclass_and_of_other_layers():
    class Variant(DLR):
        pass

    assert families.name_of(Variant) == "dlr"
    assert families.name_of(keras.layers.Dense(2)) is None


def test_register_refuses_bad_declarations():
    class NoRoles(keras.layers.Layer):
        pass

    with pytest.raises(ValueError, match="ssm_group_roles"):
        families.register("no_roles", ssm_lr=1e-3)(NoRoles)
    with pytest.raises(ValueError, match="lower-case"):
        families.register("Bad Name", ssm_lr=1e-3)
    with pytest.raises(ValueError, match="ssm_lr"):
        families.register("zero_rate", ssm_lr=0.0)

    class Other(DLR):
        pass

    with pytest.raises(ValueError, match="'dss'"):
        families.register("dss", ssm_lr=1e-3)(Other)

    class Dss(DLR):  # its class name is another family's short name
        pass

    with pytest.raises(ValueError, match="'dss'"):
        families.register("dss_clash", ssm_lr=1e-3)(Dss)
    assert "no_roles" not in families.names() and "dss_clash" not in families.names()


def test_tags_of_the_builtin_weights():
    layer = S5(state_size=4, seed=0)
    layer.build((None, 5, 3))
    for v in layer.weights:
        assert v.ssm_family == "s5"
        assert v.ssm_group == ("ssm" if v.ssm_role in PAPERS["s5"][2] else "main")


# ----------------------------------------------------------------------------------------
# a new family, found by every consumer


PROBE_RATE = 3e-4


@pytest.fixture
def probe_family():
    """A throwaway DiagonalSSMLayer family: DLR whose SSM group is Λ alone."""

    @families.register("probe_dlr", ssm_lr=PROBE_RATE)
    class ProbeDLR(DLR):
        ssm_group_roles = ("eigenvalues",)

    yield ProbeDLR
    families.unregister("probe_dlr")
    assert "probe_dlr" not in families.names()


@pytest.fixture
def gain_family():
    """A throwaway family outside DiagonalSSMLayer: y_t = (σ(p) + d) ⊙ u_t per feature."""

    @families.register("probe_gain", ssm_lr=PROBE_RATE)
    class ProbeGain(keras.layers.Layer):
        ssm_group_roles = ("eigenvalues",)

        def __init__(self, seed=None, bidirectional=False, **kwargs):
            super().__init__(**kwargs)
            self.seed = seed
            self.bidirectional = bidirectional
            self.supports_masking = True
            self.features = None

        def build(self, input_shape):
            self.features = int(input_shape[-1])
            init = keras.initializers.RandomNormal(seed=self.seed)
            self.p = families.tag_weight(
                self.add_weight(name="p", shape=(self.features,), initializer=init),
                self,
                "eigenvalues",
            )
            self.d = families.tag_weight(
                self.add_weight(name="d", shape=(self.features,), initializer="ones"),
                self,
                "feedthrough",
            )

        def call(self, inputs, mask=None):
            return inputs * (keras.ops.sigmoid(self.p) + self.d)

        def compute_output_shape(self, input_shape):
            return input_shape

        def get_config(self):
            return {**super().get_config(), "seed": self.seed, "bidirectional": self.bidirectional}

    yield ProbeGain
    families.unregister("probe_gain")


def _ssm_group(optimizer, model):
    return {
        v.path.split("/")[-1]
        for v in model.trainable_variables
        if optimizer.optimizer_for(v) is optimizer.optimizers[0]
    }


def test_new_family_builds_through_the_block(probe_family):
    assert "probe_dlr" in families.names()
    block = SSMBlock({"class_name": "probe_dlr", "state_size": 4, "seed": 0})
    assert type(block.ssm) is probe_family
    assert type(SSMBlock("ProbeDLR").ssm) is probe_family
    y = block(np.ones((2, 5, 3), "float32"))
    assert tuple(y.shape) == (2, 5, 3)
    assert {v.ssm_family for v in block.ssm.weights} == {"probe_dlr"}


def test_new_family_through_the_builder_and_the_optimizer(probe_family):
    model = models.build_classifier(
        2,
        vocab_size=7,
        hidden_size=4,
        num_layers=2,
        ssm="probe_dlr",
        ssm_kwargs={"state_size": 4},
        seed=0,
    )
    assert [type(b.ssm) for b in model.layers if isinstance(b, SSMBlock)] == [probe_family] * 2
    opt = optimizers.ssm_optimizer(model, paper="probe_dlr")
    assert float(lc.to_numpy(opt.optimizers[0].learning_rate)) == pytest.approx(PROBE_RATE)
    # Λ only: W, which DLR itself trains at the SSM rate, joins the model here.
    assert _ssm_group(opt, model) == {"lambda_radius", "lambda_phase"}
    # A subclass registered on its own is its own family, not DLR's.
    with pytest.raises(ValueError, match=r"DLR layers.*\['ProbeDLR'\]"):
        optimizers.ssm_optimizer(model, paper="dlr")


def test_new_family_outside_the_base_class(gain_family):
    layer = gain_family(seed=0)
    assert SSMBlock(layer).ssm is layer
    model = models.build_tagger(
        1, input_features=3, hidden_size=4, num_layers=1, ssm="probe_gain", seed=1
    )
    x = np.random.default_rng(0).normal(size=(2, 6, 3)).astype("float32")
    assert tuple(model(x).shape) == (2, 6, 1)
    opt = optimizers.ssm_optimizer(model, paper="probe_gain")
    assert _ssm_group(opt, model) == {"p"}
    # The gain layer computes (σ(p) + d) ⊙ u: checked against numpy.
    layer.build((None, 6, 3))
    p, d = lc.to_numpy(layer.p), lc.to_numpy(layer.d)
    lc.assert_close(lc.to_numpy(layer(x)), x * (1 / (1 + np.exp(-p)) + d), atol=1e-6)


def test_new_family_through_the_hub_backbone(probe_family):
    pytest.importorskip("keras_hub")
    from keras_ssm.hub import SSMBackbone

    backbone = SSMBackbone(
        vocabulary_size=7,
        hidden_dim=4,
        num_layers=2,
        ssm="probe_dlr",
        ssm_kwargs={"state_size": 4},
        seed=0,
    )
    assert backbone.paper == "probe_dlr"
    assert [type(layer) for layer in backbone.ssm_layers] == [probe_family] * 2
    opt = backbone.ssm_optimizer()
    assert float(lc.to_numpy(opt.optimizers[0].learning_rate)) == pytest.approx(PROBE_RATE)
    assert _ssm_group(opt, backbone) == {"lambda_radius", "lambda_phase"}
    y = backbone({"token_ids": np.ones((2, 5), "int32"), "padding_mask": np.ones((2, 5), "int32")})
    assert tuple(y.shape) == (2, 5, 4)
