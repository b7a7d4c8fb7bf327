"""The cost of packing: a scan over packed documents against the same scan unpacked.

`keras_ssm.ops.linear_recurrence(a, b, segment_ids=...)` restarts the state at each
document (a_t times keep_t, never a per-step `a` for a time-invariant system where the
path carries the factors itself). This times, forward+backward (gradients for a and b),
each implementation of the backend on the same (B, L, N) complex scan with a
time-invariant `a` (the layers' case) and once with a per-step `a`, without and with
`segment_ids` (documents of random lengths, about `--document` steps each), interleaved
in one run; the ratio packed / unpacked is the cost of packing (target <= 1.2x).
`causal_conv` with `segment_ids` sums its taps exactly per document instead of one FFT
product: that row shows its price at one small shape.

```bash
KERAS_BACKEND=jax python -m benchmarks.packing --output benchmarks/results/packing-jax-cpu.md
```
"""

import argparse
import os
import pathlib
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import keras_ssm  # noqa: E402
from benchmarks import _timing as T  # noqa: E402
from keras_ssm import config  # noqa: E402


def document_ids(rng, batch, length, mean):
    """(batch, length) int32 ids of documents of random lengths (about `mean` steps)."""
    ids = np.zeros((batch, length), "int32")
    for row in ids:
        start, index = 0, 0
        while start < length:
            size = int(rng.integers(max(1, mean // 2), mean * 3 // 2 + 1))
            row[start : start + size] = index
            start, index = start + size, index + 1
    return ids


def scan(impl, segment_ids):
    def fn(a_re, a_im, b_re, b_im):
        with config.use_implementation("linear_recurrence", impl):
            return keras_ssm.ops.linear_recurrence(
                (a_re, a_im), (b_re, b_im), segment_ids=segment_ids
            )

    return fn


def conv(segment_ids):
    def fn(u, k):
        return keras_ssm.ops.causal_conv(u, k, segment_ids=segment_ids)

    return fn


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", default=["8,4096,64"], help="B,L,N")
    parser.add_argument("--document", type=int, default=512, help="mean document length")
    parser.add_argument("--conv-shape", default="8,1024,64", help="B,L,H ('' to skip)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--min-seconds", type=float, default=1.0)
    parser.add_argument("--output", default=None)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    draw = lambda *s, scale=1.0: T.to_device((scale * rng.uniform(-1, 1, s)).astype("float32"))
    rows = []
    impls = keras_ssm.ops.implementations("linear_recurrence")
    for shape in args.shapes:
        batch, length, n = (int(x) for x in shape.split(","))
        ids = T.to_device(document_ids(rng, batch, length, args.document))
        b = (draw(batch, length, n), draw(batch, length, n))
        for a_kind, a_shape in (("invariant", (n,)), ("per step", (batch, length, n))):
            a = (draw(*a_shape, scale=0.9), draw(*a_shape, scale=0.4))
            g = (draw(batch, length, n), draw(batch, length, n))
            for impl in impls:
                calls, modes = {}, {}
                try:
                    for packed in (False, True):
                        fn = T.vjp_fn(scan(impl, ids if packed else None))
                        compiled, mode = T.compile_and_warm(fn, (*a, *b, g))
                        calls[packed] = (compiled, (*a, *b, g))
                        modes[packed] = mode
                except Exception as error:  # noqa: BLE001 - a path that does not apply here
                    print(f"{impl} skipped: {T.short_error(error)}", flush=True)
                    continue
                times = T.interleaved_medians(
                    calls, repeats=args.repeats, min_seconds=args.min_seconds
                )
                plain, packed = times[False][0], times[True][0]
                rows.append(
                    [
                        shape,
                        f"linear_recurrence {impl}, {a_kind} a",
                        modes[True],
                        T.fmt(plain * 1e3),
                        T.fmt(packed * 1e3),
                        f"{packed / plain:.2f}x",
                    ]
                )
                print(rows[-1], flush=True)
    if args.conv_shape:
        batch, length, h = (int(x) for x in args.conv_shape.split(","))
        ids = T.to_device(document_ids(rng, batch, length, args.document))
        inputs = (draw(batch, length, h), draw(h, length))
        g = draw(batch, length, h)
        calls = {}
        for packed in (False, True):
            compiled, mode = T.compile_and_warm(
                T.vjp_fn(conv(ids if packed else None)), (*inputs, g)
            )
            calls[packed] = (compiled, (*inputs, g))
        times = T.interleaved_medians(calls, repeats=args.repeats, min_seconds=args.min_seconds)
        plain, packed = times[False][0], times[True][0]
        rows.append(
            [
                args.conv_shape,
                "causal_conv (FFT / exact per document)",
                mode,
                T.fmt(plain * 1e3),
                T.fmt(packed * 1e3),
                f"{packed / plain:.2f}x",
            ]
        )
        print(rows[-1], flush=True)
    text = "\n".join(
        [
            f"# Packing: packed scans against unpacked ones ({T.backend()}, "
            f"{T.device_description()})",
            "",
            f"- {time.strftime('%Y-%m-%d')}; {T.library_versions()}; load average at the end "
            f"{T.load_average()} "
            "(a shared machine: the ratios come from calls interleaved in one run).",
            f"- forward+backward (gradients for every float input), complex64, median of "
            f"interleaved calls after compilation; documents of about {args.document} steps.",
            f"- Command: `KERAS_BACKEND={T.backend()} python -m benchmarks.packing "
            + " ".join(sys.argv[1:] if argv is None else argv)
            + "`",
            "",
            T.markdown_table(["shape", "op", "mode", "unpacked ms", "packed ms", "ratio"], rows),
            "",
        ]
    )
    print(text)
    if args.output:
        pathlib.Path(args.output).write_text(text)


if __name__ == "__main__":
    main()
