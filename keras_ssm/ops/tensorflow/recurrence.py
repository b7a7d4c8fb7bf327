"""TensorFlow fast paths of ``linear_recurrence``, written to compile under XLA.

Three implementations, all with static shapes (no ``tf.cond``), so they run eagerly,
inside ``tf.function`` and inside ``tf.function(jit_compile=True)``:

- ``"associative"``: an odd/even (Blelloch-style) associative scan. Pairs of neighbouring
  steps are combined, the half-length problem is solved recursively, and the remaining
  steps are filled in from it; a time-invariant ``a`` stays a ``(*state)`` tensor at every
  level (a, a^2, a^4, ...).
- ``"chunked"``: the length is cut into blocks of ``CHUNK`` steps; a sequential pass
  (unrolled in Python, vectorized over all blocks) solves each block from a zero state,
  an associative scan over the block ends carries the state from block to block, and one
  elementwise pass adds each block's carried-in state times the running product of ``a``.
- ``"sequential"``: one ``tf.while_loop`` iteration per step over ``tf.TensorArray``s of
  static size L; XLA compiles it into one tight loop.

All three have a hand-written gradient, itself one recurrence run in the opposite direction
(Martin & Cundy, 2018, "Parallelizing linear recurrent neural nets over sequence
length"): with G = dLoss/dRe h + i dLoss/dIm h,

    g_t = G_t + conj(a_{t+1}) g_{t+1},   dLoss/db_t = g_t,
    dLoss/da_t = g_t conj(h_{t-1}),      dLoss/dh_init = conj(a_first) g_first,

so training costs about three forward passes and does not degrade with length the way
``tf.scan``'s gradient does under XLA. Complex values are (real, imag) pairs throughout
(real arithmetic, no complex dtypes).

Packed documents (``segment_ids``) multiply a_t by keep_t (0 at each document's first
processed step, `keras_ssm.ops.segments.continues`): beside a time-invariant ``a`` the
sequential and associative scans carry (batch, L, 1, ...) factors (selecting the state,
or multiplied together with the powers of ``a``), so no per-step ``a`` is formed; the
gradient scan uses them shifted one step, dL/da_t = g_t conj(keep_t h_{t-1}). A per-step
``a``, and any ``a`` in the chunked scan (whose loop XLA ran 5-50x slower with the
factors), gets a_t keep_t, a product TensorFlow differentiates.

Automatic choice: ``"sequential"`` when TensorFlow sees no GPU or TPU (the fastest on
CPU under XLA, forward and forward+backward: benchmarks/results/ops-tensorflow-cpu.md);
otherwise ``"chunked"`` for a per-step ``a`` and ``"associative"`` for a time-invariant
``a``, whose O(log L) depth keeps an accelerator busy. All need a static sequence length.
"""

import tensorflow as tf

from keras_ssm.ops import common
from keras_ssm.ops import registry
from keras_ssm.ops import segments
from keras_ssm.ops.common import cadd
from keras_ssm.ops.common import cmul
from keras_ssm.ops.common import conj
from keras_ssm.ops.common import map_pair

CHUNK = 16  # steps per block of the "chunked" path


# --------------------------------------------------------------------------------------
# values: a real tensor, or a (real, imag) pair of real tensors


def _first(x):
    return x[0] if common.is_pair(x) else x


def _length(b):
    return _first(b).shape[1]


def _flip(x):
    return map_pair(lambda t: tf.reverse(t, [1]), x)


def _restarted(x, keep):
    """x times the reset factors `keep` (0 or 1; None: x), as a select: XLA on the CPU
    ran the chunked scan 8-50x slower with the product."""
    if keep is None:
        return x
    return map_pair(lambda t: tf.where(keep > 0, t, tf.zeros_like(t)), x)


def _with_length(t, length):
    """tf.shape(t) with axis 1 replaced by `length` (batch may be unknown)."""
    shape = tf.shape(t)
    return tf.concat([shape[:1], [length], shape[2:]], axis=0)


# --------------------------------------------------------------------------------------
# the associative (odd/even) scan, forward direction, zero initial state


