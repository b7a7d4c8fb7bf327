"""torch fast paths of ``linear_recurrence`` (registered on import), as ``torch.library`` ops.

`linear_recurrence` h_t = a_t * h_{t-1} + b_t has two torch implementations:

- ``"triton"``: the Triton kernel of :mod:`keras_ssm.ops.torch.triton_scan` (forward and a
  reverse-scan backward), the ``torch.library`` op ``keras_ssm::triton_scan``; chosen for
  CUDA tensors when ``triton`` is importable.
- ``"chunked"``: the chunked scan of plain torch ops of
  :mod:`keras_ssm.ops.torch.chunked_scan`, any device (CPU, CUDA without triton, meta),
  as the custom op ``keras_ssm::chunked_scan`` with a fake (shape-only) implementation
  and its autograd formula (the op ``keras_ssm::chunked_scan_backward``).

Both are ops that ``torch.compile`` sees whole: one node in the graph, no graph break and
no tracing of the scan's Python loop (whose ``out=`` writes into strided views dynamo
cannot trace, and inductor once miscompiled into a ``NameError`` under dynamic shapes).
Both take the canonical arguments of `keras_ssm.ops.common.prepare_recurrence`; the ops
work on plane tuples with the state axes flattened (`keras_ssm.ops.torch.planes`).

Example:

```python
import torch
from keras_ssm.ops.torch import recurrence
a = [torch.full((4,), 0.9), torch.full((4,), 0.1)]       # time-invariant (re, im)
b = [torch.ones(2, 8, 4), torch.zeros(2, 8, 4)]
# a, b, h0 ([]: zero), reverse, invariant, keep (None: no document resets)
y_re, y_im, last_re, last_im = torch.ops.keras_ssm.chunked_scan(a, b, [], False, True, None)
```
"""

import importlib.util

import torch

from keras_ssm.ops import registry
from keras_ssm.ops import segments
from keras_ssm.ops.torch import chunked_scan
from keras_ssm.ops.torch.planes import apply_flat
from keras_ssm.ops.torch.planes import copy_planes
from keras_ssm.ops.torch.planes import planes as _planes

CHUNKED_PRIORITY = 10.0
# On CUDA the Triton kernel wins wherever it was timed (an H200, torch 2.11: 3-12x the
# chunked torch scan forward+backward, from B = 1, L = 262,144 to B = 32, L = 784;
# benchmarks/results/triton_chunks-gpu.md and ops-torch-nvidia-h200.md), so it is the
# automatic choice for CUDA tensors when triton is installed; it declines anything else.
TRITON_PRIORITY = 20.0

Tensors = list[torch.Tensor]


@torch.library.custom_op("keras_ssm::chunked_scan", mutates_args=())
def chunked_scan_op(
    a: Tensors,
    b: Tensors,
    h0: Tensors,
    reverse: bool,
    invariant: bool,
    keep: torch.Tensor | None,
) -> Tensors:
    """[*h, *h_last]: the chunked scan on planes (b (B, L, N); a (B, L, N) or (N,); h0
    (B, N), or [] for a zero initial state; keep (B, L) reset factors of packed
    documents, with a time-invariant `a`, or None)."""
    y = chunked_scan.scan_forward(tuple(a), tuple(b), _tuple(h0), reverse, invariant, keep)
    last = copy_planes(tuple(p[:, 0 if reverse else -1] for p in y))
    return [*y, *last]


@chunked_scan_op.register_fake
def _chunked_scan_fake(a, b, h0, reverse, invariant, keep):
    return [p.new_empty(p.shape) for p in b] + [p.new_empty(_state_shape(p)) for p in b]


@torch.library.custom_op("keras_ssm::chunked_scan_backward", mutates_args=())
def chunked_scan_backward_op(
    a: Tensors,
    y: Tensors,
    h0: Tensors,
    grad_y: Tensors,
    grad_last: Tensors,
    reverse: bool,
    invariant: bool,
    need_a: bool,
    need_h0: bool,
    keep: torch.Tensor | None,
) -> Tensors:
    """[*dL/da (if need_a), *dL/db, *dL/dh0 (if need_h0)] of `chunked_scan`."""
    da, db, dh0 = chunked_scan.scan_backward(
        tuple(a),
        _tuple(h0),
        tuple(y),
        tuple(grad_y),
        tuple(grad_last),
        reverse,
        invariant,
        (need_a, need_h0),
        keep,
    )
    return [*(da or ()), *db, *(dh0 or ())]


@chunked_scan_backward_op.register_fake
def _chunked_scan_backward_fake(
    a, y, h0, grad_y, grad_last, reverse, invariant, need_a, need_h0, keep
):
    da = [p.new_empty(p.shape) for p in a] if need_a else []
    dh0 = [p.new_empty(_state_shape(p)) for p in y] if need_h0 else []
    return da + [p.new_empty(p.shape) for p in y] + dh0


def _tuple(planes):
    return tuple(planes) if planes else None


def _state_shape(p):
    return (p.shape[0], p.shape[2])


def _setup_context(ctx, inputs, output):
    a, b, h0, reverse, invariant, keep = inputs
    planes = len(b)
    ctx.save_for_backward(*a, *output[:planes], *(h0 or ()))
    ctx.keep = keep
    ctx.options = (reverse, invariant, planes)


