"""Long-sequence check: DLR forward+backward at L = 262,144 on the CPU within 8 GB.

A DLR layer with N = 4096 states and H = 32 features, batch 1, in mode="convolution"
(its kernel is built by `vandermonde_kernel` in chunks over L, with an analytic chunked
gradient, so the N x L Vandermonde matrix is never stored), runs forward+backward
(gradients of sum(y·g) w.r.t. every weight and the input) once per backend, each in
its own subprocess. For each backend it reports:

- the peak memory of the subprocess: `resource` ru_maxrss of the child (from os.wait4;
  this launcher never imports a compute backend, so the child does not inherit a large
  peak from it), and the child's own VmHWM (/proc/self/status) as a cross-check;
- the time of the first call (compilation included) and the median of the warm calls.

The child is killed if its RSS exceeds --kill-gb (a guard for shared machines).
Writes ``benchmarks/results/long_sequence-<device>.md``.

Usage:

```
python -m benchmarks.long_sequence                      # jax, tensorflow, torch
python -m benchmarks.long_sequence --backends torch --repeats 3
python -m benchmarks.long_sequence --quick              # L = 16384, N = 1024
```
"""

import argparse
import datetime
import json
import os
import sys

if __name__ == "__main__" and "--child" not in sys.argv:
    # The launcher computes nothing: the light numpy backend keeps it small, so the
    # children's ru_maxrss is theirs alone.
    os.environ["KERAS_BACKEND"] = "numpy"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

HERE = os.path.dirname(os.path.abspath(__file__))

from benchmarks import _timing as T  # noqa: E402

BACKENDS = ("jax", "tensorflow", "torch")
GB = 1e9


def child_main(spec):
    """Run in the subprocess: build, time and measure; print RESULT {json}."""
    import time

    import keras
    import numpy as np

    import keras_ssm
    from benchmarks.layer_calls import convolution_implementations
    from benchmarks.layer_calls import layer_functions
    from benchmarks.layer_calls import random_inputs

    threads = "backend default"
    if spec.get("threads") is not None:
        threads = T.limit_threads(spec["threads"])
    b, length, h, n = spec["B"], spec["L"], spec["H"], spec["N"]
    shape = (b, length, h)
    x, g = random_inputs(np.random.default_rng(0), shape)
    layer = keras_ssm.layers.DLR(state_size=n, mode="convolution", seed=0)
    layer.build(shape)
    conv_impl, vander_impl = convolution_implementations(1, 8, h, n, True)
    _, (fn, fargs) = layer_functions(layer, x, g)
    baseline = T.rss_bytes()
    start = time.perf_counter()
    fallbacks = []
    compiled, mode = T.compile_and_warm(fn, fargs, warmup=1, fallbacks=fallbacks)
    first = time.perf_counter() - start
    peak_first = T.peak_rss_bytes()
    warm = []
    T.reset_peak_rss()
    for _ in range(spec["repeats"]):
        start = time.perf_counter()
        grads = T.sync(compiled(*fargs))
        warm.append(time.perf_counter() - start)
    finite = all(
        bool(np.all(np.isfinite(keras.ops.convert_to_numpy(t)))) for t in keras.tree.flatten(grads)
    )
    result = dict(
        backend=T.backend(),
        device=T.device_description(),
        versions=T.library_versions(),
        compiled=mode,
        fallbacks=fallbacks,
        causal_conv=conv_impl,
        vandermonde_kernel=vander_impl,
        baseline_rss=baseline,
        peak_rss_first=peak_first,
        peak_rss_warm=T.peak_rss_bytes(),
        first_seconds=first,
        warm_seconds=warm,
        finite=finite,
        load=T.load_average(),
        threads=threads,
    )
    print("RESULT " + json.dumps(result), flush=True)


def run_backend(backend, args):
    spec = dict(
        B=args.batch,
        L=args.length,
        H=args.features,
        N=args.state,
        repeats=args.repeats,
        threads=args.threads,
    )
    env = dict(os.environ, KERAS_BACKEND=backend)
    cmd = [sys.executable, "-m", "benchmarks.long_sequence", "--child", json.dumps(spec)]
    print(
        f"[{backend}] L={args.length} N={args.state} H={args.features} B={args.batch} "
        f"(load {T.load_average()}) ...",
        flush=True,
    )
    out = T.run_child(cmd, env=env, kill_above_bytes=args.kill_gb * GB, timeout=args.timeout)
    row = {
        "backend": backend,
        "ru_maxrss": out["ru_maxrss"],
        "max_rss_seen": out["max_rss_seen"],
        "wall": out["seconds"],
    }
    found = [line for line in out["stdout"].splitlines() if line.startswith("RESULT ")]
    if found:
        row.update(json.loads(found[-1][len("RESULT ") :]))
    if out["killed"]:
        row["error"] = (
            f"killed ({out['killed']}) with RSS {out['max_rss_seen'] / GB:.2f} GB "
            f"after {out['seconds']:.0f} s"
        )
    elif not found:
        tail = [line for line in out["stderr"].strip().splitlines() if line.strip()][-3:]
        row["error"] = f"exit {out['returncode']}: " + " | ".join(tail)
    print(f"  {_summary(row)}", flush=True)
    return row


