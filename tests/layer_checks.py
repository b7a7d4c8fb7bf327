"""Shared checks for the diagonal SSM layers (DSS, DLR, S5), like Keras' run_layer_test.

Every expected value is computed in numpy from `layer.discrete_system()` with a plain
loop over time (`simulate`), never by the code under test. A layer test module calls
these with its own constructor arguments:

    import layer_checks as lc
    lc.check_matches_system(lambda **kw: DLR(state_size=8, seed=1, **kw), u)
"""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np

BACKEND = keras.config.backend()
ALL_BACKENDS = ("jax", "tensorflow", "torch")


def to_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


# ----------------------------------------------------------------------------------------
# numpy reference


def simulate(system, u, step_scales=None):
    """y_t = Re(c x_t) + d u_t with x_t = a x_{t-1} + b u_t, x_{-1} = 0 (numpy loop).

    Args:
        system: dict from `discrete_system()`: a (P,), b (P, H), c (H, P), d (H,).
        u: (batch, length, H) float array.
    """
    a, b, c, d = system["a"], system["b"], system["c"], system["d"]
    batch, length, _ = u.shape
    x = np.zeros((batch, a.shape[0]), dtype=np.complex128)
    ys = []
    for t in range(length):
        x = a * x + u[:, t].astype(np.float64) @ b.T
        ys.append((x @ c.T).real + d * u[:, t])
    return np.stack(ys, axis=1)


def expected_output(layer, u, step_scale=1.0):
    """The layer's output by numpy simulation of its discrete system(s)."""
    length = u.shape[1]
    y = simulate(layer.discrete_system("forward", step_scale=step_scale, length=length), u)
    if layer.bidirectional:
        backward = layer.discrete_system("backward", step_scale=step_scale, length=length)
        y = y + simulate(backward, u[:, ::-1])[:, ::-1]
    return y


def assert_close(actual, expected, rtol=1e-4, atol=1e-4, what="output"):
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    scale = max(1.0, float(np.abs(expected).max()))
    err = float(np.abs(actual - expected).max())
    assert err <= atol * scale + rtol * scale, f"{what}: max error {err:.3g} (scale {scale:.3g})"


# ----------------------------------------------------------------------------------------
# values


def check_matches_system(make_layer, u, modes=("auto",), step_scale=1.0, atol=2e-4):
    """Output equals the numpy simulation of discrete_system(), in every mode given."""
    outputs = {}
    for mode in modes:
        layer = make_layer(mode=mode)
        y = to_numpy(layer(u, step_scale=step_scale) if step_scale != 1.0 else layer(u))
        assert_close(y, expected_output(layer, u, step_scale), atol=atol, what=f"mode={mode}")
        outputs[mode] = y
    return outputs


def check_modes_agree(make_layer, u, atol=2e-4):
    """Convolution and recurrence give the same outputs (same weights)."""
    layer = make_layer(mode="convolution")
    y_conv = to_numpy(layer(u))
    layer.mode = "recurrence"
    y_rec = to_numpy(layer(u))
    assert_close(y_rec, y_conv, atol=atol, what="recurrence vs convolution")


def check_kernel(layer, u, atol=2e-4):
    """y = causal_conv(u, K) + D u, with the convolution computed in numpy."""
    length = u.shape[1]
    k = to_numpy(layer.convolution_kernel(length))
    d = to_numpy(layer.d)
    y = np.zeros(u.shape)
    for h in range(u.shape[2]):
        for i in range(u.shape[0]):
            y[i, :, h] = np.convolve(u[i, :, h], k[h])[:length]
    y = y + d * u
    assert_close(to_numpy(layer(u)), y, atol=atol, what="kernel convolution")


