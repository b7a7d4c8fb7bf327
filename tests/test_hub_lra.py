"""keras_ssm.hub.lra: keras-hub's tokenizer and packer give exactly keras_ssm.data.lra's byte ids."""

import keras
import numpy as np
import pytest

from keras_ssm.data.lra import encode_bytes
from keras_ssm.hub.lra import LRABytePreprocessor

to_numpy = keras.ops.convert_to_numpy

TEXTS = ["ab", "Ünïcödé review, quite long", "", "x" * 20]


def test_text_ids_equal_the_readers_encoding():
    preprocessor = LRABytePreprocessor(sequence_length=12)
    x = preprocessor(TEXTS)
    expected = np.stack([encode_bytes(t, 12) for t in TEXTS])
    np.testing.assert_array_equal(to_numpy(x["token_ids"]), expected)
    np.testing.assert_array_equal(to_numpy(x["padding_mask"]), expected != 0)


def test_retrieval_pairs():
    preprocessor = LRABytePreprocessor(sequence_length=9)
    pair = preprocessor({"document_1": TEXTS[:2], "document_2": TEXTS[2:]})
    for key, texts in (("document_1", TEXTS[:2]), ("document_2", TEXTS[2:])):
        np.testing.assert_array_equal(to_numpy(pair[key]),
                                      np.stack([encode_bytes(t, 9) for t in texts]))


def test_tf_data_pipeline():
    # keras-hub maps preprocessors over tf.data when TensorFlow is installed (the lean,
    # TensorFlow-free install of README's keras-hub section has grain instead).
    tf = pytest.importorskip("tensorflow")
    preprocessor = LRABytePreprocessor(sequence_length=9)
    batch = next(iter(tf.data.Dataset.from_tensor_slices(TEXTS).batch(4).map(preprocessor)))
    np.testing.assert_array_equal(batch["token_ids"].numpy(),
                                  np.stack([encode_bytes(t, 9) for t in TEXTS]))
