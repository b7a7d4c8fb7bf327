"""Tests for keras_ssm.ops.selective_scan (Mamba's S6), every registered implementation.

Each implementation of the running backend is forced in turn and compared with a numpy
loop of the paper's formula written here (float64 on float32-rounded inputs): values,
final state, initial state, segment restarts, the z gate, D, delta_bias and softplus.
Gradients (u, Δ, A, B, C, D, z, bias, initial state) are compared with central finite
differences of that loop. The chunked paths run with chunks of 4 steps (the constants
are shortened), so every chunk boundary and a partial last chunk are crossed; one test
runs the default chunk lengths and compares the implementations with each other. The
Triton kernels run in the Triton interpreter (``TRITON_INTERPRET=1``) at tiny shapes.
"""

import functools
import importlib.util
import os

import keras
import numpy as np
import pytest
from keras import ops

import keras_ssm
from _grad import NotApplicable
from _grad import call_forced
from _grad import value_and_grad

OP = "selective_scan"
IMPLS = keras_ssm.ops.implementations(OP)
BACKEND = keras.config.backend()
BATCH, LENGTH, CHANNELS, STATE = 2, 11, 3, 4
NAMES = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias", "initial_state")
SEGMENTS = np.array([[0] * 4 + [1] * 7, [5] * 9 + [2] * 2], "int32")

# --------------------------------------------------------------------------------------
# Independent numpy reference


def np_selective_scan(
    u, delta, A, B, C, D=None, z=None, delta_bias=None, softplus=True, h0=None, segment_ids=None
):
    """(y, h_last) by a loop over time: h_t = exp(Δ_t A) h_{t-1} + Δ_t B_t u_t,
    y_t = C_t h_t + D u_t, y *= silu(z); h_{t-1} = 0 where a new segment starts."""
    d = delta + (0.0 if delta_bias is None else delta_bias)
    if softplus:
        d = np.logaddexp(0.0, d)
    batch, length, channels = u.shape
    h = np.zeros((batch, channels, A.shape[1])) if h0 is None else np.array(h0, np.float64)
    y = np.zeros((batch, length, channels))
    for t in range(length):
        if segment_ids is not None and t > 0:
            h = h * (segment_ids[:, t] == segment_ids[:, t - 1])[:, None, None]
        h = np.exp(d[:, t, :, None] * A) * h + (d[:, t] * u[:, t])[:, :, None] * B[:, t, None, :]
        y[:, t] = (h * C[:, t, None, :]).sum(-1)
    if D is not None:
        y = y + D * u
    if z is not None:
        y = y * z / (1.0 + np.exp(-z))
    return y, h


def draw(seed=0, shape=(BATCH, LENGTH, CHANNELS, STATE)):
    """Every input, float32-rounded float64: name -> array."""
    rng = np.random.default_rng(seed)
    batch, length, channels, state = shape
    x = {
        "u": rng.normal(size=(batch, length, channels)),
        "delta": rng.normal(size=(batch, length, channels)),
        "A": -np.exp(rng.normal(size=(channels, state))),
        "B": rng.normal(size=(batch, length, state)),
        "C": rng.normal(size=(batch, length, state)),
        "D": rng.normal(size=(channels,)),
        "z": rng.normal(size=(batch, length, channels)),
        "delta_bias": rng.normal(size=(channels,)),
        "initial_state": rng.normal(size=(batch, channels, state)),
    }
    return {k: v.astype(np.float32).astype(np.float64) for k, v in x.items()}


def np_loss(x, segment_ids, weights):
    y, h = np_selective_scan(
        x["u"],
        x["delta"],
        x["A"],
        x["B"],
        x["C"],
        x["D"],
        x["z"],
        x["delta_bias"],
        h0=x["initial_state"],
        segment_ids=segment_ids,
    )
    return (y * weights[0]).sum() + (h * weights[1]).sum()


