"""Benchmark of the DSS, DLR and S5 layers: cost per element, peak memory, peers.

For the current backend (``KERAS_BACKEND``), three sections (``--sections``):

- ``sweep``: DSS and DLR, forward and forward+backward, in mode="convolution" and
  mode="recurrence", for L = 1K .. 64K. Reports the median time, the cost per element
  time / (B·L·H) (flat in L is ideal) and the peak memory of a warm call, measured in a
  fresh subprocess per point (peak RSS during the call minus the RSS before the first
  call, i.e. with the layer and its inputs already in memory).
- ``auto``: convolution against recurrence over a grid of (layer, B, L, H, N), to see
  where mode="auto" should pick the recurrence: the ratio recurrence / convolution
  (below 1: the recurrence is faster).
- ``s5``: S5 against a peer implementation at the same sizes, with the same weights
  (outputs checked to agree): on torch the ``s5-pytorch`` package's S5 (both eager);
  on jax a plain ``jax.lax.associative_scan`` S5 written here from the paper's equations
  (both under jax.jit; our layer through ``layer.stateless_call``). Reports ours / peer
  and the implementation our layer used (``keras_ssm.ops.resolve``).

How things run: jax under jax.jit; tensorflow under tf.function(jit_compile=True)
(plain tf.function if XLA fails); torch eager, forward under torch.no_grad().
"Forward+backward" is the gradient of sum(y·g) (g a fixed random cotangent) with
respect to every trainable weight and the input: what a training step of a layer
inside a deep model computes. Compilation and warm-up are excluded; candidates are
timed in turns (A B A B ...) in one process and the median is reported, with the load
average, because the machine may be shared. No timing here is asserted anywhere.

Writes ``benchmarks/results/layers-<backend>-<device>.md`` and ``.png``.

Usage:

```
KERAS_BACKEND=jax python benchmarks/layers.py --quick
KERAS_BACKEND=torch python benchmarks/layers.py --sections s5
KERAS_BACKEND=tensorflow python benchmarks/layers.py --sections sweep --lengths 1024 65536
```
"""

import argparse
import datetime
import json
import math
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

try:  # python -m benchmarks.layers
    from benchmarks import _timing as T  # noqa: E402
except ImportError:  # python benchmarks/layers.py
    import _timing as T  # noqa: E402

import keras_ssm  # noqa: E402

SECTIONS = ("sweep", "auto", "s5")
LAYER_KINDS = ("DSS", "DLR")
MODES = ("convolution", "recurrence")
DIRECTIONS = ("fwd", "fwdbwd")
DIRECTION_NAMES = {"fwd": "forward", "fwdbwd": "forward+backward"}
MIB = float(1 << 20)
AGREEMENT_TOLERANCE = 1e-3  # relative difference above which two paths are flagged


# --------------------------------------------------------------------------------------
# Layers and the functions that are timed


def make_layer(kind, state_size, mode="auto", seed=0):
    """A DSS (variant "exp") or DLR layer, not built."""
    classes = {"DSS": keras_ssm.layers.DSS, "DLR": keras_ssm.layers.DLR}
    return classes[kind](state_size=state_size, mode=mode, seed=seed)


def random_inputs(rng, shape):
    """(x, g): the input and the cotangent of the output, float32 backend tensors."""
    x = rng.standard_normal(shape).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    return T.to_device(x), T.to_device(g)


def layer_functions(layer, x, g):
    """Forward and forward+backward of a built Keras layer, the way its backend runs them.

    Returns:
        ((fwd, fwd_args), (fwdbwd, fwdbwd_args)); fwdbwd returns the gradients of
        sum(layer(x) * g) with respect to the trainable weights and x.
    """
    name = T.backend()
    if name == "jax":
        import jax
        import jax.numpy as jnp

        trainable = [v.value for v in layer.trainable_variables]
        non_trainable = [v.value for v in layer.non_trainable_variables]

        def fwd(trainable, non_trainable, x):
            return layer.stateless_call(trainable, non_trainable, x)[0]

        def loss(trainable, non_trainable, x, g):
            return jnp.sum(fwd(trainable, non_trainable, x) * g)

        fwdbwd = jax.grad(loss, argnums=(0, 2))
        return (fwd, (trainable, non_trainable, x)), (fwdbwd, (trainable, non_trainable, x, g))
    if name == "tensorflow":
        import tensorflow as tf

        weights = list(layer.trainable_weights)

        def fwd(x):
            return layer(x)

        def fwdbwd(x, g):
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = tf.reduce_sum(layer(x) * g)
            return tape.gradient(loss, [x] + weights)

        return (fwd, (x,)), (fwdbwd, (x, g))
    if name == "torch":
        import torch

        params = [v.value for v in layer.trainable_variables]

        def fwd(x):
            with torch.no_grad():
                return layer(x)

        def fwdbwd(x, g):
            x = x.detach().requires_grad_(True)
            return torch.autograd.grad((layer(x) * g).sum(), params + [x])

        return (fwd, (x,)), (fwdbwd, (x, g))
    raise NotImplementedError(f"No benchmark for the {name} backend.")


