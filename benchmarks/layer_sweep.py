"""Sections 1 and 2 of the layer benchmark: the sweep over L (time, cost per element, peak
memory in a subprocess per point) and convolution against recurrence over a grid."""

import json
import os
import sys

import numpy as np

from benchmarks import _timing as T
from benchmarks.layer_calls import DIRECTION_NAMES
from benchmarks.layer_calls import DIRECTIONS
from benchmarks.layer_calls import MIB
from benchmarks.layer_calls import MODES
from benchmarks.layer_calls import convolution_implementations
from benchmarks.layer_calls import fmt_rel
from benchmarks.layer_calls import layer_functions
from benchmarks.layer_calls import make_layer
from benchmarks.layer_calls import prepare
from benchmarks.layer_calls import random_inputs
from benchmarks.layer_calls import recurrence_implementation
from benchmarks.layer_calls import recurrence_memory_estimate
from benchmarks.layer_calls import rel_diff

# The module a memory point runs in (its --child mode), from the repository root.
PROGRAM = "benchmarks.layers"


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
            text = (
                f"{kind}: causal_conv `{conv_impl}`, vandermonde_kernel `{vander_impl}`, "
                f"linear_recurrence `{rec_impl}`"
            )
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
                        report.note(
                            "sweep",
                            f"{kind} recurrence skipped from L={length}: its "
                            f"forward+backward would need about {estimate / 1e9:.1f} GB "
                            f"(state B·L·H·N complex64, `{rec_impl}` scan) > "
                            f"--max-memory-gb {args.max_memory_gb:g}.",
                        )
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
        medians = T.interleaved_medians(
            ready, repeats=args.repeats, budget_seconds=args.budget, min_seconds=args.min_seconds
        )
        for (kind, mode, d), (seconds, count, best) in medians.items():
            row = rows[(kind, mode)]
            row[d], row[d + "_calls"], row[d + "_best"] = seconds, count, best
            compiled = row.get("compiled")
            row["compiled"] = (
                modes[(kind, mode, d)]
                if compiled in (None, modes[(kind, mode, d)])
                else f"{compiled} / {modes[(kind, mode, d)]}"
            )
            if seconds > args.budget:
                stopped[(kind, mode, d)] = length
                report.note(
                    "sweep",
                    f"{kind} {mode} {DIRECTION_NAMES[d]} took {seconds:.1f} s at "
                    f"L={length}; not run at larger L (--budget {args.budget:g}).",
                )
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
                    row.update(
                        measure_memory(args, report, kind, mode, b, length, h, n, directions)
                    )
            report.sweep.append(row)
            report.write()
        del calls, ready, layers_out
    report.loads["sweep"].append(T.load_average())
    report.write()


def measure_memory(args, report, kind, mode, batch, length, features, state, directions):
    """Peak memory of warm calls in a fresh subprocess: {"mem_fwd": bytes, ...}."""
    spec = dict(
        layer=kind,
        mode=mode,
        B=batch,
        L=length,
        H=features,
        N=state,
        directions=directions,
        seed=args.seed,
    )
    cmd = [sys.executable, "-m", PROGRAM, "--child", json.dumps(spec)]
    print(f"  memory: {kind} {mode} L={length} ...", end="", flush=True)
    result = T.run_child(
        cmd, env=dict(os.environ), kill_above_bytes=args.kill_gb * 1e9, timeout=args.child_timeout
    )
    found = [line for line in result["stdout"].splitlines() if line.startswith("RESULT ")]
    if result["killed"] or not found:
        why = (
            f"killed ({result['killed']}, RSS reached {result['max_rss_seen'] / 1e9:.1f} GB)"
            if result["killed"]
            else f"exit {result['returncode']}: {result['stderr'].strip().splitlines()[-1:] or ''}"
        )
        report.note("sweep", f"memory of {kind} {mode} at L={length}: {why}")
        print(" failed", flush=True)
        return {}
    measured = json.loads(found[-1][len("RESULT ") :])
    print(
        " " + ", ".join(f"{k} {v / MIB:.0f} MiB" for k, v in measured.items() if v is not None),
        flush=True,
    )
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


def run_grid(args, report, rng):
    report.start(
        "auto", B=args.grid_batch, L=args.grid_lengths, H=args.grid_features, N=args.grid_states
    )
    impl_text = []
    for kind in args.layers:
        for b in args.grid_batch:
            for length in args.grid_lengths:
                for h in args.grid_features:
                    for n in args.grid_states:
                        print(
                            f"[auto] {kind} B={b} L={length} H={h} N={n} (load {T.load_average()})",
                            flush=True,
                        )
                        row = {"layer": kind, "B": b, "L": length, "H": h, "N": n}
                        rec_impl = recurrence_implementation(b, length, (h, n))
                        conv_impl, vander_impl = convolution_implementations(
                            b, length, h, n, kind == "DLR"
                        )
                        text = (
                            f"{kind}: causal_conv `{conv_impl}`, "
                            f"vandermonde_kernel `{vander_impl}`, "
                            f"linear_recurrence `{rec_impl}`"
                        )
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
                        ready, _ = prepare(
                            calls, args, report, "auto", f"{kind} B={b} L={length} H={h} N={n}"
                        )
                        medians = T.interleaved_medians(
                            ready,
                            repeats=args.repeats,
                            budget_seconds=args.budget,
                            min_seconds=args.min_seconds,
                        )
                        for (mode, d), (seconds, count, best) in medians.items():
                            row[f"{mode}_{d}"] = seconds
                            row[f"{mode}_{d}_calls"], row[f"{mode}_{d}_best"] = count, best
                        report.grid.append(row)
                        report.write()
    if any(r.get("rec_note") for r in report.grid):
        report.note(
            "auto",
            "`skipped (~X GB)`: the recurrence's estimated forward+backward memory "
            f"exceeds --max-memory-gb {args.max_memory_gb:g}; the convolution wins there "
            "by default.",
        )
    report.loads["auto"].append(T.load_average())
    report.write()