@functools.cache
def finite_differences():
    """(inputs, weights, {name: dloss/dname}) by central differences in float64."""
    x = draw(1)
    rng = np.random.default_rng(2)
    weights = (
        rng.normal(size=(BATCH, LENGTH, CHANNELS)),
        rng.normal(size=(BATCH, CHANNELS, STATE)),
    )
    grads = {}
    for name in NAMES:
        g = np.zeros_like(x[name])
        for index in np.ndindex(g.shape):
            for sign in (1, -1):
                moved = dict(x, **{name: x[name].copy()})
                moved[name][index] += sign * 1e-6
                g[index] += sign * np_loss(moved, SEGMENTS, weights) / 2e-6
        grads[name] = g
    return x, weights, grads


# --------------------------------------------------------------------------------------
# Helpers


@pytest.fixture(autouse=True)
def short_chunks(monkeypatch):
    """Chunks of N = 4 steps in every chunked path: L = 11 crosses two boundaries."""
    if BACKEND == "torch":
        from keras_ssm.ops.torch import selective_scan as path

        monkeypatch.setattr(path, "MIN_CHUNK", 1)
        monkeypatch.setattr(path, "CHUNK_ELEMENTS", 1)
    elif BACKEND == "jax":
        from keras_ssm.ops.jax import selective_scan as path

        monkeypatch.setattr(path, "CHUNK", 1)
        monkeypatch.setattr(path, "ACCELERATOR_CHUNK", 1)
    elif BACKEND == "tensorflow":
        from keras_ssm.ops.tensorflow import selective_scan as path

        monkeypatch.setattr(path, "CHUNK", 1)


def tensors(x, dtype="float32"):
    return {k: ops.cast(ops.convert_to_tensor(v.astype("float32")), dtype) for k, v in x.items()}


def numpy(t):
    return ops.convert_to_numpy(ops.cast(t, "float32")).astype(np.float64)


def assert_close(actual, expected, rel, name=""):
    scale = max(float(np.max(np.abs(expected))), 1.0)
    err = float(np.max(np.abs(actual - expected)))
    assert err <= rel * scale, f"{name}: max error {err:.3g} > {rel:g} * {scale:.3g}"


def value_and_grads(loss, arrays):
    """`_grad.value_and_grad`, compiled as one function on JAX (eager JAX would compile
    every op of the reference's log-depth scan and its transpose one by one)."""
    if BACKEND != "jax":
        return value_and_grad(loss, *arrays)
    import jax

    value, grads = jax.jit(jax.value_and_grad(loss, argnums=tuple(range(len(arrays)))))(*arrays)
    return np.asarray(value), [np.asarray(g) for g in grads]


def canonical_call(kwargs):
    """(args, kwargs) as the registry sees them, for `call_forced`."""
    module = importlib.import_module("keras_ssm.ops.selective_scan")
    return module.canonical_arguments(**kwargs)


def run(impl, kwargs):
    args, canonical = canonical_call(kwargs)
    return call_forced(OP, impl, lambda: keras_ssm.ops.selective_scan(**kwargs), *args, **canonical)


CASES = {
    "plain": dict(optional=()),
    "everything": dict(optional=("D", "z", "delta_bias", "initial_state"), segments=True),
    "no_softplus": dict(optional=("D",), softplus=False),
}


def case_kwargs(x, case):
    spec = CASES[case]
    t = tensors(x)
    kwargs = {k: t[k] for k in ("u", "delta", "A", "B", "C") + spec["optional"]}
    if not spec.get("softplus", True):
        kwargs["delta"] = ops.abs(kwargs["delta"])  # a positive step without softplus
        kwargs["delta_softplus"] = False
    if spec.get("segments"):
        kwargs["segment_ids"] = ops.convert_to_tensor(SEGMENTS)
    return kwargs


def case_expected(x, case):
    spec = CASES[case]
    given = {k: x[k] for k in spec["optional"]}
    delta = x["delta"] if spec.get("softplus", True) else np.abs(x["delta"])
    return np_selective_scan(
        x["u"],
        delta,
        x["A"],
        x["B"],
        x["C"],
        given.get("D"),
        given.get("z"),
        given.get("delta_bias"),
        softplus=spec.get("softplus", True),
        h0=given.get("initial_state"),
        segment_ids=SEGMENTS if spec.get("segments") else None,
    )