def to_numpy(x):
    return np.asarray(ops.convert_to_numpy(x), dtype=np.float64)


def rel_diff(got, expected):
    got, expected = to_numpy(got), to_numpy(expected)
    return float(np.max(np.abs(got - expected)) / max(float(np.max(np.abs(expected))), 1e-30))


def fmt_rel(err):
    if err is None:
        return "—"
    return f"{err:.1e}" + (" MISMATCH" if not err <= AGREEMENT_TOLERANCE else "")


# --------------------------------------------------------------------------------------
# Which implementations run, and how much memory the recurrence needs


def _zeros_pair(shape):
    return (ops.zeros(shape, "float32"), ops.zeros(shape, "float32"))


def recurrence_implementation(batch, length, state_shape):
    """Name of the linear_recurrence implementation for these shapes.

    Resolved on zero tensors of the real shape when small, else of length 1024
    (the registry chooses by device and dtype, not by length).
    """
    elements = batch * length * math.prod(state_shape)
    probe = length if elements * 8 <= 64 * MIB else min(length, 1024)
    a = _zeros_pair(state_shape)
    b = _zeros_pair((batch, probe) + tuple(state_shape))
    return keras_ssm.ops.resolve("linear_recurrence", a, b)


def convolution_implementations(batch, length, features, state_size, shared_lambda):
    """Names of the causal_conv and vandermonde_kernel implementations for these shapes."""
    u = ops.zeros((batch, length, features), "float32")
    kernel = ops.zeros((features, length), "float32")
    lam_shape = (state_size,) if shared_lambda else (features, state_size)
    conv = keras_ssm.ops.resolve("causal_conv", u, kernel)
    vander = keras_ssm.ops.resolve(
        "vandermonde_kernel", _zeros_pair(lam_shape), _zeros_pair((features, state_size)), length)
    return conv, vander


def recurrence_memory_estimate(batch, length, features, state_size, implementation):
    """Rough bytes a channel-layout recurrence needs for forward+backward.

    The state x is (B, L, H, N) complex64 = 8 bytes per element; a log-depth scan
    (the reference) keeps about 2 log2(L) + 4 such tensors for its gradient, the
    chunked torch scan about 8 (measured 30-35 and 5 on this machine).
    """
    state = batch * length * features * state_size * 8
    if implementation == "reference":
        return state * (3 * math.ceil(math.log2(max(length, 2))) + 6)
    return state * 8


# --------------------------------------------------------------------------------------
# Report


