"""SSM parameter groups: routing, exact updates per group, no weight decay, schedules, saving.

Expected updates are written out in numpy (SGD: w - lr g; Adam's first step; AdamW's
decoupled decay w (1 - lr wd)), never taken from the code under test.
"""

import math

import keras
import numpy as np
import pytest

import layer_checks as lc
from keras_ssm import optimizers
from keras_ssm.layers import SSMBlock
from keras_ssm.optimizers import GroupedOptimizer
from keras_ssm.optimizers import WarmupCosine

DLR_SSM = {"lambda_radius", "lambda_phase", "w"}


def _model(ssm="dlr", features=3):
    """Input -> Dense -> SSMBlock -> Dense, built, with float (not schedule) variables."""
    inputs = keras.Input((6, features))
    x = keras.layers.Dense(4, name="encoder")(inputs)
    x = SSMBlock({"class_name": ssm, "state_size": 4, "seed": 0}, name="block")(x)
    outputs = keras.layers.Dense(2, name="head")(x)
    return keras.Model(inputs, outputs)


def _values(variables):
    return [lc.to_numpy(v).astype(np.float64) for v in variables]


def _random_grads(variables, seed=0):
    rng = np.random.default_rng(seed)
    return [
        keras.ops.convert_to_tensor(rng.normal(size=v.shape).astype("float32")) for v in variables
    ]


def _last(path):
    return path.split("/")[-1]


def _is_ssm_variable(model, variable):
    ssm = model.get_layer("block").ssm
    return any(variable is w for w in ssm.trainable_variables)


# ----------------------------------------------------------------------------------------
# routing


@pytest.mark.parametrize(
    "paper,ssm,names",
    [
        ("dlr", "dlr", DLR_SSM),
        ("dss", "dss", {"lambda_log_neg_re", "lambda_imag", "log_dt", "w"}),
        ("s5", "s5", {"lambda_re", "lambda_im", "b", "log_step"}),
    ],
)
@pytest.mark.parametrize("with_model", [True, False])
def test_papers_groups(paper, ssm, names, with_model):
    model = _model(ssm)
    opt = optimizers.ssm_optimizer(model if with_model else None, paper=paper)
    for v in model.trainable_variables:
        in_ssm_group = opt.optimizer_for(v) is opt.optimizers[0]
        expected = _is_ssm_variable(model, v) and _last(v.path) in names
        assert in_ssm_group == expected, v.path
    assert opt.optimizers[0].name == "ssm_adam" and opt.default.name == "main_adamw"
    assert float(lc.to_numpy(opt.default.weight_decay)) == 0.01
    assert opt.optimizers[0].weight_decay is None


def test_wrong_paper_for_the_model_is_an_error():
    with pytest.raises(ValueError, match="DLR"):
        optimizers.ssm_optimizer(_model("s5"), paper="dlr")
    with pytest.raises(ValueError, match="paper"):
        optimizers.ssm_optimizer(None, paper="s4")
    with pytest.raises(ValueError, match="schedule"):
        optimizers.ssm_optimizer(None, paper="dlr", schedule="linear")


def test_invalid_groups():
    with pytest.raises(ValueError, match="own optimizer"):
        sgd = keras.optimizers.SGD(0.1)
        GroupedOptimizer([("a", sgd)], default=sgd)
    with pytest.raises(ValueError, match="selector"):
        GroupedOptimizer([(3, keras.optimizers.SGD(0.1))], default=keras.optimizers.SGD(0.1))
    with pytest.raises(ValueError, match="selector"):
        GroupedOptimizer(
            [({"name": "w"}, keras.optimizers.SGD(0.1))], default=keras.optimizers.SGD(0.1)
        )


# The papers' parameter groups, written out from the papers' code (DSS and DLR: Λ, Δ and W
# at the SSM rate; S5: Λ, B̃, Δ), and each weight's role in the system.
PAPER_ROLES = {
    "dss": {
        "lambda_log_neg_re": "eigenvalues",
        "lambda_imag": "eigenvalues",
        "log_dt": "step",
        "w": "output",
        "w_backward": "output",
        "d": "feedthrough",
    },
    "dlr": {
        "lambda_radius": "eigenvalues",
        "lambda_phase": "eigenvalues",
        "w": "output",
        "w_backward": "output",
        "d": "feedthrough",
    },
    "s5": {
        "lambda_re": "eigenvalues",
        "lambda_im": "eigenvalues",
        "b": "input",
        "c": "output",
        "c_backward": "output",
        "d": "feedthrough",
        "log_step": "step",
    },
}
PAPER_SSM = {
    "dss": {"lambda_log_neg_re", "lambda_imag", "log_dt", "w", "w_backward"},
    "dlr": {"lambda_radius", "lambda_phase", "w", "w_backward"},
    "s5": {"lambda_re", "lambda_im", "b", "log_step"},
}


