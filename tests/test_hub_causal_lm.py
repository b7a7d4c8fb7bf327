"""keras_ssm.hub.SSMCausalLM: generate() with the SSM state as cache equals the full prefix."""

import keras
import keras_hub
import numpy as np
import pytest

from keras_ssm.hub import SSMBackbone
from keras_ssm.hub import SSMByteTokenizer
from keras_ssm.hub import SSMCausalLM
from keras_ssm.hub import SSMCausalLMPreprocessor

to_numpy = keras.ops.convert_to_numpy


def make_lm(ssm="dlr", vocabulary_size=24, preprocessor=None, prefill_chunk_size=4):
    backbone = SSMBackbone(
        vocabulary_size=vocabulary_size,
        hidden_dim=8,
        num_layers=2,
        ssm=ssm,
        ssm_kwargs={"state_size": 4},
        seed=5,
    )
    lm = SSMCausalLM(backbone, preprocessor=preprocessor, prefill_chunk_size=prefill_chunk_size)
    lm.compile(sampler="greedy")
    return lm


def greedy_by_recomputation(lm, token_ids, lengths, max_length):
    """The greedy continuation of each row, running the model on the whole prefix per token.

    Each call reads the whole buffer (one shape, one compilation) with the positions
    from t on masked; the model is causal, so position t - 1 sees the prefix only.
    """
    out = np.array(token_ids)
    for row, length in enumerate(lengths):
        for t in range(length, max_length):
            mask = (np.arange(max_length) < t).astype("int32")[None]
            x = {"token_ids": out[row : row + 1], "padding_mask": mask}
            out[row, t] = to_numpy(lm(x))[0, t - 1].argmax()
    return out


@pytest.mark.parametrize("ssm", ["dlr", "s5", "dss"])
def test_greedy_generate_equals_recomputing_the_prefix(ssm, rng):
    lm = make_lm(ssm)
    lengths, max_length = [4, 7], 12
    token_ids = np.zeros((2, max_length), "int32")
    padding_mask = np.zeros((2, max_length), bool)
    for row, length in enumerate(lengths):
        token_ids[row, :length] = rng.integers(4, 24, length)
        padding_mask[row, :length] = True
    generated = lm.generate(
        {"token_ids": token_ids, "padding_mask": padding_mask}, stop_token_ids=None
    )
    expected = greedy_by_recomputation(lm, token_ids, lengths, max_length)
    np.testing.assert_array_equal(to_numpy(generated["token_ids"]), expected)
    assert to_numpy(generated["padding_mask"]).all()


def test_cache_is_the_state_whatever_the_prompt_length(rng):
    lm = make_lm()
    shapes = set()
    for length in (3, 21):
        token_ids = rng.integers(4, 24, (1, length)).astype("int32")
        cache = lm._prefill(token_ids, length)
        shapes.add(tuple(tuple(part.shape) for state in cache for part in state))
        # The prefill's state continues the prompt exactly as one full call does.
        logits, _, _ = lm.call_with_cache(token_ids[:, -1:], lm._prefill(token_ids, length - 1))
        full = lm({"token_ids": token_ids, "padding_mask": np.ones_like(token_ids)})
        np.testing.assert_allclose(to_numpy(logits)[:, -1], to_numpy(full)[:, -1], atol=1e-4)
    # Two blocks, (real, imag) each of (batch, H, N) = (1, 8, 4): the same for 3 or 21 tokens.
    assert shapes == {((1, 8, 4),) * 4}


def test_preprocessor_follows_keras_hub_causal_lm_convention():
    preprocessor = SSMCausalLMPreprocessor(SSMByteTokenizer(), sequence_length=6)
    assert isinstance(preprocessor, keras_hub.models.CausalLMPreprocessor)
    x, y, weights = preprocessor(["ab", "abcdefgh"])
    # Packed: start 2, bytes, end 3, padding 0; inputs are the first 6, labels the next 6.
    packed = [[2, 97, 98, 3, 0, 0, 0], [2, 97, 98, 99, 100, 101, 3]]
    np.testing.assert_array_equal(to_numpy(x["token_ids"]), [p[:6] for p in packed])
    np.testing.assert_array_equal(to_numpy(y), [p[1:] for p in packed])
    np.testing.assert_array_equal(to_numpy(weights).astype(int), [[1, 1, 1, 0, 0, 0], [1] * 6])


def test_string_generate_stops_at_the_end_token_and_fit_trains():
    preprocessor = SSMCausalLMPreprocessor(SSMByteTokenizer(), sequence_length=16)
    lm = make_lm(vocabulary_size=256, preprocessor=preprocessor)
    assert isinstance(lm, keras_hub.models.CausalLM)
    texts = ["abab abab", "abababab"]
    lm.compile(optimizer=lm.backbone.ssm_optimizer(lr=1e-2), sampler="greedy")
    history = lm.fit(texts, batch_size=2, epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    loss, accuracy = lm.evaluate(texts, batch_size=2, verbose=0)
    assert np.isfinite(loss) and 0.0 <= accuracy <= 1.0
    assert lm.predict(texts, verbose=0).shape == (2, 16, 256)
    out = lm.generate(["ab", "b"], max_length=12)
    assert len(out) == 2 and all(isinstance(s, str) and len(s) <= 12 for s in out)
    assert out[0].startswith("ab") and out[1].startswith("b")
    # Token ids in, ids out: every position after the first new end token is padding.
    x = preprocessor.generate_preprocess(["ab"], sequence_length=12)
    lm.preprocessor = None  # keras-hub's way to pass preprocessed inputs
    ids = lm.generate(x, stop_token_ids=[3])
    new = to_numpy(ids["token_ids"])[0, 3:]
    mask = to_numpy(ids["padding_mask"])[0, 3:]
    ends = np.flatnonzero(new == 3)
    if ends.size:
        assert not mask[ends[0] + 1 :].any() and mask[: ends[0] + 1].all()
    else:
        assert mask.all()


def test_preset_round_trip_generates_the_same_tokens(tmp_path):
    preprocessor = SSMCausalLMPreprocessor(SSMByteTokenizer(), sequence_length=8)
    lm = make_lm(vocabulary_size=256, preprocessor=preprocessor)
    expected = lm.generate(["ab", "xyz"], max_length=10)
    lm.save_to_preset(str(tmp_path))
    loaded = keras_hub.models.CausalLM.from_preset(str(tmp_path))
    assert type(loaded) is SSMCausalLM and loaded.prefill_chunk_size == 4
    loaded.compile(sampler="greedy")
    assert loaded.generate(["ab", "xyz"], max_length=10) == expected


def test_generation_needs_a_causal_backbone():
    backbone = SSMBackbone(
        vocabulary_size=5,
        hidden_dim=4,
        num_layers=1,
        ssm_kwargs={"state_size": 2},
        bidirectional=True,
    )
    with pytest.raises(ValueError, match="bidirectional"):
        SSMCausalLM(backbone)
    softmax = SSMBackbone(
        vocabulary_size=5,
        hidden_dim=4,
        num_layers=1,
        ssm="dss",
        ssm_kwargs={"state_size": 2, "variant": "softmax"},
    )
    with pytest.raises(ValueError, match="stream"):
        SSMCausalLM(softmax)
