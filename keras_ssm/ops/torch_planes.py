"""Torch tensors as plane tuples, shared by the torch paths and the Triton kernel.

A real tensor travels as ``(x,)``, a complex value as ``(re, im)``; `apply_flat` runs a
recurrence on planes whose state axes are flattened and restores the public shapes.
Its own module so that :mod:`keras_ssm.ops.torch` and :mod:`keras_ssm.ops.triton_scan`
both import it and neither imports the other at module level.
"""

from keras_ssm.ops import common


def planes(x):
    """(x,) for a tensor, (re, im) for a pair, None for None.

    Example:

    ```python
    from keras_ssm.ops.torch_planes import planes
    planes((1.0, 2.0))   # (1.0, 2.0)
    ```
    """
    if x is None:
        return None
    return tuple(x) if common.is_pair(x) else (x,)


def apply_flat(function, a, b, reverse, initial_state, return_final_state):
    """Run a recurrence on flattened plane tuples and restore the public shapes.

    Args:
        function: callable(a, b, h0, reverse, invariant) -> (h, h_last), on plane
            tuples with the state axes flattened: b (B, L, N), a (B, L, N) or (N,),
            h0 (B, N) or None; returns planes (B, L, N) and (B, N).
        a, b, reverse, initial_state, return_final_state: as `linear_recurrence`.

    Returns:
        h like `b` (a pair for complex values), and h_last when `return_final_state`.
    
    Example:

    ```python
    import torch
    from keras_ssm.ops.torch_planes import apply_flat

    def loop(a, b, h0, reverse, invariant):   # real planes, time-invariant a (N,)
        h, out = torch.zeros_like(b[0][:, 0]), []
        for t in range(b[0].shape[1]):
            h = a[0] * h + b[0][:, t]
            out.append(h)
        return (torch.stack(out, 1),), (h,)

    h = apply_flat(loop, torch.full((3, 2), 0.5), torch.ones(4, 5, 3, 2), False, None, False)
    ```
    """
    complex_mode = common.is_pair(b)
    a_p, b_p, h_p = planes(a), planes(b), planes(initial_state)
    shape = tuple(b_p[0].shape)
    batch, length, state = shape[0], shape[1], shape[2:]
    n = 1
    for d in state:
        n *= d
    invariant = a_p[0].dim() == len(shape) - 2
    a_flat = tuple(p.reshape(n) if invariant else p.reshape(batch, length, n) for p in a_p)
    b_flat = tuple(p.reshape(batch, length, n) for p in b_p)
    h_flat = None if h_p is None else tuple(p.reshape(batch, n) for p in h_p)
    y, last = function(a_flat, b_flat, h_flat, reverse, invariant)
    y = tuple(p.reshape(shape) for p in y)
    last = tuple(p.reshape((batch,) + state) for p in last)
    pack = (lambda planes: planes) if complex_mode else (lambda planes: planes[0])
    if return_final_state:
        return pack(y), pack(last)
    return pack(y)
