"""The layer contract (tests/layer_harness.py) on every layer in every mode.

DSS (both variants) and DLR in convolution and recurrence mode, S5 and the LRU
(recurrence), each causal and bidirectional, S4D causal in the recurrence and bidirectional
in the convolution, and SSMBlock around each SSM; outputs compared with the numpy
simulation of `discrete_system()` (layer_checks.expected_output). Seeds, the training step
and the dtype policies are checked once per layer (bidirectional, in the recurrence; S4D in
the convolution); test_precision.py covers mixed precision in each mode at length 4096.

The layer modules (test_dss.py, ...) keep what is particular to each layer: its
initialization and kernel from the paper, the authors' bidirectional code, step_scale,
errors; what the harness checks is not repeated there.
"""

import numpy as np
import pytest

import layer_checks as lc
import layer_harness
from keras_ssm.layers import DLR
from keras_ssm.layers import DSS
from keras_ssm.layers import LRU
from keras_ssm.layers import S4D
from keras_ssm.layers import S5
from keras_ssm.layers import SSMBlock

SHAPE = (2, 12, 3)
N = 4


def ssm_cases():
    cases = []
    for bidirectional in (False, True):
        for mode in ("convolution", "recurrence"):
            cases.append(
                ("dss_exp", DSS, dict(variant="exp", dt_min=1e-2, dt_max=0.5), mode, bidirectional)
            )
            cases.append(
                (
                    "dss_softmax",
                    DSS,
                    dict(variant="softmax", dt_min=1e-2, dt_max=0.5),
                    mode,
                    bidirectional,
                )
            )
            cases.append(("dlr", DLR, dict(dt_min=1e-2, dt_max=0.5), mode, bidirectional))
        cases.append(("s5", S5, dict(dt_min=1e-2, dt_max=0.5), "recurrence", bidirectional))
        # S4D's two modes are the base class's (DSS/DLR's) paths: its kernel checked
        # bidirectional, its recurrence causal (streaming); test_s4d.py checks both modes
        # bidirectional against the S4 code, test_properties.py that the modes agree.
        s4d_mode = "convolution" if bidirectional else "recurrence"
        cases.append(("s4d", S4D, dict(dt_min=1e-2, dt_max=0.5), s4d_mode, bidirectional))
        cases.append(("lru", LRU, dict(r_min=0.5, r_max=0.95), "recurrence", bidirectional))
    return [
        pytest.param(*case, id=f"{case[0]}-{case[3]}-{'bi' if case[4] else 'causal'}")
        for case in cases
    ]


@pytest.mark.parametrize("name,cls,kwargs,mode,bidirectional", ssm_cases())
def test_ssm_layer_contract(name, cls, kwargs, mode, bidirectional, tmp_path):
    def make_layer(**overrides):
        config = dict(state_size=N, mode=mode, bidirectional=bidirectional, seed=1, **kwargs)
        config.update(overrides)
        return cls(**config)

    # mode="convolution" carries no state (streaming needs "auto" or "recurrence").
    streams = not bidirectional and name != "dss_softmax" and mode == "recurrence"
    # Seeds and the training loop do not depend on the mode or direction: checked once
    # per layer, bidirectional (every weight) in the recurrence (which every layer has;
    # S4D in its only bidirectional case, the kernel). Mixed precision too:
    # test_precision.py checks it per mode, at length 4096, with a tighter tolerance.
    once = bidirectional and (mode == "recurrence" or name == "s4d")
    layer_harness.run_layer_test(
        make_layer,
        SHAPE,
        tmp_path=tmp_path,
        expected_output=lc.expected_output,
        streaming=streams,
        run_seed_check=once,
        run_training_check=once,
        run_mixed_precision_check=once,
    )


BLOCKS = {
    "dlr-layernorm-gelu-dropout": dict(
        ssm={"class_name": "dlr", "state_size": N, "seed": 1}, dropout=0.25
    ),
    "dss-batchnorm-glu-postnorm": dict(
        ssm={"class_name": "dss", "state_size": N, "seed": 1},
        norm="batch",
        activation="glu",
        prenorm=False,
    ),
    "s5-bidirectional-half_glu1": dict(
        ssm={"class_name": "s5", "state_size": N, "seed": 1, "bidirectional": True},
        activation="half_glu1",
    ),
}


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_block_contract(name, tmp_path):
    def make_layer(**overrides):
        config = dict(BLOCKS[name], seed=2)
        config.update(overrides)
        return SSMBlock(**config)

    bidirectional = BLOCKS[name]["ssm"].get("bidirectional", False)
    # The block's own seeds (dropout, Dense) and training loop are the same code for
    # every SSM inside: checked with the first block (the SSMs' own, above).
    once = name == sorted(BLOCKS)[0]
    layer_harness.run_layer_test(
        make_layer,
        SHAPE,
        tmp_path=tmp_path,
        streaming=not bidirectional,
        run_seed_check=once,
        run_training_check=once,
        expected_num_non_trainable_weights=2 if BLOCKS[name].get("norm") == "batch" else 0,
        training_changes_output=BLOCKS[name].get("dropout", 0) > 0
        or BLOCKS[name].get("norm") == "batch",
    )


# ----------------------------------------------------------------------------------------
# the harness itself fails on broken layers


class ForgetsAnArgument(DLR):
    """get_config() without dt_min: a from_config clone is another layer."""

    def get_config(self):
        config = super().get_config()
        del config["dt_min"]
        return config


class IgnoresTheMask(DLR):
    """Drops the mask: padded garbage reaches the valid outputs."""

    def call(self, inputs, mask=None, **kwargs):
        return super().call(inputs, **kwargs)


def test_harness_fails_on_broken_layers():
    with pytest.raises(AssertionError, match="changed `dt_min`"):
        layer_harness.check_unbuilt_serialization(lambda **kw: ForgetsAnArgument(dt_min=0.01, **kw))
    layer = IgnoresTheMask(state_size=N, seed=1, dt_min=1e-2, dt_max=0.5)
    u = np.random.default_rng(0).normal(size=SHAPE).astype("float32")
    layer(u)
    with pytest.raises(AssertionError, match="padded sequence"):
        lc.check_masking(layer, u, [12, 7], reference=lambda x: lc.expected_output(layer, x))