class Report:
    """Everything measured, rewritten to markdown after every row."""

    ROWS = {"sweep": "sweep", "auto": "grid", "s5": "s5"}  # section -> attribute

    def __init__(self, args, path_md):
        self.args = args
        self.path_md = path_md
        self.path_json = os.path.splitext(path_md)[0] + ".json"
        self.sweep = []  # dicts
        self.grid = []
        self.s5 = []
        self.notes = {"sweep": [], "auto": [], "s5": []}
        self.loads = {}  # section -> [start, end]
        self.implementations = {}  # section -> str
        self.config = {}  # section -> sizes, repeats, date, versions

    def start(self, section, **sizes):
        """Record the settings of a section that starts now (its rows are replaced)."""
        a = self.args
        self.config[section] = dict(sizes, repeats=a.s5_repeats if section == "s5" else a.repeats,
                                    min_seconds=a.min_seconds, threads=a.threads_text,
                                    warmup=a.warmup, date=datetime.date.today().isoformat(),
                                    versions=T.library_versions())
        setattr(self, self.ROWS[section], [])
        self.notes[section] = []
        self.loads[section] = [T.load_average()]
        self.implementations.pop(section, None)
        self.write()

    def keep_previous(self, sections_run):
        """Keep the sections of an earlier run (the .json next to the report) that this
        run does not redo, so that sections can be rerun one at a time."""
        if not os.path.exists(self.path_json):
            return
        with open(self.path_json) as f:
            old = json.load(f)
        for section in SECTIONS:
            if section in sections_run or section not in old.get("config", {}):
                continue
            setattr(self, self.ROWS[section], old["rows"][section])
            for key in ("notes", "loads", "implementations", "config"):
                if section in old.get(key, {}):
                    getattr(self, key)[section] = old[key][section]

    def note(self, section, text):
        if text not in self.notes[section]:
            self.notes[section].append(text)
        self.write()

    def write(self):
        lines = [
            f"# Layers benchmark: {T.backend()} on {T.device_description()}",
            "",
            f"- keras-ssm {keras_ssm.__version__}; the date, library versions and number of "
            "timed calls of each section are given in the section.",
            "- Medians of calls timed in turns (candidates interleaved) after warm-up; "
            "compilation excluded. jax: jax.jit; tensorflow: "
            "tf.function(jit_compile=True) (`graph` = plain tf.function, XLA failed); torch: "
            "eager, forward under torch.no_grad().",
            "- forward+backward = gradients of sum(y·g) w.r.t. every trainable weight and the "
            "input. `ns/elem` = time / (B·L·H) in nanoseconds (flat in L is ideal).",
            "- Load average (1, 5, 15 min) is given per section: this machine was shared, "
            "so absolute times are noisy; ratios between interleaved candidates are the "
            "reliable part.",
            "",
        ]
        if self.sweep or "sweep" in self.loads:
            lines += self._sweep_lines()
        if self.grid or "auto" in self.loads:
            lines += self._grid_lines()
        if self.s5 or "s5" in self.loads:
            lines += self._s5_lines()
        with open(self.path_md, "w") as f:
            f.write("\n".join(lines) + "\n")
        with open(self.path_json, "w") as f:
            json.dump({"config": self.config, "rows": {s: getattr(self, a) for s, a in self.ROWS.items()},
                       "notes": self.notes, "loads": self.loads,
                       "implementations": self.implementations}, f, indent=1)

    def _config_line(self, section):
        c = self.config.get(section)
        if not c:
            return []
        return [f"- Run {c['date']} ({c['versions']}); median of at least {c['repeats']} timed "
                f"calls of each candidate, more until they add up to {c.get('min_seconds', 0):g} s "
                f"(at most 200), after {c['warmup']} warm-up call(s); CPU threads: "
                f"{c.get('threads', 'backend default')}."]

    def _load_line(self, section):
        loads = self.loads.get(section, [])
        if not loads:
            return []
        text = f"- Load average at start: {loads[0]}"
        if len(loads) > 1:
            text += f"; at end: {loads[-1]}"
        return [text + "."]

    def _section_notes(self, section):
        return [f"- {t}" for t in self.notes[section]]

    def _sweep_lines(self):
        c = self.config.get("sweep", {})
        lines = [
            "## DSS and DLR: time per element and peak memory",
            "",
        ] + self._config_line("sweep") + [
            f"- B = {c.get('B')}, H = {c.get('H')}, N = {c.get('N')}, DSS variant 'exp'; "
            f"implementations: {self.implementations.get('sweep', '—')}.",
            "- `peak MiB`: peak RSS during one warm call minus the RSS before the first call "
            "(layer and inputs already in memory), in a fresh subprocess per point "
            "(/proc/self/status VmHWM after resetting it through /proc/self/clear_refs).",
            "- `conv vs rec`: max |y_conv − y_rec| / max |y_conv| of the forward outputs.",
        ] + self._load_line("sweep") + [""]
        headers = ["layer", "mode", "L", "compiled", "fwd ms", "fwd ns/elem", "fwd+bwd ms",
                   "fwd+bwd ns/elem", "fwd peak MiB", "fwd+bwd peak MiB", "conv vs rec", "load 1 min"]
        rows = []
        for r in sorted(self.sweep, key=lambda r: (r["layer"], r["mode"], r["L"])):
            rows.append([
                r["layer"], r["mode"], r["L"], r.get("compiled", "—"),
                r.get("fwd_note") or T.fmt(_ms(r.get("fwd"))),
                T.fmt(_per_element(r, "fwd")),
                r.get("fwdbwd_note") or T.fmt(_ms(r.get("fwdbwd"))),
                T.fmt(_per_element(r, "fwdbwd")),
                T.fmt(_mib(r.get("mem_fwd"))), T.fmt(_mib(r.get("mem_fwdbwd"))),
                r.get("agree", "—"), r.get("load", "—"),
            ])
        lines += [T.markdown_table(headers, rows), ""] + self._section_notes("sweep") + [""]
        return lines

    def _grid_lines(self):
        lines = [
            "## mode='auto' for DSS and DLR: convolution vs recurrence",
            "",
            "- `rec / conv` = time of mode='recurrence' / time of mode='convolution' "
            "(below 1: the recurrence is faster). Both timed in turns in this process.",
            f"- Implementations: {self.implementations.get('auto', '—')}.",
        ] + self._config_line("auto") + self._load_line("auto") + [""]
        headers = ["layer", "B", "L", "H", "N", "conv fwd ms", "rec fwd ms", "rec / conv fwd",
                   "conv fwd+bwd ms", "rec fwd+bwd ms", "rec / conv fwd+bwd", "faster (fwd+bwd)"]
        rows = []
        for r in sorted(self.grid, key=lambda r: (r["layer"], r["B"], r["L"], r["H"], r["N"])):
            ratio = {d: _ratio(r.get(f"recurrence_{d}"), r.get(f"convolution_{d}")) for d in DIRECTIONS}
            faster = "—"
            if ratio["fwdbwd"] is not None:
                faster = "recurrence" if ratio["fwdbwd"] < 1 else "convolution"
            elif r.get("rec_note"):
                faster = "convolution"
            rows.append([
                r["layer"], r["B"], r["L"], r["H"], r["N"],
                T.fmt(_ms(r.get("convolution_fwd"))),
                r.get("rec_note") or T.fmt(_ms(r.get("recurrence_fwd"))),
                T.fmt(ratio["fwd"]),
                T.fmt(_ms(r.get("convolution_fwdbwd"))),
                r.get("rec_note") or T.fmt(_ms(r.get("recurrence_fwdbwd"))),
                T.fmt(ratio["fwdbwd"]), faster,
            ])
        lines += [T.markdown_table(headers, rows), ""] + self._section_notes("auto") + [""]
        return lines

    def _s5_lines(self):
        c = self.config.get("s5", {})
        lines = [
            "## S5 against a peer implementation",
            "",
        ] + self._config_line("s5") + [
            f"- B = {c.get('B')}, L = {c.get('L')}, H = {c.get('H')}, P = {c.get('P')} "
            "complex states propagated, float32 inputs (complex64 inside), zero-order hold, "
            "unidirectional; both sides hold the same weights and their outputs are compared "
            "(`vs ours`).",
            "- ours: keras_ssm.layers.S5(state_size=2P, blocks=1, conj_sym=True) (P stored "
            "states, y = 2 Re(C̃x) + Du). torch peer: s5-pytorch's S5(H, state_width=P) "
            "(P states, no conjugate symmetry, C̃ scaled by 2 to give the same outputs), "
            "eager like ours. jax peer: this file's `s5_peer_jax`, the paper's equations "
            "(ZOH, B̄u, jax.lax.associative_scan with (a_i, b_i)•(a_j, b_j) = "
            "(a_j a_i, a_j b_i + b_j) over complex64, y = 2 Re(C̃x) + Du, vmapped over the "
            "batch) under jax.jit, ours via layer.stateless_call under jax.jit.",
            f"- Our implementations: {self.implementations.get('s5', '—')}.",
        ] + self._load_line("s5") + [""]
        headers = ["path", "compiled", "fwd ms", "fwd+bwd ms", "ours / peer fwd", "ours / peer fwd+bwd",
                   "vs ours"]
        rows = []
        ours = next((r for r in self.s5 if r["path"].startswith("ours")), None)
        for r in self.s5:
            is_peer = not r["path"].startswith("ours")
            rows.append([
                r["path"], r.get("compiled", "—"),
                r.get("fwd_note") or T.fmt(_ms(r.get("fwd"))),
                r.get("fwdbwd_note") or T.fmt(_ms(r.get("fwdbwd"))),
                T.fmt(_ratio(ours.get("fwd"), r.get("fwd"))) if (is_peer and ours) else "—",
                T.fmt(_ratio(ours.get("fwdbwd"), r.get("fwdbwd"))) if (is_peer and ours) else "—",
                r.get("agree", "—"),
            ])
        lines += [T.markdown_table(headers, rows), ""] + self._section_notes("s5") + [""]
        return lines


