"""Model builders: shapes, parameter counts, masking end to end, training, .keras round trips.

Sizes are tiny and one architecture is reused where possible: on JAX and TensorFlow
every new model or input shape is traced and compiled again.
"""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import keras_ssm
import layer_checks as lc
from keras_ssm import models
from keras_ssm.layers import DLR
from keras_ssm.layers import SSMBlock
from model_checks import predict as _predict

H, N, LENGTH, VOCAB = 8, 4, 12, 11
SMALL = dict(hidden_size=H, num_layers=2, ssm_kwargs={"state_size": N}, seed=0)


def _tokens(batch=8, seed=0, lengths=None):
    """Token ids in [1, VOCAB), right-padded with 0 after `lengths`."""
    rng = np.random.default_rng(seed)
    x = rng.integers(1, VOCAB, size=(batch, LENGTH)).astype("int32")
    if lengths is not None:
        x[np.arange(LENGTH)[None] >= np.asarray(lengths)[:, None]] = 0
    return x


# ----------------------------------------------------------------------------------------
# shapes and structure


@pytest.mark.parametrize("kind", ["dlr", "dss", "s5"])
def test_classifier_shapes_for_every_ssm(kind):
    model = models.build_classifier(3, vocab_size=VOCAB, ssm=kind, **SMALL)
    assert model.output_shape == (None, 3)
    blocks = [x for x in model.layers if isinstance(x, SSMBlock)]
    assert len(blocks) == 2
    assert all(
        type(b.ssm).__name__ == {"dlr": "DLR", "dss": "DSS", "s5": "S5"}[kind] for b in blocks
    )
    assert _predict(model, _tokens(batch=2)).shape == (2, 3)


@pytest.mark.parametrize("kind", ["dlr", "dss", "s5"])
def test_global_seed_reproduces_unseeded_builders(kind):
    """keras.utils.set_random_seed makes seed=None builds identical, as Keras' own layers."""

    def weights(global_seed):
        if global_seed is not None:
            keras.utils.set_random_seed(global_seed)
        kwargs = dict(SMALL, seed=None)
        return models.build_classifier(3, vocab_size=VOCAB, ssm=kind, **kwargs).get_weights()

    first = weights(123)
    assert all(np.array_equal(a, b) for a, b in zip(first, weights(123)))
    assert any(not np.array_equal(a, b) for a, b in zip(first, weights(None)))


def test_per_layer_implementation_through_ssm_kwargs():
    choice = {"linear_recurrence": "reference"}
    model = models.build_tagger(
        2,
        input_features=3,
        hidden_size=H,
        num_layers=2,
        ssm_kwargs={"state_size": N, "mode": "recurrence", "implementation": choice},
        seed=0,
    )
    blocks = [x for x in model.layers if isinstance(x, SSMBlock)]
    assert blocks and all(b.ssm.implementation == choice for b in blocks)
    clone = keras.Model.from_config(model.get_config())
    assert all(b.ssm.implementation == choice for b in clone.layers if isinstance(b, SSMBlock))


def test_shapes_of_every_builder():
    tagger = models.build_tagger(5, input_features=3, output_length=4, **SMALL)
    assert tagger.output_shape == (None, 4, 5)
    assert tagger.input_shape == (None, None, 3)
    per_position = models.build_tagger(5, vocab_size=VOCAB, sequence_length=LENGTH, **SMALL)
    assert per_position.output_shape == (None, LENGTH, 5)
    retrieval = models.build_retrieval_classifier(2, vocab_size=VOCAB, **SMALL)
    assert retrieval.output_shape == (None, 2) and len(retrieval.inputs) == 2
    features = models.build_classifier(4, input_features=3, pooling="last", **SMALL)
    assert features.output_shape == (None, 4)
    assert models.SequenceClassifier is models.build_classifier
    assert models.SequenceTagger is models.build_tagger