def _interleave(evens, odds):
    """Merge along axis 1: evens[0], odds[0], evens[1], ...; len(evens) - len(odds) in {0, 1}."""

    def merge(e, o):
        n_e, n_o = e.shape[1], o.shape[1]
        if n_e > n_o:
            o = tf.concat([o, tf.zeros_like(e[:, :1])], axis=1)
        merged = tf.reshape(tf.stack([e, o], axis=2), _with_length(e, 2 * n_e))
        return merged[:, : n_e + n_o] if n_e > n_o else merged

    return map_pair(merge, evens, odds)


def _odd_even_scan(a, b, invariant, keep=None):
    """h_t = a_t keep_t h_{t-1} + b_t (h_{-1} = 0) along axis 1, by odd/even reduction.

    Args:
        a: (batch, L, *state), or (*state) when `invariant`; tensor or pair.
        b: (batch, L, *state); tensor or pair.
        invariant: whether `a` is time-invariant.
        keep: None or (batch, L, 1, ...) reset factors.

    Returns:
        h, like `b`.
    """
    n = _length(b)
    if n == 1:
        return b
    m = n // 2
    even = lambda x: map_pair(lambda t: t[:, 0 : 2 * m : 2], x)
    odd = lambda x: map_pair(lambda t: t[:, 1 : 2 * m : 2], x)
    keep_odd = keep_half = keep_rest = None
    if keep is not None:
        keep_odd = odd(keep)
        keep_half = even(keep) * keep_odd
        keep_rest = keep[:, 2::2]
    if invariant:
        a_odd, a_half = a, cmul(a, a)
    else:
        a_odd = odd(a)
        a_half = cmul(even(a), a_odd)
    b_half = cadd(_restarted(cmul(a_odd, even(b)), keep_odd), odd(b))
    h_odd = _odd_even_scan(a_half, b_half, invariant, keep_half)  # h at steps 1, 3, 5, ...
    # h_0 = b_0 and h_{2i} = a_{2i} h_{2i-1} + b_{2i}.
    b_rest = map_pair(lambda t: t[:, 2::2], b)
    n_rest = _length(b_rest)
    a_rest = a if invariant else map_pair(lambda t: t[:, 2::2], a)
    carried = cmul(a_rest, map_pair(lambda t: t[:, :n_rest], h_odd))
    h_rest = cadd(_restarted(carried, keep_rest), b_rest)
    h_even = map_pair(lambda t0, t1: tf.concat([t0[:, :1], t1], axis=1), b, h_rest)
    return _interleave(h_even, h_odd)


def _associative_any_direction(a, b, invariant, reverse, keep=None):
    if not reverse:
        return _odd_even_scan(a, b, invariant, keep)
    a = a if invariant else _flip(a)
    keep = None if keep is None else _flip(keep)
    return _flip(_odd_even_scan(a, _flip(b), invariant, keep))


# --------------------------------------------------------------------------------------
# the chunked scan