# --------------------------------------------------------------------------------------
# Values and gradients of every implementation


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("case", list(CASES))
def test_values_and_final_state(impl, case):
    x = draw(0)
    out = run(impl, dict(case_kwargs(x, case), return_final_state=True))
    if out is NotApplicable:
        return
    y, h_last = out
    assert tuple(y.shape) == (BATCH, LENGTH, CHANNELS)
    assert tuple(h_last.shape) == (BATCH, CHANNELS, STATE)
    expected_y, expected_h = case_expected(x, case)
    assert_close(numpy(y), expected_y, 1e-5, "y")
    assert_close(numpy(h_last), expected_h, 1e-5, "final state")


@pytest.mark.parametrize("impl", IMPLS)
def test_gradients_against_finite_differences(impl):
    """Every input's gradient of Σ w·y + Σ v·h_last (all options, segment restarts)."""
    x, weights, expected = finite_differences()
    w, v = (ops.convert_to_tensor(a.astype("float32")) for a in weights)
    args, canonical = canonical_call(dict(case_kwargs(x, "everything"), return_final_state=True))

    def loss(*values):
        kwargs = dict(zip(NAMES, values), segment_ids=ops.convert_to_tensor(SEGMENTS))
        y, h_last = keras_ssm.ops.selective_scan(**kwargs, return_final_state=True)
        return ops.sum(y * w) + ops.sum(h_last * v)

    arrays = [x[n].astype("float32") for n in NAMES]
    out = call_forced(OP, impl, lambda: value_and_grads(loss, arrays), *args, **canonical)
    if out is NotApplicable:
        return
    value, grads = out
    assert abs(float(value) - np_loss(x, SEGMENTS, weights)) <= 1e-4 * max(1.0, abs(float(value)))
    for name, got in zip(NAMES, grads):
        assert_close(got, expected[name], 2e-5, name)


# The hand-written backward passes (JAX's paths are differentiated by JAX).
HAND_WRITTEN = [i for i in IMPLS if i != "reference" and BACKEND != "jax"]


@pytest.mark.parametrize("impl", HAND_WRITTEN)
def test_gradients_without_optional_inputs(impl):
    """D, z, bias and h0 absent, y only (no final state's gradient): the backward
    pass's empty branches, against the reference's gradients."""
    x = draw(3)
    names = ("u", "delta", "A", "B", "C")

    def loss(*values):
        return ops.sum(keras_ssm.ops.selective_scan(*values) ** 2)

    arrays = [x[n].astype("float32") for n in names]
    args, canonical = canonical_call({n: tensors(x)[n] for n in names})
    out = call_forced(OP, impl, lambda: value_and_grads(loss, arrays), *args, **canonical)
    if out is NotApplicable:
        return
    _, grads = out
    with keras_ssm.config.use_implementation(OP, "reference"):
        _, expected = value_and_grads(loss, arrays)
    for name, got, want in zip(names, grads, expected):
        assert_close(got, want, 2e-5, name)


def test_implementations_agree_at_default_chunks(monkeypatch):
    """Default chunk lengths (L = 70: five chunks of 16 on the jax and TensorFlow walks,
    one on torch at this size): values and gradients of each implementation against the
    reference. (JAX's associative path, whose default chunk is longer than 70 steps, is
    left to the short-chunk tests.)"""
    monkeypatch.undo()
    x = draw(4, shape=(2, 70, 5, 3))
    names = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias", "initial_state")

    def loss(*values):
        y, h = keras_ssm.ops.selective_scan(
            *values[:8], initial_state=values[8], return_final_state=True
        )
        return ops.sum(y * ops.cos(y)) + ops.sum(h)

    arrays = [x[n].astype("float32") for n in names]
    results = {}
    for impl in [i for i in IMPLS if (BACKEND, i) != ("jax", "associative")]:
        args, canonical = canonical_call(dict(zip(names, arrays)))
        out = call_forced(OP, impl, lambda: value_and_grads(loss, arrays), *args, **canonical)
        if out is not NotApplicable:
            results[impl] = out
    value, grads = results.pop("reference")
    for impl, (other_value, other_grads) in results.items():
        assert abs(float(other_value) - float(value)) <= 1e-4 * max(1.0, abs(float(value))), impl
        for name, got, want in zip(names, other_grads, grads):
            assert_close(got, want, 1e-4, f"{impl} d{name}")