def check_streaming(layer, u, splits=(1, 7, 20), atol=2e-4):
    """step() loop and chunk-by-chunk calls equal one call on the whole sequence."""
    full = to_numpy(layer(u))
    batch, length, _ = u.shape
    state = layer.get_initial_state(batch)
    steps = []
    for t in range(length):
        y_t, state = layer.step(u[:, t], state)
        steps.append(to_numpy(y_t))
    assert_close(np.stack(steps, 1), full, atol=atol, what="step loop")
    state = layer.get_initial_state(batch)
    pieces, start = [], 0
    for stop in list(splits) + [length]:
        stop = min(stop, length)
        if stop <= start:
            continue
        y, state = layer(u[:, start:stop], initial_state=state, return_state=True)
        pieces.append(to_numpy(y))
        start = stop
    assert_close(np.concatenate(pieces, 1), full, atol=atol, what="chunked streaming")
    # The final state is the simulated state after the last step.
    system = layer.discrete_system()
    x = np.zeros((batch, system["a"].shape[0]), dtype=np.complex128)
    for t in range(length):
        x = system["a"] * x + u[:, t] @ system["b"].T
    got = to_numpy(state[0]) + 1j * to_numpy(state[1])
    assert_close(got.reshape(batch, -1).real, x.real, atol=atol, what="final state (re)")
    assert_close(got.reshape(batch, -1).imag, x.imag, atol=atol, what="final state (im)")


def check_bidirectional_formula(layer, u, atol=2e-4):
    """y = forward(u) + flip(backward(flip(u))), with the backward system's d = 0."""
    assert layer.bidirectional
    backward = layer.discrete_system("backward", length=u.shape[1])
    assert np.all(backward["d"] == 0)
    forward_only = simulate(layer.discrete_system("forward", length=u.shape[1]), u)
    backward_only = simulate(backward, u[:, ::-1])[:, ::-1]
    assert_close(to_numpy(layer(u)), forward_only + backward_only, atol=atol, what="bidirectional")
    # The backward part really depends on the future: perturb the last step.
    v = u.copy()
    v[:, -1] += 1.0
    delta = to_numpy(layer(v)) - to_numpy(layer(u))
    assert np.abs(delta[:, 0]).max() > 1e-6, "backward direction does not see the future"


def check_masking(layer, u, lengths, atol=2e-4):
    """Padded positions (garbage values) do not change outputs at valid positions.

    Right padding: sequence i is valid on [0, lengths[i]); compares with calling the
    layer on each unpadded sequence alone. Left padding is checked too.
    """
    batch, length, _ = u.shape
    garbage = np.random.default_rng(7).normal(scale=100.0, size=u.shape).astype(u.dtype)
    mask = np.arange(length)[None, :] < np.asarray(lengths)[:, None]
    padded = np.where(mask[..., None], u, garbage)
    y = to_numpy(layer(padded, mask=mask))
    left_mask = mask[:, ::-1]
    # left-padded: the valid part u[i, :n] placed at the end
    left = np.stack([np.concatenate([garbage[i, : length - n], u[i, :n]]) for i, n in enumerate(lengths)])
    y_left = to_numpy(layer(left, mask=left_mask.copy()))
    for i, n in enumerate(lengths):
        alone = to_numpy(layer(u[i : i + 1, :n]))[0]
        assert_close(y[i, :n], alone, atol=atol, what=f"right-padded sequence {i}")
        assert_close(y_left[i, length - n :], alone, atol=atol, what=f"left-padded sequence {i}")


def check_mask_propagates(layer_factory, features=3, length=12):
    """Embedding(mask_zero=True) -> layer: the mask reaches the layer and passes through."""
    tokens = keras.Input((length,), dtype="int32")
    x = keras.layers.Embedding(10, features, mask_zero=True)(tokens)
    y = layer_factory()(x)
    assert getattr(y, "_keras_mask", None) is not None, "mask did not pass through the layer"


# ----------------------------------------------------------------------------------------
# serialization, dtypes, gradients, training


def check_config_roundtrip(layer, u):
    """get_config/from_config and serialize/deserialize give the same outputs."""
    config = layer.get_config()
    json.dumps(config)
    clone = type(layer).from_config(config)
    clone(u)
    clone.set_weights(layer.get_weights())
    assert_close(to_numpy(clone(u)), to_numpy(layer(u)), atol=1e-6, what="from_config")
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(revived) is type(layer)
    assert revived.get_config() == config


def check_seeded(make_layer, u):
    """The same seed gives the same weights; another seed different ones."""
    a, b, c = make_layer(seed=3), make_layer(seed=3), make_layer(seed=4)
    for layer in (a, b, c):
        layer(u)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert any(not np.array_equal(wa, wc) for wa, wc in zip(a.get_weights(), c.get_weights()))