def _ms(seconds):
    return None if seconds is None else seconds * 1e3


def _mib(nbytes):
    return None if nbytes is None else nbytes / MIB


def _ratio(x, y):
    return None if (x is None or not y) else x / y


def _per_element(row, key):
    t = row.get(key)
    if t is None:
        return None
    return t * 1e9 / (row["B"] * row["L"] * row["H"])


# --------------------------------------------------------------------------------------
# Compiling and timing a set of candidates in turns


def prepare(calls, args, report, section, label):
    """Compile and warm up each (fn, args); return {key: (compiled, args)} and modes.

    Failures are noted and left out.
    """
    ready, modes, outputs = {}, {}, {}
    for key, (fn, fargs) in calls.items():
        fallbacks = []
        try:
            compiled, mode = T.compile_and_warm(fn, fargs, warmup=args.warmup, fallbacks=fallbacks)
        except Exception as e:  # noqa: BLE001 - record and go on
            report.note(section, f"{label} {key}: failed: {T.short_error(e)}")
            continue
        for text in fallbacks:
            report.note(section, f"{label} {key}: fell back from {text}")
        ready[key] = (compiled, fargs)
        modes[key] = mode
    return ready, modes


# --------------------------------------------------------------------------------------
# Section 1: the sweep over L


def run_sweep(args, report, rng):
    b, h, n = args.batch, args.features, args.state
    report.start("sweep", B=b, H=h, N=n, lengths=args.lengths)
    stopped = {}  # (kind, mode, direction) -> L after which it is not run
    impl_text = []
    for length in args.lengths:
        print(f"[sweep] L = {length} (load {T.load_average()})", flush=True)
        x, g = random_inputs(rng, (b, length, h))
        calls, rows, layers_out = {}, {}, {}
        for kind in args.layers:
            conv_impl, vander_impl = convolution_implementations(b, length, h, n, kind == "DLR")
            rec_impl = recurrence_implementation(b, length, (h, n))
            text = (f"{kind}: causal_conv `{conv_impl}`, vandermonde_kernel `{vander_impl}`, "
                    f"linear_recurrence `{rec_impl}`")
            if text not in impl_text:
                impl_text.append(text)
                report.implementations["sweep"] = "; ".join(impl_text)
            for mode in MODES:
                if all((kind, mode, d) in stopped for d in DIRECTIONS):
                    continue
                row = {"layer": kind, "mode": mode, "L": length, "B": b, "H": h}
                rows[(kind, mode)] = row
                if mode == "recurrence":
                    estimate = recurrence_memory_estimate(b, length, h, n, rec_impl)
                    if estimate > args.max_memory_gb * 1e9:
                        row["fwd_note"] = row["fwdbwd_note"] = "skipped"
                        report.note("sweep", f"{kind} recurrence skipped from L={length}: its "
                                             f"forward+backward would need about {estimate / 1e9:.1f} GB "
                                             f"(state B·L·H·N complex64, `{rec_impl}` scan) > "
                                             f"--max-memory-gb {args.max_memory_gb:g}.")
                        for d in DIRECTIONS:
                            stopped[(kind, mode, d)] = length
                        continue
                layer = make_layer(kind, n, mode, seed=args.seed)
                layer.build((b, length, h))
                layers_out[(kind, mode)] = layer
                for d, pair in zip(DIRECTIONS, layer_functions(layer, x, g)):
                    if (kind, mode, d) in stopped:
                        row[d + "_note"] = "over budget"
                        continue
                    calls[(kind, mode, d)] = pair
        ready, modes = prepare(calls, args, report, "sweep", f"L={length}")
        for key in calls:
            if key not in ready:
                rows[key[:2]][key[2] + "_note"] = "failed"
        medians = T.interleaved_medians(ready, repeats=args.repeats, budget_seconds=args.budget,
                                        min_seconds=args.min_seconds)
        for (kind, mode, d), (seconds, count, best) in medians.items():
            row = rows[(kind, mode)]
            row[d], row[d + "_calls"], row[d + "_best"] = seconds, count, best
            compiled = row.get("compiled")
            row["compiled"] = modes[(kind, mode, d)] if compiled in (None, modes[(kind, mode, d)]) \
                else f"{compiled} / {modes[(kind, mode, d)]}"
            if seconds > args.budget:
                stopped[(kind, mode, d)] = length
                report.note("sweep", f"{kind} {mode} {DIRECTION_NAMES[d]} took {seconds:.1f} s at "
                                     f"L={length}; not run at larger L (--budget {args.budget:g}).")
        # The two modes compute the same function: compare their forward outputs.
        for kind in args.layers:
            keys = [(kind, m, "fwd") for m in MODES]
            if all(k in ready for k in keys):
                outs = [T.sync(ready[k][0](*ready[k][1])) for k in keys]
                agree = fmt_rel(rel_diff(outs[1], outs[0]))
                rows[(kind, "convolution")]["agree"] = rows[(kind, "recurrence")]["agree"] = agree
        load = T.load_average().split(",")[0]
        for (kind, mode), row in rows.items():
            row["load"] = load
            if args.memory and (kind, mode) in layers_out:
                directions = [d for d in DIRECTIONS if (kind, mode, d) in ready]
                if directions:
                    row.update(measure_memory(args, report, kind, mode, b, length, h, n, directions))
            report.sweep.append(row)
            report.write()
        del calls, ready, layers_out
    report.loads["sweep"].append(T.load_average())
    report.write()


