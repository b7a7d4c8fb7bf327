"""Benchmark of the hot ops: every registered implementation against Keras baselines.

For the current backend (``KERAS_BACKEND``), times forward and forward+backward of

- ``linear_recurrence``: every implementation in ``keras_ssm.ops.implementations``,
  against ``keras.ops.associative_scan`` (the same recurrence as a 4-tuple scan of
  float (real, imag) planes), a sequential loop (``keras.ops.scan``; a Python loop on
  torch) and, on TensorFlow, ``tf.scan`` (whose gradient under XLA degrades with L);
- ``causal_conv``: every implementation, against a direct depthwise convolution
  (``keras.ops.depthwise_conv``, O(L²)).

Each path runs compiled the way its backend runs it (jax.jit; XLA on TensorFlow, or a
plain tf.function when the path does not compile under XLA; eager torch), compilation
and warm-up excluded, median of repeats. Each time is also given as a multiple of the
physical floor, bytes read + written / memory bandwidth measured on this machine, and
of keras.ops.associative_scan. Every forward output is checked against numpy.

Writes ``benchmarks/results/ops-<backend>-<device>.md`` and ``.png``.

Usage:

```
KERAS_BACKEND=jax python -m benchmarks.ops --quick
KERAS_BACKEND=torch python -m benchmarks.ops --lengths 1024 65536 --state 64 --batch 8
```
"""

import argparse
import datetime
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

import keras_ssm  # noqa: E402
from benchmarks import _timing as T  # noqa: E402
from keras_ssm.ops import registry  # noqa: E402

ASSOC = "keras.ops.associative_scan"
SEQUENTIAL = "keras.ops.scan"
TF_SCAN = "tf.scan"
BASELINES = (ASSOC, SEQUENTIAL, TF_SCAN, "keras.ops.depthwise_conv")
DIRECT_CONV = "keras.ops.depthwise_conv"
FAILURE_TOLERANCE = 1e-3  # relative error above which a path is flagged as wrong


# --------------------------------------------------------------------------------------
# linear_recurrence


def recurrence_inputs(rng, batch, length, state, complex_values, per_step):
    """numpy a, b (complex128 or float64, rounded to float32) and a cotangent for h."""
    a_shape = (batch, length, state) if per_step else (state,)
    magnitude = rng.uniform(0.9, 0.999, a_shape)
    if complex_values:
        a = magnitude * np.exp(1j * rng.uniform(-np.pi, np.pi, a_shape))
        b = rng.standard_normal((batch, length, state)) + 1j * rng.standard_normal(
            (batch, length, state)
        )
        g = rng.standard_normal(b.shape) + 1j * rng.standard_normal(b.shape)
        cast = lambda x: x.astype(np.complex64)
    else:
        a = magnitude * rng.choice([-1.0, 1.0], a_shape)
        b = rng.standard_normal((batch, length, state))
        g = rng.standard_normal(b.shape)
        cast = lambda x: x.astype(np.float32)
    return cast(a), cast(b), cast(g)


def numpy_recurrence(a, b):
    """h_t = a_t h_{t-1} + b_t, a loop over time vectorized over batch and state."""
    h = np.empty(b.shape, dtype=np.complex128 if np.iscomplexobj(b) else np.float64)
    prev = np.zeros(h[:, 0].shape, h.dtype)
    per_step = a.ndim == b.ndim
    for t in range(b.shape[1]):
        prev = (a[:, t] if per_step else a) * prev + b[:, t]
        h[:, t] = prev
    return h


def planes(x):
    """numpy -> list of float32 backend tensors: [re, im] or [x]."""
    if np.iscomplexobj(x):
        return [
            T.to_device(np.ascontiguousarray(x.real)),
            T.to_device(np.ascontiguousarray(x.imag)),
        ]
    return [T.to_device(x)]


def unplanes(out):
    parts = keras.tree.flatten(out)
    arrays = [ops.convert_to_numpy(p).astype(np.float64) for p in parts]
    return arrays[0] + 1j * arrays[1] if len(arrays) == 2 else arrays[0]