def test_bidirectional_and_final_norm_options():
    model = models.build_classifier(2, vocab_size=VOCAB, bidirectional=True, **SMALL)
    assert all(b.ssm.bidirectional for b in model.layers if isinstance(b, SSMBlock))
    norms = lambda m: [x for x in m.layers if isinstance(x, keras.layers.LayerNormalization)]
    assert len(norms(model)) == 1  # pre-norm: a final norm (DSS/DLR)
    post = models.build_classifier(2, vocab_size=VOCAB, prenorm=False, **SMALL)
    assert len(norms(post)) == 0
    s5_style = models.build_classifier(2, vocab_size=VOCAB, final_norm=False, **SMALL)
    assert len(norms(s5_style)) == 0
    batch = models.build_classifier(2, vocab_size=VOCAB, norm="batch", final_norm=True, **SMALL)
    assert any(isinstance(x, keras.layers.BatchNormalization) for x in batch.layers)


def test_s5_parameter_count_matches_the_paper_formula():
    # s5.md A11: per layer 6PH + 3P + H^2 + 4H (bidirectional, conj_sym, half_glu, BN);
    # plus the encoder in_dim*H + H and the head H*classes + classes. P = stored states.
    in_dim, classes, layers_, p_full = 3, 5, 2, 8
    model = models.build_classifier(
        classes,
        input_features=in_dim,
        hidden_size=H,
        num_layers=layers_,
        ssm="s5",
        ssm_kwargs={"state_size": p_full},
        bidirectional=True,
        norm="batch",
        activation="half_glu1",
        final_norm=False,
    )
    p = p_full // 2
    expected = (
        layers_ * (6 * p * H + 3 * p + H * H + 4 * H) + (in_dim * H + H) + (H * classes + classes)
    )
    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    assert trainable == expected


def test_dlr_parameter_count():
    # Per layer: Λ 2N, W 2HN, D H, LayerNorm 2H, output linear H^2 + H; final norm 2H.
    classes = 3
    model = models.build_classifier(classes, vocab_size=VOCAB, **SMALL)
    per_layer = 2 * N + 2 * H * N + H + 2 * H + H * H + H
    expected = VOCAB * H + 2 * per_layer + 2 * H + H * classes + classes
    assert model.count_params() == expected


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(), "exactly one"),
        (dict(vocab_size=5, input_features=3), "exactly one"),
        (dict(vocab_size=5, pooling="max"), "pooling"),
        (dict(vocab_size=5, ssm="lstm"), "Unknown SSM"),
        (dict(vocab_size=5, ssm=DLR()), "new layer"),
        (dict(vocab_size=5, num_layers=0), "num_layers"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        models.build_classifier(2, **kwargs)


# ----------------------------------------------------------------------------------------
# heads against numpy


def test_last_position_and_take_last():
    x = np.random.default_rng(0).normal(size=(3, 6, 2)).astype("float32")
    mask = np.array([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0], [0, 0, 1, 1, 1, 1]], bool)
    got = lc.to_numpy(models.LastPosition()(x, mask=mask))
    np.testing.assert_allclose(got, np.stack([x[0, 5], x[1, 2], x[2, 5]]), rtol=1e-6)
    np.testing.assert_allclose(lc.to_numpy(models.LastPosition()(x)), x[:, -1], rtol=1e-6)
    take = models.TakeLast(2)
    np.testing.assert_allclose(lc.to_numpy(take(x)), x[:, -2:], rtol=1e-6)
    assert np.array_equal(lc.to_numpy(take.compute_mask(x, mask)), mask[:, -2:])


# ----------------------------------------------------------------------------------------
# masking end to end


def _check_padding_ignored(model, padded, length, unmask):
    """Row 1 is valid on [0, length): it equals the unpadded row alone."""
    y = _predict(model, padded)
    short = _predict(model, padded[1:, :length])
    lc.assert_close(y[1], short[0], atol=2e-4, what="padded row vs the unpadded sequence")
    # Without the mask the padding would matter: the check above can fail.
    unmasked = padded.copy()
    unmasked[1, length:] = unmask
    assert np.abs(_predict(model, unmasked)[1] - y[1]).max() > 1e-4


def test_padded_batch_equals_unpadded_mean_pooling(trained_classifier):
    model = trained_classifier[0]
    assert any(isinstance(x, keras.layers.GlobalAveragePooling1D) for x in model.layers)
    _check_padding_ignored(model, _tokens(batch=2, seed=1, lengths=[LENGTH, 7]), 7, unmask=1)


