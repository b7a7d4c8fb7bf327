"""Export a trained model for serving, with the traceable reference paths of every SSM op.

The fast paths of the hot ops (Triton kernels, XLA-compiled scans, ...) are chosen per
call and some cannot be traced into a serving artifact. `export_model` wraps Keras'
`model.export(...)` in `keras_ssm.config.use_implementation(op, "reference")` for every
op, so the artifact contains the `keras.ops`-only implementations, which every exporter
can trace. The exported model computes the same function.
"""

import contextlib
import importlib.util

from keras_ssm import config
from keras_ssm.ops import backend as ssm_backend
from keras_ssm.ops import registry

FORMATS = ("tf_saved_model", "onnx", "openvino", "litert", "torch")

# Python packages each (backend, format) needs beyond the backend itself.
_REQUIREMENTS = {
    ("tensorflow", "tf_saved_model"): ("tensorflow",),
    ("jax", "tf_saved_model"): ("tensorflow",),
    ("torch", "tf_saved_model"): ("tensorflow", "torch_xla"),
    ("tensorflow", "onnx"): ("tf2onnx", "onnx"),
    ("jax", "onnx"): ("jax2onnx", "onnx"),
    ("torch", "onnx"): ("onnx", "onnxscript"),
    ("tensorflow", "openvino"): ("openvino",),
    ("jax", "openvino"): ("openvino",),
    ("torch", "openvino"): ("openvino",),
    ("tensorflow", "litert"): ("tensorflow",),
    ("jax", "litert"): ("tensorflow",),
    ("torch", "litert"): ("litert_torch",),
    ("torch", "torch"): ("torch",),
}


def missing_requirements(format, backend=None):
    """The packages `export_model(..., format=format)` needs that are not installed.

    Args:
        format: an export format (see `FORMATS`).
        backend: a Keras backend name; default the current one.

    Returns:
        A list of missing package names (empty when the export can run).

    Raises:
        ValueError: an unknown format, or one Keras cannot export on this backend.
    """
    backend = backend or ssm_backend.name()
    if format not in FORMATS:
        raise ValueError(f"`format` must be one of {FORMATS}, got {format!r}.")
    needed = _REQUIREMENTS.get((backend, format))
    if needed is None:
        raise ValueError(f"Keras cannot export format={format!r} on the {backend} backend.")
    return [name for name in needed if importlib.util.find_spec(name) is None]


@contextlib.contextmanager
def reference_implementations():
    """Context manager forcing the `reference` implementation of every SSM op.

    Example:

    ```python
    a, b = keras.ops.full((4,), 0.9), keras.ops.ones((1, 8, 4))
    with keras_ssm.models.reference_implementations():
        # model.export("served", format="tf_saved_model") traces these paths
        assert keras_ssm.ops.resolve("linear_recurrence", a, b) == "reference"
    ```
    """
    with contextlib.ExitStack() as stack:
        for op in registry.OPS:
            stack.enter_context(config.use_implementation(op, "reference"))
        yield


def export_model(model, path, format="tf_saved_model", verbose=False, **kwargs):
    """Export `model` for serving with Keras' `model.export`, using traceable op paths.

    Args:
        model: a built `keras.Model` (called at least once).
        path: str, the output path (a directory for "tf_saved_model").
        format: "tf_saved_model" (TensorFlow and JAX backends), "onnx", "openvino",
            "litert" or "torch" (torch backend), as far as Keras supports it on the
            current backend.
        verbose: bool, Keras' export messages.
        **kwargs: forwarded to `model.export` (input_signature, opset_version, ...).

    Raises:
        ImportError: a package the format needs on this backend is missing (the
            message names it and the pip command).
        ValueError: an unknown format, or one Keras cannot export on this backend.

    Example:

    ```python
    # Not run by the tests (writes a SavedModel; tests/test_export.py checks it).
    model = keras_ssm.models.build_classifier(2, vocab_size=100, hidden_size=8,
                                              num_layers=1, sequence_length=16)
    keras_ssm.models.export_model(model, "served_model")        # TF or JAX backend
    # then, wherever TensorFlow runs (keras-ssm not needed):
    #   logits = tf.saved_model.load("served_model").serve(np.ones((1, 16), "int32"))
    ```
    """
    backend = ssm_backend.name()
    missing = missing_requirements(format, backend)
    if missing:
        raise ImportError(
            f"Exporting to format={format!r} on the {backend} backend needs the package(s) "
            f"{', '.join(missing)}, which are not installed: pip install {' '.join(missing)}"
        )
    with reference_implementations():
        model.export(str(path), format=format, verbose=verbose, **kwargs)
    return path