@pytest.mark.parametrize("ssm", ["dss", "dlr", "s5"])
def test_layers_tag_their_weights(ssm):
    layer = SSMBlock({"class_name": ssm, "state_size": 4, "seed": 0, "bidirectional": True}).ssm
    layer.build((None, 5, 3))
    names = {_last(v.path) for v in layer.weights}
    assert names == set(PAPER_ROLES[ssm])
    for v in layer.weights:
        name = _last(v.path)
        assert v.ssm_role == PAPER_ROLES[ssm][name], name
        assert v.ssm_group == ("ssm" if name in PAPER_SSM[ssm] else "main"), name


def test_role_selector_and_deprecated_name_patterns():
    model = _model("s5")
    opt = GroupedOptimizer(
        [
            ({"roles": ["eigenvalues", "step"]}, keras.optimizers.SGD(0.1)),
            ({"roles": "input"}, keras.optimizers.SGD(0.2)),
        ],
        default=keras.optimizers.SGD(0.3),
    )
    ssm = model.get_layer("block").ssm
    for v in model.trainable_variables:
        name = _last(v.path) if _is_ssm_variable(model, v) else None
        expected = {"lambda_re": 0, "lambda_im": 0, "log_step": 0, "b": 1}.get(name, 2)
        assert opt.group_index(v) == expected, v.path
    assert ssm.built
    with pytest.warns(DeprecationWarning, match="ssm_variable_patterns"):
        patterns = optimizers.ssm_variable_patterns("s5", model)
    assert patterns == [r"(^|/)s5/(lambda_re|lambda_im|b|log_step)$".replace("s5/", f"{ssm.name}/")]
    with pytest.raises(ValueError, match="weight_decay"):
        GroupedOptimizer([], default=keras.optimizers.SGD(0.1), weight_decay=0.1)


# ----------------------------------------------------------------------------------------
# exact updates


def _sgd_grouped(ssm_lr=0.5, lr=0.01, **kwargs):
    return GroupedOptimizer(
        [({"group": "ssm"}, keras.optimizers.SGD(ssm_lr))],
        default=keras.optimizers.SGD(lr),
        **kwargs,
    )


def test_sgd_groups_update_at_their_own_rate():
    model = _model()
    variables = model.trainable_variables
    opt = _sgd_grouped()
    before = _values(variables)
    grads = _random_grads(variables)
    for _ in range(2):
        opt.apply(grads, variables)
    grads = [lc.to_numpy(g) for g in grads]
    for v, w0, g in zip(variables, before, grads):
        rate = 0.5 if _last(v.path) in DLR_SSM else 0.01
        lc.assert_close(lc.to_numpy(v), w0 - 2 * rate * g, atol=1e-6, what=v.path)
    assert int(lc.to_numpy(opt.iterations)) == 2
    assert all(int(lc.to_numpy(o.iterations)) == 2 for o in opt.optimizers)


def test_adam_first_step_and_adamw_decay():
    model = _model()
    variables = model.trainable_variables
    opt = optimizers.ssm_optimizer(model, paper="dlr", lr=1e-2, ssm_lr=1e-3, weight_decay=0.1)
    before = _values(variables)
    grads = _random_grads(variables, seed=1)
    opt.apply(grads, variables)
    for v, w0, g in zip(variables, before, grads):
        g = lc.to_numpy(g).astype(np.float64)
        # Adam's first step: m̂ = g, v̂ = g², update lr · g / (|g| + ε').
        if _last(v.path) in DLR_SSM:
            lr, decay = 1e-3, 0.0
        else:
            lr, decay = 1e-2, 0.1
        step = lr * g / (np.abs(g) + 1e-8 / math.sqrt(1 - 0.999))
        expected = w0 * (1 - lr * decay) - step
        lc.assert_close(lc.to_numpy(v), expected, atol=1e-6, rtol=1e-5, what=v.path)


def test_zero_gradients_decay_only_the_main_group():
    model = _model()
    variables = model.trainable_variables
    opt = optimizers.ssm_optimizer(model, paper="dlr", lr=0.1, ssm_lr=0.1, weight_decay=0.5)
    before = _values(variables)
    opt.apply([keras.ops.zeros(v.shape) for v in variables], variables)
    for v, w0 in zip(variables, before):
        if _last(v.path) in DLR_SSM:
            np.testing.assert_array_equal(lc.to_numpy(v), w0.astype("float32"), err_msg=v.path)
        else:
            lc.assert_close(lc.to_numpy(v), w0 * (1 - 0.1 * 0.5), atol=1e-7, what=v.path)
    assert any(
        np.abs(w0).max() > 0 and _last(v.path) not in DLR_SSM for v, w0 in zip(variables, before)
    )