def recurrence_paths(n, per_step):
    """{path name: fn(*a_planes, *b_planes) -> h (tensor or (re, im))}."""
    pack = lambda xs: tuple(xs) if n == 2 else xs[0]
    paths = {}

    def impl_fn(name):
        def fn(*args):
            with keras_ssm.config.use_implementation("linear_recurrence", name):
                return keras_ssm.ops.linear_recurrence(pack(args[:n]), pack(args[n:]))

        return fn

    for name in keras_ssm.ops.implementations("linear_recurrence"):
        paths[name] = impl_fn(name)

    def assoc_fn(*args):
        a, b = list(args[:n]), list(args[n:])
        if not per_step:
            a = [ops.broadcast_to(p, b[0].shape) for p in a]
        if n == 2:

            def combine(x, y):  # x: earlier prefix, y: later elements
                ar1, ai1, br1, bi1 = x
                ar2, ai2, br2, bi2 = y
                return (
                    ar2 * ar1 - ai2 * ai1,
                    ar2 * ai1 + ai2 * ar1,
                    ar2 * br1 - ai2 * bi1 + br2,
                    ar2 * bi1 + ai2 * br1 + bi2,
                )

            out = ops.associative_scan(combine, (a[0], a[1], b[0], b[1]), axis=1)
            return out[2], out[3]

        def combine_real(x, y):
            return (y[0] * x[0], y[0] * x[1] + y[1])

        return ops.associative_scan(combine_real, (a[0], b[0]), axis=1)[1]

    paths[ASSOC] = assoc_fn

    def sequential_fn(*args):
        a, b = list(args[:n]), list(args[n:])
        time_major = lambda p: ops.transpose(p, (1, 0, 2))
        b_t = [time_major(p) for p in b]
        a_t = [time_major(p) for p in a] if per_step else None

        def step(h, x):
            if per_step:
                a_now, b_now = x[:n], x[n:]
            else:
                a_now, b_now = a, x
            if n == 2:
                h_new = (
                    a_now[0] * h[0] - a_now[1] * h[1] + b_now[0],
                    a_now[0] * h[1] + a_now[1] * h[0] + b_now[1],
                )
            else:
                h_new = (a_now[0] * h[0] + b_now[0],)
            return h_new, h_new

        init = tuple(ops.zeros_like(p[:, 0]) for p in b)
        xs = tuple(a_t + b_t) if per_step else tuple(b_t)
        _, ys = ops.scan(step, init, xs)
        out = [ops.transpose(y, (1, 0, 2)) for y in ys]
        return tuple(out) if n == 2 else out[0]

    paths[SEQUENTIAL] = sequential_fn
    if keras.config.backend() == "tensorflow":
        paths[TF_SCAN] = tf_scan_fn(n, per_step)
    return paths


def tf_scan_fn(n, per_step):
    """The recurrence as `tf.scan` over time (the path backends.md finds slow to train)."""
    import tensorflow as tf

    def fn(*args):
        a, b = list(args[:n]), list(args[n:])
        time_major = lambda p: tf.transpose(p, (1, 0, 2))
        elems = tuple(time_major(p) for p in (a + b if per_step else b))

        def step(h, x):
            a_now, b_now = (x[:n], x[n:]) if per_step else (a, x)
            if n == 2:
                return (
                    a_now[0] * h[0] - a_now[1] * h[1] + b_now[0],
                    a_now[0] * h[1] + a_now[1] * h[0] + b_now[1],
                )
            return (a_now[0] * h[0] + b_now[0],)

        init = tuple(tf.zeros_like(p[:, 0]) for p in b)
        ys = tf.scan(step, elems, initializer=init)
        out = [time_major(y) for y in ys]
        return tuple(out) if n == 2 else out[0]

    return fn


