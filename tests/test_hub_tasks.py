"""keras_ssm.hub tasks: preprocessor outputs, fit / evaluate / predict, heads against numpy."""

import keras
import keras_hub
import numpy as np
import pytest

from keras_ssm.hub import SSMBackbone
from keras_ssm.hub import SSMByteTokenizer
from keras_ssm.hub import SSMSequenceClassifier
from keras_ssm.hub import SSMSequenceClassifierPreprocessor
from keras_ssm.hub import SSMTokenTagger
from keras_ssm.hub import SSMTokenTaggerPreprocessor

to_numpy = keras.ops.convert_to_numpy


def utf8_ids(text, length):
    ids = list(text.encode("utf-8"))[:length]
    return ids + [0] * (length - len(ids)), [1] * len(ids) + [0] * (length - len(ids))


def test_byte_tokenizer_is_keras_hubs_with_special_ids():
    tokenizer = SSMByteTokenizer()
    assert isinstance(tokenizer, keras_hub.tokenizers.ByteTokenizer)
    assert list(to_numpy(tokenizer("Aé"))) == [65, 195, 169]  # no lowercasing
    assert tokenizer.detokenize([65, 195, 169]) == "Aé"
    assert (tokenizer.pad_token_id, tokenizer.start_token_id, tokenizer.end_token_id) == (0, 2, 3)
    assert tokenizer.special_token_ids == [0, 2, 3]
    assert (
        SSMByteTokenizer.from_config(tokenizer.get_config()).get_config() == tokenizer.get_config()
    )


def test_text_classifier_preprocessor_outputs():
    preprocessor = SSMSequenceClassifierPreprocessor(
        SSMByteTokenizer(), sequence_length=6, add_end_token=True
    )
    texts = ["ab", "long text"]
    x, y = preprocessor(texts, np.array([1, 0]))
    ids = [list(t.encode()) + [3] for t in texts]
    expected = [(i[:5] + [3] if len(i) > 6 else i)[:6] for i in ids]
    expected = [e + [0] * (6 - len(e)) for e in expected]
    np.testing.assert_array_equal(to_numpy(x["token_ids"]), expected)
    np.testing.assert_array_equal(
        to_numpy(x["padding_mask"]).astype(int), [[1, 1, 1, 0, 0, 0], [1] * 6]
    )
    np.testing.assert_array_equal(to_numpy(y), [1, 0])


def test_feature_preprocessor_reads_images_row_major(rng):
    preprocessor = SSMSequenceClassifierPreprocessor(scale=1 / 255, offset=-0.5)
    images = rng.integers(0, 256, (2, 3, 4, 2)).astype("uint8")
    x = preprocessor(images)
    expected = images.reshape(2, 12, 2).astype("float32") / 255 - 0.5
    np.testing.assert_allclose(to_numpy(x["features"]), expected, atol=1e-6)
    np.testing.assert_array_equal(to_numpy(x["padding_mask"]), np.ones((2, 12)))
    audio = rng.normal(size=(2, 10)).astype("float32")
    assert tuple(preprocessor(audio)["features"].shape) == (2, 10, 1)


def make_text_classifier(pooling="mean"):
    backbone = SSMBackbone(
        vocabulary_size=256,
        hidden_dim=6,
        num_layers=1,
        ssm="dlr",
        ssm_kwargs={"state_size": 4},
        seed=1,
    )
    preprocessor = SSMSequenceClassifierPreprocessor(SSMByteTokenizer(), sequence_length=12)
    return SSMSequenceClassifier(backbone, 3, preprocessor=preprocessor, pooling=pooling)


@pytest.mark.parametrize("pooling", ["mean", "last"])
def test_classifier_head_pools_valid_positions(pooling):
    classifier = make_text_classifier(pooling)
    texts = ["abc", "state space"]
    logits = classifier.predict(texts, verbose=0)
    x = classifier.preprocessor(texts)
    hidden = to_numpy(classifier.backbone(x))
    mask = to_numpy(x["padding_mask"]).astype(bool)
    if pooling == "mean":
        pooled = np.stack([h[m].mean(axis=0) for h, m in zip(hidden, mask)])
    else:
        pooled = np.stack([h[m][-1] for h, m in zip(hidden, mask)])
    kernel, bias = (to_numpy(w) for w in classifier.output_dense.weights)
    np.testing.assert_allclose(logits, pooled @ kernel + bias, atol=1e-5)