def test_global_clipnorm_spans_all_groups():
    model = _model()
    variables = model.trainable_variables
    opt = _sgd_grouped(ssm_lr=1.0, lr=1.0, global_clipnorm=0.5)
    before = _values(variables)
    grads = _random_grads(variables, seed=2)
    opt.apply(grads, variables)
    grads = [lc.to_numpy(g).astype(np.float64) for g in grads]
    norm = math.sqrt(sum(float((g**2).sum()) for g in grads))
    for v, w0, g in zip(variables, before, grads):
        lc.assert_close(lc.to_numpy(v), w0 - g * 0.5 / norm, atol=1e-6, what=v.path)


@pytest.mark.parametrize("clip", ["clipnorm", "clipvalue", "global_clipnorm"])
def test_loss_scale_is_removed_then_gradients_clipped(clip):
    # As Keras' optimizers: g / loss_scale_factor first, then the clipping, then the groups.
    model = _model()
    variables = model.trainable_variables
    opt = _sgd_grouped(ssm_lr=1.0, lr=1.0, loss_scale_factor=4.0, **{clip: 0.3})
    before = _values(variables)
    grads = _random_grads(variables, seed=4)
    opt.apply([g * 4.0 for g in grads], variables)
    grads = [lc.to_numpy(g).astype(np.float64) for g in grads]
    total = math.sqrt(sum(float((g**2).sum()) for g in grads))
    for v, w0, g in zip(variables, before, grads):
        if clip == "clipnorm":
            step = g * 0.3 / max(math.sqrt(float((g**2).sum())), 0.3)
        elif clip == "clipvalue":
            step = np.clip(g, -0.3, 0.3)
        else:
            step = g * 0.3 / max(total, 0.3)
        lc.assert_close(lc.to_numpy(v), w0 - step, atol=1e-6, what=v.path)


def test_stateless_apply_matches_apply():
    """The path JAX's fit uses: stateless_apply on tensors."""
    model = _model()
    variables = model.trainable_variables
    opt = optimizers.ssm_optimizer(model, paper="dlr", lr=1e-2, ssm_lr=1e-3, weight_decay=0.1)
    opt.build(variables)
    grads = _random_grads(variables, seed=3)
    if lc.BACKEND == "tensorflow":
        pytest.raises(
            ValueError,
            opt.stateless_apply,
            [v.value for v in opt.variables],
            grads,
            [v.value for v in variables],
        )  # Keras: not on TF (tf.distribute)
        return
    new_vars, new_opt_vars = opt.stateless_apply(
        [v.value for v in opt.variables], grads, [v.value for v in variables]
    )
    before = _values(variables)
    opt.apply(grads, variables)
    for new, v, w0 in zip(new_vars, variables, before):
        lc.assert_close(lc.to_numpy(new), lc.to_numpy(v), atol=1e-7, what=v.path)
        assert np.abs(lc.to_numpy(v) - w0).max() > 0
    for new, v in zip(new_opt_vars, opt.variables):
        lc.assert_close(lc.to_numpy(new), lc.to_numpy(v), atol=1e-7, what=v.path)


def test_fit_moves_each_group_at_its_rate():
    """One fit step with SGD groups: SSM displacement / other displacement = rate ratio."""
    x = np.random.default_rng(0).normal(size=(4, 6, 3)).astype("float32")
    y = np.random.default_rng(1).normal(size=(4, 6, 2)).astype("float32")
    model = _model()
    start = model.get_weights()

    def displacement(optimizer):
        model.set_weights(start)
        model.compile(optimizer, "mse")
        model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
        return [w - w0 for w, w0 in zip(model.get_weights(), start)]

    plain = displacement(keras.optimizers.SGD(0.01))
    grouped = displacement(_sgd_grouped(ssm_lr=0.03, lr=0.01))
    for v, d_plain, d_grouped in zip(model.weights, plain, grouped):
        factor = 3.0 if _last(v.path) in DLR_SSM else 1.0
        assert np.abs(d_plain).max() > 0, v.path
        lc.assert_close(d_grouped, factor * d_plain, atol=1e-5, what=v.path)


# ----------------------------------------------------------------------------------------
# learning rates and schedules


