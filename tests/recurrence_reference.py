"""Independent references for the linear_recurrence tests, shared by the op test modules.

`np_loop` is the plain numpy loop every implementation is compared with; the torch
helpers (a differentiable loop, numpy <-> plane conversions) serve the torch-only
modules (chunked scan, Triton kernel) and import torch lazily.
"""

import numpy as np


def np_loop(a, b, h0=None, reverse=False):
    """h_t = a_t h_{t-1} + b_t (h_{t+1} when `reverse`) by a loop over time, in numpy.

    Args:
        a: (B, L, *S) per step or (*S) time-invariant; b: (B, L, *S); h0: (B, *S) or None.

    Returns:
        h like `b` (the result dtype of a * b, e.g. complex128).
    """
    per_step = a.ndim == b.ndim
    h = np.zeros(b.shape, np.result_type(a, b))
    prev = np.zeros_like(h[:, 0]) if h0 is None else h0
    for t in range(b.shape[1] - 1, -1, -1) if reverse else range(b.shape[1]):
        prev = (a[:, t] if per_step else a) * prev + b[:, t]
        h[:, t] = prev
    return h


def torch_loop(a, b, h0=None, reverse=False):
    """The same loop with torch ops on plane lists, differentiable by autograd.

    Returns:
        (h planes, last planes): [re, im] for complex planes, [x] for real ones.
    """
    import torch

    cplx = len(b) == 2
    to_c = (lambda p: torch.complex(p[0], p[1])) if cplx else (lambda p: p[0])
    a_c, b_c = to_c(a), to_c(b)
    per_step = a_c.dim() == b_c.dim()
    prev = torch.zeros_like(b_c[:, 0]) if h0 is None else to_c(h0)
    hs = [None] * b_c.shape[1]
    for t in range(b_c.shape[1] - 1, -1, -1) if reverse else range(b_c.shape[1]):
        prev = (a_c[:, t] if per_step else a_c) * prev + b_c[:, t]
        hs[t] = prev
    h = torch.stack(hs, dim=1)
    split = (lambda z: [z.real, z.imag]) if cplx else (lambda z: [z])
    return split(h), split(prev)


def planes_of(x, dtype=None, device="cpu", requires_grad=False):
    """numpy -> list of torch planes ([re, im] for complex arrays; float64 by default)."""
    import torch

    if x is None:
        return None
    parts = [x.real, x.imag] if np.iscomplexobj(x) else [x]
    return [
        torch.tensor(
            np.ascontiguousarray(p), dtype=dtype or torch.float64, device=device
        ).requires_grad_(requires_grad)
        for p in parts
    ]


def pack(planes):
    """Planes as the op takes them: a pair for complex, a tensor for real."""
    if planes is None:
        return None
    return tuple(planes) if len(planes) == 2 else planes[0]


def as_numpy(value):
    """A torch tensor or (re, im) pair of tensors -> numpy (complex for a pair)."""
    if isinstance(value, tuple):
        return value[0].detach().cpu().numpy() + 1j * value[1].detach().cpu().numpy()
    return value.detach().cpu().numpy()
