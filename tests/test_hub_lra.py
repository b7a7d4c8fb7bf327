"""keras_ssm.hub.lra: keras-hub's tokenizer and packer give exactly keras_ssm.data.lra's byte ids.

On the fixture files of tests/test_lra.py (the released formats: AAN pairs TSVs, an
extracted aclImdb folder), `keras_ssm.hub.lra.load` and examples/lra.py's keras-hub path
return the arrays of the plain reader, `keras_ssm.data.lra.load`.
"""

import keras
import numpy as np
import pytest

from examples import lra as script
from keras_ssm.data import lra
from keras_ssm.data.lra import encode_bytes
from keras_ssm.hub import lra as hub_lra
from keras_ssm.hub.lra import LRABytePreprocessor
from test_lra import lra_dir  # noqa: F401  (the fixture: lra_release in its formats)

to_numpy = keras.ops.convert_to_numpy

TEXTS = ["ab", "Ünïcödé review, quite long", "", "x" * 20]
# Raw bytes as the files hold them: not UTF-8, NUL, tabs' neighbours, <br />.
RAW = [b"\xff\xfe caf\xe9", b"nul \x00 inside", b"line<br />break\r", bytes(range(1, 40))]

REVIEWS = {
    ("train", "pos"): [b"good", "na\u00efve <br /> plot".encode()],
    ("train", "neg"): [b"awful \xff", b"y" * 5000],
    ("test", "pos"): [b"fine"],
    ("test", "neg"): [b"meh", b""],
}


def test_text_ids_equal_the_readers_encoding():
    preprocessor = LRABytePreprocessor(sequence_length=12)
    for texts in (TEXTS, RAW):
        x = preprocessor(texts)
        expected = np.stack([encode_bytes(t, 12) for t in texts])
        np.testing.assert_array_equal(to_numpy(x["token_ids"]), expected)
        np.testing.assert_array_equal(to_numpy(x["padding_mask"]), expected != 0)


def test_retrieval_pairs():
    preprocessor = LRABytePreprocessor(sequence_length=9)
    pair = preprocessor({"document_1": TEXTS[:2], "document_2": TEXTS[2:]})
    for key, texts in (("document_1", TEXTS[:2]), ("document_2", TEXTS[2:])):
        np.testing.assert_array_equal(
            to_numpy(pair[key]), np.stack([encode_bytes(t, 9) for t in texts])
        )


def test_tf_data_pipeline():
    # keras-hub maps preprocessors over tf.data when TensorFlow is installed (the lean,
    # TensorFlow-free install of README's keras-hub section has grain instead).
    tf = pytest.importorskip("tensorflow")
    preprocessor = LRABytePreprocessor(sequence_length=9)
    batch = next(iter(tf.data.Dataset.from_tensor_slices(TEXTS).batch(4).map(preprocessor)))
    np.testing.assert_array_equal(
        batch["token_ids"].numpy(), np.stack([encode_bytes(t, 9) for t in TEXTS])
    )


def test_encode_into_batches_equal_one_call():
    texts = TEXTS + RAW
    preprocessor = LRABytePreprocessor(sequence_length=10)
    out = hub_lra.encode_into(
        np.full((len(texts), 10), -1, "int32"), texts, preprocessor, batch_size=3
    )
    np.testing.assert_array_equal(out, np.stack([encode_bytes(t, 10) for t in texts]))
    with pytest.raises(ValueError, match="`out` must have shape"):
        hub_lra.encode_into(np.zeros((2, 10), "int32"), texts, preprocessor)


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_retrieval_files_agree_with_the_plain_reader(lra_dir, tmp_path, split):
    (docs1, docs2), labels = hub_lra.load(
        "retrieval", lra_dir["outer"], split, cache_dir=tmp_path / "hub", verbose=0
    )
    (plain1, plain2), plain_labels = lra.load(
        "retrieval", lra_dir["root"], split, cache_dir=tmp_path / "plain", verbose=0
    )
    assert docs1.shape == plain1.shape and docs1.shape[1] == 4000 and docs1.dtype == np.int32
    np.testing.assert_array_equal(docs1, plain1)
    np.testing.assert_array_equal(docs2, plain2)
    np.testing.assert_array_equal(labels, plain_labels)
    # Cached beside the plain reader's arrays, then memory-mapped.
    assert sorted(p.name for p in (tmp_path / "hub").iterdir()) == [
        f"retrieval-{split}-hub-v1.{name}.npy" for name in ("docs1", "docs2", "labels")
    ]
    (again, _), _ = hub_lra.load(
        "retrieval", lra_dir["root"], split, cache_dir=tmp_path / "hub", verbose=0
    )
    assert isinstance(again, np.memmap)