def _chunked_scan(a, b, invariant, reverse, keep=None, chunk=CHUNK):
    """h_t = a_t h_{t∓1} + b_t (zero initial state) in blocks of `chunk` steps.

    The blocks run in parallel: a sequential pass inside each block (a Python loop of
    `chunk` steps over tensors (batch, blocks, *state)), an odd/even scan over the block
    ends for the state carried between blocks, then h += (running product of a) * carry.

    Args:
        a: (batch, L, *state), or (*state) when `invariant`.
        b: (batch, L, *state).
        invariant: whether `a` is time-invariant.
        reverse: run from the last step to the first.
        keep: None or (batch, L, 1, ...) reset factors: carried beside the powers (or
            products) of `a` as their running products.

    Returns:
        h, like `b`.
    """
    length = _length(b)
    chunk = max(1, min(chunk, length))
    blocks = -(-length // chunk)
    pad = blocks * chunk - length
    if pad:
        # Pad on the side processed last: those steps never influence real ones.
        padding = [[0, 0], [pad, 0] if reverse else [0, pad]]
        pad_fn = lambda t: tf.pad(t, padding + [[0, 0]] * (t.shape.rank - 2))
        b = map_pair(pad_fn, b)
        if not invariant:
            a = map_pair(pad_fn, a)
        if keep is not None:
            keep = tf.pad(keep, padding + [[0, 0]] * (keep.shape.rank - 2), constant_values=1)
    ref = _first(b)
    to_blocks = lambda t: tf.reshape(
        t, tf.concat([tf.shape(t)[:1], [blocks, chunk], tf.shape(t)[2:]], axis=0)
    )
    b_blocks = map_pair(to_blocks, b)
    a_blocks = a if invariant else map_pair(to_blocks, a)
    keep_blocks = None if keep is None else to_blocks(keep)
    order = range(chunk - 1, -1, -1) if reverse else range(chunk)
    step = lambda x, s: map_pair(lambda t: t[:, :, s], x)

    # 1. Within each block, from a zero state; and the running products of a.
    local, products = {}, {}
    h = p = None
    for s in order:
        a_s = a if invariant else step(a_blocks, s)
        b_s = step(b_blocks, s)
        k_s = None if keep is None else keep_blocks[:, :, s]
        h = b_s if h is None else cadd(cmul(a_s, _restarted(h, k_s)), b_s)
        p = a_s if p is None else cmul(a_s, p)
        local[s], products[s] = h, p
    # The running products of keep as one op (a chain of products here made XLA on the
    # CPU recompute the block's steps: 8x slower).
    kept = k = None
    if keep is not None:
        kept = tf.math.cumprod(keep_blocks, axis=2, reverse=reverse)  # (batch, blocks, chunk, 1)
        k = kept[:, :, 0] if reverse else kept[:, :, -1]
    stack = lambda parts, axis: map_pair(lambda *ts: tf.stack(ts, axis=axis), *parts)
    local = stack([local[s] for s in range(chunk)], 2)  # (batch, blocks, chunk, *state)
    if invariant:
        products = stack([products[s] for s in range(chunk)], 0)  # (chunk, *state)
    else:
        products = stack([products[s] for s in range(chunk)], 2)
    block_a, block_end = p, h  # (*state) or (batch, blocks, *state); (batch, blocks, *state)

    # 2. The state entering each block: a scan over the block ends.
    carry = _associative_any_direction(block_a, block_end, invariant, reverse, k)
    if reverse:
        incoming = map_pair(lambda t: tf.concat([t[:, 1:], tf.zeros_like(t[:, :1])], axis=1), carry)
    else:
        incoming = map_pair(
            lambda t: tf.concat([tf.zeros_like(t[:, :1]), t[:, :-1]], axis=1), carry
        )

    # 3. h = local + (product of a since the block start) * incoming state.
    incoming = map_pair(lambda t: t[:, :, None], incoming)
    incoming = _restarted(incoming, kept)  # the product of keep since the block start
    h = cadd(local, cmul(products, incoming))
    full_shape = _with_length(ref, blocks * chunk)
    h = map_pair(lambda t: tf.reshape(t, full_shape), h)
    if pad:
        h = map_pair(lambda t: t[:, pad:] if reverse else t[:, :length], h)
    return h


# --------------------------------------------------------------------------------------
# the shared wrapper: initial state, hand-written gradient, final state


def _sequential_scan(a, b, invariant, reverse, keep=None):
    """h_t = a_t h_{t∓1} + b_t (zero initial state), one step per `tf.while_loop` iteration.

    Step t is read in place with `tf.gather` along axis 1 (no time-major copy of the
    inputs: under XLA it is a dynamic slice; about 1.1-1.4x faster forward+backward than
    unstacking a transposed copy at B = 8, L = 16,384, 64 complex states) and written to
    a `tf.TensorArray` of static size L, which XLA compiles into one loop. Never
    differentiated itself: the gradient is the same scan run the other way
    (`_recurrence_with_gradient`).
    """
    length = _length(b)
    rank = len(_first(b).shape)
    perm = [1, 0] + list(range(2, rank))
    outputs = map_pair(
        lambda t: tf.TensorArray(t.dtype, size=length, element_shape=t[:, 0].shape), b
    )
    h0 = _zeros_state(b)

    def body(i, h, out):
        t = length - 1 - i if reverse else i
        read = lambda v: tf.gather(v, t, axis=1)
        a_t = a if invariant else map_pair(read, a)
        if keep is not None:
            h = _restarted(h, read(keep))
        h = cadd(cmul(a_t, h), map_pair(read, b))
        out = map_pair(lambda ta, v: ta.write(t, v), out, h)
        return i + 1, h, out

    _, _, outputs = tf.while_loop(
        lambda i, h, out: i < length, body, (tf.constant(0), h0, outputs), maximum_iterations=length
    )
    return map_pair(lambda ta: tf.transpose(ta.stack(), perm), outputs)


def _shift_in(x, reverse, fill):
    """x_{t-1} along axis 1 (x_{t+1} when `reverse`), the missing step set to `fill`."""

    def shift(t, f):
        f = f[:, None]
        return tf.concat([t[:, 1:], f], axis=1) if reverse else tf.concat([f, t[:, :-1]], axis=1)

    return map_pair(shift, x, fill)


def _first_step(x, reverse):
    return map_pair(lambda t: t[:, -1] if reverse else t[:, 0], x)


def _zeros_state(b):
    return map_pair(lambda t: tf.zeros_like(t[:, 0]), b)


def _flatten(*values):
    flat, kinds = [], []
    for v in values:
        parts = list(v) if common.is_pair(v) else [v]
        flat.extend(parts)
        kinds.append(len(parts))
    return flat, kinds


def _unflatten(flat, kinds):
    values, i = [], 0
    for k in kinds:
        values.append(tuple(flat[i : i + k]) if k == 2 else flat[i])
        i += k
    return values


def _reset_factors(a, b, segment_ids, reverse, fold):
    """(a, keep): a packed row's resets as (batch, L, 1, ...) factors beside a
    time-invariant `a` (keep None without `segment_ids`), or, for a per-step `a` or with
    `fold`, folded into a per-step `a` (keep None; TensorFlow differentiates the
    product). Measured under XLA on the CPU (benchmarks/results/packing-tensorflow-cpu.md):
    the chunked scan's loop with factors ran 5-50x slower than with a folded `a`."""
    if segment_ids is None:
        return a, None
    ref = _first(b)
    keep = segments.continues(tf.convert_to_tensor(segment_ids), reverse)
    keep = tf.cast(segments.broadcast_keep(keep, ref.shape.rank), ref.dtype)
    if common.is_time_invariant(a, b) and not fold:
        return a, keep
    return map_pair(lambda t: tf.broadcast_to(t, tf.shape(ref)) * keep, a), None


def _recurrence_with_gradient(scan, a, b, initial_state, reverse, segment_ids=None):
    """Run `scan(a, b, invariant, reverse, keep)` with the initial state and a custom
    gradient."""
    a, b, initial_state = (
        None if v is None else map_pair(tf.convert_to_tensor, v) for v in (a, b, initial_state)
    )
    a, keep = _reset_factors(a, b, segment_ids, reverse, fold=scan is _chunked_scan)
    invariant = common.is_time_invariant(a, b)
    has_h0 = initial_state is not None
    values = [a, b] + ([initial_state] if has_h0 else [])
    flat, kinds = _flatten(*values)

    @tf.custom_gradient
    def run(*flat_inputs):
        a, b, *rest = _unflatten(list(flat_inputs), kinds)
        h0 = rest[0] if has_h0 else None
        a_first = a if invariant else _first_step(a, reverse)
        b_in = b
        if has_h0:
            injected = cmul(a_first, h0)
            b_in = map_pair(
                lambda t, v: (
                    tf.concat([t[:, :-1], t[:, -1:] + v[:, None]], axis=1)
                    if reverse
                    else tf.concat([t[:, :1] + v[:, None], t[:, 1:]], axis=1)
                ),
                b,
                injected,
            )
        h = scan(a, b_in, invariant, reverse, keep)

        def grad(*upstream):
            upstream = [
                tf.zeros_like(t) if u is None else u for u, t in zip(upstream, _flatten(h)[0])
            ]
            g_h = tuple(upstream) if common.is_pair(h) else upstream[0]
            # g_t = G_t + conj(a_{t+1}) g_{t+1}: the same recurrence, other direction.
            a_conj = conj(a)
            a_next = a_conj if invariant else _shift_in(a_conj, not reverse, _zeros_state(a_conj))
            keep_next = None
            if keep is not None:  # g_t = G_t + conj(a) keep_{t+1} g_{t+1}
                keep_next = _shift_in(keep, not reverse, tf.ones_like(keep[:, 0]))
            g = scan(a_next, g_h, invariant, not reverse, keep_next)
            h_prev = _shift_in(h, reverse, h0 if has_h0 else _zeros_state(h))
            g_a = cmul(_restarted(g, keep), conj(h_prev))
            if invariant:
                g_a = map_pair(lambda t: tf.reduce_sum(t, axis=[0, 1]), g_a)
            grads = [g_a, g]
            if has_h0:
                grads.append(cmul(conj(a_first), _first_step(g, reverse)))
            return _flatten(*grads)[0]

        return _flatten(h)[0], grad

    h_flat = run(*flat)
    return tuple(h_flat) if common.is_pair(b) else h_flat[0]


def _make_path(scan):
    def path(
        a, b, *, reverse=False, initial_state=None, return_final_state=False, segment_ids=None
    ):
        h = _recurrence_with_gradient(scan, a, b, initial_state, reverse, segment_ids)
        if return_final_state:
            return h, map_pair(lambda t: t[:, 0] if reverse else t[:, -1], h)
        return h

    return path


def _needs_static_length(a, b, **kwargs):
    if _length(b) is None:
        return "the sequence length is not static (give the Input a fixed length)"
    return None


def _chunked_priority(a, b, **kwargs):
    return 1.0 if common.is_time_invariant(a, b) else 2.0


def _associative_priority(a, b, **kwargs):
    return 2.0 if common.is_time_invariant(a, b) else 1.0


def _has_accelerator():
    return bool(tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU"))


def _sequential_priority(a, b, **kwargs):
    # The fastest on CPU (see benchmarks/results/ops-tensorflow-cpu.md); a GPU or TPU
    # would idle through L dependent steps.
    return 0.5 if _has_accelerator() else 3.0


_SAME_CONTRACT = """
Same arguments and results as `keras_ssm.ops.linear_recurrence` (canonical inputs).

Example:

```python
h = {name}(tf.fill([4], 0.9), tf.ones([2, 10, 4]))
```
"""


def _register(name, scan, priority, summary):
    """Register `scan` (with its hand-written gradient) as the TF path `name`."""
    path = _make_path(scan)
    path.__name__ = f"linear_recurrence_{name}"
    path.__doc__ = summary + "\n" + _SAME_CONTRACT.format(name=path.__name__)
    return registry.register(
        "linear_recurrence",
        name,
        backends=("tensorflow",),
        supports=_needs_static_length,
        priority=priority,
    )(path)


linear_recurrence_associative = _register(
    "associative",
    _associative_any_direction,
    _associative_priority,
    "h_t = a_t h_{t-1} + b_t by an odd/even associative scan (XLA-safe).",
)
linear_recurrence_chunked = _register(
    "chunked",
    _chunked_scan,
    _chunked_priority,
    "h_t = a_t h_{t-1} + b_t in blocks of `CHUNK` steps (XLA-safe).",
)
linear_recurrence_sequential = _register(
    "sequential",
    _sequential_scan,
    _sequential_priority,
    "h_t = a_t h_{t-1} + b_t by a `tf.while_loop`, one step per iteration (XLA-safe).\n\n"
    "The gradient is the same loop run in the other direction (hand-written), so\n"
    "`tf.scan`'s slow gradient under XLA is avoided.",
)
