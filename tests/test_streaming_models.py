"""Streaming whole models: chunk by chunk and step by step equal one call; bounded memory."""

import resource
import time

import numpy as np
import pytest

import layer_checks as lc
from keras_ssm import models
from model_checks import predict

H, LENGTH = 8, 12


def _tagger(kind="dlr", norm="layer", **kwargs):
    options = dict(
        hidden_size=H, num_layers=2, ssm=kind, ssm_kwargs={"state_size": 4}, norm=norm, seed=0
    )
    options.update(kwargs)
    return models.build_tagger(3, input_features=2, **options)


def _randomize_batchnorm(model):
    rng = np.random.default_rng(5)
    for variable in model.non_trainable_variables:  # every BatchNormalization's statistics
        if variable.path.endswith("moving_mean"):
            variable.assign(rng.normal(size=variable.shape))
        elif variable.path.endswith("moving_variance"):
            variable.assign(rng.uniform(0.5, 2.0, size=variable.shape))


def _inputs(batch=2, length=LENGTH, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, length, 2)).astype("float32")


@pytest.mark.parametrize(
    "kind,norm,activation",
    [
        ("dlr", "layer", "gelu"),
        ("dlr", "batch", "glu"),
        ("s5", "batch", "half_glu1"),
        ("dss", "layer", "half_glu2"),
    ],
)
def test_chunks_and_steps_equal_the_full_call(kind, norm, activation):
    model = _tagger(kind, norm, activation=activation, dropout=0.2)
    _randomize_batchnorm(model)
    u = _inputs()
    full = predict(model, u)
    streamer = models.StreamingModel(model)
    streamer.reset(2)
    pieces = [lc.to_numpy(streamer(u[:, start : start + 4])) for start in range(0, LENGTH, 4)]
    lc.assert_close(np.concatenate(pieces, 1), full, atol=2e-4, what="chunks")
    if kind == "dlr" and norm == "batch":  # one step-by-step run (a chunk of one step)
        streamer.reset(2)
        steps = [lc.to_numpy(streamer.step(u[:, t])) for t in range(LENGTH)]
        lc.assert_close(np.stack(steps, 1), full, atol=2e-4, what="steps")


def test_token_model_streams():
    model = models.build_tagger(
        3, vocab_size=7, hidden_size=H, num_layers=1, ssm_kwargs={"state_size": 4}, seed=1
    )
    tokens = np.random.default_rng(0).integers(1, 7, size=(2, LENGTH)).astype("int32")
    full = predict(model, tokens)
    streamer = models.stream(model, batch_size=2)
    pieces = [lc.to_numpy(streamer(tokens[:, s : s + 6])) for s in (0, 6)]
    lc.assert_close(np.concatenate(pieces, 1), full, atol=2e-4)


def test_states_are_carried_and_reset():
    model = _tagger()
    u = _inputs()
    streamer = models.stream(model, batch_size=2)
    first = lc.to_numpy(streamer(u[:, :4]))
    later = lc.to_numpy(streamer(u[:, :4]))  # same inputs, but a carried state
    assert np.abs(first - later).max() > 1e-4
    streamer.reset(2)
    lc.assert_close(lc.to_numpy(streamer(u[:, :4])), first, atol=1e-6, what="after reset")
    assert len(streamer.states) == 2


def test_step_scale_reaches_every_ssm():
    model = _tagger("s5")
    u = _inputs()
    streamer = models.stream(model, batch_size=2)
    whole = lc.to_numpy(streamer(u, step_scale=2.0))
    streamer.reset(2)
    pieces = [lc.to_numpy(streamer(u[:, s : s + 6], step_scale=2.0)) for s in (0, 6)]
    lc.assert_close(np.concatenate(pieces, 1), whole, atol=2e-4)
    streamer.reset(2)
    assert np.abs(lc.to_numpy(streamer(u)) - whole).max() > 1e-4


@pytest.mark.parametrize(
    "build,match",
    [
        (lambda: _tagger(bidirectional=True), "bidirectional"),
        (
            lambda: models.build_classifier(
                2, input_features=2, hidden_size=H, num_layers=1, ssm_kwargs={"state_size": 4}
            ),
            "GlobalAveragePooling1D",
        ),
        (lambda: _tagger(output_length=3), "TakeLast"),
        (lambda: _tagger("dss", ssm_kwargs={"state_size": 4, "variant": "softmax"}), "length"),
    ],
)
def test_non_causal_models_are_refused(build, match):
    with pytest.raises(ValueError, match=match):
        models.StreamingModel(build())


def test_reset_is_required():
    with pytest.raises(ValueError, match="reset"):
        models.StreamingModel(_tagger())(_inputs())


def test_hundred_thousand_steps_in_bounded_memory():
    """100K steps in chunks of 2,000: memory does not grow with the stream length.

    The full-length state tensor alone would be 100K x 8 x 16 complex64 = 102 MB per
    layer; the streamer holds one chunk at a time.
    """
    model = models.build_tagger(
        1, input_features=1, hidden_size=8, num_layers=1, ssm_kwargs={"state_size": 16}, seed=0
    )
    streamer = models.stream(model, batch_size=1)
    chunk, total = 2000, 100_000
    rng = np.random.default_rng(0)
    streamer(rng.normal(size=(1, chunk, 1)).astype("float32"))  # warm up (compiles)
    streamer.reset(1)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    start = time.time()
    checksum = 0.0
    for _ in range(total // chunk):
        y = streamer(rng.normal(size=(1, chunk, 1)).astype("float32"))
        checksum += float(np.sum(lc.to_numpy(y)))
    seconds = time.time() - start
    growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    print(
        f"\n100K streamed steps on {lc.BACKEND}: {seconds:.1f} s, peak RSS growth "
        f"{growth_mb:.1f} MB"
    )
    assert np.isfinite(checksum)
    assert growth_mb < 100, f"peak memory grew by {growth_mb:.0f} MB while streaming"
