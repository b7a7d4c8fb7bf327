"""One switch for multi-device training: JAX `keras.distribution` or TensorFlow `tf.distribute`.

`distribution_scope(kind)` returns a context manager. Build, compile and fit the model
inside it:

```python
x, y = np.random.randint(1, 100, (16, 12)), np.random.randint(0, 2, (16,))
with keras_ssm.models.distribution_scope("auto") as scope:
    model = keras_ssm.models.build_classifier(2, vocab_size=100, hidden_size=8, num_layers=1)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
model.fit(x, y, batch_size=8 * scope.num_replicas, verbose=0)
```

Kinds:

- "none": one device (a no-op scope).
- "data_parallel": replicate the model and split each batch over the devices —
  `keras.distribution.DataParallel` on JAX (CPU, GPU or TPU devices),
  `tf.distribute.MirroredStrategy` on TensorFlow.
- "mirrored": `tf.distribute.MirroredStrategy` (TensorFlow only).
- "tpu": `tf.distribute.TPUStrategy` on TensorFlow (connects to the TPU cluster);
  on JAX the same as "data_parallel" over the TPU devices.
- "auto": "data_parallel" when more than one accelerator (or, on JAX, more than one
  device of any kind) is visible, else "none".

PyTorch has no Keras-level multi-device training here: only "none" and "auto" (which
then means one device) are accepted.
"""

import contextlib

from keras_ssm.ops import backend as ssm_backend

KINDS = ("auto", "none", "data_parallel", "mirrored", "tpu")


class DistributionScope:
    """The context manager returned by `distribution_scope`.

    Attributes:
        kind: the resolved kind ("none", "data_parallel", "mirrored" or "tpu").
        num_replicas: int, the number of model replicas (devices the batch is split over).
        strategy: the `tf.distribute.Strategy` (TensorFlow), else None.
        distribution: the `keras.distribution.Distribution` (JAX), else None.
    """

    def __init__(self, kind, num_replicas=1, strategy=None, distribution=None):
        self.kind = kind
        self.num_replicas = int(num_replicas)
        self.strategy = strategy
        self.distribution = distribution
        self._stack = None

    def __enter__(self):
        self._stack = contextlib.ExitStack()
        if self.strategy is not None:
            self._stack.enter_context(self.strategy.scope())
        if self.distribution is not None:
            self._stack.enter_context(self.distribution.scope())
        return self

    def __exit__(self, *exc):
        stack, self._stack = self._stack, None
        return stack.__exit__(*exc)

    def __repr__(self):
        return f"DistributionScope(kind={self.kind!r}, num_replicas={self.num_replicas})"


def distribution_scope(kind="auto", devices=None):
    """A context manager for multi-device data-parallel training on the current backend.

    Args:
        kind: one of "auto", "none", "data_parallel", "mirrored", "tpu" (see the module
            docstring).
        devices: optional list of devices: JAX device strings such as "cpu:0"
            (`keras.distribution.list_devices()`), or TensorFlow device names such as
            "/cpu:0", "/gpu:1". Default: every device of the preferred kind.

    Returns:
        A `DistributionScope` (use it in a `with` statement; `num_replicas` tells how
        many replicas share each batch).

    Raises:
        ValueError: an unknown kind, or one the backend does not support.

    Example:

    ```python
    x, y = np.random.randint(1, 100, (16, 12)), np.random.randint(0, 2, (16,))
    # "data_parallel" on JAX and TensorFlow; "auto" picks it there and "none" on torch.
    with keras_ssm.models.distribution_scope("auto") as scope:
        model = keras_ssm.models.build_classifier(2, vocab_size=100, hidden_size=8,
                                                  num_layers=1)
        model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=8 * scope.num_replicas, verbose=0)
    ```
    """
    if kind not in KINDS:
        raise ValueError(f"`kind` must be one of {KINDS}, got {kind!r}.")
    if kind == "none":
        return DistributionScope("none")
    setup = ssm_backend.data_parallel(kind, devices)
    return DistributionScope("none") if setup is None else DistributionScope(**setup)
