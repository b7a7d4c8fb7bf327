"""Helpers shared by the model-level tests (test_models, test_streaming_models, test_export)."""

import keras
import numpy as np

BACKEND = keras.config.backend()


def predict(model, x):
    """The model's outputs at inference, as numpy.

    On JAX through the jit-compiled predict function: eager JAX compiles every op for
    every new shape, which costs seconds per new model. Elsewhere a direct call (on
    TensorFlow, `predict_on_batch` with a second input length retraces with the length
    relaxed to None, which the SSM layers do not support: they need a static length).
    """
    if BACKEND == "jax":
        return np.asarray(model.predict_on_batch(x))
    return np.asarray(keras.ops.convert_to_numpy(model(x, training=False)))