def recurrence_bytes(batch, length, state, n, per_step):
    """(forward, forward+backward) bytes a memory-bound scan must move.

    Forward reads b and writes h (and reads a when per step); the backward reads dh and
    h, writes db (and reads a, writes da when per step). 4 bytes per plane element:
    complex64 forward = 16 bytes per element, real = 8.
    """
    elements = batch * length * state * 4 * n
    forward = elements * (2 + per_step)
    backward = elements * (3 + 2 * per_step)
    return forward, forward + backward


def recurrence_not_applicable(name, a_in, b_in):
    if name in (ASSOC, SEQUENTIAL, TF_SCAN):
        return None
    return registry.get("linear_recurrence", name).reason_not_applicable(
        a_in, b_in, initial_state=None, reverse=False, return_final_state=False
    )


# --------------------------------------------------------------------------------------
# causal_conv


def conv_inputs(rng, batch, length, channels):
    u = rng.standard_normal((batch, length, channels)).astype(np.float32)
    kernel = (rng.standard_normal((channels, length)) * np.exp(-np.arange(length) / 256.0)).astype(
        np.float32
    )
    g = rng.standard_normal(u.shape).astype(np.float32)
    return u, kernel, g


def numpy_causal_conv(u, kernel):
    """y[b, t, h] = Σ_{s<=t} kernel[h, s] u[b, t-s, h], by float64 FFT (zero-padded)."""
    length = u.shape[1]
    n = 1 << (length + kernel.shape[1] - 1).bit_length()
    uf = np.fft.rfft(u.astype(np.float64), n, axis=1)
    kf = np.fft.rfft(kernel.T.astype(np.float64), n, axis=0)
    return np.fft.irfft(uf * kf[None], n, axis=1)[:, :length]


def conv_paths():
    paths = {}

    def impl_fn(name):
        def fn(u, kernel):
            with keras_ssm.config.use_implementation("causal_conv", name):
                return keras_ssm.ops.causal_conv(u, kernel)

        return fn

    for name in keras_ssm.ops.implementations("causal_conv"):
        paths[name] = impl_fn(name)

    def direct_fn(u, kernel):
        k_len = kernel.shape[1]
        padded = ops.pad(u, ((0, 0), (k_len - 1, 0), (0, 0)))
        # depthwise_conv correlates: y[t] = Σ_j w[j] x[t + j]; flip for a convolution.
        w = ops.expand_dims(ops.transpose(ops.flip(kernel, axis=1)), -1)  # (K, H, 1)
        return ops.depthwise_conv(padded, w, strides=1, padding="valid")

    paths[DIRECT_CONV] = direct_fn
    return paths


def conv_bytes(batch, length, channels, k_len):
    """Forward reads u and the kernel, writes y; backward reads dy, u, kernel, writes du, dk."""
    signal, taps = batch * length * channels * 4, channels * k_len * 4
    forward = 2 * signal + taps
    return forward, forward + 3 * signal + 2 * taps


def conv_not_applicable(name, u, kernel):
    if name == DIRECT_CONV:
        return None
    return registry.get("causal_conv", name).reason_not_applicable(u, kernel)


# --------------------------------------------------------------------------------------
# Running