def measure_memory(args, report, kind, mode, batch, length, features, state, directions):
    """Peak memory of warm calls in a fresh subprocess: {"mem_fwd": bytes, ...}."""
    spec = dict(layer=kind, mode=mode, B=batch, L=length, H=features, N=state,
                directions=directions, seed=args.seed)
    cmd = [sys.executable, os.path.abspath(__file__), "--child", json.dumps(spec)]
    print(f"  memory: {kind} {mode} L={length} ...", end="", flush=True)
    result = T.run_child(cmd, env=dict(os.environ), kill_above_bytes=args.kill_gb * 1e9,
                         timeout=args.child_timeout)
    found = [line for line in result["stdout"].splitlines() if line.startswith("RESULT ")]
    if result["killed"] or not found:
        why = (f"killed ({result['killed']}, RSS reached {result['max_rss_seen'] / 1e9:.1f} GB)"
               if result["killed"] else f"exit {result['returncode']}: "
               f"{result['stderr'].strip().splitlines()[-1:] or ''}")
        report.note("sweep", f"memory of {kind} {mode} at L={length}: {why}")
        print(" failed", flush=True)
        return {}
    measured = json.loads(found[-1][len("RESULT "):])
    print(" " + ", ".join(f"{k} {v / MIB:.0f} MiB" for k, v in measured.items() if v is not None), flush=True)
    return {"mem_" + d: measured.get(d) for d in directions}


