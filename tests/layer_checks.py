"""Shared checks for the diagonal SSM layers (DSS, DLR, S5, S4D, LRU), as run_layer_test.

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
import pytest

BACKEND = keras.config.backend()


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


# The first lag the backward system of each layer sees, as its authors' code: DSS, DLR
# and S4D strictly future inputs (lags -1..-L), S5 the current step too (lag 0); the LRU
# paper leaves it open and keras-ssm chose S5's (lag 0).
BACKWARD_LAG = {"DSS": 1, "DLR": 1, "S5": 0, "S4D": 1, "LRU": 0}


def backward_part(layer, u, step_scale=1.0):
    """flip(backward(flip(u))) read `BACKWARD_LAG` steps later (0 past the end)."""
    backward = layer.discrete_system("backward", step_scale=step_scale, length=u.shape[1])
    z = simulate(backward, u[:, ::-1])[:, ::-1]
    lag = BACKWARD_LAG[type(layer).__name__]
    return np.concatenate([z[:, lag:], np.zeros_like(z[:, :lag])], axis=1)


def expected_output(layer, u, step_scale=1.0):
    """The layer's output by numpy simulation of its discrete system(s)."""
    length = u.shape[1]
    y = simulate(layer.discrete_system("forward", step_scale=step_scale, length=length), u)
    if layer.bidirectional:
        y = y + backward_part(layer, u, step_scale)
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
    """step() loop and chunk-by-chunk calls equal one call on the whole sequence; the
    final state is the numpy-simulated one (layers with `discrete_system()`)."""
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
    if not hasattr(layer, "discrete_system"):  # a block around an SSM
        return
    # The final state is the simulated state after the last step.
    system = layer.discrete_system()
    x = np.zeros((batch, system["a"].shape[0]), dtype=np.complex128)
    for t in range(length):
        x = system["a"] * x + u[:, t] @ system["b"].T
    got = to_numpy(state[0]) + 1j * to_numpy(state[1])
    assert_close(got.reshape(batch, -1).real, x.real, atol=atol, what="final state (re)")
    assert_close(got.reshape(batch, -1).imag, x.imag, atol=atol, what="final state (im)")


def check_bidirectional_formula(layer, u, atol=2e-4):
    """y = forward(u) + flip(backward(flip(u))) shifted by the backward lag, d_backward = 0."""
    assert layer.bidirectional
    backward = layer.discrete_system("backward", length=u.shape[1])
    assert np.all(backward["d"] == 0)
    forward_only = simulate(layer.discrete_system("forward", length=u.shape[1]), u)
    assert_close(
        to_numpy(layer(u)), forward_only + backward_part(layer, u), atol=atol, what="bidirectional"
    )
    # The backward part really depends on the future: perturb the last step.
    v = u.copy()
    v[:, -1] += 1.0
    delta = to_numpy(layer(v)) - to_numpy(layer(u))
    assert np.abs(delta[:, 0]).max() > 1e-6, "backward direction does not see the future"


def authors_bidirectional(u, kernel, kernel_backward, d):
    """The bidirectional DSS/DLR of the authors' code (ag1988/dss, ag1988/dlr), in numpy.

    y_t = Σ_{s<=t} K[t-s] u_s + D u_t + Σ_{s>t} K_b[s-t-1] u_s: the backward kernel at
    lags -1..-L (strictly future inputs), lag 0 only in the forward kernel and D.

    Args:
        u: (batch, length, H); kernel, kernel_backward: (H, >= length); d: (H,).
    """
    batch, length, _ = u.shape
    y = d * u.astype(np.float64)
    for t in range(length):
        for s in range(length):
            if s <= t:
                y[:, t] += kernel[:, t - s] * u[:, s]
            else:
                y[:, t] += kernel_backward[:, s - t - 1] * u[:, s]
    return y


def padded_batch(u, lengths, left=False):
    """u with garbage after (or, left=True, before) the first `lengths[i]` steps, and its mask."""
    batch, length, _ = u.shape
    garbage = np.random.default_rng(7).normal(scale=100.0, size=u.shape).astype(u.dtype)
    mask = np.arange(length)[None, :] < np.asarray(lengths)[:, None]
    padded = np.where(mask[..., None], u, garbage)
    if left:
        padded = np.stack([np.roll(padded[i], length - n, axis=0) for i, n in enumerate(lengths)])
        mask = mask[:, ::-1].copy()
    return padded, mask


