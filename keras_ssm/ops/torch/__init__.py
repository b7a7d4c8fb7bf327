"""torch paths of the hot ops, one module per op family (as ``keras/src/backend/torch/``).

- :mod:`~keras_ssm.ops.torch.recurrence`: ``linear_recurrence`` ("chunked", "triton");
  the Triton kernel itself is :mod:`~keras_ssm.ops.torch.triton_scan`, imported on first
  use where triton is installed;
- :mod:`~keras_ssm.ops.torch.convolution`: ``causal_conv`` ("fft");
- :mod:`~keras_ssm.ops.torch.planes`: tensors as (real, imag) plane tuples and their
  arithmetic, shared by the scan and the Triton kernel;
- :mod:`~keras_ssm.ops.torch.core`: torch's side of :mod:`keras_ssm.ops.backend`.

Imported by the registry on the torch backend only; importing the package registers
its paths.
"""

from keras_ssm.ops import registry

registry.import_op_modules(__name__, __path__)
