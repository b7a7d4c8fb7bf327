"""keras-ssm: diagonal state-space sequence layers (DSS, DLR, S5) for Keras 3.

Backends: JAX, TensorFlow and PyTorch (``KERAS_BACKEND``), each with its own fast
paths for the hot loops (see `keras_ssm.ops`). Importing the package registers every
layer with Keras serialization, so `.keras` files load after `import keras_ssm`.
"""

from keras_ssm import callbacks
from keras_ssm import config
from keras_ssm import data
from keras_ssm import initializers
from keras_ssm import layers
from keras_ssm import models
from keras_ssm import ops
from keras_ssm import optimizers
from keras_ssm.version import __version__

__all__ = [
    "__version__", "callbacks", "config", "data", "initializers", "layers", "models", "ops",
    "optimizers",
]