class Results:
    """Rows per op, rewritten to markdown after every measurement."""

    def __init__(self, args, bandwidth, path_md):
        self.args = args
        self.bandwidth = bandwidth
        self.path_md = path_md
        self.rows = {}  # op -> list of dict
        self.notes = {}  # op -> list of str
        self.automatic = {}  # (op, L) -> the implementation `resolve` picks

    def add(self, op, row):
        self.rows.setdefault(op, []).append(row)
        self.write()

    def note(self, op, text):
        notes = self.notes.setdefault(op, [])
        if text not in notes:
            notes.append(text)
            self.write()

    def baseline(self, op, length, key):
        for row in self.rows.get(op, []):
            if row["path"] == ASSOC and row["L"] == length:
                return row.get(key)
        return None

    def write(self):
        a = self.args
        bw = self.bandwidth
        lines = [
            f"# Ops benchmark: {T.backend()} on {T.device_description()}",
            "",
            f"- Date: {datetime.date.today().isoformat()}; {T.library_versions()}; "
            f"keras-ssm {keras_ssm.__version__}.",
            "- Memory bandwidth (z = x + y into a preallocated z, 12 bytes per element, best of 5; "
            "the floor uses `best`): "
            + ", ".join(f"{k} {v / 1e9:.1f} GB/s" for k, v in bw.items())
            + ".",
            f"- Sizes: batch {a.batch}; linear_recurrence state {a.state} "
            f"{'real' if a.real else 'complex'}, "
            f"a {'per step' if a.per_step else 'time-invariant'}; "
            f"causal_conv {a.channels} channels, kernel length = L.",
            f"- Median of {a.repeats} calls after {a.warmup} warm-up call(s) "
            "(compilation excluded), "
            "all paths timed in turns at each L (rounds of forward calls, then of forward+backward "
            "calls; each timed call follows an untimed call of the same path, so no path pays for "
            f"the memory another one left); a path whose call exceeds {a.budget:g} s is timed once "
            "and not run at larger L.",
            "- `x floor` = time / (bytes read + written / bandwidth): linear_recurrence moves "
            "read b + write h forward, + read dh, h and write db backward (+ a, da when per step), "
            "4 bytes per float; causal_conv read u, kernel + write y forward, + read dy, u, kernel "
            "and write du, dk backward.",
            f"- `x {ASSOC}` = time / time of {ASSOC} at the same L (below 1: faster).",
            "- `(auto)` marks the implementation chosen automatically for these inputs "
            "(`keras_ssm.ops.resolve`).",
            "- `rel err` = max |h - h_numpy| / max |h_numpy| of the forward output (float64 numpy "
            f"loop or FFT); WRONG above {FAILURE_TOLERANCE:g}.",
            "- `mode`: jit (jax.jit), xla (tf.function(jit_compile=True)), graph (tf.function, "
            "the path fails under XLA: see the notes), eager (torch); "
            "'forward / forward+backward' when they differ.",
            "",
        ]
        for op, rows in self.rows.items():
            has_assoc = any(r["path"] == ASSOC for r in rows)
            headers = [
                "path",
                "mode",
                "L",
                "fwd ms",
                "fwd+bwd ms",
                "x floor (fwd)",
                "x floor (fwd+bwd)",
            ]
            if has_assoc:
                headers += [f"x {ASSOC} (fwd)", f"x {ASSOC} (fwd+bwd)"]
            headers.append("rel err")
            paths = list(dict.fromkeys(r["path"] for r in rows))
            paths.sort(key=lambda p: (p in BASELINES, p != "reference", p))
            ratio = lambda x, y: None if (x is None or not y) else x / y
            table = []
            for r in sorted(rows, key=lambda r: (paths.index(r["path"]), r["L"])):
                auto = self.automatic.get((op, r["L"])) == r["path"]
                cells = [
                    f"`{r['path']}`" + (" (auto)" if auto else ""),
                    r.get("mode", "—"),
                    r["L"],
                    r.get("fwd_note") or T.fmt(_ms(r.get("fwd"))),
                    r.get("fwdbwd_note") or T.fmt(_ms(r.get("fwdbwd"))),
                    T.fmt(ratio(r.get("fwd"), r["floor_fwd"])),
                    T.fmt(ratio(r.get("fwdbwd"), r["floor_fwdbwd"])),
                ]
                if has_assoc:
                    cells += [
                        T.fmt(ratio(r.get("fwd"), self.baseline(op, r["L"], "fwd"))),
                        T.fmt(ratio(r.get("fwdbwd"), self.baseline(op, r["L"], "fwdbwd"))),
                    ]
                cells.append(r.get("err", "—"))
                table.append(cells)
            lines += [f"## {op}", "", T.markdown_table(headers, table), ""]
            for text in self.notes.get(op, []):
                lines.append(f"- {text}")
            lines.append("")
        with open(self.path_md, "w") as f:
            f.write("\n".join(lines))


