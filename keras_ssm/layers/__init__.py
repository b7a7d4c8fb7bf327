"""Keras layers: the diagonal SSMs (DSS, DLR, S5, S4D, LRU), Mamba and the residual SSMBlock.

`base` holds `DiagonalSSMLayer`, the one base class (both modes, bidirectional layers,
masking, streaming, dtype handling, weight tags); `system_access` its views of the
system outside a call (convolution kernel, `step`, `discrete_system`); `bidirectional`
its backward system (lag, delayed kernel, readout); `chunked_recurrence` the recurrence
fused by chunks; `parameters` the seeds, weight roles and argument checks (the (re, im)
arithmetic is `keras_ssm.ops.common`'s); `dss`, `dlr`, `s5`, `s4d`, `lru`, `mamba` one
paper each; `packing` the `segment_ids` checks; `block` the `SSMBlock` around any of them;
`families` the registry in which each layer family declares its short name, optimizer
roles and default SSM learning rate (blocks, builders, optimizers and the hub look layers
up there).
"""

from keras_ssm.layers.base import DiagonalSSMLayer
from keras_ssm.layers.block import SSMBlock
from keras_ssm.layers.dlr import DLR
from keras_ssm.layers.dss import DSS
from keras_ssm.layers.lru import LRU
from keras_ssm.layers.mamba import Mamba
from keras_ssm.layers.s4d import S4D
from keras_ssm.layers.s5 import S5

__all__ = ["DLR", "DSS", "DiagonalSSMLayer", "LRU", "Mamba", "S4D", "S5", "SSMBlock"]
