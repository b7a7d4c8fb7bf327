"""The 11 atomic synthetic tasks of the DLR paper (C.1-C.11): seeded numpy generators.

Each generator takes (rng, num_samples, seq_len) and returns (inputs, targets),
vectorized over samples, following the common protocol described in
`keras_ssm.data.synthetic.suite` (which validates the arguments and dispatches here;
the package `keras_ssm.data.synthetic` exports the public helpers).
"""

import functools
import math
import numbers

import numpy as np

NUM_SHIFTS = 8
"""shift: number of shifted copies predicted jointly (d_out)."""

MASKED_SELECT_M = 32
"""masked_select(_fixed): number of marked tokens M to copy."""

MIPS_D = 4
"""mips: dimension D of the query, key and value vectors."""

FIXED_SEED = 0
"""Seed of the draw shared by every sample of the *_fixed tasks."""

_MIPS_CHUNK_ELEMENTS = 2**22  # similarity entries held at once (32 MiB float64)


def _solve_size(seq_len):
    """N_s = floor of the positive root of N^2 + 2N - L, i.e. isqrt(L+1) - 1."""
    return math.isqrt(seq_len + 1) - 1


def _check_seq_len(task, seq_len):
    """Validates `seq_len` for an atomic task and returns it as an int."""
    if isinstance(seq_len, bool) or not isinstance(seq_len, numbers.Integral):
        raise ValueError(f"`seq_len` must be an integer; got {seq_len!r}.")
    seq_len = int(seq_len)
    if task == "shift":
        if seq_len < NUM_SHIFTS or seq_len % NUM_SHIFTS:
            suggestion = max(NUM_SHIFTS, seq_len // NUM_SHIFTS * NUM_SHIFTS)
            raise ValueError(
                f"seq_len={seq_len} is invalid for task 'shift': it needs a "
                f"positive multiple of {NUM_SHIFTS} so that the {NUM_SHIFTS} "
                f"shifts linspace(0, L - L/{NUM_SHIFTS}, {NUM_SHIFTS}) are "
                f"integers; use e.g. seq_len={suggestion}."
            )
        return seq_len
    minimum = {"context_shift": 4, "solve": 3, "solve_fixed": 3}.get(task, 2)
    if seq_len < minimum:
        reason = {
            "context_shift": "two context tokens plus at least two values",
            "solve": "N_s >= 1, i.e. N_s^2 + 2 N_s <= seq_len",
            "solve_fixed": "N_s >= 1, i.e. N_s^2 + 2 N_s <= seq_len",
        }.get(task, "at least two values")
        raise ValueError(
            f"seq_len={seq_len} is too small for task {task!r}, which needs "
            f"{reason}; use seq_len >= {minimum}."
        )
    return seq_len


# ---------------------------------------------------------------------------
# Shared pieces
# ---------------------------------------------------------------------------


def _normalized_noise(rng, shape):
    """N(0, 1) values divided by the max |value| along the last axis.

    Returns:
        float32 array of `shape`, each last-axis sequence in [-1, 1].
    """
    x = rng.standard_normal(shape, dtype=np.float32)
    return x / np.max(np.abs(x), axis=-1, keepdims=True)


def _with_positions(values):
    """Appends cos(2*pi*t/L'), sin(2*pi*t/L') to (n, L', c) values.

    Returns:
        float32 array (n, L', c + 2).
    """
    num_samples, length, _ = values.shape
    angle = 2.0 * np.pi * np.arange(length) / length
    positions = np.stack([np.cos(angle), np.sin(angle)], axis=-1)
    positions = np.broadcast_to(positions.astype(np.float32), (num_samples, length, 2))
    return np.concatenate([values.astype(np.float32), positions], axis=-1)


def shift_amounts(seq_len):
    """The shift task's 8 shifts s_j = linspace(0, L - L/8, 8) (C.1).

    Args:
        seq_len: L, a positive multiple of 8.

    Returns:
        int64 array (8,): 0, L/8, 2L/8, ..., 7L/8.

    Example:

    >>> shift_amounts(4096).tolist()
    [0, 512, 1024, 1536, 2048, 2560, 3072, 3584]
    """
    seq_len = _check_seq_len("shift", seq_len)
    amounts = np.linspace(0, seq_len - seq_len / NUM_SHIFTS, NUM_SHIFTS)
    return np.rint(amounts).astype(np.int64)


def solve_size(seq_len):
    """N_s, the system size of solve(_fixed) at length L (C.9).

    N_s = floor of the positive root of N^2 + 2N - L, the largest N whose
    [A | b] (N^2 + N scalars) plus N output positions fit in L.

    Args:
        seq_len: L, at least 3.

    Returns:
        int N_s (63 for L = 4096, 21 for L = 512).

    Example:

    >>> solve_size(4096), solve_size(512)
    (63, 21)
    """
    return _solve_size(_check_seq_len("solve", seq_len))


@functools.lru_cache(maxsize=32)
def fixed_masked_positions(seq_len):
    """The M positions of masked_select_fixed, drawn once with seed 0 (C.8).

    M = 32 distinct positions, uniform among the first M + L, sorted.
    They depend only on L, never on the sample or the `generate` seed.

    Args:
        seq_len: L, the number of noise tokens (at least 2).

    Returns:
        read-only int64 array (M,), increasing.

    Example:

    >>> fixed_masked_positions(64).shape
    (32,)
    """
    seq_len = _check_seq_len("masked_select_fixed", seq_len)
    rng = np.random.default_rng(FIXED_SEED)
    positions = np.sort(
        rng.choice(MASKED_SELECT_M + seq_len, MASKED_SELECT_M, replace=False)
    ).astype(np.int64)
    positions.setflags(write=False)
    return positions


def _orthogonal(gaussian):
    """A = U V^T from the SVD of Gaussian matrices (..., N, N)."""
    u, _, vt = np.linalg.svd(gaussian)
    return u @ vt


@functools.lru_cache(maxsize=32)
def fixed_solve_matrix(seq_len):
    """The orthogonal N_s x N_s matrix A shared by all solve_fixed samples (C.10).

    A = U V^T from the SVD of a Gaussian matrix drawn with seed 0; it depends
    only on L (through N_s).

    Args:
        seq_len: L, at least 3.

    Returns:
        read-only float64 array (N_s, N_s) with A A^T = I.

    Example:

    >>> a = fixed_solve_matrix(64)
    >>> a.shape
    (7, 7)
    """
    size = solve_size(seq_len)
    rng = np.random.default_rng(FIXED_SEED)
    matrix = _orthogonal(rng.standard_normal((size, size)))
    matrix.setflags(write=False)
    return matrix


# ---------------------------------------------------------------------------
# The 11 atomic tasks: each (rng, num_samples, L) -> (inputs, targets)
# ---------------------------------------------------------------------------


def _shift(rng, num_samples, seq_len):
    """C.1: y[t, j] = x[t - s_j] (0 when t < s_j), 8 shifts at once."""
    x = _normalized_noise(rng, (num_samples, seq_len))
    targets = np.zeros((num_samples, seq_len, NUM_SHIFTS), np.float32)
    for j, amount in enumerate(shift_amounts(seq_len)):
        targets[:, amount:, j] = x[:, : seq_len - amount]
    return _with_positions(x[..., None]), targets


def _context_shift(rng, num_samples, seq_len):
    """C.2: u = [cos(2 pi s/L), sin(2 pi s/L), x_0..x_{L-3}]; y_t = u_{t-s}."""
    x = _normalized_noise(rng, (num_samples, seq_len - 2))
    amount = rng.integers(0, seq_len - 2, size=num_samples)  # s in 0..L-3
    angle = 2.0 * np.pi * amount / seq_len
    context = np.stack([np.cos(angle), np.sin(angle)], axis=-1)
    values = np.concatenate([context.astype(np.float32), x], axis=-1)
    source = np.arange(seq_len)[None, :] - amount[:, None]  # t - s
    gathered = np.take_along_axis(values, np.maximum(source, 0), axis=1)
    targets = np.where(source >= 0, gathered, np.float32(0.0))
    return _with_positions(values[..., None]), targets[..., None]


def _cumsum(rng, num_samples, seq_len):
    """C.3: y_t = (sum_{i<=t} x_i) / sqrt(t + 1)."""
    x = _normalized_noise(rng, (num_samples, seq_len))
    totals = np.cumsum(x, axis=1, dtype=np.float64)
    targets = totals / np.sqrt(np.arange(1, seq_len + 1))
    return _with_positions(x[..., None]), targets[..., None].astype(np.float32)


def _cummax(rng, num_samples, seq_len):
    """C.4: y_t = max_{i<=t} x_i."""
    x = _normalized_noise(rng, (num_samples, seq_len))
    targets = np.maximum.accumulate(x, axis=1)
    return _with_positions(x[..., None]), targets[..., None]


def _padded_with_zeros(x):
    """[x, 0_L] along the time axis of (n, L) values."""
    return np.concatenate([x, np.zeros_like(x)], axis=1)


def _reverse(rng, num_samples, seq_len):
    """C.5: input [x, 0_L]; y_t = x_{L-1-t} on the last L outputs."""
    x = _normalized_noise(rng, (num_samples, seq_len))
    inputs = _with_positions(_padded_with_zeros(x)[..., None])
    return inputs, np.ascontiguousarray(x[:, ::-1])[..., None]


def _sort(rng, num_samples, seq_len):
    """C.6: input [x, 0_L]; y = x stably ordered by ascending |x_i - x_0|."""
    x = _normalized_noise(rng, (num_samples, seq_len))
    order = np.argsort(np.abs(x - x[:, :1]), axis=1, kind="stable")
    targets = np.take_along_axis(x, order, axis=1)
    inputs = _with_positions(_padded_with_zeros(x)[..., None])
    return inputs, targets[..., None]


def _masked_select(rng, num_samples, seq_len, fixed=False):
    """C.7/C.8: copy the M marked tokens, in order, to the last M outputs."""
    num_marked = MASKED_SELECT_M
    candidates = num_marked + seq_len
    if fixed:
        positions = np.broadcast_to(fixed_masked_positions(seq_len), (num_samples, num_marked))
    else:
        keys = rng.random((num_samples, candidates))
        smallest = np.argpartition(keys, num_marked - 1, axis=1)
        positions = np.sort(smallest[:, :num_marked], axis=1)
    noise = _normalized_noise(rng, (num_samples, candidates))
    tokens = np.concatenate([noise, np.zeros((num_samples, num_marked), np.float32)], axis=1)
    markers = np.zeros_like(tokens)
    np.put_along_axis(markers, positions, np.float32(1.0), axis=1)
    targets = np.take_along_axis(noise, positions, axis=1)
    inputs = _with_positions(np.stack([tokens, markers], axis=-1))
    return inputs, targets[..., None]


def _solve(rng, num_samples, seq_len, fixed=False):
    """C.9/C.10: read [A | b] row-major, output X = A^T b (A orthogonal)."""
    size = _solve_size(seq_len)
    if fixed:
        matrix = np.broadcast_to(fixed_solve_matrix(seq_len), (num_samples, size, size))
    else:
        matrix = _orthogonal(rng.standard_normal((num_samples, size, size)))
    solution = rng.standard_normal((num_samples, size))
    solution /= np.linalg.norm(solution, axis=1, keepdims=True)
    rhs = np.einsum("nij,nj->ni", matrix, solution)
    system = np.concatenate([matrix, rhs[..., None]], axis=2)
    flat = system.reshape(num_samples, size * (size + 1))
    values = np.zeros((num_samples, seq_len), np.float32)
    values[:, : flat.shape[1]] = flat
    inputs = _with_positions(values[..., None])
    return inputs, solution[..., None].astype(np.float32)


def causal_argmax(queries, keys, max_elements=_MIPS_CHUNK_ELEMENTS):
    """j*_i = argmax_{j <= i} q_i . k_j, in row chunks (memory O(L * chunk)).

    Similarities are computed in float64; ties go to the smallest j.

    Args:
        queries: array (n, L, D).
        keys: array (n, L, D).
        max_elements: at most this many similarities are held at once
            (the chunk is max(1, max_elements // (n * L)) query rows).

    Returns:
        int64 array (n, L) of key indices, each j*_i <= i.

    Example:

    >>> q = np.eye(2)[None]  # q_0 = e_0, q_1 = e_1
    >>> causal_argmax(q, q).tolist()
    [[0, 1]]
    """
    num_samples, length, _ = queries.shape
    queries = queries.astype(np.float64)
    keys_t = np.swapaxes(keys.astype(np.float64), 1, 2)  # (n, D, L)
    rows = max(1, max_elements // (num_samples * length))
    best = np.empty((num_samples, length), np.int64)
    for start in range(0, length, rows):
        stop = min(start + rows, length)
        sim = queries[:, start:stop] @ keys_t[:, :, :stop]  # (n, rows, stop)
        future = np.arange(stop)[None, :] > np.arange(start, stop)[:, None]
        sim[:, future] = -np.inf
        best[:, start:stop] = np.argmax(sim, axis=-1)
    return best


def _mips(rng, num_samples, seq_len):
    """C.11: y_i = v_{j*}, j* = argmax_{j<=i} q_i . k_j, unit vectors in R^4."""
    vectors = rng.standard_normal((num_samples, 3 * seq_len, MIPS_D))
    vectors /= np.linalg.norm(vectors, axis=-1, keepdims=True)
    vectors = vectors.astype(np.float32)
    queries, keys, values = np.split(vectors, 3, axis=1)
    best = causal_argmax(queries, keys)
    targets = np.take_along_axis(values, best[..., None], axis=1)
    features = np.concatenate([queries, keys, values], axis=-1)
    return _with_positions(features), targets


_GENERATORS = {
    "shift": _shift,
    "context_shift": _context_shift,
    "cumsum": _cumsum,
    "cummax": _cummax,
    "reverse": _reverse,
    "sort": _sort,
    "masked_select": _masked_select,
    "masked_select_fixed": functools.partial(_masked_select, fixed=True),
    "solve": _solve,
    "solve_fixed": functools.partial(_solve, fixed=True),
    "mips": _mips,
}