def _ms(seconds):
    return None if seconds is None else seconds * 1e3


def prepare_path(fn, inputs, cotangent, args, check):
    """Compile and warm up forward and forward+backward of one path at one length.

    Returns a dict: mode, err (str), "calls" {"fwd": (fn, args), "fwdbwd": (fn, args)}
    for the timing, *_note on failure, and "notes" (list of str: errors, fallbacks from
    XLA to graph).
    """
    row = {"notes": [], "calls": {}}
    fallbacks = []
    try:
        fwd, mode = T.compile_and_warm(
            fn, inputs, warmup=args.warmup, torch_compile=args.torch_compile, fallbacks=fallbacks
        )
        row["mode"] = mode
        row["err"] = check(fwd(*inputs))
        row["calls"]["fwd"] = (fwd, inputs)
    except Exception as e:  # noqa: BLE001 - record and go on
        row["fwd_note"] = row["fwdbwd_note"] = "failed"
        row["notes"].append(f"forward failed: {T.short_error(e)}")
        return row
    finally:
        row["notes"] += [f"forward fell back from {f}" for f in fallbacks]
    if args.no_backward:
        row["fwdbwd_note"] = "—"
        return row
    fallbacks = []
    try:
        vjp_inputs = tuple(inputs) + (cotangent,)
        bwd, mode_b = T.compile_and_warm(
            T.vjp_fn(fn),
            vjp_inputs,
            warmup=args.warmup,
            torch_compile=args.torch_compile,
            fallbacks=fallbacks,
        )
        if mode_b != row["mode"]:
            row["mode"] = f"{row['mode']} / {mode_b}"
        row["calls"]["fwdbwd"] = (bwd, vjp_inputs)
    except Exception as e:  # noqa: BLE001
        row["fwdbwd_note"] = "failed"
        row["notes"].append(f"forward+backward failed: {T.short_error(e)}")
    finally:
        row["notes"] += [f"forward+backward fell back from {f}" for f in fallbacks]
    return row


def time_rows(rows, args):
    """Median seconds of every prepared row's calls, all paths timed in turns.

    Forward calls of all paths are interleaved (A B C A B C ...), then forward+backward
    calls, so that the noise of a shared machine falls evenly on every path.
    """
    for key in ("fwd", "fwdbwd"):
        calls = {i: row["calls"][key] for i, row in enumerate(rows) if key in row["calls"]}
        medians = T.interleaved_medians(
            calls,
            repeats=args.repeats,
            budget_seconds=args.budget,
            max_repeats=args.repeats,
            warm_each=True,
        )
        for i, (median, _, _) in medians.items():
            rows[i][key] = median


def rel_err_check(expected):
    scale = max(float(np.max(np.abs(expected))), 1e-30)

    def check(out):
        got = unplanes(out)
        err = float(np.max(np.abs(got - expected))) / scale
        return f"{err:.1e}" + (" WRONG" if not err <= FAILURE_TOLERANCE else "")

    return check


