"""Property-based tests (hypothesis): the public ops against numpy, the layer modes
against each other, over random shapes, dtypes and lengths.

The ops: `linear_recurrence` (real or complex, per-step or time-invariant `a`,
`reverse`, initial states, final states), `causal_conv` and `vandermonde_kernel`, for
lengths 1 to 4096 (chunk and block boundaries included), float32, float16 and bfloat16
inputs, each compared with a plain numpy computation in float64 on the rounded inputs.
The layers: for random small configurations of DSS, DLR, S5, S4D and the LRU, convolution mode =
recurrence mode = a step-by-step loop = chunk-by-chunk streaming.

The profile is bounded for CI: few examples, no deadline, derandomized (the same
examples on every run), no example database. Long sequences get a batch of one and a
narrow state.
"""

import keras
import numpy as np
from hypothesis import HealthCheck
from hypothesis import example
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

import keras_ssm
import layer_checks as lc
from keras_ssm.layers import DLR
from keras_ssm.layers import DSS
from keras_ssm.layers import LRU
from keras_ssm.layers import S4D
from keras_ssm.layers import S5
from recurrence_reference import np_loop

BACKEND = keras.config.backend()
PROFILE = dict(
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# Half a unit in the last place of the output dtype: the one rounding of a result
# computed in float32.
HALF_ULP = {"float32": 2.0**-24, "float16": 2.0**-11, "bfloat16": 2.0**-8}
DTYPES = st.sampled_from(["float32", "float16", "bfloat16"])
# Short lengths, and long ones around powers of two (chunk and block boundaries).
LENGTHS = st.one_of(
    st.integers(1, 40), st.sampled_from([63, 64, 65, 255, 256, 257, 1023, 1024, 1025, 4095, 4096])
)
SEEDS = st.integers(0, 2**31 - 1)


def rounded(x, dtype):
    """x (numpy float) rounded to `dtype` and back to float64, as the op sees it."""
    return lc.to_numpy(keras.ops.cast(keras.ops.convert_to_tensor(x, "float32"), dtype)).astype(
        np.float64
    )


def tensor(x, dtype):
    return keras.ops.cast(keras.ops.convert_to_tensor(np.asarray(x, np.float32)), dtype)


def to_complex(value):
    if isinstance(value, tuple):
        return lc.to_numpy(keras.ops.cast(value[0], "float32")).astype(
            np.float64
        ) + 1j * lc.to_numpy(keras.ops.cast(value[1], "float32")).astype(np.float64)
    return lc.to_numpy(keras.ops.cast(value, "float32")).astype(np.float64)


def check_within(actual, expected, dtype, what, float32_rel=2e-5):
    """|actual - expected| <= HALF_ULP[dtype] |expected| + float32_rel * max|expected|
    (elementwise): the final rounding, plus float32 round-off of the computation."""
    scale = max(1.0, float(np.abs(expected).max()))
    bound = 2 * HALF_ULP[dtype] * np.abs(expected) + float32_rel * scale
    error = np.abs(actual - expected)
    assert np.all(error <= bound), f"{what}: max error {error.max():.3g} (scale {scale:.3g})"


# ----------------------------------------------------------------------------------------
# linear_recurrence


@st.composite
def recurrence_cases(draw):
    length = draw(LENGTHS)
    long = length > 256
    return dict(
        length=length,
        batch=1 if long else draw(st.integers(1, 3)),
        state=(draw(st.integers(1, 3)),)
        if long
        else tuple(draw(st.lists(st.integers(1, 3), min_size=1, max_size=2))),
        complex=draw(st.booleans()),
        per_step=draw(st.booleans()),
        reverse=draw(st.booleans()),
        with_state=draw(st.booleans()),
        final_state=draw(st.booleans()),
        dtype=draw(DTYPES),
        seed=draw(SEEDS),
    )


@settings(max_examples=25, **PROFILE)
@given(case=recurrence_cases())
def test_linear_recurrence_matches_numpy(case):
    rng = np.random.default_rng(case["seed"])
    batch, length, state, dtype = case["batch"], case["length"], case["state"], case["dtype"]
    a_shape = (batch, length) + state if case["per_step"] else state
    b_shape = (batch, length) + state
    # |a| <= 0.95 keeps the states O(20) at any length.
    radius = rng.uniform(0.0, 0.95, a_shape)
    if case["complex"]:
        a = radius * np.exp(1j * rng.uniform(-np.pi, np.pi, a_shape))
        b = rng.normal(size=b_shape) + 1j * rng.normal(size=b_shape)
        h0 = rng.normal(size=(batch,) + state) + 1j * rng.normal(size=(batch,) + state)
        as_input = lambda z: (tensor(z.real, dtype), tensor(z.imag, dtype))
        as_seen = lambda z: rounded(z.real, dtype) + 1j * rounded(z.imag, dtype)
    else:
        a = radius * rng.choice([-1.0, 1.0], a_shape)
        b = rng.normal(size=b_shape)
        h0 = rng.normal(size=(batch,) + state)
        as_input = lambda z: tensor(z, dtype)
        as_seen = lambda z: rounded(z, dtype)
    h0 = h0 if case["with_state"] else None
    result = keras_ssm.ops.linear_recurrence(
        as_input(a),
        as_input(b),
        reverse=case["reverse"],
        initial_state=None if h0 is None else as_input(h0),
        return_final_state=case["final_state"],
    )
    h, last = result if case["final_state"] else (result, None)
    parts = h if case["complex"] else (h,)
    assert all(keras.backend.standardize_dtype(p.dtype) == dtype for p in parts)
    assert all(tuple(p.shape) == b_shape for p in parts)
    expected = np_loop(
        as_seen(a), as_seen(b), None if h0 is None else as_seen(h0), reverse=case["reverse"]
    )
    for part in (np.real, np.imag) if case["complex"] else (np.real,):
        check_within(part(to_complex(h)), part(expected), dtype, "h", float32_rel=1e-4)
        if last is not None:
            final = expected[:, 0] if case["reverse"] else expected[:, -1]
            check_within(
                part(to_complex(last)), part(final), dtype, "final state", float32_rel=1e-4
            )


# ----------------------------------------------------------------------------------------
# causal_conv


@st.composite
def conv_cases(draw):
    length = draw(LENGTHS)
    long = length > 256
    return dict(
        length=length,
        kernel_length=draw(st.integers(1, length)),
        batch=1 if long else draw(st.integers(1, 3)),
        channels=1 if long else draw(st.integers(1, 3)),
        dtype=draw(DTYPES),
        seed=draw(SEEDS),
    )


@settings(max_examples=6, **PROFILE)
@given(case=conv_cases())
def test_causal_conv_matches_numpy(case):
    rng = np.random.default_rng(case["seed"])
    batch, length, channels, dtype = case["batch"], case["length"], case["channels"], case["dtype"]
    u = rng.normal(size=(batch, length, channels))
    kernel = rng.normal(size=(channels, case["kernel_length"])) / np.sqrt(case["kernel_length"])
    y = keras_ssm.ops.causal_conv(tensor(u, dtype), tensor(kernel, "float32"))
    assert keras.backend.standardize_dtype(y.dtype) == dtype
    u_seen, k_seen = rounded(u, dtype), rounded(kernel, "float32")
    expected = np.zeros(u.shape)
    for i in range(batch):
        for c in range(channels):
            expected[i, :, c] = np.convolve(u_seen[i, :, c], k_seen[c])[:length]
    # FFT round-off grows like log(L) eps |u| |k|: float32_rel 1e-5 of the largest output.
    check_within(to_complex(y), expected, dtype, "causal_conv", float32_rel=2e-5)


# ----------------------------------------------------------------------------------------
# vandermonde_kernel


@st.composite
def vandermonde_cases(draw):
    return dict(
        length=draw(LENGTHS),
        h=draw(st.integers(1, 3)),
        n=draw(st.integers(1, 6)),
        shared=draw(st.booleans()),
        seed=draw(SEEDS),
    )


@settings(max_examples=6, **PROFILE)
@given(case=vandermonde_cases())
def test_vandermonde_kernel_matches_numpy(case):
    rng = np.random.default_rng(case["seed"])
    h, n, length = case["h"], case["n"], case["length"]
    lam_shape = (n,) if case["shared"] else (h, n)
    log_lam = -rng.uniform(1e-3, 0.5, lam_shape) + 1j * rng.uniform(-np.pi, np.pi, lam_shape)
    c = rng.normal(size=(h, n)) + 1j * rng.normal(size=(h, n))
    pair = lambda z: (tensor(z.real, "float32"), tensor(z.imag, "float32"))
    k = to_complex(keras_ssm.ops.vandermonde_kernel(pair(log_lam), pair(c), length))
    assert k.shape == (h, length)
    seen = lambda z: rounded(z.real, "float32") + 1j * rounded(z.imag, "float32")
    z, cs = np.broadcast_to(seen(log_lam), (h, n)), seen(c)
    steps = np.arange(length)
    expected = np.einsum("hn,hnl->hl", cs, np.exp(z[..., None] * steps)).real
    # float32 rounding of l * z (|l z| up to 4096 pi) moves each term by about
    # eps32 * l * |z| of its magnitude (the bound of test_vandermonde_kernel.py).
    mag = np.abs(cs)[..., None] * np.exp(z.real[..., None] * steps)
    bound = 2.0**-24 * np.sum(mag * (steps * np.abs(z)[..., None] + 8.0), axis=1) + 1e-6
    error = np.abs(k - expected)
    assert np.all(error <= 4 * bound), f"max error {error.max():.3g}"


# ----------------------------------------------------------------------------------------
# layers: every mode computes the same function


CLASSES = {"dss_exp": DSS, "dss_softmax": DSS, "dlr": DLR, "s5": S5, "s4d": S4D, "lru": LRU}


@st.composite
def layer_cases(draw):
    kind = draw(st.sampled_from(sorted(CLASSES)))
    features = draw(st.integers(1, 3))
    if kind == "s5":
        blocks = draw(st.sampled_from([1, 2]))
        kwargs = dict(
            state_size=2 * blocks * draw(st.integers(1, 2)),
            blocks=blocks,
            conj_sym=draw(st.booleans()),
            discretization=draw(st.sampled_from(["zoh", "bilinear"])),
        )
    elif kind == "s4d":
        kwargs = dict(
            state_size=2 * draw(st.integers(1, 2)),
            init=draw(st.sampled_from(["lin", "inv", "legs"])),
            discretization=draw(st.sampled_from(["zoh", "bilinear"])),
        )
    elif kind == "lru":
        kwargs = dict(
            state_size=draw(st.integers(1, 4)),
            r_min=draw(st.sampled_from([0.0, 0.5])),
            r_max=draw(st.sampled_from([0.9, 0.999])),
        )
    else:
        kwargs = dict(state_size=draw(st.integers(1, 4)))
        if kind.startswith("dss"):
            kwargs.update(
                variant=kind[4:], lambda_init=draw(st.sampled_from(["hippo_skew", "lin", "randn"]))
            )
    return dict(
        kind=kind,
        kwargs=kwargs,
        features=features,
        bidirectional=draw(st.booleans()),
        batch=draw(st.integers(1, 2)),
        length=draw(st.sampled_from([1, 2, 7, 16])),
        split=draw(st.integers(0, 16)),
        seed=draw(SEEDS),
    )


# The derandomized draws miss the LRU: one explicit case of it (causal, streamed in two).
LRU_CASE = dict(
    kind="lru",
    kwargs=dict(state_size=3, r_min=0.5, r_max=0.999),
    features=2,
    bidirectional=False,
    batch=2,
    length=7,
    split=3,
    seed=11,
)


@settings(max_examples=8, **PROFILE)
@given(case=layer_cases())
@example(case=LRU_CASE)
def test_layer_modes_agree(case):
    cls = CLASSES[case["kind"]]
    kwargs = dict(
        case["kwargs"],
        bidirectional=case["bidirectional"],
        seed=case["seed"] % 1000,
    )
    if cls is not LRU:  # the initial Δ (DLR: decay) range; the LRU's is its ring
        kwargs.update(dt_min=1e-2, dt_max=0.5)
    u = (
        np.random.default_rng(case["seed"])
        .normal(size=(case["batch"], case["length"], case["features"]))
        .astype("float32")
    )
    recurrence = cls(mode="recurrence", **kwargs)
    y = lc.to_numpy(recurrence(u))
    if cls.supports_convolution:
        convolution = cls(mode="convolution", **kwargs)
        convolution(u)
        convolution.set_weights(recurrence.get_weights())
        lc.assert_close(lc.to_numpy(convolution(u)), y, atol=2e-4, what="convolution vs recurrence")
    if case["bidirectional"] or case["kind"] == "dss_softmax":
        return  # no streaming: the outputs depend on the future or on the total length
    state = recurrence.get_initial_state(case["batch"])
    steps = []
    for t in range(case["length"]):
        y_t, state = recurrence.step(u[:, t], state)
        steps.append(lc.to_numpy(y_t))
    lc.assert_close(np.stack(steps, 1), y, atol=2e-4, what="step loop vs recurrence")
    split = min(case["split"], case["length"])
    pieces, state = [], recurrence.get_initial_state(case["batch"])
    for chunk in (u[:, :split], u[:, split:]):
        if chunk.shape[1]:
            y_c, state = recurrence(chunk, initial_state=state, return_state=True)
            pieces.append(lc.to_numpy(y_c))
    lc.assert_close(np.concatenate(pieces, 1), y, atol=2e-4, what="two chunks vs one call")