# --------------------------------------------------------------------------------------
# Dtypes, symbolic calls, choice and errors


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_inputs_compute_in_float32(dtype):
    x = draw(5)
    t = tensors(x, dtype)
    y, h = keras_ssm.ops.selective_scan(
        t["u"], t["delta"], t["A"], t["B"], t["C"], t["D"], return_final_state=True
    )
    assert keras.backend.standardize_dtype(y.dtype) == dtype
    assert keras.backend.standardize_dtype(h.dtype) == "float32"
    rounded = {k: numpy(v) for k, v in t.items()}
    expected, expected_h = np_selective_scan(
        *(rounded[k] for k in ("u", "delta", "A", "B", "C", "D"))
    )
    assert_close(numpy(y), expected, 1e-2 if dtype == "bfloat16" else 2e-3, "y")
    assert_close(numpy(h), expected_h, 1e-5, "final state")


def test_symbolic_call_builds_a_functional_model():
    x = draw(6)
    u_in = keras.Input((LENGTH, CHANNELS))
    bc_in = keras.Input((LENGTH, STATE))
    h0_in = keras.Input((CHANNELS, STATE))
    A = ops.convert_to_tensor(x["A"].astype("float32"))
    y, h = keras_ssm.ops.selective_scan(
        u_in, u_in, A, bc_in, bc_in, initial_state=h0_in, return_final_state=True
    )
    assert isinstance(y, keras.KerasTensor) and tuple(y.shape) == (None, LENGTH, CHANNELS)
    assert tuple(h.shape) == (None, CHANNELS, STATE)
    model = keras.Model([u_in, bc_in, h0_in], [y, h])
    arrays = [x[k].astype("float32") for k in ("u", "B", "initial_state")]
    got_y, got_h = model(arrays)
    want_y, want_h = np_selective_scan(
        x["u"], x["u"], x["A"], x["B"], x["B"], h0=x["initial_state"]
    )
    assert_close(numpy(got_y), want_y, 1e-5, "y")
    assert_close(numpy(got_h), want_h, 1e-5, "h")


def test_automatic_choice_on_cpu():
    x = tensors(draw(7))
    expected = {"jax": "sequential", "tensorflow": "sequential", "torch": "chunked"}[BACKEND]
    assert keras_ssm.ops.resolve(OP, x["u"], x["delta"], x["A"], x["B"], x["C"]) == expected


@pytest.mark.skipif(BACKEND != "tensorflow", reason="a tf.function traced without the length")
def test_length_known_only_at_run_time():
    import tensorflow as tf

    x = draw(10)
    spec = [tf.TensorSpec([None, None, CHANNELS]), tf.TensorSpec([None, None, STATE])]
    A = tf.constant(x["A"], tf.float32)
    fn = tf.function(lambda u, b: keras_ssm.ops.selective_scan(u, u, A, b, b), input_signature=spec)
    want, _ = np_selective_scan(x["u"], x["u"], x["A"], x["B"], x["B"])
    assert_close(numpy(fn(x["u"].astype("float32"), x["B"].astype("float32"))), want, 1e-5)