def _zeros_for_none(grads, like):
    return [torch.zeros_like(p) if g is None else g for g, p in zip(grads, like)]


def _backward(ctx, grads):
    reverse, invariant, planes = ctx.options
    saved = ctx.saved_tensors
    a, y = list(saved[:planes]), list(saved[planes : 2 * planes])
    h0 = list(saved[2 * planes :])
    grad_y = _zeros_for_none(grads[:planes], y)
    grad_last = _zeros_for_none(grads[planes:], [p[:, 0] for p in y])
    # needs_input_grad has the inputs' structure: a list of flags per list of planes
    need_a, need_b, need_h0 = (any(n) for n in ctx.needs_input_grad[:3])
    out = chunked_scan_backward_op(
        a, y, h0, grad_y, grad_last, reverse, invariant, need_a, need_h0, ctx.keep
    )
    nothing = [None] * planes
    da = out[:planes] if need_a else nothing
    db = out[planes : 2 * planes] if need_a else out[:planes]
    dh0 = out[-planes:] if need_h0 else nothing[: len(h0)]
    return da, db if need_b else nothing, dh0, None, None, None


# No argument has a default: the dispatcher drops trailing arguments equal to their
# default before autograd sees them, and the backward must return one gradient per
# argument it was given.
chunked_scan_op.register_autograd(_backward, setup_context=_setup_context)


def _is_torch(x):
    return isinstance(x, torch.Tensor)


def _chunked(a, b, h0, reverse, invariant, keep=None):
    planes = len(b)
    outs = chunked_scan_op(list(a), list(b), list(h0 or ()), reverse, invariant, keep)
    return tuple(outs[:planes]), tuple(outs[planes:])


def _tensor_parts(a, b, kwargs, path):
    """(every plane of a, b and the initial state, None) or (None, why `path` cannot run)."""
    parts = _planes(a) + _planes(b) + (_planes(kwargs.get("initial_state")) or ())
    if not all(_is_torch(p) for p in parts):
        return None, f"the {path} needs torch tensors"
    return parts, None


def _chunked_supports(a, b, **kwargs):
    return _tensor_parts(a, b, kwargs, "chunked torch scan")[1]


@registry.register(
    "linear_recurrence",
    "chunked",
    backends=("torch",),
    supports=_chunked_supports,
    priority=lambda *a, **k: CHUNKED_PRIORITY,
)
def linear_recurrence_chunked(
    a, b, *, reverse=False, initial_state=None, return_final_state=False, segment_ids=None
):
    """h_t = a_t * h_{t-1} + b_t by a chunked scan of plain torch ops (any device).

    Args:
        a: (batch, length, *state) or (*state) (time-invariant); tensor or (re, im) pair.
        b: (batch, length, *state); tensor or pair (pairs when `a` is a pair).
        reverse: run from the last step to the first.
        initial_state: (batch, *state) or None.
        return_final_state: also return h at the last processed step.
        segment_ids: (batch, length) int or None: the state restarts at each document
            ((batch, length) factors beside a time-invariant `a`, folded into a
            per-step one).

    Returns:
        h like `b`; `(h, h_last)` when `return_final_state`.

    Example:

    ```python
    a = torch.full((4,), 0.9)
    b = torch.ones(2, 100, 4)
    h = linear_recurrence_chunked(a, b)   # (2, 100, 4)
    ```
    """
    if segment_ids is None:
        return apply_flat(_chunked, a, b, reverse, initial_state, return_final_state)
    ref = _planes(b)[0]
    keep = segments.continues(torch.as_tensor(segment_ids, device=ref.device), reverse)
    keep = keep.to(ref.dtype).contiguous()
    if _planes(a)[0].dim() == ref.dim():  # per step: fold the resets into a (autograd)
        a = tuple(p * segments.broadcast_keep(keep, ref.dim()) for p in _planes(a))
        a = a if len(a) == 2 else a[0]
        keep = None

    def run(a_flat, b_flat, h_flat, reverse, invariant):
        return _chunked(a_flat, b_flat, h_flat, reverse, invariant, keep)

    return apply_flat(run, a, b, reverse, initial_state, return_final_state)


# --------------------------------------------------------------------------------------
# triton


def _triton_supports(a, b, **kwargs):
    parts, reason = _tensor_parts(a, b, kwargs, "Triton scan")
    if reason:
        return reason
    if not all(p.is_cuda for p in parts):
        return "the Triton scan runs on CUDA tensors only"
    if importlib.util.find_spec("triton") is None:
        return "triton is not installed (pip install triton)"
    return None


@registry.register(
    "linear_recurrence",
    "triton",
    backends=("torch",),
    supports=_triton_supports,
    priority=lambda *a, **k: TRITON_PRIORITY,
)
def linear_recurrence_triton(
    a, b, *, reverse=False, initial_state=None, return_final_state=False, segment_ids=None
):
    """h_t = a_t * h_{t-1} + b_t by the Triton kernel (CUDA tensors).

    Arguments and results as `linear_recurrence_chunked`; see
    `keras_ssm.ops.torch.triton_scan.linear_recurrence_triton`.
    """
    from keras_ssm.ops.torch import triton_scan

    return triton_scan.linear_recurrence_triton(
        a,
        b,
        reverse=reverse,
        initial_state=initial_state,
        return_final_state=return_final_state,
        segment_ids=segment_ids,
    )
