"""torch's side of :mod:`keras_ssm.ops.backend`: the helpers the layers and models call.

Each function here has the name and the contract of the one in ``keras_ssm.ops.backend``
that loads it; a helper missing here takes that module's default (torch has no compiled
loop over chunks, no replicas; its multi-device training, `DistributedDataParallel`,
is `keras_ssm.ops.torch.ddp`).

Example:

```python
from keras_ssm.ops.torch import core
core.fori_loop(torch.tensor(1), 4, lambda i, total: total + i, 0)   # 1 + 2 + 3 = 6
```
"""

import torch
import torch.utils.checkpoint

from keras_ssm.ops.torch.ddp import data_parallel  # noqa: F401  (kind="ddp")

# Streaming runs its chunk function eagerly (under `torch.no_grad`) unless told otherwise.
COMPILES_BY_DEFAULT = False


def remat(fn):
    """`fn` whose intermediate values are recomputed in the backward pass."""
    return lambda *args: torch.utils.checkpoint.checkpoint(fn, *args, use_reentrant=False)


def inference_function(fn, variables, jit_compile):
    """`fn(chunk, states)` under `torch.no_grad()` (nothing is compiled)."""

    def no_grad(chunk, states):
        with torch.no_grad():
            return fn(chunk, states)

    return no_grad


def fori_loop(lower, upper, body, init):
    """A Python loop from int(lower) to int(upper): eager torch needs no loop op, and
    the bounds may be tensors."""
    value = init
    for i in range(int(lower), int(upper)):
        value = body(i, value)
    return value