def test_padded_batch_equals_unpadded_last_pooling_real_inputs():
    model = models.build_classifier(
        3, input_features=2, mask_value=0.0, norm="batch", pooling="last", **SMALL
    )
    x = np.random.default_rng(2).normal(size=(2, LENGTH, 2)).astype("float32")
    x[1, 7:] = 0.0  # all features equal to mask_value: padding
    _check_padding_ignored(model, x, 7, unmask=0.5)


def test_retrieval_shares_the_encoder_and_builds_its_features():
    model = models.build_retrieval_classifier(2, vocab_size=VOCAB, **SMALL)
    features = keras.Model(model.inputs, model.get_layer("retrieval_classifier_features").output)
    a = _tokens(batch=2, seed=2, lengths=[LENGTH, 5])
    b = _tokens(batch=2, seed=3, lengths=[9, LENGTH])
    ab, ba = _predict(features, [a, b]), _predict(features, [b, a])
    e1, e2 = ab[:, :H], ab[:, H : 2 * H]
    lc.assert_close(ba[:, :H], e2, atol=1e-5, what="shared encoder (swap)")
    lc.assert_close(ab[:, 2 * H : 3 * H], e1 - e2, atol=1e-5, what="e1 - e2")
    lc.assert_close(ab[:, 3 * H :], e1 * e2, atol=1e-5, what="e1 * e2")
    # One encoder's weights (not two): embedding + 2 blocks + final norm + head.
    single = models.build_classifier(2, vocab_size=VOCAB, **SMALL)
    head = (4 * H * H + H) + (H * 2 + 2)
    assert model.count_params() == single.count_params() - (H * 2 + 2) + head


# ----------------------------------------------------------------------------------------
# training and saving


@pytest.fixture(scope="module")
def trained_classifier():
    """A classifier trained a few steps on a parity-of-first-token task (padded)."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    lengths = rng.integers(4, LENGTH + 1, size=32)
    x = _tokens(batch=32, seed=4, lengths=lengths)
    y = (x[:, 0] % 2).astype("int32")
    model = models.build_classifier(
        2, vocab_size=VOCAB, mask_zero=True, norm="batch", dropout=0.1, **SMALL
    )
    model.compile(
        keras_ssm.optimizers.ssm_optimizer(model, paper="dlr", lr=1e-2, ssm_lr=1e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    before = model.evaluate(x, y, verbose=0, batch_size=32)
    model.fit(x, y, batch_size=8, epochs=6, verbose=0)
    after = model.evaluate(x, y, verbose=0, batch_size=32)
    return model, x, y, before, after


def test_training_lowers_the_loss(trained_classifier):
    _, _, _, before, after = trained_classifier
    assert after < 0.8 * before, f"loss {before:.4g} -> {after:.4g}"


def test_keras_file_roundtrip(trained_classifier, tmp_path):
    model, x, _, _, _ = trained_classifier
    path = os.path.join(str(tmp_path), "classifier.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    lc.assert_close(_predict(loaded, x), _predict(model, x), atol=1e-6, what="reloaded")
    assert type(loaded.optimizer).__name__ == "GroupedOptimizer"
    for a, b in zip(loaded.optimizer.variables, model.optimizer.variables):
        np.testing.assert_array_equal(lc.to_numpy(a), lc.to_numpy(b))
    # Same variable paths after loading (optimizer groups select by path).
    assert [v.path for v in loaded.weights] == [v.path for v in model.weights]


@pytest.mark.skipif(
    lc.BACKEND != "torch",
    reason="checked once per suite, from the torch run (the layers check every pair of backends)",
)
def test_keras_file_loads_on_another_backend(trained_classifier, tmp_path):
    model, x, _, _, _ = trained_classifier
    path = os.path.join(str(tmp_path), "classifier.keras")
    model.save(path)
    np.save(os.path.join(str(tmp_path), "x.npy"), x)
    other = "jax"
    script = textwrap.dedent("""
        import sys, numpy as np, keras
        import keras_ssm
        model = keras.saving.load_model(sys.argv[1])
        np.save(sys.argv[3], keras.ops.convert_to_numpy(model(np.load(sys.argv[2]))))
    """)
    out = os.path.join(str(tmp_path), "y.npy")
    env = dict(os.environ, KERAS_BACKEND=other, CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run(
        [sys.executable, "-c", script, path, os.path.join(str(tmp_path), "x.npy"), out],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lc.assert_close(np.load(out), _predict(model, x), atol=1e-5, what=f"loaded on {other}")
