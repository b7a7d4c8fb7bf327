"""One switch for multi-device training: JAX `keras.distribution`, TensorFlow `tf.distribute`,
torch `DistributedDataParallel`.

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
- "ddp" (torch; "data_parallel" means it there): one process per device, as Keras'
  guide to multi-GPU training on torch does. The scope joins the process group
  (`torchrun --nproc-per-node N script.py`, or `torch.distributed.init_process_group`
  called first, e.g. under `torch.multiprocessing`), and `scope.fit` /
  `scope.train_step` train the model wrapped in `torch.nn.parallel.DistributedDataParallel`
  with its compiled loss and optimizer: each process runs its share of every batch and
  the gradients are averaged over the processes. (`model.fit` itself does not
  synchronize torch processes: train with `scope.fit`.)
- "auto": "data_parallel" when more than one accelerator (or, on JAX, more than one
  device of any kind) is visible, else "none" (torch: always "none"; ask for "ddp").

`scope.fit(model, x, y, batch_size=..., epochs=...)` trains under every kind (the global
batch split over the replicas); under "ddp" it is the DDP loop, elsewhere `model.fit`.
"""

import contextlib

import numpy as np

from keras_ssm.ops import backend as ssm_backend

KINDS = ("auto", "none", "data_parallel", "mirrored", "tpu", "ddp")


class DistributionScope:
    """The context manager returned by `distribution_scope`.

    Attributes:
        kind: the resolved kind ("none", "data_parallel", "mirrored", "tpu" or "ddp").
        num_replicas: int, the number of model replicas (devices the batch is split over).
        rank: int, this process's rank under "ddp" (0 otherwise).
        strategy: the `tf.distribute.Strategy` (TensorFlow), else None.
        distribution: the `keras.distribution.Distribution` (JAX), else None.
        group: torch's process group and DDP models under "ddp", else None.

    Example:

    ```python
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    with keras_ssm.models.distribution_scope("none") as scope:
        loss = scope.train_step(model, np.ones((4, 3)), np.zeros((4, 1)))  # a float
        module = scope.wrap(model)   # the model itself; its DDP module under "ddp"
    ```
    """

    def __init__(self, kind, num_replicas=1, strategy=None, distribution=None, rank=0, group=None):
        self.kind = kind
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        self.strategy = strategy
        self.distribution = distribution
        self.group = group
        self._stack = None

    def __enter__(self):
        self._stack = contextlib.ExitStack()
        if self.strategy is not None:
            self._stack.enter_context(self.strategy.scope())
        if self.distribution is not None:
            self._stack.enter_context(self.distribution.scope())
        if self.group is not None:
            self._stack.callback(self.group.close)
        return self

    def __exit__(self, *exc):
        stack, self._stack = self._stack, None
        return stack.__exit__(*exc)

    def __repr__(self):
        return f"DistributionScope(kind={self.kind!r}, num_replicas={self.num_replicas})"

    def wrap(self, model, **kwargs):
        """The module that trains `model` here: under "ddp" `model` (built) in
        `torch.nn.parallel.DistributedDataParallel` (`**kwargs` its arguments), for a
        training loop of your own; elsewhere `model` itself."""
        return model if self.group is None else self.group.wrap(model, **kwargs)

    def train_step(self, model, x, y=None, sample_weight=None):
        """One training step of the compiled `model` on this process's rows.

        Under "ddp": forward through DDP, `backward` (the gradients averaged over the
        processes, left on the variables), the compiled optimizer; give each process its
        own rows of the global batch. Elsewhere `model.train_on_batch`.

        Returns:
            The loss (a float; under "ddp" the mean over the processes).
        """
        if self.group is not None:
            return self.group.train_step(model, x, y, sample_weight)
        logs = model.train_on_batch(x, y, sample_weight=sample_weight, return_dict=True)
        return float(logs["loss"])

    def fit(
        self,
        model,
        x,
        y=None,
        *,
        batch_size=32,
        epochs=1,
        sample_weight=None,
        shuffle=True,
        seed=0,
    ):
        """Train the compiled `model` on numpy data; `batch_size` is the global batch.

        Under "ddp" each step takes the next `batch_size` examples (of a permutation
        drawn from (seed, epoch) when `shuffle`, the same in every process), and process
        r runs rows r·b/n ... (r+1)·b/n - 1 of them (n processes, b/n each): with a loss
        averaged over the batch, the step equals one device on the whole batch. The
        last batch is cut to a multiple of n (a batch of fewer than n rows is skipped).
        Elsewhere `model.fit(x, y, batch_size=batch_size, ...)`.

        Args:
            model: a compiled Keras model, built inside this scope.
            x, y, sample_weight: arrays (or structures of arrays) with the same first
                dimension.
            batch_size: int, the global batch (a multiple of `num_replicas`).
            epochs: int; shuffle: bool; seed: int, the data order under "ddp".

        Returns:
            {"loss": [the mean training loss of each epoch]}.
        """
        if self.group is None:
            history = model.fit(
                x,
                y,
                batch_size=batch_size,
                epochs=epochs,
                sample_weight=sample_weight,
                shuffle=shuffle,
                verbose=0,
            )
            return {"loss": [float(v) for v in history.history["loss"]]}
        if int(batch_size) % self.num_replicas:
            raise ValueError(
                f"`batch_size` ({batch_size}) is the global batch: make it a multiple of "
                f"the {self.num_replicas} processes."
            )
        size = len(_leaves((x, y, sample_weight))[0])
        losses = []
        for epoch in range(int(epochs)):
            if shuffle:
                order = np.random.default_rng([seed, epoch]).permutation(size)
            else:
                order = np.arange(size)
            epoch_losses = []
            for start in range(0, size, int(batch_size)):
                rows = order[start : start + int(batch_size)]
                share = len(rows) // self.num_replicas
                if share == 0:
                    continue
                mine = rows[self.rank * share : (self.rank + 1) * share]
                parts = [None if a is None else _take(a, mine) for a in (x, y, sample_weight)]
                epoch_losses.append(self.train_step(model, *parts))
            losses.append(float(np.mean(epoch_losses)))
        return {"loss": losses}


