"""keras_ssm.hub under Keras' mixed precision policies, on every backend.

The backbone, the classifier and the causal LM build, fit a step, predict and generate
under `mixed_bfloat16` and `mixed_float16` (both run on CPU with jax, tensorflow and
torch), given as the `dtype` argument or as the global policy: their variables stay
float32 (the SSMs' parameters always are), their outputs are in the compute dtype, and
`mixed_float16` training goes through Keras' loss scaling. Under the `bfloat16` policy
(keras-hub's precision test, `tests/test_hub_conformance.py`, which skips torch's CPU)
the SSM parameters are the one weight kept float32, and the outputs are bfloat16.
"""

import keras
import numpy as np
import pytest

from keras_ssm.hub import SSMBackbone
from keras_ssm.hub import SSMByteTokenizer
from keras_ssm.hub import SSMCausalLM
from keras_ssm.hub import SSMCausalLMPreprocessor
from keras_ssm.hub import SSMSequenceClassifier
from keras_ssm.hub import SSMSequenceClassifierPreprocessor

POLICIES = ["mixed_bfloat16", "mixed_float16"]
COMPUTE = {"mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}


@pytest.fixture
def global_policy():
    """Sets a global dtype policy for one test, then restores float32."""
    yield keras.config.set_dtype_policy
    keras.config.set_dtype_policy("float32")


def backbone(dtype=None, ssm="s5", **kwargs):
    ssm_kwargs = {"state_size": 4, **({"variant": "exp"} if ssm == "dss" else {})}
    return SSMBackbone(
        vocabulary_size=256,
        hidden_dim=8,
        num_layers=2,
        ssm=ssm,
        ssm_kwargs=ssm_kwargs,
        seed=1,
        dtype=dtype,
        **kwargs,
    )


def assert_float32_variables(model):
    assert {v.dtype for v in model.weights} == {"float32"}


def dtype_name(x):
    return keras.backend.standardize_dtype(x.dtype)


# Every family under a mixed policy, S5 under both (the layers themselves run under both
# policies in tests/test_precision.py).
@pytest.mark.parametrize(
    "policy,ssm",
    [
        ("mixed_bfloat16", "s5"),
        ("mixed_float16", "s5"),
        ("mixed_float16", "dlr"),
        ("mixed_bfloat16", "dss"),
    ],
)
def test_backbone_and_classifier(policy, ssm):
    model = backbone(policy, ssm=ssm, norm="batch")
    assert model.dtype_policy.name == policy
    x = {"token_ids": np.ones((2, 8), "int32"), "padding_mask": np.ones((2, 8), "int32")}
    assert dtype_name(model(x)) == COMPUTE[policy]
    classifier = SSMSequenceClassifier(
        model,
        2,
        preprocessor=SSMSequenceClassifierPreprocessor(SSMByteTokenizer(), sequence_length=8),
    )
    classifier.compile(optimizer=model.ssm_optimizer(lr=1e-3, ssm_lr=1e-3))
    if policy == "mixed_float16":
        assert isinstance(classifier.optimizer, keras.optimizers.LossScaleOptimizer)
    before = [
        v.numpy() if hasattr(v, "numpy") else keras.ops.convert_to_numpy(v)
        for v in classifier.trainable_variables
    ]
    history = classifier.fit(["ab", "cd"], np.array([0, 1]), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    after = [keras.ops.convert_to_numpy(v) for v in classifier.trainable_variables]
    assert any(not np.array_equal(a, b) for a, b in zip(before, after))  # a step was taken
    logits = classifier.predict(["ab", "a longer text"], verbose=0)
    assert logits.shape == (2, 2) and np.all(np.isfinite(logits.astype("float32")))
    assert_float32_variables(classifier)


def test_bfloat16_policy_keeps_float32_ssm_parameters_and_outputs_bfloat16():
    model = backbone("bfloat16", ssm="dlr")
    classifier = SSMSequenceClassifier(model, 2)
    x = {"token_ids": np.ones((2, 8), "int32"), "padding_mask": np.ones((2, 8), "int32")}
    assert dtype_name(model(x)) == "bfloat16"
    assert dtype_name(classifier(x)) == "bfloat16"
    ssm_weights = [v for v in classifier.weights if getattr(v, "ssm_role", None)]
    assert ssm_weights and {v.dtype for v in ssm_weights} == {"float32"}
    others = [v for v in classifier.weights if not getattr(v, "ssm_role", None)]
    assert others and {v.dtype for v in others} == {"bfloat16"}


@pytest.mark.parametrize("policy", POLICIES)
def test_causal_lm_fits_predicts_generates(policy):
    lm = SSMCausalLM(
        backbone(policy),
        preprocessor=SSMCausalLMPreprocessor(SSMByteTokenizer(), sequence_length=12),
        prefill_chunk_size=4,
    )
    history = lm.fit(["import os", "import sys"], epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    logits = lm.predict(["import"], verbose=0)
    assert logits.shape == (1, 12, 256) and np.all(np.isfinite(logits.astype("float32")))
    lm.compile(sampler="greedy")
    text = lm.generate(["imp", "from x"], max_length=10)
    assert [t[: len(p)] for t, p in zip(text, ["imp", "from x"])] == ["imp", "from x"]
    # The cache stays the float32 SSM state.
    states = lm.backbone.get_initial_state(1)
    assert {dtype_name(part) for state in states for part in state} == {"float32"}
    assert_float32_variables(lm)


@pytest.mark.parametrize("policy", POLICIES)
def test_global_policy(policy, global_policy):
    """The global policy reaches every layer: then fit, predict and generate are those of
    the `dtype=` argument (test_causal_lm_fits_predicts_generates)."""
    global_policy(policy)
    lm = SSMCausalLM(
        backbone(), preprocessor=SSMCausalLMPreprocessor(SSMByteTokenizer(), sequence_length=12)
    )
    assert lm.backbone.dtype_policy.name == policy
    x = {"token_ids": np.ones((1, 8), "int32"), "padding_mask": np.ones((1, 8), "int32")}
    assert dtype_name(lm(x)) == COMPUTE[policy]
    assert_float32_variables(lm)