ERRORS = {
    "u": (dict(u=(2, 11)), "`u` must have shape"),
    "delta": (dict(delta=(2, 11, 4)), "`delta` must have shape"),
    "A": (dict(A=(3,)), "`A` must have shape"),
    "A channels": (dict(A=(5, 4)), "`A` must have shape"),
    "B": (dict(B=(2, 11, 5)), "`B` must have shape"),
    "C": (dict(C=(2, 10, 4)), "`C` must have shape"),
    "D": (dict(D=(4,)), "`D` must have shape"),
    "z": (dict(z=(2, 11, 2)), "`z` must have shape"),
    "delta_bias": (dict(delta_bias=(3, 1)), "`delta_bias` must have shape"),
    "initial_state": (dict(initial_state=(2, 3, 5)), "`initial_state` must have shape"),
    "segment_ids": (dict(segment_ids=(2, 10)), "`segment_ids` must have shape"),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_errors_name_the_argument(case):
    shapes, message = ERRORS[case]
    full = dict(u=(2, 11, 3), delta=(2, 11, 3), A=(3, 4), B=(2, 11, 4), C=(2, 11, 4))
    kwargs = {k: ops.zeros(s) for k, s in dict(full, **shapes).items() if k != "segment_ids"}
    if "segment_ids" in shapes:
        kwargs["segment_ids"] = ops.zeros(shapes["segment_ids"], "int32")
    with pytest.raises(ValueError, match=message):
        keras_ssm.ops.selective_scan(**kwargs)


def test_dtype_errors():
    u, A, bc = ops.zeros((2, 11, 3)), ops.zeros((3, 4)), ops.zeros((2, 11, 4))
    with pytest.raises(ValueError, match="`u` must be a floating-point"):
        keras_ssm.ops.selective_scan(ops.zeros((2, 11, 3), "int32"), u, A, bc, bc)
    with pytest.raises(ValueError, match="`segment_ids` must hold integer"):
        keras_ssm.ops.selective_scan(u, u, A, bc, bc, segment_ids=ops.zeros((2, 11)))


# --------------------------------------------------------------------------------------
# Memory: the fast paths keep O(batch length channels) values for the backward pass


def kept_for_backward(impl, shape):
    """Sizes of the tensors the implementation keeps for its gradient, (batch, L, H, N) = shape."""
    x = {k: v.astype("float32") for k, v in draw(8, shape=shape).items()}
    names = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")
    with keras_ssm.config.use_implementation(OP, impl):
        if BACKEND == "torch":
            import torch

            kept = []
            leaves = [torch.tensor(x[n], requires_grad=True) for n in names]
            with torch.autograd.graph.saved_tensors_hooks(
                lambda t: kept.append(t.numel()) or t, lambda t: t
            ):
                keras_ssm.ops.selective_scan(*leaves)
            return kept
        import jax

        _, residuals = jax.vjp(lambda *v: keras_ssm.ops.selective_scan(*v), *[x[n] for n in names])
        return [np.size(leaf) for leaf in jax.tree_util.tree_leaves(residuals)]


@pytest.mark.skipif(BACKEND == "tensorflow", reason="no residual accounting on TensorFlow")
def test_backward_keeps_no_per_state_tensor(monkeypatch):
    """At (2, 128, 32, 64) the states are 524,288 values: the fast path keeps no tensor
    of an eighth of that and O(batch L (H + N)) values in all (u, Δ, z, B, C, the
    states entering its chunks, ...), where the reference keeps all the states."""
    monkeypatch.undo()
    batch, length, channels, state = shape = (2, 128, 32, 64)
    per_state = batch * length * channels * state
    fast = "chunked" if BACKEND == "torch" else "sequential"
    kept = kept_for_backward(fast, shape)
    assert max(kept) <= per_state // 8
    assert sum(kept) <= 16 * batch * length * (channels + state)


@pytest.mark.skipif(BACKEND != "torch", reason="the torch chunked path")
def test_torch_split_over_channels_matches(monkeypatch):
    """A large scan on a CPU is split over the channels, one part per thread (forced
    here: 3 parts of 1 channel); values and gradients equal the unsplit path's."""
    import torch

    from keras_ssm.ops.torch import selective_scan as path

    x, weights, expected = finite_differences()
    monkeypatch.setattr(path, "PARALLEL_MIN_ELEMENTS", 0)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 3)
    assert path._workers(torch.zeros(BATCH, LENGTH, CHANNELS), STATE) == 3
    leaves = [torch.tensor(x[n], dtype=torch.float32, requires_grad=True) for n in NAMES]
    y, h = path.selective_scan_chunked(
        *leaves[:8],
        initial_state=leaves[8],
        return_final_state=True,
        segment_ids=torch.tensor(SEGMENTS),
    )
    w, v = (torch.tensor(a, dtype=torch.float32) for a in weights)
    ((y * w).sum() + (h * v).sum()).backward()
    for name, leaf in zip(NAMES, leaves):
        assert_close(leaf.grad.numpy(), expected[name], 2e-5, name)