def check_masking(layer, u, lengths, atol=2e-4, reference=None):
    """Padded positions (garbage values) do not change outputs at valid positions.

    Right padding: sequence i is valid on [0, lengths[i]); compares with the outputs of
    each unpadded sequence alone: `reference(u_i)` (an independent (1, n, H) -> (1, n, H)
    computation) when given, else the layer called on it. Left padding is checked too.
    """
    length = u.shape[1]
    padded, mask = padded_batch(u, lengths)
    y = to_numpy(layer(padded, mask=mask))
    left, left_mask = padded_batch(u, lengths, left=True)
    y_left = to_numpy(layer(left, mask=left_mask))
    reference = reference or (lambda x: to_numpy(layer(x)))
    for i, n in enumerate(lengths):
        alone = np.asarray(reference(u[i : i + 1, :n]))[0]
        assert_close(y[i, :n], alone, atol=atol, what=f"right-padded sequence {i}")
        assert_close(y_left[i, length - n :], alone, atol=atol, what=f"left-padded sequence {i}")


def check_mask_propagates(layer_factory, features=3, length=12):
    """Embedding(mask_zero=True) -> layer: the layer takes the mask and passes it on
    (Keras gives a layer's outputs the mask of its `compute_mask`)."""
    tokens = keras.Input((length,), dtype="int32")
    embedding = keras.layers.Embedding(10, features, mask_zero=True)
    x = embedding(tokens)
    layer = layer_factory()
    layer(x)
    assert layer.supports_masking, "the layer does not take the mask"
    mask = layer.compute_mask(x, embedding.compute_mask(tokens))
    assert mask is not None, "mask did not pass through the layer"


# ----------------------------------------------------------------------------------------
# serialization, dtypes, gradients, training


def check_refuses_old_bidirectional_config(layer, u):
    """A config without 'version' (the old lag-0 backward convention) is refused when
    bidirectional, with a message saying what changed; causal old configs still load."""
    config = layer.get_config()
    assert config["version"] == 2
    old = dict(config)
    del old["version"]
    serialized = keras.saving.serialize_keras_object(layer)
    del serialized["config"]["version"]
    for load in (
        lambda: type(layer).from_config(old),
        lambda: keras.saving.deserialize_keras_object(serialized),
    ):
        with pytest.raises(
            ValueError, match=r"(?s)bidirectional.*version.*strictly future.*To proceed"
        ):
            load()
    old["bidirectional"] = False
    causal = type(layer).from_config(old)
    assert causal.get_config()["version"] == 2
    causal(u)
    with pytest.raises(ValueError, match="newer"):
        type(layer).from_config(dict(config, version=3))