def test_text_folder_agrees_with_the_plain_reader(tmp_path):
    for (split, polarity), texts in REVIEWS.items():
        folder = tmp_path / "aclImdb" / split / polarity
        folder.mkdir(parents=True)
        for i, text in enumerate(texts):
            (folder / f"{i}_{7 if polarity == 'pos' else 2}.txt").write_bytes(text)
    for split in ("train", "val", "test"):
        inputs, labels = hub_lra.load("text", tmp_path, split)
        plain, plain_labels = lra.load("text", tmp_path, split)
        assert inputs.shape[1] == 4096 and inputs.dtype == np.int32
        np.testing.assert_array_equal(inputs, plain)
        np.testing.assert_array_equal(labels, plain_labels)


def test_malformed_retrieval_line_names_file_and_line(tmp_path):
    (tmp_path / "tsv_data").mkdir()
    (tmp_path / "tsv_data" / "new_aan_pairs.test.tsv").write_text(
        "1\ta\tb\tx\ty\n0\ta\tb\tx\ty\n1\tonly three\n"
    )
    with pytest.raises(ValueError, match="new_aan_pairs.test.tsv, line 3: expected 5"):
        hub_lra.load("retrieval", tmp_path, "test", verbose=0)
    with pytest.raises(ValueError, match="reads \\('text', 'retrieval'\\)"):
        hub_lra.load("listops", tmp_path, "test")


def test_example_script_uses_keras_hub_for_text_tasks(lra_dir, tmp_path):
    assert script.text_encoding("retrieval") == "keras-hub"
    assert script.text_encoding("text", "plain") == "plain"
    assert script.text_encoding("listops") is None and script.text_encoding("pathfinder") is None
    settings = {"seq_len": None}
    hub_inputs, hub_labels = script.load_split(
        "retrieval", lra_dir["root"], "train", settings, tmp_path, verbose=0, tokenizer="keras-hub"
    )
    plain_inputs, plain_labels = script.load_split(
        "retrieval", lra_dir["root"], "train", settings, tmp_path, verbose=0, tokenizer="plain"
    )
    assert isinstance(hub_inputs, tuple) and len(hub_inputs) == 2
    for hub_docs, plain_docs in zip(hub_inputs, plain_inputs):
        np.testing.assert_array_equal(hub_docs, plain_docs)
    np.testing.assert_array_equal(hub_labels, plain_labels)


def test_classifier_with_lra_ids_round_trips_as_a_preset(tmp_path):
    # README's keras-hub way: LRA's ids inside a task, saved and loaded as a preset.
    import keras_hub

    from keras_ssm.hub import SSMBackbone
    from keras_ssm.hub import SSMSequenceClassifier

    backbone = SSMBackbone(
        vocabulary_size=259,
        hidden_dim=8,
        num_layers=1,
        ssm="s5",
        ssm_kwargs={"state_size": 4},
        bidirectional=True,
        seed=0,
    )
    classifier = SSMSequenceClassifier(
        backbone, 2, preprocessor=LRABytePreprocessor(sequence_length=16)
    )
    classifier.fit([b"a good film", b"bad \xff"], np.array([1, 0]), verbose=0)
    expected = classifier.predict(["fine"], verbose=0)
    classifier.save_to_preset(str(tmp_path / "preset"))
    loaded = keras_hub.models.TextClassifier.from_preset(str(tmp_path / "preset"))
    assert type(loaded.preprocessor) is LRABytePreprocessor
    assert loaded.preprocessor.sequence_length == 16
    np.testing.assert_allclose(loaded.predict(["fine"], verbose=0), expected, atol=1e-6)
