"""The public ops on symbolic tensors: functional models built from `keras.Input`.

Each op called on `keras.Input` tensors returns KerasTensors of the right shape and
dtype (pairs for complex values) and records a `keras.Operation`; the functional model
then runs on numpy data and matches a numpy reference (a loop over time, np.convolve,
a power sum).
"""

import keras
import numpy as np
import pytest

import keras_ssm
from recurrence_reference import np_loop


def to_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x), dtype=np.float64)


def check_spec(tensor, shape, dtype="float32"):
    assert isinstance(tensor, keras.KerasTensor), type(tensor)
    assert tuple(tensor.shape) == shape
    assert keras.backend.standardize_dtype(tensor.dtype) == dtype


def close(actual, expected, tol=1e-4):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = max(1.0, float(np.abs(expected).max()))
    assert np.abs(actual - expected).max() <= tol * scale


def test_linear_recurrence_real_per_step():
    rng = np.random.default_rng(0)
    a = rng.uniform(0.5, 1.0, (2, 9, 3)).astype("float32")
    b = rng.normal(size=(2, 9, 3)).astype("float32")
    a_in, b_in = keras.Input((9, 3)), keras.Input((None, 3))
    h = keras_ssm.ops.linear_recurrence(a_in, b_in, reverse=True)
    check_spec(h, (None, None, 3))
    model = keras.Model([a_in, b_in], h)
    close(to_numpy(model([a, b])), np_loop(a, b, reverse=True))


def test_linear_recurrence_complex_time_invariant_with_state():
    rng = np.random.default_rng(1)
    lam = rng.uniform(0.6, 0.95, 4) * np.exp(1j * rng.uniform(-np.pi, np.pi, 4))
    b = rng.normal(size=(2, 7, 4)) + 1j * rng.normal(size=(2, 7, 4))
    h0 = rng.normal(size=(2, 4)) + 1j * rng.normal(size=(2, 4))
    parts = lambda z: [z.real.astype("float32"), z.imag.astype("float32")]
    # a is a constant (not an input) of the functional graph, like keras.ops arguments.
    a = tuple(keras.ops.convert_to_tensor(p) for p in parts(lam))
    b_in = (keras.Input((7, 4)), keras.Input((7, 4)))
    h0_in = (keras.Input((4,)), keras.Input((4,)))
    h, last = keras_ssm.ops.linear_recurrence(a, b_in, initial_state=h0_in, return_final_state=True)
    for t in h:
        check_spec(t, (None, 7, 4))
    for t in last:
        check_spec(t, (None, 4))
    model = keras.Model([*b_in, *h0_in], [*h, *last])
    h_re, h_im, last_re, last_im = model(parts(b) + parts(h0))
    expected = np_loop(lam, b, h0)
    close(to_numpy(h_re) + 1j * to_numpy(h_im), expected)
    close(to_numpy(last_re) + 1j * to_numpy(last_im), expected[:, -1])


def test_linear_recurrence_keeps_low_precision_dtype():
    b_in = keras.Input((5, 2), dtype="float16")
    h = keras_ssm.ops.linear_recurrence(keras.ops.full((2,), 0.5), b_in)
    check_spec(h, (None, 5, 2), "float16")
    b = np.ones((1, 5, 2), "float16")
    close(to_numpy(keras.Model(b_in, h)(b)), np_loop(np.full(2, 0.5), b.astype(np.float64)), 1e-3)


def test_causal_conv():
    rng = np.random.default_rng(2)
    u = rng.normal(size=(2, 10, 3)).astype("float32")
    kernel = rng.normal(size=(3, 6)).astype("float32")
    u_in = keras.Input((10, 3))
    k_in = keras.Input((6,), batch_size=3)  # (channels, kernel_length)
    y = keras_ssm.ops.causal_conv(u_in, k_in)
    check_spec(y, (None, 10, 3))
    model = keras.Model([u_in, k_in], y)
    expected = np.stack(
        [
            np.stack([np.convolve(u[i, :, c], kernel[c])[:10] for c in range(3)], -1)
            for i in range(2)
        ]
    )
    close(to_numpy(model([u, kernel])), expected)
    # A constant kernel inside a model.
    const = keras.Model(u_in, keras_ssm.ops.causal_conv(u_in, keras.ops.convert_to_tensor(kernel)))
    close(to_numpy(const(u)), expected)
    # Two-sided: the backward kernel as a third input.
    kb_in = keras.Input((4,), batch_size=3)
    y2 = keras_ssm.ops.causal_conv(u_in, k_in, backward_kernel=kb_in)
    check_spec(y2, (None, 10, 3))
    kb = rng.normal(size=(3, 4)).astype("float32")
    backward = np.stack(
        [
            np.stack([np.convolve(u[i, ::-1, c], kb[c])[:10][::-1] for c in range(3)], -1)
            for i in range(2)
        ]
    )
    close(to_numpy(keras.Model([u_in, k_in, kb_in], y2)([u, kernel, kb])), expected + backward)


def test_vandermonde_kernel():
    rng = np.random.default_rng(3)
    log_lam = -rng.uniform(0.01, 0.3, 4) + 1j * rng.uniform(-3, 3, 4)
    c = rng.normal(size=(2, 4)) + 1j * rng.normal(size=(2, 4))
    lam_in = (keras.Input((), batch_size=4), keras.Input((), batch_size=4))
    c_in = (keras.Input((4,), batch_size=2), keras.Input((4,), batch_size=2))
    k = keras_ssm.ops.vandermonde_kernel(lam_in, c_in, 12)
    check_spec(k, (2, 12))
    model = keras.Model([*lam_in, *c_in], k)
    f32 = lambda z: z.astype("float32")
    got = model([f32(log_lam.real), f32(log_lam.imag), f32(c.real), f32(c.imag)])
    expected = np.real(c @ np.exp(log_lam[:, None] * np.arange(12)[None, :]))
    close(to_numpy(got), expected)


def test_symbolic_argument_errors():
    with pytest.raises(ValueError, match="`a` must have the shape of `b`"):
        keras_ssm.ops.linear_recurrence(keras.Input((5,)), keras.Input((7, 4)))
    with pytest.raises(ValueError, match="channels"):
        keras_ssm.ops.causal_conv(keras.Input((10, 3)), keras.Input((6,), batch_size=2))
    with pytest.raises(ValueError, match="`length` must be a positive int"):
        keras_ssm.ops.vandermonde_kernel(
            keras.Input((), batch_size=4), keras.Input((4,), batch_size=2), 0
        )
