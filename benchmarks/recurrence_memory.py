"""Recurrence mode's peak memory: every state kept against the scan fused with its readout.

DSS and DLR in `mode="recurrence"`, forward+backward (gradients of sum(y·g) w.r.t. the
weights and the input), each point in a fresh subprocess: peak resident memory minus the
resident memory once the layer and its inputs exist (VmHWM after resetting it through
/proc/self/clear_refs), and the time of one warm call. `plain` keeps the B·L·H·N complex
states (the path below `FUSED_RECURRENCE_STATES`); `fused` runs
`keras_ssm.layers.chunked_recurrence` (states recomputed by chunks in the backward pass).

```bash
KERAS_BACKEND=jax python -m benchmarks.recurrence_memory \
    --output benchmarks/results/recurrence_memory-jax-cpu.md
KERAS_BACKEND=torch python -m benchmarks.recurrence_memory --lengths 4096 --layers DLR
```
"""

import argparse
import datetime
import json
import os
import pathlib
import subprocess
import sys
import time

# glibc's malloc raises its mmap threshold after large frees (up to 32 MiB), after which
# freed chunk-sized buffers stay in the heap and in the RSS: a fixed threshold makes the
# RSS follow what the program really holds (seen on torch: 950 -> 160 MiB at L = 16,384).
CHILD_ENV = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")


def child(spec):
    """Run one point; print a JSON line with peak MiB and seconds."""
    from benchmarks import _timing as T

    if spec["threads"]:
        T.limit_threads(spec["threads"])
    import numpy as np

    import keras_ssm
    from benchmarks.layer_calls import layer_functions
    from keras_ssm.layers import base

    base.FUSED_RECURRENCE_STATES = (1 << 62) if spec["path"] == "plain" else 0
    cls = keras_ssm.layers.families.layer_class(spec["layer"])
    layer = cls(state_size=spec["state"], mode="recurrence", seed=0)
    shape = (spec["batch"], spec["length"], spec["features"])
    layer.build(shape)
    rng = np.random.default_rng(0)
    x = T.to_device(rng.standard_normal(shape).astype("float32"))
    g = T.to_device(rng.standard_normal(shape).astype("float32"))
    (_, _), (fb, fb_args) = layer_functions(layer, x, g)
    fn = T.compile_fn(fb, T.compile_modes()[0])
    T.reset_peak_rss()
    before = T.rss_bytes()
    T.sync(fn(*fb_args))  # compile (jax, tf) and a first call: allocators start empty here
    first = T.peak_rss_bytes() - before
    T.reset_peak_rss()
    before = T.rss_bytes()
    start = time.perf_counter()
    T.sync(fn(*fb_args))
    seconds = time.perf_counter() - start
    peak = T.peak_rss_bytes() - before
    print(json.dumps(dict(first_mib=first / 2**20, peak_mib=peak / 2**20, seconds=seconds)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", nargs="+", default=["DSS", "DLR"])
    parser.add_argument("--lengths", nargs="+", type=int, default=[4096, 65536])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--features", type=int, default=64, help="H")
    parser.add_argument("--state", type=int, default=64, help="N")
    parser.add_argument(
        "--max-plain-gb",
        type=float,
        default=4.0,
        help="skip `plain` where its states alone would exceed this",
    )
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--output", default=None)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(json.loads(args.child))
        return
    from benchmarks import _timing as T

    rows = []
    for layer in args.layers:
        for length in args.lengths:
            for path in ("plain", "fused"):
                # plain holds x and b·u (complex) and their cotangents: ~4 B·L·H·N pairs.
                plain_gb = 4 * 8 * args.batch * length * args.features * args.state / 2**30
                if path == "plain" and plain_gb > args.max_plain_gb:
                    rows.append([layer, length, path, "skipped", f"(~{plain_gb:.1f} GB)", "", ""])
                    continue
                spec = dict(
                    layer=layer,
                    length=length,
                    path=path,
                    batch=args.batch,
                    features=args.features,
                    state=args.state,
                    threads=args.threads,
                )
                out = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "benchmarks.recurrence_memory",
                        "--child",
                        json.dumps(spec),
                    ],
                    capture_output=True,
                    text=True,
                    env=CHILD_ENV,
                )
                lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
                if out.returncode or not lines:
                    rows.append(
                        [
                            layer,
                            length,
                            path,
                            "failed",
                            T.short_error(
                                RuntimeError(
                                    out.stderr.strip().splitlines()[-1] if out.stderr else "?"
                                )
                            ),
                            "",
                            "",
                        ]
                    )
                    continue
                result = json.loads(lines[-1])
                rows.append(
                    [
                        layer,
                        length,
                        path,
                        T.fmt(result["first_mib"]),
                        T.fmt(result["peak_mib"]),
                        T.fmt(result["seconds"] * 1e3),
                    ]
                )
                print(
                    f"  {layer} L={length} {path}: "
                    f"{result['first_mib']:.0f} / {result['peak_mib']:.0f} MiB, "
                    f"{result['seconds'] * 1e3:.0f} ms",
                    flush=True,
                )
    report = [
        f"# Recurrence mode, peak memory: {T.backend()} on {T.device_description()}\n",
        f"- Run {datetime.date.today()} ({T.library_versions()}); load average "
        f"{T.load_average()}; CPU threads: {args.threads or 'backend default'}.",
        f"- B = {args.batch}, H = {args.features}, N = {args.state}; forward+backward of one "
        f"call; peak RSS growth during the first call (compilation included on jax and "
        f"tensorflow; allocators start empty) and during a warm call (an allocator may "
        f"reuse what the first call left: jax's warm figures understate); children run "
        f"with MALLOC_MMAP_THRESHOLD_=65536 so that freed buffers leave the RSS.",
        f"- Command: `KERAS_BACKEND={T.backend()} python -m benchmarks.recurrence_memory "
        f"{' '.join(argv if argv is not None else sys.argv[1:])}`\n",
        T.markdown_table(
            ["layer", "L", "path", "first call peak MiB", "warm call peak MiB", "warm fwd+bwd ms"],
            rows,
        ),
    ]
    text = "\n".join(report)
    print(text)
    if args.output:
        pathlib.Path(args.output).write_text(text + "\n")


if __name__ == "__main__":
    main()
