"""Nothing lost: resumable training with Keras' BackupAndRestore, exactly.

A run killed at any point and restarted with the same script continues from its last
backup and ends with the same weights as an uninterrupted run, when three things are
restored, which Keras' own `keras.callbacks.BackupAndRestore` only partly does:

1. the weights and optimizer state (Keras' `latest.weights.h5`);
2. the random state of dropout (the layers' seed generators, not in the weights file):
   `BackupAndRestore` here saves and restores it too;
3. the order of the training data, which must depend only on the epoch, not on what
   ran before in the process: `ResumableBatches` draws each epoch's permutation from
   (seed, epoch) (pass `shuffle=False` to `fit`, the dataset shuffles itself).

Keras restarts an interrupted epoch from its first batch, so backups are exact at epoch
boundaries. To back up every K steps, make a Keras epoch K steps long:
`ResumableBatches(..., steps_per_epoch=K)` splits the endless stream of shuffled passes
over the data into chunks of K batches (fit with `epochs = total_steps // K`). Batch-level
`save_freq=int` backups restart the epoch from its first batch on resume (Keras'
behaviour), so they are not exact; `BackupAndRestore` here only accepts "epoch".

Example:

```python
x, y = np.random.rand(64, 4).astype("float32"), np.random.rand(64, 1).astype("float32")
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
model.compile("sgd", "mse")
data = keras_ssm.callbacks.ResumableBatches(x, y, batch_size=16, seed=0,
                                            steps_per_epoch=2)
backup = keras_ssm.callbacks.BackupAndRestore("run1/backup", data=data)
# Interrupted and rerun, the same call resumes at the last finished epoch.
model.fit(data, epochs=3, shuffle=False, callbacks=[backup], verbose=0)
```
"""

import os
import warnings

import keras
import numpy as np


def _seed_generator_states(model):
    """The model's variables that its weights file does not hold (the RNG states)."""
    weights = {id(v) for v in model.weights}
    return [v for v in model.variables if id(v) not in weights]


class BackupAndRestore(keras.callbacks.BackupAndRestore):
    """`keras.callbacks.BackupAndRestore` that also restores dropout's random state.

    At the end of every epoch it saves the weights and optimizer state (as Keras) and
    the seed-generator states (`rng_state.npz`); on `fit` start it restores all of them
    and the epoch, and tells `data` (a `ResumableBatches`) which epoch runs. It adds to
    Keras' callback through the public callback hooks only (`on_train_begin`,
    `on_epoch_end`), with `save_random_state` / `restore_random_state` for the rest.

    Args:
        backup_dir: str, a directory used by this run only.
        data: optional `ResumableBatches` (anything with `set_epoch(epoch)`) fed to fit.
        double_checkpoint, delete_checkpoint: as in Keras.

    Example:

    ```python
    x, y = np.random.rand(32, 4).astype("float32"), np.random.rand(32, 1).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    data = keras_ssm.callbacks.ResumableBatches(x, y, batch_size=16, seed=0)
    backup = keras_ssm.callbacks.BackupAndRestore("backup", data=data)
    model.fit(data, epochs=2, shuffle=False, callbacks=[backup], verbose=0)
    ```
    """

    def __init__(self, backup_dir, data=None, double_checkpoint=False, delete_checkpoint=True):
        super().__init__(
            backup_dir,
            save_freq="epoch",
            double_checkpoint=double_checkpoint,
            delete_checkpoint=delete_checkpoint,
        )
        self.data = data
        self._rng_path = os.path.join(backup_dir, "rng_state.npz")

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)  # weights, optimizer state and epoch (Keras)
        self.restore_random_state()

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)  # weights, optimizer state and epoch (Keras)
        self.save_random_state()

    def save_random_state(self):
        """Write the model's seed-generator states to `backup_dir/rng_state.npz`."""
        os.makedirs(self.backup_dir, exist_ok=True)
        states = _seed_generator_states(self.model)
        arrays = {f"state_{i}": keras.ops.convert_to_numpy(v.value) for i, v in enumerate(states)}
        temporary = self._rng_path + ".tmp.npz"
        np.savez(temporary, **arrays)
        os.replace(temporary, self._rng_path)

    def restore_random_state(self):
        """Set the model's seed-generator states from the backup, if there is one.

        Raises:
            ValueError: the backup holds the states of a different model.
        """
        if not os.path.exists(self._rng_path):
            return
        saved = np.load(self._rng_path)
        states = _seed_generator_states(self.model)
        # Seed generators are matched by their order in the model (their names are
        # global counters that differ between processes).
        shapes = [tuple(saved[f"state_{i}"].shape) for i in range(len(saved.files))]
        if shapes != [tuple(v.shape) for v in states]:
            raise ValueError(
                f"The backup in {self.backup_dir!r} was written by a different model: it "
                f"holds {len(shapes)} random states, the model has {len(states)}."
            )
        for i, v in enumerate(states):
            v.assign(saved[f"state_{i}"])

    def on_epoch_begin(self, epoch, logs=None):
        if self.data is not None:
            self.data.set_epoch(epoch)