def test_text_classifier_fit_evaluate_predict():
    classifier = make_text_classifier()
    assert isinstance(classifier, keras_hub.models.TextClassifier)
    classifier.compile(optimizer=classifier.backbone.ssm_optimizer(lr=1e-2))
    texts = ["abc", "hello world", "xyz", "some text"]
    labels = np.array([0, 1, 2, 1])
    history = classifier.fit(texts, labels, batch_size=2, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    loss, accuracy = classifier.evaluate(texts, labels, batch_size=2, verbose=0)
    assert np.isfinite(loss) and 0.0 <= accuracy <= 1.0
    assert classifier.predict(texts, batch_size=2, verbose=0).shape == (4, 3)


def test_feature_classifier_trains_on_images(rng):
    keras.utils.set_random_seed(0)  # the head's initializer: independent of the tests before
    backbone = SSMBackbone(
        input_features=1, hidden_dim=6, num_layers=1, ssm="s5", ssm_kwargs={"state_size": 4}, seed=2
    )
    classifier = SSMSequenceClassifier(
        backbone, 2, preprocessor=SSMSequenceClassifierPreprocessor(scale=1 / 255)
    )
    images = rng.integers(0, 256, (4, 4, 4, 1)).astype("uint8")
    labels = np.array([0, 1, 0, 1])
    before = classifier.evaluate(images, labels, verbose=0)[0]
    classifier.compile(optimizer=keras.optimizers.Adam(0.05))
    classifier.fit(images, labels, batch_size=4, epochs=20, verbose=0)
    assert classifier.evaluate(images, labels, verbose=0)[0] < before
    assert classifier.predict(images, verbose=0).shape == (4, 2)


def test_tagger_preprocessor_pads_labels_and_weights():
    preprocessor = SSMTokenTaggerPreprocessor(SSMByteTokenizer(), sequence_length=5)
    x, y, weights = preprocessor(
        ["ab1", "xyzuvw"], np.array([[0, 0, 1, 0, 0, 0], [1, 1, 1, 0, 0, 1]])
    )
    np.testing.assert_array_equal(
        to_numpy(x["token_ids"]), [utf8_ids("ab1", 5)[0], utf8_ids("xyzuvw", 5)[0]]
    )
    np.testing.assert_array_equal(to_numpy(y), [[0, 0, 1, 0, 0], [1, 1, 1, 0, 0]])
    np.testing.assert_array_equal(to_numpy(weights).astype(int), [[1, 1, 1, 0, 0], [1] * 5])


def test_tagger_fit_predict_and_preset(tmp_path):
    # keras-hub's run_task_test (tests/test_hub_conformance.py) covers predict and fit over
    # tf.data and split preprocessing; here a trained tagger's preset gives its outputs.
    backbone = SSMBackbone(
        vocabulary_size=256,
        hidden_dim=6,
        num_layers=1,
        ssm="dss",
        ssm_kwargs={"state_size": 4},
        bidirectional=True,
        seed=4,
    )
    preprocessor = SSMTokenTaggerPreprocessor(SSMByteTokenizer(), sequence_length=8)
    tagger = SSMTokenTagger(backbone, 2, preprocessor=preprocessor)
    texts = ["a1b2", "zz9", "q", "12ab"]
    labels = np.array([[0, 1, 0, 1], [0, 0, 1, 0], [0, 0, 0, 0], [1, 1, 0, 0]])
    history = tagger.fit(texts, labels, batch_size=2, epochs=1, verbose=0)
    assert 0.0 <= history.history["sparse_categorical_accuracy"][0] <= 1.0
    logits = tagger.predict(texts, verbose=0)
    assert logits.shape == (4, 8, 2)
    tagger.save_to_preset(str(tmp_path))
    loaded = SSMTokenTagger.from_preset(str(tmp_path))
    np.testing.assert_array_equal(loaded.predict(texts, verbose=0), logits)