def _summary(row):
    if "error" in row:
        return row["error"]
    warm = sorted(row["warm_seconds"])
    peak = max(row["peak_rss_first"], row["peak_rss_warm"])
    return (
        f"ru_maxrss {row['ru_maxrss'] / GB:.2f} GB, VmHWM {peak / GB:.2f} GB, "
        f"first call {row['first_seconds']:.1f} s, warm {warm[len(warm) // 2]:.1f} s"
    )


def write_report(rows, args, path):
    limit = args.limit_gb
    lines = [
        f"# Long sequence: DLR forward+backward at L = {args.length:,} on "
        f"{next((r['device'] for r in rows if r.get('device')), T.device_description())}",
        "",
        f"- Date: {datetime.date.today().isoformat()}. DLR(state_size={args.state}, "
        f"mode='convolution'), H = {args.features}, batch {args.batch}, float32; "
        "forward+backward = gradients of sum(y·g) w.r.t. every weight and the input.",
        "- One subprocess per backend, started from a launcher that loads no compute "
        "backend. `ru_maxrss`: resource usage of the child (os.wait4); `VmHWM`: the child's "
        "own peak RSS (/proc/self/status), over the whole run (imports, compilation, calls); "
        "`warm peak`: peak RSS during the warm calls only; `baseline`: RSS after imports, "
        "layer and inputs, before the first call.",
        f"- Limit: {limit:g} GB (10^9 bytes). `first call`: compilation + one call; `warm`: median "
        "of the later calls (--repeats). Rows of backends not rerun are kept from the previous "
        "run (their load and date may differ).",
        "",
    ]
    headers = [
        "backend",
        "compiled",
        "vandermonde_kernel / causal_conv",
        "ru_maxrss GB",
        "VmHWM GB",
        "warm peak GB",
        "baseline GB",
        f"<= {limit:g} GB",
        "first call s",
        "warm s",
        "finite grads",
        "load (1, 5, 15 min)",
    ]
    table = []
    for r in rows:
        if "error" in r:
            table.append(
                [
                    r["backend"],
                    "—",
                    "—",
                    T.fmt(r["ru_maxrss"] / GB),
                    "—",
                    "—",
                    "—",
                    "no",
                    r["error"],
                    "—",
                    "—",
                    "—",
                ]
            )
            continue
        warm = sorted(r["warm_seconds"])
        within = r["ru_maxrss"] <= limit * GB
        table.append(
            [
                r["backend"],
                r["compiled"],
                f"`{r['vandermonde_kernel']}` / `{r['causal_conv']}`",
                T.fmt(r["ru_maxrss"] / GB),
                T.fmt(max(r["peak_rss_first"], r["peak_rss_warm"]) / GB),
                T.fmt(r["peak_rss_warm"] / GB),
                T.fmt(r["baseline_rss"] / GB),
                "yes" if within else "NO",
                T.fmt(r["first_seconds"]),
                T.fmt(warm[len(warm) // 2]),
                "yes" if r["finite"] else "NO",
                r["load"],
            ]
        )
    lines += [T.markdown_table(headers, table), ""]
    for r in rows:
        if r.get("versions"):
            lines.append(
                f"- {r['backend']}: {r['versions']}; CPU threads: {r.get('threads')}"
                + (f"; fell back from {r['fallbacks']}" if r.get("fallbacks") else "")
                + "."
            )
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def _sizes(args):
    return dict(B=args.batch, L=args.length, H=args.features, N=args.state)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument("--length", type=int, default=262144)
    parser.add_argument("--state", type=int, default=4096, help="N")
    parser.add_argument("--features", type=int, default=32, help="H")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2, help="warm calls timed after the first")
    parser.add_argument("--limit-gb", type=float, default=8.0)
    parser.add_argument(
        "--kill-gb",
        type=float,
        default=14.0,
        help="kill a child whose RSS exceeds this (shared-machine guard)",
    )
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per backend")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads for the backend (default: its own choice)",
    )
    parser.add_argument("--output", default=os.path.join(HERE, "results"))
    parser.add_argument("--quick", action="store_true", help="L = 16384, N = 1024: a smoke run")
    parser.add_argument(
        "--fresh", action="store_true", help="drop the rows of other backends from an earlier run"
    )
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.length, args.state = 16384, 1024
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.child is not None:
        child_main(json.loads(args.child))
        return 0
    os.makedirs(args.output, exist_ok=True)
    suffix = "-quick" if args.quick else ""
    path = os.path.join(args.output, f"long_sequence-cpu{suffix}.md")
    path_json = os.path.splitext(path)[0] + ".json"
    # Rows of backends not rerun now are kept from the previous run (same sizes only).
    kept = []
    if os.path.exists(path_json) and not args.fresh:
        with open(path_json) as f:
            previous = json.load(f)
        if previous.get("sizes") == _sizes(args):
            kept = [r for r in previous["rows"] if r["backend"] not in args.backends]
    rows = []
    for backend in args.backends:
        rows.append(run_backend(backend, args))
        ordered = sorted(kept + rows, key=lambda r: BACKENDS.index(r["backend"]))
        write_report(ordered, args, path)
        with open(path_json, "w") as f:
            json.dump({"sizes": _sizes(args), "rows": ordered}, f, indent=1)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
