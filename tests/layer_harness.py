"""`run_layer_test`: the contract every sequence layer of keras-ssm must keep.

Modeled on Keras' `testing.TestCase.run_layer_test` (keras/src/testing/test_case.py):
serialization of the unbuilt layer, build, symbolic and eager calls with their shapes
and dtypes, a training step, mixed precision; plus what our layers promise beyond it
(design.md): the same outputs after get_config/from_config and a `.keras` round trip,
masking with garbage padding, training vs inference, streaming (causal layers), seeds
and `InputSpec` errors. The checks that `layer_checks.py` already has are called from
here, not repeated. A new layer gets the whole contract with one call:

    import layer_harness
    layer_harness.run_layer_test(lambda **kw: MyLayer(state_size=8, seed=1, **kw),
                                 tmp_path=tmp_path, streaming=True,
                                 expected_output=layer_checks.expected_output)

`make_layer(**overrides)` must build a fresh layer of one fixed configuration and
accept `seed=` and `dtype=` (Keras' dtype policies) as overrides.
"""

import json
import os

import keras
import numpy as np

import layer_checks as lc


def run_layer_test(
    make_layer,
    input_shape=(2, 12, 3),
    *,
    tmp_path,
    expected_output=None,
    expected_num_trainable_weights=None,
    expected_num_non_trainable_weights=0,
    streaming=False,
    training_changes_output=False,
    mask_lengths=None,
    run_training_check=True,
    run_mixed_precision_check=True,
    run_seed_check=True,
    atol=2e-4,
):
    """Run every contract check on the layer that `make_layer()` builds.

    Args:
        make_layer: callable(**overrides) -> a new layer (see the module docstring).
        input_shape: (batch, length, features) of the test inputs (standard normal).
        tmp_path: a folder for the `.keras` file.
        expected_output: optional callable(layer, u) -> the numpy outputs computed
            independently (e.g. `layer_checks.expected_output`, from discrete_system()).
        expected_num_trainable_weights, expected_num_non_trainable_weights: the
            number of weights once built (None: not checked).
        streaming: the layer is causal and streams (`initial_state`, `return_state`,
            `step`).
        training_changes_output: `training=True` changes the outputs (dropout); else
            training and inference outputs are identical.
        mask_lengths: valid lengths of a padded batch (default: full and about half).
        run_training_check, run_mixed_precision_check, run_seed_check: the slower
            checks, on by default (a second configuration of a layer may skip the
            ones its mode does not change, e.g. seeds).
        atol: tolerance of float32 output comparisons (relative to max(1, |y|)).
    """
    u = np.random.default_rng(0).normal(size=input_shape).astype("float32")
    batch, length, _ = input_shape
    check_unbuilt_serialization(make_layer)
    check_build(
        make_layer, input_shape, expected_num_trainable_weights, expected_num_non_trainable_weights
    )
    layer = check_symbolic_and_eager_calls(make_layer, u)
    if expected_output is not None:
        lc.assert_close(
            lc.to_numpy(layer(u)),
            expected_output(layer, u),
            atol=atol,
            what="output vs independent reference",
        )
    lc.check_config_roundtrip(layer, u)
    check_keras_file_roundtrip(layer, u, tmp_path)
    lc.check_input_spec(lambda: make_layer(), u)
    assert layer.supports_masking
    reference = None if expected_output is None else (lambda x: expected_output(layer, x))
    lc.check_masking(
        layer, u, mask_lengths or [length, max(1, length // 2 + 1)], atol=atol, reference=reference
    )
    lc.check_mask_propagates(lambda: make_layer(), features=input_shape[2], length=length)
    lc.check_packing(layer, u, atol=atol, reference=reference)
    check_training_vs_inference(layer, u, training_changes_output)
    if streaming:
        # Two equal chunks: one more shape to trace (JAX compiles per shape).
        lc.check_streaming(layer, u, splits=(length // 2,), atol=atol)
        # A layer whose first symbolic call had one output cannot enter a functional
        # model through a call with more (Keras' connectivity check counts the
        # outputs of the first call): the functional streaming model gets a fresh
        # layer with the same weights.
        fresh = make_layer()
        fresh(u)
        fresh.set_weights(layer.get_weights())
        lc.check_functional_streaming(fresh, u, splits=(length // 2,))
    if run_training_check:
        check_training_step(make_layer, u)
    if run_mixed_precision_check:
        for policy in ("mixed_float16", "mixed_bfloat16"):
            check_policy_dtypes(make_layer, u, policy)
            lc.check_mixed_precision(make_layer, u, policy)
    if run_seed_check:
        lc.check_seeded(make_layer, u)
        lc.check_global_seed(make_layer, u)
    return layer


def _config_json(layer):
    return json.dumps(layer.get_config(), sort_keys=True)


def check_unbuilt_serialization(make_layer):
    """As Keras' run_class_serialization_test: get_config -> from_config and
    serialize -> deserialize give the same config (as JSON), the same attributes and
    the same values of the plain attributes (the constructor arguments)."""
    layer = make_layer()
    config = _config_json(layer)
    revived = type(layer).from_config(layer.get_config())
    assert _config_json(revived) == config, "from_config(get_config()) changed the config"
    assert set(dir(revived)) == set(dir(layer)), "from_config gives other attributes"
    # Every constructor argument kept as an attribute comes back (an argument missing
    # from get_config() would silently take its default).
    simple = (bool, int, float, str, tuple, type(None))
    for name, value in vars(layer).items():
        if not name.startswith("_") and isinstance(value, simple):
            assert getattr(revived, name) == value, f"from_config(get_config()) changed `{name}`"
    serialized = json.loads(json.dumps(keras.saving.serialize_keras_object(layer)))
    revived = keras.saving.deserialize_keras_object(serialized)
    assert type(revived) is type(layer)
    assert _config_json(revived) == config, "deserialize(serialize()) changed the config"


def check_build(make_layer, input_shape, num_trainable=None, num_non_trainable=0):
    """build() creates float32 weights (whatever the policy) and the output shape is the
    input shape; the weight counts, when given."""
    for shape in (tuple(input_shape), (None, None, input_shape[2])):
        layer = make_layer()
        assert not layer.built
        layer.build(shape)
        assert layer.built
        assert layer.trainable_weights, "no trainable weights"
        if num_trainable is not None:
            assert len(layer.trainable_weights) == num_trainable, [
                w.path for w in layer.trainable_weights
            ]
        if num_non_trainable is not None:
            assert len(layer.non_trainable_weights) == num_non_trainable, [
                w.path for w in layer.non_trainable_weights
            ]
        for w in layer.weights:
            assert keras.backend.standardize_dtype(w.dtype) == "float32", w.path
        assert tuple(layer.compute_output_shape(shape)) == shape


def check_symbolic_and_eager_calls(make_layer, u):
    """keras.Input -> KerasTensor of the input's shape and the compute dtype; eager calls
    give that shape and dtype, and the functional model the eager outputs. Returns the
    (built) layer."""
    layer = make_layer()
    for shape in (u.shape[1:], (None, u.shape[2])):
        inputs = keras.Input(shape)
        outputs = layer(inputs)
        assert isinstance(outputs, keras.KerasTensor)
        assert tuple(outputs.shape) == (None,) + tuple(shape)
        assert keras.backend.standardize_dtype(outputs.dtype) == layer.compute_dtype
    inputs = keras.Input(u.shape[1:])
    model = keras.Model(inputs, layer(inputs))
    y = layer(u)
    assert tuple(y.shape) == u.shape
    assert keras.backend.standardize_dtype(y.dtype) == layer.compute_dtype
    lc.assert_close(lc.to_numpy(model(u)), lc.to_numpy(y), atol=1e-6, what="functional vs eager")
    return layer


def check_keras_file_roundtrip(layer, u, tmp_path):
    """A model holding the layer saved as `.keras` and loaded back (this backend) has the
    same weights and gives identical outputs."""
    inputs = keras.Input(u.shape[1:])
    model = keras.Model(inputs, layer(inputs))
    path = os.path.join(str(tmp_path), f"{layer.name}.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(lc.to_numpy(loaded(u)), lc.to_numpy(model(u)))
    assert _config_json(loaded.layers[-1]) == _config_json(layer)


def check_training_vs_inference(layer, u, training_changes_output):
    """Inference is deterministic and the default; `training=True` changes the outputs
    only for layers with dropout."""
    y = lc.to_numpy(layer(u))
    np.testing.assert_array_equal(lc.to_numpy(layer(u, training=False)), y)
    y_train = lc.to_numpy(layer(u, training=True))
    if training_changes_output:
        assert np.abs(y_train - y).max() > 1e-6, "training=True did not change the outputs"
    else:
        lc.assert_close(y_train, y, atol=1e-5, what="training=True vs inference")


def check_training_step(make_layer, u):
    """One compiled `fit` step (jit_compile="auto", each backend's default path) on the
    loss sum(y), as Keras' harness: a finite loss and updated weights."""
    inputs = keras.Input(u.shape[1:])
    model = keras.Model(inputs, make_layer()(inputs))
    before = [np.array(w) for w in model.get_weights()]
    model.compile(
        optimizer=keras.optimizers.SGD(1e-2), loss=lambda y_true, y_pred: keras.ops.sum(y_pred)
    )
    history = model.fit(u, u, batch_size=u.shape[0], epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    after = model.get_weights()
    assert any(not np.array_equal(a, b) for a, b in zip(before, after)), "fit changed no weight"


def check_policy_dtypes(make_layer, u, policy):
    """Under a mixed policy the symbolic and eager outputs have the compute dtype (float16
    or bfloat16) and every variable stays float32."""
    layer = make_layer(dtype=policy)
    compute = keras.mixed_precision.Policy(policy).compute_dtype
    spec = layer(keras.Input(u.shape[1:]))
    assert keras.backend.standardize_dtype(spec.dtype) == compute
    y = layer(u)
    assert keras.backend.standardize_dtype(y.dtype) == compute
    for w in layer.weights:
        assert keras.backend.standardize_dtype(w.dtype) == "float32", w.path
