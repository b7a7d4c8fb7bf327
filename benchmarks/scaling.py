"""Cost per element against L, and DSS's kernel against DLR's: issue targets 2 and 3.

Two sections, each timed interleaved (candidates in turns) in one process:

- ``kernel``: the `vandermonde_kernel` op alone at H, N, L, for a DLR-shaped λ (N,) shared
  by the H rows and a DSS-shaped λ (H, N), with every implementation that applies
  (`reference`: exp/cos/sin of every (h,) n, l; `factorized`: P @ Q power tables).
  Reported per kernel element (H·L): forward and forward+backward.
- ``layers``: DSS and DLR layers in convolution mode, forward+backward per element
  (B·L·H) at L = 4096 and L = 65,536 (``--lengths``), and the ratio of the two: flat in L
  is ideal; the FFT's own log factor from 4096 to 65,536 is log(131072)/log(8192) = 1.31.

```bash
KERAS_BACKEND=jax python -m benchmarks.scaling --output benchmarks/results/scaling-jax-cpu.md
KERAS_BACKEND=torch python -m benchmarks.scaling --sections kernel --kernel-length 4096
```
"""

import argparse
import datetime
import math
import pathlib
import sys

import numpy as np
from keras import ops

import keras_ssm
from benchmarks import _timing as T
from benchmarks.layer_calls import layer_functions

SECTIONS = ("kernel", "layers")


def kernel_calls(rows, states, length, rng, warmup):
    """{(shape, impl): (fwd, fwdbwd)} compiled and warmed, for every applicable implementation."""
    calls = {}
    for shape_name, lam_shape in (("DLR λ (N,)", (states,)), ("DSS λ (H, N)", (rows, states))):
        lam = (
            T.to_device(-rng.uniform(1e-3, 0.1, lam_shape).astype("float32")),
            T.to_device(rng.uniform(0, math.pi, lam_shape).astype("float32")),
        )
        c = tuple(
            T.to_device(rng.standard_normal((rows, states)).astype("float32")) for _ in range(2)
        )
        g = T.to_device(rng.standard_normal((rows, length)).astype("float32"))
        for impl in keras_ssm.ops.implementations("vandermonde_kernel"):

            def fwd(lr, li, cr, ci, impl=impl):
                with keras_ssm.config.use_implementation("vandermonde_kernel", impl):
                    return keras_ssm.ops.vandermonde_kernel((lr, li), (cr, ci), length)

            try:
                fwd(*lam, *c)
            except ValueError:  # does not apply at this size
                continue
            grad = T.vjp_fn(fwd)
            compiled_fwd, _ = T.compile_and_warm(fwd, (*lam, *c), warmup=warmup)
            compiled_grad, _ = T.compile_and_warm(grad, (*lam, *c, g), warmup=warmup)
            calls[(shape_name, impl)] = ((compiled_fwd, (*lam, *c)), (compiled_grad, (*lam, *c, g)))
    return calls


def run_kernel(args, report, rng):
    rows, states, length = args.features, args.state, args.kernel_length
    calls = kernel_calls(rows, states, length, rng, args.warmup)
    fwd = T.interleaved_medians(
        {k: v[0] for k, v in calls.items()}, repeats=args.repeats, min_seconds=args.min_seconds
    )
    bwd = T.interleaved_medians(
        {k: v[1] for k, v in calls.items()}, repeats=args.repeats, min_seconds=args.min_seconds
    )
    per = lambda s: s / (rows * length) * 1e9
    base = {}
    for (shape, impl), (t, _, _) in bwd.items():
        if shape.startswith("DLR"):
            base[impl] = t
    best_dlr = min(base.values())
    rows_out = []
    for key in calls:
        shape, impl = key
        rows_out.append(
            [
                shape,
                impl,
                T.fmt(fwd[key][0] * 1e3),
                T.fmt(per(fwd[key][0])),
                T.fmt(bwd[key][0] * 1e3),
                T.fmt(per(bwd[key][0])),
                f"{bwd[key][0] / best_dlr:.2f}x",
            ]
        )
    report.append("## vandermonde_kernel: DSS's per-row λ against DLR's shared λ\n")
    report.append(
        f"- H = {rows}, N = {states}, L = {length}; ns/elem = time / (H·L). "
        f"`vs best DLR` = forward+backward time / the fastest DLR-shaped one."
    )
    report.append(f"- Load average at start: {T.load_average()}.\n")
    report.append(
        T.markdown_table(
            [
                "λ",
                "implementation",
                "fwd ms",
                "fwd ns/elem",
                "fwd+bwd ms",
                "fwd+bwd ns/elem",
                "vs best DLR",
            ],
            rows_out,
        )
    )
    report.append("")


