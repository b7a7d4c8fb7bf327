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

This file is the program (arguments, the order of the sections); the work is in
``layer_calls.py`` (what is timed), ``layer_sweep.py`` (sections sweep and auto),
``s5_peer.py`` (section s5) and ``layer_report.py`` (tables and plot).

Usage:

```
KERAS_BACKEND=jax python -m benchmarks.layers --quick
KERAS_BACKEND=torch python -m benchmarks.layers --sections s5
KERAS_BACKEND=tensorflow python -m benchmarks.layers --sections sweep --lengths 1024 65536
```
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from benchmarks import _timing as T  # noqa: E402
from benchmarks.layer_calls import LAYER_KINDS  # noqa: E402
from benchmarks.layer_calls import SECTIONS  # noqa: E402
from benchmarks.layer_report import Report  # noqa: E402
from benchmarks.layer_report import plot  # noqa: E402
from benchmarks.layer_sweep import child_main  # noqa: E402
from benchmarks.layer_sweep import run_grid  # noqa: E402
from benchmarks.layer_sweep import run_sweep  # noqa: E402
from benchmarks.s5_peer import run_s5  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=SECTIONS)
    parser.add_argument("--layers", nargs="+", default=list(LAYER_KINDS), choices=LAYER_KINDS)
    # sweep
    parser.add_argument(
        "--lengths", nargs="+", type=int, default=[1024, 2048, 4096, 8192, 16384, 32768, 65536]
    )
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--features", type=int, default=64, help="H")
    parser.add_argument("--state", type=int, default=64, help="N")
    parser.add_argument(
        "--no-memory",
        dest="memory",
        action="store_false",
        help="skip the peak-memory subprocesses of the sweep",
    )
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
    parser.add_argument(
        "--min-seconds",
        type=float,
        default=2.0,
        help="time a call more than --repeats times until its calls add up to this",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=20.0,
        help="seconds per call above which a path is not run at larger L",
    )
    parser.add_argument(
        "--max-memory-gb",
        type=float,
        default=4.0,
        help="skip the recurrence where its estimated memory exceeds this",
    )
    parser.add_argument(
        "--kill-gb",
        type=float,
        default=10.0,
        help="kill a memory subprocess whose RSS exceeds this",
    )
    parser.add_argument("--child-timeout", type=float, default=900.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads for the backend (default: its own choice); 1 gives "
        "stable torch timings on a shared machine",
    )
    parser.add_argument(
        "--output", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
    )
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="drop the sections of an earlier run instead of keeping them",
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sizes everywhere (a smoke run, minutes)"
    )
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.lengths = [1024, 4096]
        args.batch, args.features, args.state = 1, 32, 32
        args.grid_batch, args.grid_lengths, args.grid_features, args.grid_states = (
            [1, 8],
            [1024],
            [32],
            [1, 16],
        )
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
    print(
        f"{T.backend()} on {T.device_description()} ({T.library_versions()}); "
        f"load {T.load_average()}",
        flush=True,
    )
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