def check_refuses_old_keras_file(layer, u, tmp_path):
    """load_model of a .keras file saved before config version 2 raises the same error."""
    import zipfile

    inputs = keras.Input(u.shape[1:])
    model = keras.Model(inputs, layer(inputs))
    path = os.path.join(str(tmp_path), "model.keras")
    model.save(path)
    old_path = os.path.join(str(tmp_path), "old.keras")
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(old_path, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "config.json":
                config = json.loads(data)
                for entry in config["config"]["layers"]:
                    entry["config"].pop("version", None)
                data = json.dumps(config).encode()
            target.writestr(item, data)
    assert_close(to_numpy(keras.saving.load_model(path)(u)), to_numpy(model(u)), atol=1e-6)
    with pytest.raises(ValueError, match=r"(?s)bidirectional.*strictly future.*To proceed"):
        keras.saving.load_model(old_path)


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


def check_global_seed(make_layer, u):
    """seed=None follows keras.utils.set_random_seed (as Keras' layers); seed= wins."""

    def weights(global_seed, seed):
        if global_seed is not None:
            keras.utils.set_random_seed(global_seed)
        layer = make_layer(seed=seed)
        layer(u)
        return layer.get_weights()

    def same(w1, w2):
        return all(np.array_equal(a, b) for a, b in zip(w1, w2))

    first = weights(123, None)
    assert same(first, weights(123, None)), "set_random_seed(123) twice: different weights"
    assert not same(first, weights(None, None)), "two unseeded builds gave the same weights"
    assert not same(first, weights(124, None))
    assert same(weights(1, 5), weights(2, 5)), "an explicit seed must ignore the global seed"


def check_functional_streaming(layer, u, splits=(7, 8)):
    """layer(keras.Input, return_state=True) gives (outputs, state) KerasTensors; the
    functional model [chunk, *state] -> [outputs, *state] run chunk by chunk equals
    one call on the whole sequence."""
    batch, length, features = u.shape
    chunk = keras.Input((None, features))
    outputs, state = layer(chunk, return_state=True)
    initial = layer.get_initial_state(batch)
    assert tuple(outputs.shape) == (None, None, features)
    assert len(state) == 2
    for spec, value in zip(state, initial):
        assert tuple(spec.shape) == (None,) + tuple(value.shape[1:])
        assert keras.backend.standardize_dtype(spec.dtype) == "float32"
    state_inputs = [keras.Input(tuple(s.shape[1:])) for s in initial]
    outputs, state = layer(chunk, initial_state=tuple(state_inputs), return_state=True)
    model = keras.Model([chunk, *state_inputs], [outputs, *state])
    full = to_numpy(layer(u))
    state = [to_numpy(s) for s in initial]
    pieces, start = [], 0
    for stop in list(splits) + [length]:
        y, *state = model([u[:, start:stop], *state])
        state = [to_numpy(s) for s in state]
        pieces.append(to_numpy(y))
        start = stop
    assert_close(np.concatenate(pieces, 1), full, atol=2e-4, what="functional streaming")


def check_input_spec(make_layer, u):
    """Wrong ranks and feature counts raise Keras' InputSpec error naming the layer and `inputs`."""
    layer = make_layer()
    pattern = (
        r"Input 0 with name 'inputs' of layer '{}' is incompatible.*expected ndim=3, found ndim=2"
    )
    with pytest.raises(ValueError, match=pattern.format(layer.name)):
        layer(u[:, 0])
    layer(u)
    with pytest.raises(ValueError, match=pattern.format(layer.name)):
        layer(u[:, 0])
    with pytest.raises(
        ValueError, match=f"layer '{layer.name}'.*axis -1 of input shape to have value {u.shape[2]}"
    ):
        layer(np.concatenate([u, u], axis=-1))


def check_per_layer_implementation(make_layer, u, monkeypatch):
    """`implementation={op: name}` chooses the path inside the layer's calls, wins over
    `config.set_implementation` (which still applies to layers without a choice), and
    every applicable path gives the reference outputs."""
    from keras_ssm import config
    from keras_ssm.ops import registry

    op = "linear_recurrence"
    chosen = []
    resolve = registry.resolve

    def spy(name, *args, **kwargs):
        result = resolve(name, *args, **kwargs)
        chosen.append((name, result))
        return result

    monkeypatch.setattr(registry, "resolve", spy)

    def run(**kwargs):
        chosen.clear()
        y = to_numpy(make_layer(mode="recurrence", **kwargs)(u))
        return y, {name for o, name in chosen if o == op}

    y_auto, auto = run()
    assert len(auto) == 1 and auto != {"reference"}, auto
    automatic = auto.pop()
    y_ref, names = run(implementation={op: "reference"})
    assert names == {"reference"}
    assert_close(y_auto, y_ref, atol=1e-5, what=f"{automatic} vs reference")
    config.set_implementation(op, "reference")
    try:
        assert run(implementation={op: automatic})[1] == {automatic}, "the layer's choice wins"
        assert run()[1] == {"reference"}, "the global choice applies to other layers"
    finally:
        config.set_implementation(op, None)
    for name in registry.implementations(op):
        try:
            y, names = run(implementation={op: name})
        except ValueError as error:  # forced where it does not apply (Triton on a CPU)
            assert "does not apply" in str(error)
            continue
        assert names == {name}
        assert_close(y, y_ref, atol=1e-5, what=f"implementation {name}")
    layer = make_layer(implementation={op: "reference"})
    assert layer.get_config()["implementation"] == {op: "reference"}
    assert type(layer).from_config(layer.get_config()).implementation == {op: "reference"}


def check_implementation_errors(make_layer):
    """Unknown ops or names, and names of another backend's path, are clear errors."""
    op = "linear_recurrence"
    with pytest.raises(ValueError, match=r"`implementation`.*Unknown op 'scan'.*linear_recurrence"):
        make_layer(implementation={"scan": "reference"})
    with pytest.raises(
        ValueError, match=r"`implementation`.*Unknown implementation 'fast'.*reference"
    ):
        make_layer(implementation={op: "fast"})
    with pytest.raises(ValueError, match=r"`implementation` must be None or a dict"):
        make_layer(implementation="reference")
    elsewhere, backends = {
        "jax": ("triton", "torch"),
        "tensorflow": ("triton", "torch"),
        "torch": ("sequential", "jax and tensorflow"),
    }[BACKEND]
    with pytest.raises(
        ValueError,
        match=rf"`implementation`.*'{elsewhere}'.*only on the {backends} "
        rf"backend.*not on the {BACKEND} backend",
    ):
        make_layer(implementation={op: elsewhere})


# The backend that loads the .keras files saved in this backend's run: over the three runs
# of the suite every backend saves once and loads once (one subprocess a check, not two).
NEXT_BACKEND = {"jax": "tensorflow", "tensorflow": "torch", "torch": "jax"}


def check_save_load_other_backends(layer, u, tmp_path, backends=None):
    """A .keras file saved here loads on another backend with identical outputs.

    `backends`: where to load it; default the next backend (`NEXT_BACKEND`), so that
    the suite's three runs (jax, tensorflow, torch) cover every backend both ways."""
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
    for backend in backends or [NEXT_BACKEND[BACKEND]]:
        out = os.path.join(str(tmp_path), f"y_{backend}.npy")
        env = dict(os.environ, KERAS_BACKEND=backend, CUDA_VISIBLE_DEVICES="")
        proc = subprocess.run(
            [sys.executable, "-c", script, path, os.path.join(str(tmp_path), "u.npy"), out],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
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


def check_bidirectional_masking(layer, u, expected_output, lengths):
    """A padded batch gives, at valid positions, `expected_output` of each unpadded sequence.

    Left and right padding; `expected_output(u_i)` maps one unpadded (1, n, H) sequence to
    its (1, n, H) outputs by an independent formula.
    """
    length = u.shape[1]
    for left in (False, True):
        padded, mask = padded_batch(u, lengths, left=left)
        y = to_numpy(layer(padded, mask=mask))
        for i, n in enumerate(lengths):
            valid = slice(length - n, length) if left else slice(0, n)
            assert_close(
                y[i, valid],
                expected_output(u[i : i + 1, :n])[0],
                atol=1e-5,
                what=f"sequence {i}, left={left}",
            )


# ----------------------------------------------------------------------------------------
# packed documents (segment_ids)


def packed_batch(u):
    """Documents packed in rows of u: (segment_ids, [(row, start, end, valid_end)]) and a mask.

    Row 0 holds three documents, the last one ending in one padded (masked) step with
    the document's own id; row 1 two documents with arbitrary ids. Needs batch >= 2,
    length >= 6.
    """
    length = u.shape[1]
    cut1, cut2, cut3 = max(1, length * 5 // 12), max(2, length * 9 // 12), length * 7 // 12
    ids = np.zeros(u.shape[:2], "int32")
    ids[0, cut1:cut2], ids[0, cut2:] = 1, 2
    ids[1, :cut3], ids[1, cut3:] = 4, 9
    mask = np.ones(u.shape[:2], bool)
    mask[0, -1] = False
    documents = [(0, 0, cut1, cut1), (0, cut1, cut2, cut2), (0, cut2, length, length - 1)]
    documents += [(1, 0, cut3, cut3), (1, cut3, length, length)]
    return ids, mask, documents


def check_packing(layer, u, atol=2e-4, reference=None):
    """Each document of a packed row gives exactly its outputs alone (masking too).

    `reference(u_doc)` computes a (1, n, H) document alone independently (else the layer
    called on it); the padded step of `packed_batch` holds garbage.
    """
    ids, mask, documents = packed_batch(u)
    garbage = np.where(mask[..., None], u, np.float32(100.0))
    y = to_numpy(layer(garbage, mask=mask, segment_ids=ids))
    reference = reference or (lambda x: to_numpy(layer(x)))
    for row, start, end, valid_end in documents:
        alone = np.asarray(reference(u[row : row + 1, start:valid_end]))[0]
        assert_close(
            y[row, start:valid_end], alone, atol=atol, what=f"packed document {row}:{start}-{end}"
        )