def _numpy_warmup_cosine(step, base, warmup, total, floor):
    if step < warmup:
        return base * (step + 1) / warmup
    progress = min(step - warmup, total - warmup) / (total - warmup)
    return floor + (base - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def test_warmup_cosine_values_and_config():
    schedule = WarmupCosine(1e-3, warmup_steps=4, total_steps=20, min_lr=1e-5)
    for step in [0, 1, 3, 4, 5, 12, 19, 20, 35]:
        expected = _numpy_warmup_cosine(step, 1e-3, 4, 20, 1e-5)
        assert abs(float(lc.to_numpy(schedule(step))) - expected) < 1e-9 + 1e-6 * expected, step
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert isinstance(clone, WarmupCosine) and clone.get_config() == schedule.get_config()
    assert float(lc.to_numpy(WarmupCosine(1.0, 0, 10)(0))) == 1.0
    with pytest.raises(ValueError, match="total_steps"):
        WarmupCosine(1e-3, warmup_steps=10, total_steps=10)


def test_cosine_schedule_per_group():
    model = _model()
    variables = model.trainable_variables
    opt = optimizers.ssm_optimizer(
        model,
        paper="dlr",
        lr=1e-2,
        ssm_lr=1e-3,
        schedule="cosine",
        warmup_steps=2,
        total_steps=6,
        min_lr=1e-4,
    )
    grads = _random_grads(variables)
    for _ in range(3):
        opt.apply(grads, variables)
    main, ssm = opt.default, opt.optimizers[0]
    assert (
        abs(float(lc.to_numpy(main.learning_rate)) - _numpy_warmup_cosine(3, 1e-2, 2, 6, 1e-4))
        < 1e-8
    )
    assert (
        abs(float(lc.to_numpy(ssm.learning_rate)) - _numpy_warmup_cosine(3, 1e-3, 2, 6, 1e-5))
        < 1e-9
    )


def test_setting_the_learning_rate_rescales_every_group():
    opt = optimizers.ssm_optimizer(None, paper="dlr", lr=1e-2, ssm_lr=1e-3)
    assert abs(float(lc.to_numpy(opt.learning_rate)) - 1e-2) < 1e-9
    opt.learning_rate = 5e-3
    assert abs(float(lc.to_numpy(opt.default.learning_rate)) - 5e-3) < 1e-9
    assert abs(float(lc.to_numpy(opt.optimizers[0].learning_rate)) - 5e-4) < 1e-10


def test_reduce_lr_on_plateau_scales_every_group():
    x = np.random.default_rng(0).normal(size=(4, 6, 3)).astype("float32")
    y = np.zeros((4, 6, 2), "float32")
    model = _model()
    opt = optimizers.ssm_optimizer(model, paper="dlr", lr=1e-2, ssm_lr=1e-3, schedule="plateau")
    model.compile(opt, "mse")
    # mode="max" on a falling loss: every epoch after the first is a plateau.
    reduce = keras.callbacks.ReduceLROnPlateau(
        monitor="loss", mode="max", factor=0.5, patience=0, min_delta=0.0
    )
    model.fit(x, y, batch_size=4, epochs=3, verbose=0, callbacks=[reduce])
    main = float(lc.to_numpy(opt.default.learning_rate))
    ssm = float(lc.to_numpy(opt.optimizers[0].learning_rate))
    assert abs(main - 1e-2 * 0.25) < 1e-9 and abs(ssm - 1e-3 * 0.25) < 1e-10, (main, ssm)


# ----------------------------------------------------------------------------------------
# serialization


def test_config_roundtrip_and_state_after_keras_save(tmp_path):
    model = _model()
    opt = optimizers.ssm_optimizer(
        model,
        paper="dlr",
        lr=1e-2,
        schedule="cosine",
        warmup_steps=2,
        total_steps=10,
        global_clipnorm=1.0,
    )
    config = opt.get_config()
    clone = GroupedOptimizer.from_config(config)
    assert config["groups"][0]["tags"] == {"group": "ssm"}
    assert clone.get_config()["groups"][0]["tags"] == {"group": "ssm"}
    # Configs saved before the tags name their groups by path regexes.
    legacy = dict(
        config,
        groups=[
            {
                "patterns": [r"(^|/)(lambda_radius|lambda_phase|w)$"],
                "optimizer": config["groups"][0]["optimizer"],
            }
        ],
    )
    assert (
        GroupedOptimizer.from_config(legacy).get_config()["groups"][0]["patterns"]
        == legacy["groups"][0]["patterns"]
    )
    schedule = clone.optimizers[0].get_config()["learning_rate"]
    assert keras.saving.deserialize_keras_object(schedule).__class__ is WarmupCosine
    revived = keras.optimizers.deserialize(keras.optimizers.serialize(opt))
    assert type(revived) is GroupedOptimizer
    variables = model.trainable_variables
    opt.apply(_random_grads(variables), variables)
    model.compile(opt, "mse")
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.optimizer) is GroupedOptimizer
    saved_values = _values(opt.variables)
    loaded_values = _values(loaded.optimizer.variables)
    assert len(saved_values) == len(loaded_values)
    for a, b in zip(saved_values, loaded_values):
        np.testing.assert_array_equal(a, b)
    ssm_paths = {
        v.path
        for v in loaded.trainable_variables
        if loaded.optimizer.optimizer_for(v) is loaded.optimizer.optimizers[0]
    }
    assert {_last(p) for p in ssm_paths} == DLR_SSM
