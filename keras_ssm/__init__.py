"""keras-ssm: state-space sequence layers (DSS, DLR, S5, S4D, LRU, Mamba) for Keras 3.

Backends: JAX, TensorFlow and PyTorch (``KERAS_BACKEND``), each with its own fast
paths for the hot loops (see `keras_ssm.ops`). Importing the package registers every
layer, initializer, optimizer and head with Keras serialization, so `.keras` files
load after `import keras_ssm`.

Subpackages: `config` (implementation choice), `ops` (the hot ops and their registry),
`initializers` (HiPPO math, then Keras initializers), `layers` (DSS, DLR, S5, S4D, LRU,
Mamba, SSMBlock), `models` (builders, streaming, distribution, export), `optimizers`
(parameter groups, schedules), `callbacks` (resumable training), `data` (task generators
and readers), `hub` (keras-hub backbones and tasks, Mamba's included; optional extra).
`callbacks`, `data` and most of `models` are imported on first use.
"""

import importlib

from keras_ssm import config
from keras_ssm import initializers
from keras_ssm import layers
from keras_ssm import models  # light: its heads register, the rest loads on first use
from keras_ssm import ops
from keras_ssm import optimizers
from keras_ssm.version import __version__

_LAZY = ("callbacks", "data")

__all__ = [
    "__version__",
    "callbacks",
    "config",
    "data",
    "initializers",
    "layers",
    "models",
    "ops",
    "optimizers",
]


def __getattr__(name):
    if name in _LAZY:
        module = importlib.import_module(f"keras_ssm.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