def child_main(spec_json):
    """One memory point (run in a subprocess): print RESULT {direction: bytes}."""
    spec = json.loads(spec_json)
    rng = np.random.default_rng(spec["seed"])
    shape = (spec["B"], spec["L"], spec["H"])
    x, g = random_inputs(rng, shape)
    layer = make_layer(spec["layer"], spec["N"], spec["mode"], seed=spec["seed"])
    layer.build(shape)
    pairs = dict(zip(DIRECTIONS, layer_functions(layer, x, g)))
    baseline = T.rss_bytes()
    result = {}
    # Forward first: memory it leaves in the allocator is reused by forward+backward.
    for d in spec["directions"]:
        fn, fargs = pairs[d]
        compiled, _ = T.compile_and_warm(fn, fargs, warmup=1)
        if not T.reset_peak_rss():
            result[d] = None
            continue
        T.sync(compiled(*fargs))
        result[d] = T.peak_rss_bytes() - baseline
    print("RESULT " + json.dumps(result), flush=True)


# --------------------------------------------------------------------------------------
# Section 2: convolution vs recurrence over a grid (mode="auto")


def run_grid(args, report, rng):
    report.start("auto", B=args.grid_batch, L=args.grid_lengths, H=args.grid_features,
                 N=args.grid_states)
    impl_text = []
    for kind in args.layers:
        for b in args.grid_batch:
            for length in args.grid_lengths:
                for h in args.grid_features:
                    for n in args.grid_states:
                        print(f"[auto] {kind} B={b} L={length} H={h} N={n} (load {T.load_average()})",
                              flush=True)
                        row = {"layer": kind, "B": b, "L": length, "H": h, "N": n}
                        rec_impl = recurrence_implementation(b, length, (h, n))
                        conv_impl, vander_impl = convolution_implementations(b, length, h, n, kind == "DLR")
                        text = (f"{kind}: causal_conv `{conv_impl}`, vandermonde_kernel `{vander_impl}`, "
                                f"linear_recurrence `{rec_impl}`")
                        if text not in impl_text:
                            impl_text.append(text)
                            report.implementations["auto"] = "; ".join(impl_text)
                        x, g = random_inputs(rng, (b, length, h))
                        calls = {}
                        for mode in MODES:
                            if mode == "recurrence":
                                estimate = recurrence_memory_estimate(b, length, h, n, rec_impl)
                                if estimate > args.max_memory_gb * 1e9:
                                    row["rec_note"] = f"skipped (~{estimate / 1e9:.0f} GB)"
                                    continue
                            layer = make_layer(kind, n, mode, seed=args.seed)
                            layer.build((b, length, h))
                            for d, pair in zip(DIRECTIONS, layer_functions(layer, x, g)):
                                calls[(mode, d)] = pair
                        ready, _ = prepare(calls, args, report, "auto", f"{kind} B={b} L={length} H={h} N={n}")
                        medians = T.interleaved_medians(ready, repeats=args.repeats,
                                                        budget_seconds=args.budget,
                                                        min_seconds=args.min_seconds)
                        for (mode, d), (seconds, count, best) in medians.items():
                            row[f"{mode}_{d}"] = seconds
                            row[f"{mode}_{d}_calls"], row[f"{mode}_{d}_best"] = count, best
                        report.grid.append(row)
                        report.write()
    if any(r.get("rec_note") for r in report.grid):
        report.note("auto", "`skipped (~X GB)`: the recurrence's estimated forward+backward memory "
                            f"exceeds --max-memory-gb {args.max_memory_gb:g}; the convolution wins there "
                            "by default.")
    report.loads["auto"].append(T.load_average())
    report.write()


# --------------------------------------------------------------------------------------
# Section 3: S5 against a peer


def s5_weights_numpy(layer):
    """Our S5's weights as numpy: lambda_re, lambda_im (P,), b (P, H, 2), c (H, P, 2), d (H,),
    log_step (P,)."""
    names = ("lambda_re", "lambda_im", "b", "c", "d", "log_step")
    return {k: np.asarray(ops.convert_to_numpy(getattr(layer, k).value)) for k in names}


def s5_peer_jax():
    """The jax peer: S5 from the paper's equations, batch by vmap. Returns apply(params, u)."""
    import jax
    import jax.numpy as jnp

    def binary_operator(earlier, later):
        a_i, b_i = earlier
        a_j, b_j = later
        return a_j * a_i, a_j * b_i + b_j

    def apply_one(params, u):  # u: (L, H) real
        lam = params["lambda_re"] + 1j * params["lambda_im"]  # (P,)
        b_tilde = params["b"][..., 0] + 1j * params["b"][..., 1]  # (P, H)
        c_tilde = params["c"][..., 0] + 1j * params["c"][..., 1]  # (H, P)
        delta = jnp.exp(params["log_step"])  # (P,)
        lam_bar = jnp.exp(lam * delta)  # ZOH
        b_bar = ((lam_bar - 1.0) / lam)[:, None] * b_tilde
        bu = jax.vmap(lambda u_k: b_bar @ u_k.astype(jnp.complex64))(u)  # (L, P)
        elements = (jnp.broadcast_to(lam_bar, bu.shape), bu)
        _, xs = jax.lax.associative_scan(binary_operator, elements)
        y = jax.vmap(lambda x_k: 2.0 * (c_tilde @ x_k).real)(xs)
        return y + params["d"] * u

    def apply(params, u):
        return jax.vmap(lambda seq: apply_one(params, seq))(u)

    return apply


