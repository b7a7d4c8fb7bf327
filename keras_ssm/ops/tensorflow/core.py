"""TensorFlow's side of :mod:`keras_ssm.ops.backend`: the helpers the layers and models call.

Each function here has the name and the contract of the one in ``keras_ssm.ops.backend``
that loads it; a helper missing here takes that module's default.

Example:

```python
from keras_ssm.ops.tensorflow import core
core.replicas_in_sync()          # 1 outside a tf.distribute strategy
```
"""

import tensorflow as tf

# Streaming compiles its chunk function (`inference_function`) unless told otherwise.
COMPILES_BY_DEFAULT = True


def remat(fn):
    """`fn` whose intermediate values are recomputed in the backward pass."""
    return tf.recompute_grad(fn)


def inference_function(fn, variables, jit_compile):
    """`fn(chunk, states)` as a `tf.function` when `jit_compile` (it reads the
    variables itself)."""
    return tf.function(fn) if jit_compile else fn


def replicas_in_sync():
    """Replicas of the `tf.distribute` strategy this replica belongs to (1 outside one)."""
    if tf.distribute.get_replica_context() is None:  # cross-replica context
        return 1
    return tf.distribute.get_strategy().num_replicas_in_sync


def replica_sum(*tensors):
    """Each tensor summed over the replicas (an all-reduce in the replica context)."""
    context = tf.distribute.get_replica_context()
    return tuple(context.all_reduce(tf.distribute.ReduceOp.SUM, t) for t in tensors)


def data_parallel(kind, devices):
    """A `tf.distribute` strategy: `MirroredStrategy` for "auto" (two GPUs or more, or
    explicit `devices`), "data_parallel" and "mirrored"; `TPUStrategy` for "tpu".

    Returns:
        The keyword arguments of a `keras_ssm.models.DistributionScope`, or None for
        one device ("auto" with fewer than two GPUs and no `devices`).
    """
    if kind == "ddp":
        raise ValueError(
            "kind='ddp' is torch's DistributedDataParallel; on TensorFlow use "
            "kind='data_parallel' (tf.distribute.MirroredStrategy)."
        )
    if kind == "auto":
        if devices is None and len(tf.config.list_logical_devices("GPU")) < 2:
            return None
        kind = "mirrored"
    if kind == "data_parallel":
        kind = "mirrored"
    if kind == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        strategy = tf.distribute.TPUStrategy(resolver)
    else:
        strategy = tf.distribute.MirroredStrategy(devices=devices)
    return {"kind": kind, "num_replicas": strategy.num_replicas_in_sync, "strategy": strategy}