def run_op(op, args, results, rng):
    over_budget = {}  # path -> (direction, L) after which it is skipped
    for length in args.lengths:
        print(f"[{op}] L = {length}", flush=True)
        if op == "linear_recurrence":
            n = 1 if args.real else 2
            a, b, g = recurrence_inputs(
                rng, args.batch, length, args.state, not args.real, args.per_step
            )
            expected = numpy_recurrence(a, b)
            a_in, b_in, g_in = planes(a), planes(b), planes(g)
            inputs = tuple(a_in + b_in)
            cotangent = tuple(g_in) if n == 2 else g_in[0]
            paths = recurrence_paths(n, args.per_step)
            floor_f, floor_b = recurrence_bytes(args.batch, length, args.state, n, args.per_step)
            pack = lambda xs: tuple(xs) if n == 2 else xs[0]
            reason_of = lambda name: recurrence_not_applicable(name, pack(a_in), pack(b_in))
            results.automatic[(op, length)] = keras_ssm.ops.resolve(
                "linear_recurrence", pack(a_in), pack(b_in)
            )
        else:
            u, kernel, g = conv_inputs(rng, args.batch, length, args.channels)
            expected = numpy_causal_conv(u, kernel)
            inputs = (T.to_device(u), T.to_device(kernel))
            cotangent = T.to_device(g)
            paths = conv_paths()
            floor_f, floor_b = conv_bytes(args.batch, length, args.channels, length)
            reason_of = lambda name: conv_not_applicable(name, *inputs)
            results.automatic[(op, length)] = keras_ssm.ops.resolve("causal_conv", *inputs)
        # The baseline first, so that ratios exist when the other rows are written.
        order = sorted(paths, key=lambda p: (p != ASSOC, p))
        prepared = []
        for name in order:
            if args.paths and not any(s in name for s in args.paths):
                continue
            row = {
                "path": name,
                "L": length,
                "floor_fwd": T.floor_seconds(floor_f, results.bandwidth["best"]),
                "floor_fwdbwd": T.floor_seconds(floor_b, results.bandwidth["best"]),
            }
            reason = reason_of(name)
            if reason is not None:
                row.update(fwd_note="n/a", fwdbwd_note="n/a")
                if length == args.lengths[0]:
                    results.note(op, f"`{name}` does not apply here: {reason}.")
                results.add(op, row)
                continue
            if name in over_budget:
                continue
            print(f"  compiling {name} ...", flush=True)
            row.update(prepare_path(paths[name], inputs, cotangent, args, rel_err_check(expected)))
            prepared.append(row)
        time_rows(prepared, args)
        for row in prepared:
            name = row["path"]
            del row["calls"]
            print(
                f"  {name}: fwd {T.fmt(_ms(row.get('fwd')))} ms, "
                f"fwd+bwd {T.fmt(_ms(row.get('fwdbwd')))} ms,"
                f" err {row.get('err', '—')}",
                flush=True,
            )
            for text in row.pop("notes"):
                print(f"    {text}", flush=True)
                results.note(op, f"`{name}`: {text}")
            slowest = max(row.get("fwd") or 0.0, row.get("fwdbwd") or 0.0)
            if slowest > args.budget:
                over_budget[name] = length
                results.note(
                    op,
                    f"`{name}` took {slowest:.1f} s per call at L={length}; "
                    "not run at larger L (--budget).",
                )
            results.add(op, row)
    if op == "linear_recurrence" and T.backend() == "torch":
        results.note(
            op,
            "keras.ops.associative_scan on torch silently drops the imaginary part of "
            "complex-dtype tensors (a bare torch.zeros buffer in its interleave step); this "
            "baseline therefore scans float (real, imag) planes, which it handles correctly.",
        )
    if op == "linear_recurrence" and T.backend() == "tensorflow":
        results.note(
            op,
            "keras.ops.associative_scan fails to compile under XLA on TensorFlow "
            "(mode 'graph' = plain tf.function); a mode 'xla / graph' is XLA forward and "
            "graph forward+backward.",
        )


def plot(results, path_png):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    op_names = list(results.rows)
    fig, axes = plt.subplots(len(op_names), 2, figsize=(12, 4.5 * len(op_names)), squeeze=False)
    for i, op in enumerate(op_names):
        rows = results.rows[op]
        for j, (key, title) in enumerate((("fwd", "forward"), ("fwdbwd", "forward + backward"))):
            ax = axes[i][j]
            for name in dict.fromkeys(r["path"] for r in rows):
                pts = [(r["L"], r[key] * 1e3) for r in rows if r["path"] == name and r.get(key)]
                if pts:
                    xs, ys = zip(*pts)
                    style = "--" if name in BASELINES else "-"
                    ax.plot(xs, ys, style, marker="o", label=name)
            floor_key = "floor_" + key
            floor = sorted({(r["L"], r[floor_key] * 1e3) for r in rows})
            if floor:
                xs, ys = zip(*floor)
                ax.plot(xs, ys, ":", color="black", label="memory floor")
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xlabel("sequence length L")
            ax.set_ylabel("ms")
            ax.set_title(f"{op}, {title}")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=8)
    fig.suptitle(f"keras-ssm ops, {T.backend()} on {T.device_description()}")
    fig.tight_layout()
    fig.savefig(path_png, dpi=120)
    plt.close(fig)


