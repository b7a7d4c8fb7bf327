"""torch's multi-process data parallelism for Keras models: `DistributedDataParallel`.

What Keras' guide to multi-GPU training on the torch backend does, for any Keras model:
one process per device in a `torch.distributed` process group, the model wrapped in
`torch.nn.parallel.DistributedDataParallel` (which averages the gradients over the
processes during the backward pass), and a training loop in which each process runs its
share of every batch. Here the step uses the model's compiled Keras loss
(`model.compute_loss`) and Keras optimizer (`model.optimizer.apply`), so the SSM
parameter groups of `keras_ssm.optimizers` train under DDP as under `fit`.

Reached through `keras_ssm.models.distribution_scope("ddp")` (`keras_ssm.ops.backend`).

Example:

```python
from keras_ssm.ops.torch import ddp
ddp.DDPGroup.required_environment     # ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
```
"""

import os

import keras
import torch
import torch.distributed as dist


class DDPGroup:
    """This process's place in a `torch.distributed` process group, and its DDP models.

    Joins the group that is already initialized (`torch.distributed.init_process_group`,
    as in Keras' guide), or initializes one from torchrun's environment (`RANK`,
    `WORLD_SIZE`, `MASTER_ADDR`, `MASTER_PORT`; NCCL with CUDA, else gloo) and then ends
    it in `close()`. With CUDA, the process uses GPU `LOCAL_RANK` (else its rank) modulo
    the GPUs it sees; build the model after this so that its variables live there.

    Attributes:
        rank: int, this process's rank; world_size: int, the number of processes.
    """

    required_environment = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")

    def __init__(self):
        if not dist.is_available():
            raise ValueError("kind='ddp' needs torch.distributed, which this torch build lacks.")
        self.owns_group = False
        if not dist.is_initialized():
            missing = [name for name in self.required_environment if name not in os.environ]
            if missing:
                raise ValueError(
                    "kind='ddp' runs one process per device: launch the script with "
                    "`torchrun --nproc-per-node N script.py`, or call "
                    "torch.distributed.init_process_group(...) in each process first "
                    f"(missing environment variables: {', '.join(missing)})."
                )
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
            self.owns_group = True
        self.rank = dist.get_rank()
        self.world_size = dist.get_world_size()
        if torch.cuda.is_available():
            local_rank = int(os.environ.get("LOCAL_RANK", self.rank))
            torch.cuda.set_device(local_rank % torch.cuda.device_count())
        self.modules = {}

    def wrap(self, model, **kwargs):
        """`model` (built) in `DistributedDataParallel`; one wrapper per model, reused.

        Args:
            model: a built Keras model (a `torch.nn.Module` on the torch backend).
            **kwargs: `DistributedDataParallel` arguments (e.g. find_unused_parameters).
        """
        if not model.built:
            raise ValueError(
                "Build the model before wrapping it in DistributedDataParallel (call it on "
                "a batch, or give its Input a shape): DDP broadcasts rank 0's weights."
            )
        if id(model) not in self.modules:
            device_ids = [torch.cuda.current_device()] if torch.cuda.is_available() else None
            self.modules[id(model)] = torch.nn.parallel.DistributedDataParallel(
                model, device_ids=device_ids, **kwargs
            )
        return self.modules[id(model)]

    def train_step(self, model, x, y=None, sample_weight=None):
        """One step on this process's rows: DDP forward and backward, then the optimizer.

        The gradients after `backward` are the average over the processes (DDP), stay
        on the variables (`variable.value.grad`) until the next step, and the compiled
        Keras optimizer applies them.

        Returns:
            The loss of this process's rows, averaged over the processes (a float).
        """
        if model.optimizer is None:
            raise ValueError("Compile the model (optimizer and loss) before training it.")
        module = self.wrap(model)
        x, y, sample_weight = keras.tree.map_structure(
            lambda a: None if a is None else keras.ops.convert_to_tensor(a), (x, y, sample_weight)
        )
        model.zero_grad(set_to_none=True)
        y_pred = module(x, training=True)
        loss = model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight)
        model.optimizer.scale_loss(loss).backward()
        variables = model.trainable_variables
        with torch.no_grad():
            model.optimizer.apply([v.value.grad for v in variables], variables)
            total = loss.detach().reshape(1).to(torch.float32)
            dist.all_reduce(total)
        return float(total.item()) / self.world_size

    def close(self):
        """End the process group if this object started it."""
        self.modules.clear()
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()
        self.owns_group = False


def data_parallel(kind, devices):
    """`DDPGroup` for kind "ddp" or "data_parallel"; one process for "auto".

    Returns:
        The keyword arguments of a `keras_ssm.models.DistributionScope`, or None.
    """
    if kind == "auto":
        return None
    if kind not in ("ddp", "data_parallel"):
        raise ValueError(
            f"kind={kind!r} is not supported on the torch backend; use kind='ddp' "
            "(torch DistributedDataParallel, one process per device) or kind='none'."
        )
    if devices is not None:
        raise ValueError(
            "kind='ddp' runs one process per device: leave `devices` None (each process "
            "takes GPU LOCAL_RANK) and set CUDA_VISIBLE_DEVICES to choose the GPUs."
        )
    group = DDPGroup()
    return {"kind": "ddp", "num_replicas": group.world_size, "rank": group.rank, "group": group}
