"""Multi-device training: the same model trained on two devices equals one device.

JAX: `keras.distribution.DataParallel` over two CPU devices
(XLA_FLAGS=--xla_force_host_platform_device_count=2). TensorFlow:
`tf.distribute.MirroredStrategy` over two logical CPU devices. torch:
`DistributedDataParallel` in two processes over gloo (`torch.multiprocessing`). Each runs
in a subprocess (the device count is fixed when the backend starts), on its own
backend's test run.
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import layer_checks as lc
from keras_ssm import models

TRAIN = textwrap.dedent("""
    import keras
    import keras_ssm

    def data():
        rng = np.random.default_rng(0)
        x = rng.integers(1, 11, size=(32, 12)).astype("int32")
        x[np.arange(12)[None] >= rng.integers(5, 13, size=32)[:, None]] = 0
        return x, (x[:, 0] % 2).astype("int32")

    def train(scope, dropout, block_kwargs=None):
        keras.utils.set_random_seed(0)
        x, y = data()
        with scope:
            model = keras_ssm.models.build_classifier(
                2, vocab_size=11, hidden_size=8, num_layers=2, ssm_kwargs={"state_size": 4},
                mask_zero=True, norm="batch", dropout=dropout, block_kwargs=block_kwargs,
                seed=0)
            # SGD groups: Adam's first steps, lr * g / |g|, would blow float round-off
            # in near-zero gradients up to a full step; SGD keeps it at round-off.
            optimizer = keras_ssm.optimizers.GroupedOptimizer(
                [({"group": "ssm"}, keras.optimizers.SGD(0.05))],
                default=keras.optimizers.SGD(0.1))
            model.compile(optimizer, keras.losses.SparseCategoricalCrossentropy(from_logits=True))
            history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
        return model, history.history["loss"]
""")

JAX_SCRIPT = (
    """
import os, sys, json
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
import numpy as np
import jax
"""
    + TRAIN
    + """
assert len(jax.devices()) == 2, jax.devices()
single, single_loss = train(keras_ssm.models.distribution_scope("none"), dropout=0.1)
scope = keras_ssm.models.distribution_scope("data_parallel")
parallel, parallel_loss = train(scope, dropout=0.1)
devices = sorted({len(v.value.sharding.device_set) for v in parallel.weights})
np.savez(sys.argv[1], *single.get_weights())
np.savez(sys.argv[2], *parallel.get_weights())
print(json.dumps({"replicas": scope.num_replicas, "kind": scope.kind, "devices": devices,
                  "single_loss": single_loss, "parallel_loss": parallel_loss}))
"""
)

TF_SCRIPT = (
    """
import sys, json
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
"""
    + TRAIN
    + """
# Per-replica random dropout masks and per-replica batch statistics would differ from one
# device: no dropout, and synchronized BatchNorm (global statistics).
sync = {"norm_kwargs": {"synchronized": True}}
single, single_loss = train(keras_ssm.models.distribution_scope("none"), 0.0, sync)
scope = keras_ssm.models.distribution_scope("mirrored", devices=["/cpu:0", "/cpu:1"])
parallel, parallel_loss = train(scope, 0.0, sync)
np.savez(sys.argv[1], *single.get_weights())
np.savez(sys.argv[2], *parallel.get_weights())
print(json.dumps({"replicas": scope.num_replicas, "kind": scope.kind, "devices": [2],
                  "single_loss": single_loss, "parallel_loss": parallel_loss}))