class ResumableBatches(keras.utils.PyDataset):
    """Shuffled mini-batches whose order depends only on (seed, epoch): resumable.

    The data is an endless stream of passes; pass k is a permutation drawn from
    `numpy.random.default_rng([seed, k])` (or the identity with shuffle=False) cut into
    batches. A Keras epoch is `steps_per_epoch` consecutive batches of that stream
    (default: one pass), so epoch e holds global batches e*K ... e*K + K - 1.

    Args:
        x: an array, or a list/tuple/dict of arrays with the same first dimension.
        y: optional targets (array or structure), sample_weight: optional array.
        batch_size: int.
        shuffle: bool, reshuffle every pass.
        seed: int.
        steps_per_epoch: int or None (None: one pass, the last partial batch kept
            unless drop_remainder).
        drop_remainder: bool, drop each pass's last partial batch.
        **kwargs: `keras.utils.PyDataset` arguments (keep workers=1 for exact resume).

    Call `fit(data, shuffle=False, ...)` (Keras would otherwise reorder the batches)
    with `BackupAndRestore(..., data=data)` or `data.epoch_callback()` in the callbacks
    (they tell the dataset which epoch runs).

    Example:

    ```python
    x, y = np.random.rand(32, 4).astype("float32"), np.random.rand(32, 1).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    data = keras_ssm.callbacks.ResumableBatches(x, y, batch_size=16, seed=1)
    model.fit(data, epochs=2, shuffle=False, verbose=0,
              callbacks=[keras_ssm.callbacks.BackupAndRestore("backup", data=data)])
    # without backups: callbacks=[data.epoch_callback()]
    ```
    """

    def __init__(
        self,
        x,
        y=None,
        sample_weight=None,
        batch_size=32,
        shuffle=True,
        seed=0,
        steps_per_epoch=None,
        drop_remainder=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.x, self.y, self.sample_weight = x, y, sample_weight
        sizes = {len(a) for a in keras.tree.flatten((x, y, sample_weight)) if a is not None}
        if len(sizes) != 1:
            raise ValueError(
                f"x, y and sample_weight must have the same length, got {sorted(sizes)}."
            )
        self.size = sizes.pop()
        if int(batch_size) < 1:
            raise ValueError(f"`batch_size` must be >= 1, got {batch_size!r}.")
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.drop_remainder = bool(drop_remainder)
        if self.drop_remainder:
            self.batches_per_pass = self.size // self.batch_size
        else:
            self.batches_per_pass = -(-self.size // self.batch_size)
        if self.batches_per_pass < 1:
            raise ValueError(f"batch_size={batch_size} leaves no batch of {self.size} examples.")
        self.steps_per_epoch = int(steps_per_epoch) if steps_per_epoch else self.batches_per_pass
        self.epoch = 0
        self._epoch_was_set = False
        self._served_last = False
        self._warned = False
        self._permutation_cache = (None, None)

    def set_epoch(self, epoch):
        """Make `epoch` the current Keras epoch.

        Called at every epoch start by `BackupAndRestore(..., data=self)` or by
        `epoch_callback()`; one of the two must be in `fit`'s callbacks, otherwise
        every epoch repeats epoch 0's batches.
        """
        self.epoch = int(epoch)
        self._epoch_was_set = True
        self._served_last = False

    def epoch_callback(self):
        """A `keras.callbacks.Callback` that tells this dataset which epoch runs.

        Example:

        ```python
        x, y = np.random.rand(32, 4).astype("float32"), np.random.rand(32, 1).astype("float32")
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        model.compile("sgd", "mse")
        data = keras_ssm.callbacks.ResumableBatches(x, y, batch_size=16, seed=1)
        model.fit(data, epochs=2, shuffle=False, callbacks=[data.epoch_callback()], verbose=0)
        ```
        """
        return _SetEpoch(self)

    @property
    def num_batches(self):
        return self.steps_per_epoch

    def _permutation(self, data_pass):
        if self._permutation_cache[0] != data_pass:
            if self.shuffle:
                order = np.random.default_rng([self.seed, data_pass]).permutation(self.size)
            else:
                order = np.arange(self.size)
            self._permutation_cache = (data_pass, order)
        return self._permutation_cache[1]

    def indices(self, index):
        """The example indices of batch `index` of the current epoch."""
        step = self.epoch * self.steps_per_epoch + int(index)
        data_pass, position = divmod(step, self.batches_per_pass)
        order = self._permutation(data_pass)
        return order[position * self.batch_size : (position + 1) * self.batch_size]

    def __getitem__(self, index):
        index = int(index)
        if index == 0 and self._served_last and not self._epoch_was_set and not self._warned:
            warnings.warn(
                "ResumableBatches serves epoch 0 again: nothing sets its epoch. Add "
                "data.epoch_callback() (or keras_ssm.callbacks.BackupAndRestore(..., "
                "data=data)) to fit's callbacks.",
                stacklevel=2,
            )
            self._warned = True
        self._served_last = index == self.steps_per_epoch - 1
        rows = self.indices(index)
        take = lambda a: None if a is None else np.asarray(a)[rows]
        batch = (keras.tree.map_structure(take, self.x),)
        if self.y is not None:
            batch += (keras.tree.map_structure(take, self.y),)
            if self.sample_weight is not None:
                batch += (take(self.sample_weight),)
        return batch


class _SetEpoch(keras.callbacks.Callback):
    """Sets a `ResumableBatches`' epoch at every epoch start."""

    def __init__(self, data):
        super().__init__()
        self.data = data

    def on_epoch_begin(self, epoch, logs=None):
        self.data.set_epoch(epoch)