def s5_peer_functions(weights, x, g):
    """(peer name, (fwd, args), (fwdbwd, args)) for the current backend, or None."""
    name = T.backend()
    if name == "jax":
        import jax
        import jax.numpy as jnp

        apply = s5_peer_jax()
        params = {k: jnp.asarray(v) for k, v in weights.items()}

        def loss(params, x, g):
            return jnp.sum(apply(params, x) * g)

        return ("jax.lax.associative_scan S5 (this file)",
                (apply, (params, x)), (jax.grad(loss, argnums=(0, 1)), (params, x, g)))
    if name == "torch":
        import torch

        try:
            from s5 import S5 as PeerS5
        except ImportError:
            return None
        h, p = weights["c"].shape[:2]
        peer = PeerS5(h, state_width=p)
        seq = peer.seq
        with torch.no_grad():
            seq.Lambda.copy_(torch.complex(torch.from_numpy(weights["lambda_re"]),
                                           torch.from_numpy(weights["lambda_im"])))
            seq.B.copy_(torch.from_numpy(weights["b"]))
            # Ours keeps one state per conjugate pair and reads out 2 Re(C̃x); the peer
            # reads out Re(C̃x): the same outputs with C̃ doubled.
            seq.C.copy_(2.0 * torch.complex(torch.from_numpy(weights["c"][..., 0]),
                                            torch.from_numpy(weights["c"][..., 1])))
            seq.D.copy_(torch.from_numpy(weights["d"]))
            seq.log_step.copy_(torch.from_numpy(weights["log_step"]).reshape(seq.log_step.shape))
        params = list(peer.parameters())

        def fwd(x):
            with torch.no_grad():
                return peer(x)

        def fwdbwd(x, g):
            x = x.detach().requires_grad_(True)
            return torch.autograd.grad((peer(x) * g).sum(), params + [x])

        import importlib.metadata

        version = importlib.metadata.version("s5-pytorch")
        return (f"s5-pytorch {version} S5", (fwd, (x,)), (fwdbwd, (x, g)))
    return None


def run_s5(args, report, rng):
    b, length, h, p = args.s5_batch, args.s5_length, args.s5_features, args.s5_states
    report.start("s5", B=b, L=length, H=h, P=p)
    print(f"[s5] B={b} L={length} H={h} P={p} (load {T.load_average()})", flush=True)
    x, g = random_inputs(rng, (b, length, h))
    layer = keras_ssm.layers.S5(state_size=2 * p, blocks=1, conj_sym=True, seed=args.seed)
    layer.build((b, length, h))
    impl = recurrence_implementation(b, length, (p,))
    report.implementations["s5"] = f"linear_recurrence `{impl}`"
    ours_name = f"ours: keras_ssm S5 (`{impl}` scan)"
    calls = {}
    (f, fa), (fb, fba) = layer_functions(layer, x, g)
    calls[(ours_name, "fwd")] = (f, fa)
    calls[(ours_name, "fwdbwd")] = (fb, fba)
    peer = s5_peer_functions(s5_weights_numpy(layer), x, g)
    if peer is None:
        why = ("`pip install --no-deps s5-pytorch==0.2.1 einops` (needs scipy) for the torch peer"
               if T.backend() == "torch" else f"no peer on the {T.backend()} backend")
        report.note("s5", f"No peer measured: {why}.")
    else:
        peer_name, (pf, pfa), (pb, pba) = peer
        calls[(peer_name, "fwd")] = (pf, pfa)
        calls[(peer_name, "fwdbwd")] = (pb, pba)
    ready, modes = prepare(calls, args, report, "s5", "S5")
    medians = T.interleaved_medians(ready, repeats=args.s5_repeats, budget_seconds=None,
                                    min_seconds=args.min_seconds)
    names = list(dict.fromkeys(k[0] for k in calls))
    reference_out = None
    for name in names:
        row = {"path": name}
        for d in DIRECTIONS:
            if (name, d) in medians:
                row[d], row[d + "_calls"], row[d + "_best"] = medians[(name, d)]
                row["compiled"] = modes[(name, d)]
            else:
                row[d + "_note"] = "failed"
        if (name, "fwd") in ready:
            fn, fargs = ready[(name, "fwd")]
            out = T.sync(fn(*fargs))
            if reference_out is None:
                reference_out = out
                row["agree"] = "—"
            else:
                row["agree"] = fmt_rel(rel_diff(out, reference_out))
        report.s5.append(row)
    for name in names:
        print(f"  {name}: " + ", ".join(
            f"{DIRECTION_NAMES[d]} {medians[(name, d)][0] * 1e3:.1f} ms" for d in DIRECTIONS
            if (name, d) in medians), flush=True)
    report.loads["s5"].append(T.load_average())
    report.write()