def _leaves(structure):
    """The arrays of a (nested) structure of arrays, lists, tuples and dicts."""
    if structure is None:
        return []
    if isinstance(structure, dict):
        return [leaf for value in structure.values() for leaf in _leaves(value)]
    if isinstance(structure, (list, tuple)):
        return [leaf for value in structure for leaf in _leaves(value)]
    return [structure]


def _take(structure, rows):
    """`structure` with every array indexed by `rows` along its first axis."""
    if isinstance(structure, dict):
        return {key: _take(value, rows) for key, value in structure.items()}
    if isinstance(structure, (list, tuple)):
        return type(structure)(_take(value, rows) for value in structure)
    return np.asarray(structure)[rows]


def distribution_scope(kind="auto", devices=None):
    """A context manager for multi-device data-parallel training on the current backend.

    Args:
        kind: one of "auto", "none", "data_parallel", "mirrored", "tpu", "ddp" (see the
            module docstring).
        devices: optional list of devices: JAX device strings such as "cpu:0"
            (`keras.distribution.list_devices()`), or TensorFlow device names such as
            "/cpu:0", "/gpu:1". Default: every device of the preferred kind. None under
            "ddp" (each process takes GPU `LOCAL_RANK`).

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
        history = scope.fit(model, x, y, batch_size=8 * scope.num_replicas)
    # torch, one process per device (`torchrun --nproc-per-node 2 train.py`): the same
    # lines with distribution_scope("ddp") train under DistributedDataParallel.
    ```
    """
    if kind not in KINDS:
        raise ValueError(f"`kind` must be one of {KINDS}, got {kind!r}.")
    if kind == "none":
        return DistributionScope("none")
    setup = ssm_backend.data_parallel(kind, devices)
    return DistributionScope("none") if setup is None else DistributionScope(**setup)