def run_layers(args, report, rng):
    rows_out = []
    per_elem = {}
    for kind in args.layers:
        for length in args.lengths:
            layer = (
                keras_ssm.layers.DSS(state_size=args.state, mode="convolution", seed=0)
                if kind == "DSS"
                else keras_ssm.layers.DLR(state_size=args.state, mode="convolution", seed=0)
            )
            shape = (args.batch, length, args.features)
            layer.build(shape)
            x = T.to_device(rng.standard_normal(shape).astype("float32"))
            g = T.to_device(rng.standard_normal(shape).astype("float32"))
            (_, _), (fb, fb_args) = layer_functions(layer, x, g)
            compiled, mode = T.compile_and_warm(fb, fb_args, warmup=args.warmup)
            timed = T.interleaved_medians(
                {"x": (compiled, fb_args)}, repeats=args.repeats, min_seconds=args.min_seconds
            )["x"][0]
            ns = timed / (args.batch * length * args.features) * 1e9
            per_elem[(kind, length)] = ns
            impl = keras_ssm.ops.resolve(
                "vandermonde_kernel",
                *(
                    (
                        (ops.zeros((args.state // 2,)),) * 2,
                        (ops.zeros((args.features, args.state // 2)),) * 2,
                    )
                    if kind == "DLR"
                    else (
                        (ops.zeros((args.features, args.state // 2)),) * 2,
                        (ops.zeros((args.features, args.state // 2)),) * 2,
                    )
                ),
                length,
            )
            rows_out.append([kind, length, mode, impl, T.fmt(timed * 1e3), T.fmt(ns)])
            print(f"  {kind} L={length}: {timed * 1e3:.1f} ms, {ns:.1f} ns/elem", flush=True)
    lo, hi = min(args.lengths), max(args.lengths)
    report.append(
        "## DSS and DLR (convolution mode): forward+backward cost per element against L\n"
    )
    report.append(
        f"- B = {args.batch}, H = {args.features}, N = {args.state}; ns/elem = time / "
        f"(B·L·H). Target: L = {hi} within 1.3x of L = {lo} (FFT's log factor "
        f"{math.log2(2 * hi) / math.log2(2 * lo):.2f})."
    )
    report.append(f"- Load average at start: {T.load_average()}.\n")
    report.append(
        T.markdown_table(
            ["layer", "L", "compiled", "kernel impl", "fwd+bwd ms", "fwd+bwd ns/elem"], rows_out
        )
    )
    report.append("")
    ratios = [
        [kind, f"{per_elem[(kind, hi)] / per_elem[(kind, lo)]:.2f}x"]
        for kind in args.layers
        if (kind, hi) in per_elem and (kind, lo) in per_elem
    ]
    report.append(T.markdown_table(["layer", f"ns/elem at L={hi} / at L={lo}"], ratios))
    report.append("")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=SECTIONS)
    parser.add_argument("--layers", nargs="+", default=["DSS", "DLR"], choices=["DSS", "DLR"])
    parser.add_argument("--lengths", nargs="+", type=int, default=[4096, 65536])
    parser.add_argument("--kernel-length", type=int, default=4096)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--features", type=int, default=64, help="H")
    parser.add_argument("--state", type=int, default=64, help="N")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--min-seconds", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads for the backend (1 on a loaded machine: torch's "
        "OpenMP threads stall 10-100x when another process holds the cores)",
    )
    parser.add_argument("--output", default=None)
    args = parser.parse_args(argv)
    if args.threads:
        T.limit_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    report = [
        f"# Scaling in L and DSS's kernel: {T.backend()} on {T.device_description()}\n",
        f"- Run {datetime.date.today()} ({T.library_versions()}); medians of interleaved "
        f"timed calls after warm-up, compilation excluded; CPU threads: "
        f"{args.threads or 'backend default'}; load average at start {T.load_average()}.",
        f"- Command: `KERAS_BACKEND={T.backend()} python -m benchmarks.scaling "
        f"{' '.join(argv if argv is not None else sys.argv[1:])}`\n",
    ]
    if "kernel" in args.sections:
        run_kernel(args, report, rng)
    if "layers" in args.sections:
        run_layers(args, report, rng)
    text = "\n".join(report)
    print(text)
    if args.output:
        pathlib.Path(args.output).write_text(text + "\n")


if __name__ == "__main__":
    main()
