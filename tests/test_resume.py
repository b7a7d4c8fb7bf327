"""Nothing lost: a training run killed mid-epoch and restarted ends with the same weights.

The end-to-end check runs training scripts in subprocesses on JAX (the fastest backend to
start): an uninterrupted run, then a run with backups that kills itself (os._exit) in the
middle of an epoch, then the same command again, which resumes from the last backup. The
resumed run must end with exactly the uninterrupted run's weights (dropout, a shuffled
data stream, a cosine schedule and Adam state included).
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import layer_checks as lc
from keras_ssm import callbacks
from keras_ssm import models

SCRIPT = r"""
import json, os, sys
import numpy as np
import keras
import keras_ssm

mode, workdir = sys.argv[1], sys.argv[2]


class KillAfter(keras.callbacks.Callback):
    # Simulates a crash: the process dies after `batches` training batches.
    def __init__(self, batches):
        super().__init__()
        self.batches, self.seen = batches, 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.batches:
            os._exit(17)


def run(with_backup, kill_after=None):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.integers(1, 11, size=(40, 12)).astype("int32")
    x[np.arange(12)[None] >= rng.integers(4, 13, size=40)[:, None]] = 0
    y = (x[:, 0] % 2).astype("int32")
    model = keras_ssm.models.build_classifier(
        2, vocab_size=11, hidden_size=8, num_layers=1, ssm_kwargs={"state_size": 4},
        mask_zero=True, norm="batch", dropout=0.2, seed=0)
    model.compile(
        keras_ssm.optimizers.ssm_optimizer(model, paper="dlr", lr=1e-2, schedule="cosine",
                                           warmup_steps=3, total_steps=24),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    # 5 batches per pass over the data; a Keras epoch is 4 steps of the shuffled stream.
    data = keras_ssm.callbacks.ResumableBatches(x, y, batch_size=8, seed=1, steps_per_epoch=4)
    extra = [] if with_backup else [data.epoch_callback()]
    if with_backup:
        extra.append(keras_ssm.callbacks.BackupAndRestore(os.path.join(workdir, "backup"),
                                                          data=data))
    if kill_after:
        extra.append(KillAfter(kill_after))
    history = model.fit(data, epochs=6, shuffle=False, verbose=0, callbacks=extra)
    return model, len(history.history["loss"])


if mode == "full_then_killed":
    model, epochs = run(with_backup=False)
    np.savez(os.path.join(workdir, "full.npz"), *model.get_weights())
    run(with_backup=True, kill_after=10)  # dies in epoch 2 (its third batch)
else:
    model, epochs = run(with_backup=True)
    np.savez(os.path.join(workdir, "resumed.npz"), *model.get_weights())
    print(json.dumps({"epochs_run": epochs}))
"""


def _run(mode, workdir):
    env = dict(os.environ, KERAS_BACKEND="jax", CUDA_VISIBLE_DEVICES="")
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, mode, workdir],
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )


@pytest.mark.skipif(
    lc.BACKEND != "jax",
    reason="the end-to-end kill/resume runs once, in the JAX run (subprocesses on JAX)",
)
def test_killed_run_resumes_to_the_same_weights(tmp_path):
    workdir = str(tmp_path)
    killed = _run("full_then_killed", workdir)
    assert killed.returncode == 17, killed.stderr[-3000:]
    assert os.path.exists(os.path.join(workdir, "backup", "latest.weights.h5"))
    with open(os.path.join(workdir, "backup", "training_metadata.json")) as f:
        assert json.load(f)["epoch"] == 2  # epochs 0 and 1 were backed up
    resumed = _run("resume", workdir)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads(resumed.stdout.strip().splitlines()[-1])["epochs_run"] == 4
    full, again = (
        np.load(os.path.join(workdir, "full.npz")),
        np.load(os.path.join(workdir, "resumed.npz")),
    )
    assert full.files == again.files
    for key in full.files:
        np.testing.assert_allclose(again[key], full[key], rtol=1e-6, atol=1e-7, err_msg=key)
    assert not os.path.exists(os.path.join(workdir, "backup"))  # removed after success


# ----------------------------------------------------------------------------------------
# the pieces, on every backend


def test_resumable_batches_depend_only_on_seed_and_epoch():
    x = np.arange(10)[:, None].astype("float32")
    y = np.arange(10).astype("int32")
    data = callbacks.ResumableBatches(x, y, batch_size=4, seed=3, steps_per_epoch=2)
    assert data.num_batches == 2 and data.batches_per_pass == 3
    stream = []
    for epoch in range(3):  # 6 steps = two passes of 3 batches
        data.set_epoch(epoch)
        stream += [data[i] for i in range(data.num_batches)]
    for batch_x, batch_y in stream:
        np.testing.assert_array_equal(batch_x[:, 0], batch_y)
    passes = [np.concatenate([b[1] for b in stream[3 * k : 3 * k + 3]]) for k in range(2)]
    for k, seen in enumerate(passes):
        np.testing.assert_array_equal(seen, np.random.default_rng([3, k]).permutation(10))
    # A fresh dataset set to epoch 2 yields the same batches: nothing else matters.
    fresh = callbacks.ResumableBatches(x, y, batch_size=4, seed=3, steps_per_epoch=2)
    fresh.set_epoch(2)
    for i in range(2):
        np.testing.assert_array_equal(fresh[i][1], stream[4 + i][1])


def test_resumable_batches_take_structures_and_warn_without_epochs():
    x = {"a": np.arange(6), "b": np.arange(6) * 10}
    data = callbacks.ResumableBatches(
        x, np.arange(6), sample_weight=np.ones(6), batch_size=4, shuffle=False, drop_remainder=True
    )
    assert data.num_batches == 1
    inputs, targets, weights = data[0]
    np.testing.assert_array_equal(inputs["b"], np.arange(4) * 10)
    assert weights.shape == (4,)
    with pytest.warns(UserWarning, match="epoch_callback"):
        data[0]  # epoch 0 again, and nothing set the epoch
    setter = data.epoch_callback()
    setter.on_epoch_begin(5)
    assert data.epoch == 5
    with pytest.raises(ValueError, match="same length"):
        callbacks.ResumableBatches(np.zeros(3), np.zeros(4))


def test_backup_restores_the_dropout_random_state(tmp_path):
    model = models.build_classifier(
        2,
        vocab_size=11,
        hidden_size=8,
        num_layers=1,
        ssm_kwargs={"state_size": 4},
        dropout=0.3,
        seed=0,
    )
    model.compile("sgd", "mse")
    states = callbacks._seed_generator_states(model)
    assert states and all("seed_generator" in v.path for v in states)
    backup = callbacks.BackupAndRestore(str(tmp_path / "backup"))
    backup.set_model(model)
    for v in states:
        v.assign(np.full(v.shape, 7, dtype=keras.backend.standardize_dtype(v.dtype)))
    backup.on_epoch_end(0)  # Keras' backup, then the random states
    assert os.path.exists(tmp_path / "backup" / "rng_state.npz")
    for v in states:
        v.assign(np.zeros(v.shape, dtype=keras.backend.standardize_dtype(v.dtype)))
    backup.on_train_begin()
    for v in states:
        assert np.all(lc.to_numpy(v) == 7), v.path
    other = models.build_classifier(
        2,
        vocab_size=11,
        hidden_size=8,
        num_layers=2,
        ssm_kwargs={"state_size": 4},
        dropout=0.3,
        seed=0,
    )
    other.compile("sgd", "mse")
    mismatch = callbacks.BackupAndRestore(str(tmp_path / "backup"))
    mismatch.set_model(other)
    with pytest.raises(ValueError):
        mismatch.restore_random_state()