"""
)


def _run(script, backend, tmp_path):
    single, parallel = str(tmp_path / "single.npz"), str(tmp_path / "parallel.npz")
    env = dict(os.environ, KERAS_BACKEND=backend, CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run(
        [sys.executable, "-c", script, single, parallel],
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    a, b = np.load(single), np.load(parallel)
    weights = [(a[k], b[k]) for k in a.files]
    return report, weights


def _check_equivalent(report, weights):
    assert report["replicas"] == 2 and report["devices"] == [2], report
    np.testing.assert_allclose(report["parallel_loss"], report["single_loss"], rtol=1e-5)
    for w_single, w_parallel in weights:
        lc.assert_close(w_parallel, w_single, atol=1e-5, rtol=1e-5, what="weights")
    assert len(weights) > 10


@pytest.mark.skipif(lc.BACKEND != "jax", reason="keras.distribution.DataParallel: the JAX run")
def test_jax_data_parallel_equals_one_device(tmp_path):
    report, weights = _run(JAX_SCRIPT, "jax", tmp_path)
    assert report["kind"] == "data_parallel"
    _check_equivalent(report, weights)


@pytest.mark.skipif(lc.BACKEND != "tensorflow", reason="tf.distribute: the TensorFlow run")
def test_tensorflow_mirrored_strategy_equals_one_device(tmp_path):
    report, weights = _run(TF_SCRIPT, "tensorflow", tmp_path)
    assert report["kind"] == "mirrored"
    _check_equivalent(report, weights)


# torch: two processes (spawned) over gloo; rank r trains rows 4r..4r+3 of the batch of 8.
TORCH_SCRIPT = textwrap.dedent("""
    import json, os, socket, sys
    import numpy as np
    import torch.multiprocessing

    def data():
        rng = np.random.default_rng(0)
        x = rng.integers(1, 11, size=(8, 12)).astype("int32")
        x[np.arange(12)[None] >= rng.integers(5, 13, size=8)[:, None]] = 0
        return x, (x[:, 0] % 2).astype("int32")

    def build():
        import keras, keras_ssm
        keras.utils.set_random_seed(0)  # the same initial weights in every process
        model = keras_ssm.models.build_classifier(
            2, vocab_size=11, hidden_size=8, num_layers=2, ssm_kwargs={"state_size": 4},
            mask_zero=True, norm="layer", seed=0)
        optimizer = keras_ssm.optimizers.GroupedOptimizer(
            [({"group": "ssm"}, keras.optimizers.SGD(0.05))], default=keras.optimizers.SGD(0.1))
        model.compile(optimizer, keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        return model

    def save(path, model, gradients=True):
        values = [v.value.grad for v in model.trainable_variables] if gradients else None
        np.savez(path, *([g.detach().numpy() for g in values] if gradients
                         else model.get_weights()))

    def worker(rank, port, out):
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                          WORLD_SIZE="2")
        import keras_ssm
        x, y = data()
        with keras_ssm.models.distribution_scope("ddp") as scope:
            model = build()
            history = scope.fit(model, x, y, batch_size=8, epochs=1, shuffle=False)
            save(f"{out}/grads_{rank}.npz", model)
            save(f"{out}/weights_{rank}.npz", model, gradients=False)
            with open(f"{out}/report_{rank}.json", "w") as f:
                json.dump({"kind": scope.kind, "replicas": scope.num_replicas,
                           "rank": scope.rank, "loss": history["loss"][0]}, f)
        if rank == 0:  # then one process on the whole batch: its gradients, a fit step
            model = build()
            loss = model.compute_loss(x=x, y=y, y_pred=model(x, training=True))
            loss.backward()
            save(f"{out}/grads_single.npz", model)
            model.zero_grad(set_to_none=True)
            history = model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
            save(f"{out}/weights_single.npz", model, gradients=False)
            with open(f"{out}/single.json", "w") as f:
                json.dump({"loss": history.history["loss"][0]}, f)

    if __name__ == "__main__":
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        torch.multiprocessing.spawn(worker, args=(port, sys.argv[1]), nprocs=2, join=True)
""")


@pytest.mark.skipif(lc.BACKEND != "torch", reason="DistributedDataParallel: the torch run")
def test_torch_ddp_step_equals_one_process_on_the_whole_batch(tmp_path):
    script = tmp_path / "ddp_train.py"
    script.write_text(TORCH_SCRIPT)
    env = dict(os.environ, KERAS_BACKEND="torch", CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    with open(tmp_path / "single.json") as f:
        single_loss = json.load(f)["loss"]
    for rank in (0, 1):
        with open(tmp_path / f"report_{rank}.json") as f:
            report = json.load(f)
        assert (report["kind"], report["replicas"], report["rank"]) == ("ddp", 2, rank)
        np.testing.assert_allclose(report["loss"], single_loss, rtol=1e-5)
        for name in ("grads", "weights"):
            single = np.load(tmp_path / f"{name}_single.npz")
            ddp = np.load(tmp_path / f"{name}_{rank}.npz")
            assert len(single.files) == len(ddp.files) > 10
            for key in single.files:
                lc.assert_close(ddp[key], single[key], atol=1e-6, rtol=1e-5, what=name)
        if rank == 0:
            grads = np.load(tmp_path / "grads_single.npz")
            assert all(np.abs(grads[k]).max() > 0 for k in grads.files)


def test_scope_kinds_on_this_backend():
    none = models.distribution_scope("none")
    with none as scope:
        assert scope.num_replicas == 1 and scope.kind == "none"
    assert models.distribution_scope("auto").kind in ("none", "data_parallel", "mirrored")
    with pytest.raises(ValueError, match="kind"):
        models.distribution_scope("pipeline")
    if lc.BACKEND == "torch":
        # One process per device: without torchrun's environment, a clear error.
        for kind in ("ddp", "data_parallel"):
            with pytest.raises(ValueError, match="torchrun"):
                models.distribution_scope(kind)
        with pytest.raises(ValueError, match="ddp"):
            models.distribution_scope("mirrored")
    else:
        with pytest.raises(ValueError, match="data_parallel"):
            models.distribution_scope("ddp")
    if lc.BACKEND == "jax":
        with pytest.raises(ValueError, match="mirrored"):
            models.distribution_scope("mirrored")
