"""keras-hub's own model test harness on every class of keras_ssm.hub, on every backend.

`keras_hub/src/tests/test_case.py` is what keras-hub runs on its own models: backbones
(`run_backbone_test`: serialization, eager and variable-length calls, compiled and tf.data
predict, the name, `run_precision_test` under mixed_float16, mixed_bfloat16 and bfloat16,
int8/float8 quantization), tasks (`run_task_test`: predict and fit with the preprocessor
inside, over tf.data and split preprocessing, no default compile), preprocessors and the
tokenizer (`run_preprocessor_test` / `run_preprocessing_layer_test`: direct calls, tf.data,
Grain, a new `sequence_length` after a first call), and `.keras` saving
(`run_model_saving_test`). keras-hub skips mixed precision on torch's CPU and
quantization on torch; `tests/test_hub_precision.py` covers those there.

The one stated exception: the SSM parameters (the weights a layer family tags with an
`ssm_role`) stay float32 under every dtype policy, bfloat16 included (`SSMBackbone`'s
docstring, the README's keras-hub section); `assertDTypeEqual` below expects float32 for
them and the policy's dtype for every other weight.

Adding a model family (e.g. Mamba): append a `Case` to `BACKBONES`, `TASKS` or
`PREPROCESSORS`; every test below runs on it.
"""

import collections

import keras
import numpy as np
from absl.testing import parameterized
from keras_hub.src.tests.test_case import TestCase

from keras_ssm.hub import MambaBackbone
from keras_ssm.hub import MambaCausalLM
from keras_ssm.hub import SSMBackbone
from keras_ssm.hub import SSMByteTokenizer
from keras_ssm.hub import SSMCausalLM
from keras_ssm.hub import SSMCausalLMPreprocessor
from keras_ssm.hub import SSMSequenceClassifier
from keras_ssm.hub import SSMSequenceClassifierPreprocessor
from keras_ssm.hub import SSMTokenTagger
from keras_ssm.hub import SSMTokenTaggerPreprocessor

# name, the class, a function returning fresh init kwargs, the inputs (or train data), and
# the expected output shape.
Case = collections.namedtuple("Case", "name cls init_kwargs data output_shape")

TOKENS = {
    "token_ids": np.array([[5, 2, 7, 1, 3], [4, 4, 9, 0, 0]], "int32"),
    "padding_mask": np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], "int32"),
}
FEATURES = {
    "features": np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32"),
    "padding_mask": np.ones((2, 5), "int32"),
}
TEXTS = ["the state", "space"]


def _mamba_kwargs():
    return dict(vocabulary_size=256, hidden_dim=4, num_layers=2, state_size=2, seed=1)


def _backbone(**kwargs):
    config = dict(vocabulary_size=256, hidden_dim=4, num_layers=1, ssm_kwargs={"state_size": 2})
    return SSMBackbone(**{**config, "seed": 1, **kwargs})


BACKBONES = [
    Case(
        "s5_tokens",
        SSMBackbone,
        lambda: dict(
            vocabulary_size=10,
            hidden_dim=4,
            num_layers=2,
            ssm="s5",
            ssm_kwargs={"state_size": 2},
            activation="half_glu2",
            block_kwargs={"gelu_approximate": False},
            seed=1,
        ),
        TOKENS,
        (2, 5, 4),
    ),
    Case(
        "dss_features_bidirectional",
        SSMBackbone,
        lambda: dict(
            input_features=3,
            hidden_dim=4,
            num_layers=1,
            ssm="dss",
            ssm_kwargs={"state_size": 2},
            bidirectional=True,
            norm="batch",
            seed=1,
        ),
        FEATURES,
        (2, 5, 4),
    ),
    Case("mamba", MambaBackbone, _mamba_kwargs, TOKENS, (2, 5, 4)),
]