def parse_args(argv=None):
    class Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
        pass

    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=Formatter
    )
    parser.add_argument(
        "--ops",
        nargs="+",
        default=["linear_recurrence", "causal_conv"],
        choices=["linear_recurrence", "causal_conv"],
        help="ops to time",
    )
    parser.add_argument(
        "--lengths",
        nargs="+",
        type=int,
        default=None,
        help="sequence lengths L (default 1024 2048 ... 65536; --quick: 1024 4096)",
    )
    parser.add_argument("--batch", type=int, default=8, help="batch size B")
    parser.add_argument(
        "--state", type=int, default=64, help="recurrence state size (complex unless --real)"
    )
    parser.add_argument("--channels", type=int, default=64, help="causal_conv channels")
    parser.add_argument("--real", action="store_true", help="real recurrence instead of complex")
    parser.add_argument(
        "--per-step", action="store_true", help="a per step (batch, L, state), not time-invariant"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="timed calls, the median is reported (default 5; --quick: 3)",
    )
    parser.add_argument("--warmup", type=int, default=1, help="untimed calls after compilation")
    parser.add_argument(
        "--budget",
        type=float,
        default=None,
        help="seconds per call above which a path is not run at larger L (default 10; --quick: 2)",
    )
    parser.add_argument(
        "--paths",
        nargs="*",
        default=None,
        help="only paths whose name contains one of these strings",
    )
    parser.add_argument("--no-backward", action="store_true", help="forward only")
    parser.add_argument(
        "--torch-compile", action="store_true", help="try torch.compile first (torch)"
    )
    parser.add_argument(
        "--bandwidth-mb",
        type=int,
        default=None,
        help="MiB per array in the bandwidth test (default 256; --quick: 64)",
    )
    default_output = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
    parser.add_argument(
        "--output", default=default_output, help="folder of the .md table and .png plot"
    )
    parser.add_argument("--no-plot", action="store_true", help="no PNG")
    parser.add_argument("--seed", type=int, default=0, help="numpy seed of the inputs")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: L = 1024 and 4096, 3 repeats, 2 s budget (explicit flags win)",
    )
    args = parser.parse_args(argv)
    defaults = dict(
        lengths=[1024, 2048, 4096, 8192, 16384, 32768, 65536],
        repeats=5,
        budget=10.0,
        bandwidth_mb=256,
    )
    if args.quick:
        defaults.update(lengths=[1024, 4096], repeats=3, budget=2.0, bandwidth_mb=64)
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.lengths = sorted(set(args.lengths))
    return args


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.output, exist_ok=True)
    stem = f"ops-{T.backend()}-{T.device_slug()}"
    path_md = os.path.join(args.output, stem + ".md")
    path_png = os.path.join(args.output, stem + ".png")
    print(f"{T.backend()} on {T.device_description()} ({T.library_versions()})", flush=True)
    bandwidth = T.measure_bandwidth(megabytes=args.bandwidth_mb)
    print(
        "bandwidth: " + ", ".join(f"{k} {v / 1e9:.1f} GB/s" for k, v in bandwidth.items()),
        flush=True,
    )
    results = Results(args, bandwidth, path_md)
    rng = np.random.default_rng(args.seed)
    for op in args.ops:
        run_op(op, args, results, rng)
    if not args.no_plot:
        plot(results, path_png)
        print(f"wrote {path_md} and {path_png}")
    else:
        print(f"wrote {path_md}")


if __name__ == "__main__":
    sys.exit(main())