def check_save_load_other_backends(layer, u, tmp_path, backends=None):
    """A .keras file saved here loads on the other backends with identical outputs."""
    inputs = keras.Input(u.shape[1:])
    model = keras.Model(inputs, layer(inputs))
    path = os.path.join(str(tmp_path), "model.keras")
    model.save(path)
    np.save(os.path.join(str(tmp_path), "u.npy"), u)
    expected = to_numpy(model(u))
    script = textwrap.dedent(
        """
        import sys, numpy as np, keras
        import keras_ssm  # registers the layers
        model = keras.saving.load_model(sys.argv[1])
        u = np.load(sys.argv[2])
        np.save(sys.argv[3], keras.ops.convert_to_numpy(model(u)))
        """
    )
    for backend in backends or [b for b in ALL_BACKENDS if b != BACKEND]:
        out = os.path.join(str(tmp_path), f"y_{backend}.npy")
        env = dict(os.environ, KERAS_BACKEND=backend, CUDA_VISIBLE_DEVICES="")
        proc = subprocess.run(
            [sys.executable, "-c", script, path, os.path.join(str(tmp_path), "u.npy"), out],
            env=env, capture_output=True, text=True, timeout=300,
        )
        assert proc.returncode == 0, f"loading on {backend} failed:\n{proc.stderr[-3000:]}"
        assert_close(np.load(out), expected, atol=1e-5, what=f"loaded on {backend}")


def check_mixed_precision(make_layer, u, policy="mixed_bfloat16", atol=5e-2):
    """Float32 variables, outputs in the compute dtype, finite and close to float32."""
    reference = make_layer(seed=5)
    y32 = to_numpy(reference(u))
    layer = make_layer(seed=5, dtype=policy)
    y = layer(u)
    expected_dtype = keras.mixed_precision.Policy(policy).compute_dtype
    assert keras.backend.standardize_dtype(y.dtype) == expected_dtype
    for w in layer.weights:
        assert keras.backend.standardize_dtype(w.dtype) == "float32", w.path
    y = to_numpy(keras.ops.cast(y, "float32"))
    assert np.all(np.isfinite(y))
    # Inputs are rounded to the compute dtype on entry: compare with that input.
    u_rounded = to_numpy(keras.ops.cast(keras.ops.cast(u, expected_dtype), "float32"))
    y32 = to_numpy(reference(u_rounded))
    scale = max(1.0, float(np.abs(y32).max()))
    assert np.abs(y - y32).max() <= atol * scale


def gradients(layer, u, loss_fn=None):
    """Gradients of sum(y²) (or loss_fn(y)) w.r.t. layer.trainable_variables, as numpy."""
    loss_fn = loss_fn or (lambda y: keras.ops.sum(keras.ops.square(y)))
    variables = layer.trainable_variables
    if BACKEND == "jax":
        import jax

        non_trainable = [v.value for v in layer.non_trainable_variables]

        def f(values):
            y, _ = layer.stateless_call(values, non_trainable, u)
            return loss_fn(y)

        grads = jax.grad(f)([v.value for v in variables])
    elif BACKEND == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = loss_fn(layer(u))
        grads = tape.gradient(loss, [v.value for v in variables])
    else:
        for v in variables:
            v.value.grad = None
        loss = loss_fn(layer(u))
        loss.backward()
        grads = [v.value.grad for v in variables]
    return {v.path: (None if g is None else to_numpy(g)) for v, g in zip(variables, grads)}


def check_gradients_flow(layer, u):
    """Every trainable variable gets a finite, nonzero gradient."""
    layer(u)
    for path, g in gradients(layer, u).items():
        assert g is not None, f"no gradient for {path}"
        assert np.all(np.isfinite(g)), f"non-finite gradient for {path}"
        assert np.abs(g).max() > 0, f"zero gradient for {path}"


def check_training_reduces_loss(make_layer, length=32, features=4, steps=30):
    """A few optimizer steps lower the loss on a tiny task (delay by 2 steps)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, length, 1)).astype("float32")
    y = np.concatenate([np.zeros((32, 2, 1), "float32"), x[:, :-2]], axis=1)
    inputs = keras.Input((length, 1))
    h = keras.layers.Dense(features)(inputs)
    h = make_layer()(h)
    outputs = keras.layers.Dense(1)(h)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=steps // 4, batch_size=8, verbose=0, shuffle=False)
    after = model.evaluate(x, y, verbose=0)
    assert after < 0.8 * before, f"loss did not drop: {before:.4g} -> {after:.4g}"