TASKS = [
    Case(
        "text_classifier",
        SSMSequenceClassifier,
        lambda: dict(
            backbone=_backbone(ssm="dlr"),
            num_classes=2,
            preprocessor=SSMSequenceClassifierPreprocessor(SSMByteTokenizer(), sequence_length=8),
        ),
        (TEXTS, np.array([0, 1])),
        (2, 2),
    ),
    Case(
        "text_tagger",
        SSMTokenTagger,
        lambda: dict(
            backbone=_backbone(ssm="s5", bidirectional=True),
            num_classes=3,
            preprocessor=SSMTokenTaggerPreprocessor(SSMByteTokenizer(), sequence_length=8),
        ),
        (TEXTS, np.array([[0, 1, 2, 0, 1], [2, 2, 1, 0, 0]])),
        (2, 8, 3),
    ),
    Case(
        "causal_lm",
        SSMCausalLM,
        lambda: dict(
            backbone=_backbone(ssm="dlr"),
            preprocessor=SSMCausalLMPreprocessor(SSMByteTokenizer(), sequence_length=8),
        ),
        (TEXTS,),
        (2, 8, 256),
    ),
    Case(
        "mamba_causal_lm",
        MambaCausalLM,
        lambda: dict(
            backbone=MambaBackbone(**_mamba_kwargs()),
            preprocessor=SSMCausalLMPreprocessor(SSMByteTokenizer(), sequence_length=8),
        ),
        (TEXTS,),
        (2, 8, 256),
    ),
]

PREPROCESSORS = [
    Case(
        "classifier_preprocessor",
        SSMSequenceClassifierPreprocessor,
        lambda: dict(tokenizer=SSMByteTokenizer(), sequence_length=8, add_end_token=True),
        (TEXTS, np.array([1, 0])),
        None,
    ),
    Case(
        "tagger_preprocessor",
        SSMTokenTaggerPreprocessor,
        lambda: dict(tokenizer=SSMByteTokenizer(), sequence_length=8),
        (TEXTS, np.array([[0, 1, 1, 0, 1], [1, 0, 1, 0, 0]])),
        None,
    ),
    Case(
        "causal_lm_preprocessor",
        SSMCausalLMPreprocessor,
        lambda: dict(tokenizer=SSMByteTokenizer(), sequence_length=8),
        (TEXTS,),
        None,
    ),
]


def _named(cases):
    return [(case.name, case) for case in cases]


class HubConformanceTest(TestCase):
    def assertDTypeEqual(self, x, expected_dtype, msg=None):
        # The stated exception: a layer family's SSM parameters stay float32.
        if isinstance(x, keras.Variable) and getattr(x, "ssm_role", None) is not None:
            expected_dtype = "float32"
        super().assertDTypeEqual(x, expected_dtype, msg=msg)

    @parameterized.named_parameters(*_named(BACKBONES))
    def test_backbone(self, case):
        # Backend tensors, as keras-hub's tests give (symbolic calls read their shapes).
        data = keras.tree.map_structure(keras.ops.convert_to_tensor, case.data)
        self.run_backbone_test(
            cls=case.cls,
            init_kwargs=case.init_kwargs(),
            input_data=data,
            expected_output_shape=case.output_shape,
        )
        self.run_model_saving_test(cls=case.cls, init_kwargs=case.init_kwargs(), input_data=data)

    @parameterized.named_parameters(*_named(TASKS))
    def test_task(self, case):
        self.run_task_test(
            cls=case.cls,
            init_kwargs=case.init_kwargs(),
            train_data=case.data,
            expected_output_shape=case.output_shape,
        )

    @parameterized.named_parameters(*_named(PREPROCESSORS))
    def test_preprocessor(self, case):
        self.init_kwargs = case.init_kwargs()  # run_preprocessor_test reads it
        self.run_preprocessor_test(cls=case.cls, init_kwargs=self.init_kwargs, input_data=case.data)
        # A new sequence_length after a first call reaches the labels too (tagger).
        layer = case.cls(**case.init_kwargs())
        layer(*case.data)
        layer.sequence_length = 11
        for output in keras.tree.flatten(layer(*case.data)):
            if len(np.shape(output)) == 2:
                self.assertEqual(np.shape(output)[-1], 11)

    def test_tokenizer(self):
        self.run_preprocessing_layer_test(
            cls=SSMByteTokenizer, init_kwargs={}, input_data=["the state", "späce"]
        )