@pytest.mark.skipif(BACKEND != "torch", reason="the torch chunked path")
def test_torch_op_compiles_whole():
    """The chunked path is a `torch.library` op: `torch.compile(fullgraph=True)` traces a
    call and its gradient without a graph break, and `opcheck` passes (schema, fake
    tensors, autograd registration)."""
    import torch

    from keras_ssm.ops.torch import selective_scan as path

    x = draw(11)
    keep = torch.tensor(SEGMENTS[:, 1:] == SEGMENTS[:, :-1], dtype=torch.float32)
    keep = torch.cat([torch.ones(BATCH, 1), keep], dim=1)
    leaves = [torch.tensor(x[n], dtype=torch.float32, requires_grad=True) for n in NAMES]
    args = (*leaves, keep, True, True)
    checks = ("test_schema", "test_autograd_registration", "test_faketensor")
    torch.library.opcheck(path.selective_scan_op, args, test_utils=checks)
    loss = lambda *v: path.selective_scan_op(*v)[0].square().sum()  # noqa: E731
    compiled = torch.compile(loss, fullgraph=True, backend="aot_eager")
    got = torch.autograd.grad(compiled(*args), leaves)
    want = torch.autograd.grad(loss(*args), leaves)
    for name, g, w in zip(NAMES, got, want):
        assert_close(g.numpy(), w.numpy(), 1e-6, name)


# --------------------------------------------------------------------------------------
# The Triton kernels (torch), in the interpreter on CPU or compiled on a GPU

TRITON = BACKEND == "torch" and importlib.util.find_spec("triton") is not None
INTERPRETED = os.environ.get("TRITON_INTERPRET", "0") == "1"


@pytest.mark.skipif(not (TRITON and INTERPRETED), reason="needs torch, triton, TRITON_INTERPRET=1")
def test_triton_kernels_values_and_gradients(monkeypatch):
    """Chunks of 4 steps, N = 4 states, channel blocks of 2 (the second one half empty)."""
    import torch

    from keras_ssm.ops.torch import triton_selective_kernels as kernels
    from keras_ssm.ops.torch import triton_selective_scan as tss

    monkeypatch.setattr(kernels, "MIN_BLOCK_T", 4)
    monkeypatch.setattr(kernels, "TILE", 32)
    x, weights, expected = finite_differences()
    leaves = [torch.tensor(x[n], dtype=torch.float32, requires_grad=True) for n in NAMES]
    y, h_last = tss.selective_scan_triton(
        *leaves[:8],
        initial_state=leaves[8],
        return_final_state=True,
        segment_ids=torch.tensor(SEGMENTS),
    )
    w, v = (torch.tensor(a, dtype=torch.float32) for a in weights)
    ((y * w).sum() + (h_last * v).sum()).backward()
    want_y, want_h = np_selective_scan(
        *(x[n] for n in NAMES[:8]), h0=x["initial_state"], segment_ids=SEGMENTS
    )
    assert_close(y.detach().numpy(), want_y, 1e-5, "y")
    assert_close(h_last.detach().numpy(), want_h, 1e-5, "final state")
    for name, leaf in zip(NAMES, leaves):
        assert_close(leaf.grad.numpy(), expected[name], 2e-5, name)


def cuda_available():
    if not TRITON:
        return False
    import torch

    return torch.cuda.is_available()


@pytest.mark.skipif(
    INTERPRETED or not cuda_available(), reason="needs a CUDA device and TRITON_INTERPRET=0"
)
def test_cuda_kernels_match_the_chunked_path(monkeypatch):
    """Compiled for the GPU, default tiles: values and every gradient against the
    chunked torch path (itself checked against numpy above), L = 1000 (a partial tile)."""
    import torch

    monkeypatch.undo()
    x = {k: v.astype("float32") for k, v in draw(9, shape=(2, 1000, 64, 16)).items()}
    ids = torch.tensor(np.repeat([[0, 1, 2, 3]], 250, axis=1).repeat(2, 0), device="cuda")
    results = []
    for impl in ("triton", "chunked"):
        leaves = [torch.tensor(x[n], device="cuda", requires_grad=True) for n in NAMES]
        with keras_ssm.config.use_implementation(OP, impl):
            y, h = keras_ssm.ops.selective_scan(
                *leaves[:8], initial_state=leaves[8], return_final_state=True, segment_ids=ids
            )
        (y.square().sum() + h.sum()).backward()
        results.append([y, h] + [leaf.grad for leaf in leaves])
    for name, got, want in zip(("y", "h") + NAMES, *results):
        assert_close(got.detach().cpu().numpy(), want.detach().cpu().numpy(), 1e-4, name)
