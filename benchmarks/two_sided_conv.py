"""A bidirectional layer's convolution: one two-sided FFT product against two causal ones.

A bidirectional DSS/DLR layer in convolution mode adds a backward system's output,
flip(causal_conv(flip(u), K_b)). `keras_ssm.ops.causal_conv(u, K, backward_kernel=K_b)`
computes the same sum as one circular product (the backward taps at the end of a buffer
of size >= L + k - 1): one rfft of u, one of the combined kernel, one irfft, and no flips,
where the two-convolution form takes two of each. This times both, forward+backward
(gradients for u, K and K_b), compiled as the backend runs them, side by side in one run.

```bash
KERAS_BACKEND=jax python -m benchmarks.two_sided_conv \
    --output benchmarks/results/two-sided-conv-jax-cpu.md
```
"""

import argparse
import os
import pathlib
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

import keras_ssm  # noqa: E402
from benchmarks import _timing as T  # noqa: E402


def two_convolutions(u, k, kb):
    """The form a bidirectional layer used before: two causal convolutions and flips."""
    back = ops.flip(keras_ssm.ops.causal_conv(ops.flip(u, axis=1), kb), axis=1)
    return keras_ssm.ops.causal_conv(u, k) + back


def one_product(u, k, kb):
    return keras_ssm.ops.causal_conv(u, k, backward_kernel=kb)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--shapes", nargs="+", default=["32,784,64", "8,4096,64", "2,65536,64"], help="B,L,H"
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--min-seconds", type=float, default=1.0)
    parser.add_argument("--output", default=None)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    rows = []
    for shape in args.shapes:
        batch, length, features = (int(x) for x in shape.split(","))
        draw = lambda *s: T.to_device(rng.standard_normal(s).astype("float32"))
        inputs = (draw(batch, length, features), draw(features, length), draw(features, length))
        g = draw(batch, length, features)
        expected = ops.convert_to_numpy(two_convolutions(*inputs))
        got = ops.convert_to_numpy(one_product(*inputs))
        err = float(np.max(np.abs(got - expected)) / np.max(np.abs(expected)))
        calls, modes = {}, {}
        for name, fn in (
            ("two causal convolutions", two_convolutions),
            ("one two-sided product", one_product),
        ):
            compiled, mode = T.compile_and_warm(T.vjp_fn(fn), (*inputs, g), warmup=1)
            calls[name] = (compiled, (*inputs, g))
            modes[name] = mode
        times = T.interleaved_medians(calls, repeats=args.repeats, min_seconds=args.min_seconds)
        base = times["two causal convolutions"][0]
        for name in calls:
            t = times[name][0]
            rows.append(
                [shape, name, modes[name], T.fmt(t * 1e3), f"{t / base:.2f}x", f"{err:.1e}"]
            )
            print(rows[-1], flush=True)
    text = "\n".join(
        [
            f"# Bidirectional convolution: one two-sided FFT product against two causal ones "
            f"({T.backend()}, {T.device_description()})",
            "",
            f"- {T.library_versions()}; load average at the end {T.load_average()}.",
            "- forward+backward (gradients for u, K, K_b), median of interleaved calls after "
            "compilation; `rel diff` = max |one - two| / max |two| of the forward output.",
            f"- Command: `KERAS_BACKEND={T.backend()} python -m benchmarks.two_sided_conv "
            + " ".join(sys.argv[1:] if argv is None else argv)
            + "`",
            "",
            T.markdown_table(
                ["B,L,H", "form", "mode", "fwd+bwd ms", "x two convolutions", "rel diff"], rows
            ),
            "",
        ]
    )
    print(text)
    if args.output:
        pathlib.Path(args.output).write_text(text)


if __name__ == "__main__":
    main()
