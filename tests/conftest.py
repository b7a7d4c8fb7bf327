"""Test configuration: temporary KERAS_HOME (and hypothesis folder), the Triton
interpreter, XLA compiling fast rather than optimizing, and helpers. (pyproject.toml's
pytest options print the 25 slowest tests at the end of a run.)

The suite runs once per backend (`KERAS_BACKEND=jax|tensorflow|torch pytest`).
"""

import os
import tempfile

# Before keras is imported anywhere: keep Keras from writing ~/.keras, and run Triton
# kernels in the interpreter on machines without a GPU.
os.environ.setdefault("KERAS_HOME", tempfile.mkdtemp(prefix="keras_home_"))
os.environ.setdefault("TRITON_INTERPRET", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# hypothesis (tests/test_properties.py) keeps its files in a temporary folder too.
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", tempfile.mkdtemp(prefix="hypothesis_"))
# The tests' tiny shapes spend far more time in XLA's compiler (JAX, and TensorFlow's
# jit_compile) than running: skip LLVM's optimization passes (a third less time for the
# JAX run on 2 CPU cores). The compiled programs compute the same; XLA_FLAGS that set
# the level themselves are kept.
_xla_flags = os.environ.get("XLA_FLAGS", "")
if "xla_backend_optimization_level" not in _xla_flags:
    os.environ["XLA_FLAGS"] = (
        f"{_xla_flags} --xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
    ).strip()

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

BACKEND = keras.config.backend()


@pytest.fixture(autouse=True)
def _reset_implementation_choices():
    """Each test starts with automatic implementation selection."""
    from keras_ssm.ops import registry

    yield
    from keras_ssm import config

    for op in registry.OPS:
        config.set_implementation(op, None)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