# --------------------------------------------------------------------------------------
# Plot


def plot(report, path_png):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report.sweep
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.8))
    panels = (("fwd", "forward, ns per element"), ("fwdbwd", "forward+backward, ns per element"),
              ("mem_fwdbwd", "forward+backward, peak MiB"))
    for ax, (key, title) in zip(axes, panels):
        for kind in dict.fromkeys(r["layer"] for r in rows):
            for mode in MODES:
                pts = []
                for r in sorted(rows, key=lambda r: r["L"]):
                    if r["layer"] != kind or r["mode"] != mode:
                        continue
                    value = _mib(r.get(key)) if key.startswith("mem") else _per_element(r, key)
                    if value:
                        pts.append((r["L"], value))
                if pts:
                    xs, ys = zip(*pts)
                    ax.plot(xs, ys, "-" if mode == "convolution" else "--", marker="o",
                            label=f"{kind} {mode}")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("sequence length L")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    c = report.config.get("sweep", {})
    fig.suptitle(f"keras-ssm DSS / DLR, {T.backend()} on {T.device_description()} "
                 f"(B={c.get('B')}, H={c.get('H')}, N={c.get('N')}; load {report.loads['sweep'][0]})")
    fig.tight_layout()
    fig.savefig(path_png, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------------------
# Main


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=SECTIONS)
    parser.add_argument("--layers", nargs="+", default=list(LAYER_KINDS), choices=LAYER_KINDS)
    # sweep
    parser.add_argument("--lengths", nargs="+", type=int,
                        default=[1024, 2048, 4096, 8192, 16384, 32768, 65536])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--features", type=int, default=64, help="H")
    parser.add_argument("--state", type=int, default=64, help="N")
    parser.add_argument("--no-memory", dest="memory", action="store_false",
                        help="skip the peak-memory subprocesses of the sweep")
    # auto grid
    parser.add_argument("--grid-batch", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--grid-lengths", nargs="+", type=int, default=[1024, 8192])
    parser.add_argument("--grid-features", nargs="+", type=int, default=[64])
    parser.add_argument("--grid-states", nargs="+", type=int, default=[1, 2, 4, 16, 64])
    # s5
    parser.add_argument("--s5-batch", type=int, default=8)
    parser.add_argument("--s5-length", type=int, default=4096)
    parser.add_argument("--s5-features", type=int, default=128)
    parser.add_argument("--s5-states", type=int, default=64, help="P, complex states propagated")
    parser.add_argument("--s5-repeats", type=int, default=7)
    # common
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--min-seconds", type=float, default=2.0,
                        help="time a call more than --repeats times until its calls add up to this")
    parser.add_argument("--budget", type=float, default=20.0,
                        help="seconds per call above which a path is not run at larger L")
    parser.add_argument("--max-memory-gb", type=float, default=4.0,
                        help="skip the recurrence where its estimated memory exceeds this")
    parser.add_argument("--kill-gb", type=float, default=10.0,
                        help="kill a memory subprocess whose RSS exceeds this")
    parser.add_argument("--child-timeout", type=float, default=900.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for the backend (default: its own choice); 1 gives "
                             "stable torch timings on a shared machine")
    parser.add_argument("--output", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument("--fresh", action="store_true",
                        help="drop the sections of an earlier run instead of keeping them")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes everywhere (a smoke run, minutes)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.lengths = [1024, 4096]
        args.batch, args.features, args.state = 1, 32, 32
        args.grid_batch, args.grid_lengths, args.grid_features, args.grid_states = [1, 8], [1024], [32], [1, 16]
        args.s5_batch, args.s5_length, args.s5_features, args.s5_states = 2, 1024, 32, 16
        args.repeats, args.s5_repeats, args.budget, args.min_seconds = 3, 3, 5.0, 0.5
    args.lengths = sorted(set(args.lengths))
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.child is not None:
        child_main(args.child)
        return 0
    args.threads_text = "backend default"
    if args.threads is not None:
        args.threads_text = T.limit_threads(args.threads)
    os.makedirs(args.output, exist_ok=True)
    stem = f"layers-{T.backend()}-{T.device_slug()}"
    path_md = os.path.join(args.output, stem + ".md")
    path_png = os.path.join(args.output, stem + ".png")
    print(f"{T.backend()} on {T.device_description()} ({T.library_versions()}); "
          f"load {T.load_average()}", flush=True)
    report = Report(args, path_md)
    if not args.fresh:
        report.keep_previous(args.sections)
    rng = np.random.default_rng(args.seed)
    if "s5" in args.sections:
        run_s5(args, report, rng)
    if "sweep" in args.sections:
        run_sweep(args, report, rng)
    if "auto" in args.sections:
        run_grid(args, report, rng)
    report.write()
    if report.sweep and not args.no_plot:
        plot(report, path_png)
        print(f"wrote {path_md} and {path_png}")
    else:
        print(f"wrote {path_md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
