"""Torch tensors as plane tuples, shared by the torch paths and the Triton kernel.

A real tensor travels as ``(x,)``, a complex value as ``(re, im)``; `apply_flat` runs a
recurrence on planes whose state axes are flattened and restores the public shapes, and
the arithmetic below writes complex products into preallocated planes (``out=``).
Its own module so that :mod:`keras_ssm.ops.torch.recurrence` and
:mod:`keras_ssm.ops.torch.triton_scan` both import it and neither imports the other at
module level.
"""

import torch

from keras_ssm.ops import common


def planes(x):
    """(x,) for a tensor, (re, im) for a pair, None for None.

    Example:

    ```python
    from keras_ssm.ops.torch.planes import planes
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
    from keras_ssm.ops.torch.planes import apply_flat

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


# --------------------------------------------------------------------------------------
# arithmetic on planes


def empty_planes(planes):
    """Uninitialized planes shaped like `planes` (same dtype and device)."""
    return tuple(torch.empty(p.shape, dtype=p.dtype, device=p.device) for p in planes)


def copy_planes(planes):
    """Fresh contiguous copies of the planes."""
    out = empty_planes(planes)
    for o, p in zip(out, planes):
        o.copy_(p)
    return out


def mul_add(a, x, b, out, conj):
    """out = a * x + b (conj(a) when `conj`; b None means 0); `out` must not overlap x."""
    if len(out) == 1:
        if b is None:
            torch.mul(a[0], x[0], out=out[0])
        else:
            torch.addcmul(b[0], a[0], x[0], out=out[0])
        return
    sign = 1.0 if conj else -1.0
    (ar, ai), (xr, xi), (o_r, o_i) = a, x, out
    if b is None:
        torch.mul(ar, xr, out=o_r)
        torch.mul(ar, xi, out=o_i)
    else:
        torch.addcmul(b[0], ar, xr, out=o_r)
        torch.addcmul(b[1], ar, xi, out=o_i)
    o_r.addcmul_(ai, xi, value=sign)
    o_i.addcmul_(ai, xr, value=-sign)


def power(a, n, conj):
    """conj?(a) ** n for a time-invariant coefficient, by repeated squaring.

    Example:

    ```python
    import torch
    from keras_ssm.ops.torch.planes import power
    power((torch.tensor([0.0]), torch.tensor([1.0])), 2, False)   # i^2 = (-1, 0)
    ```
    """
    result = None
    base = (a[0], -a[1]) if conj and len(a) == 2 else a
    while n:
        if n & 1:
            if result is None:
                result = base
            else:
                new = tuple(torch.empty_like(p) for p in result)
                mul_add(base, result, None, new, False)
                result = new
        n >>= 1
        if n:
            new = tuple(torch.empty_like(p) for p in base)
            mul_add(base, base, None, new, False)
            base = new
    return result


def conj_mul(x, y, out=None):
    """conj(x) * y on planes (x * y for real planes), into `out` if given."""
    out = empty_planes(y) if out is None else out
    if len(y) == 1:
        torch.mul(x[0], y[0], out=out[0])
        return out
    (xr, xi), (yr, yi), (o_r, o_i) = x, y, out
    torch.mul(xr, yr, out=o_r)
    o_r.addcmul_(xi, yi)
    torch.mul(xr, yi, out=o_i)
    o_i.addcmul_(xi, yr, value=-1.0)
    return out
