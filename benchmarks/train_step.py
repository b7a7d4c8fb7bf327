"""Whole training steps: the SSMs against a Keras GRU and LSTM of equal width and depth.

What a user feels is `model.fit`'s step time, not an op's. This times one optimizer step
(forward, backward, update, through `model.train_on_batch`, Keras' own train function)
of the sequential-image classifiers of `examples/sequential_image.py` at a preset's
shape, for the SSMs and the GRU/LSTM/Transformer baselines at the **same width and
depth**, interleaved in one process so that their ratios share the machine's state.

Each model runs in one or more *variants*, how Keras compiles its train step:

- ``auto``: `model.compile(jit_compile="auto")`, Keras' default: XLA on jax; on
  TensorFlow a `tf.function`, with XLA only where a GPU is present; eager on torch;
- ``jit``: `jit_compile=True`: XLA on jax and TensorFlow, `torch.compile` on torch;
- ``cudagraphs`` (torch): `jit` with ``torch.compile(mode="reduce-overhead")``, which
  replays CUDA graphs of the compiled pieces (what a user gets with
  ``torch._inductor.config.triton.cudagraphs = True``);
- ``free`` (a measurement, not a way to train): ``auto`` with the SSM's sequence kernels
  (`linear_recurrence`, `causal_conv`) replaced by elementwise maps of the same shapes
  (h = b; y = u ⊙ mean(K) along time): the step's cost outside the scan or convolution,
  the floor that no faster scan or FFT kernel can go below. A layer whose step runs the
  fused chunked recurrence instead of these ops (DSS and DLR on TensorFlow) is unchanged.

`--variants` applies to the SSMs; a model written ``name:variant`` (``gru:jit``) runs in
that variant only. Baselines run in ``auto`` (on a GPU, the cuDNN GRU/LSTM kernels).

```bash
KERAS_BACKEND=jax python -m benchmarks.train_step                 # cpu preset, sfashion, batch 32
KERAS_BACKEND=torch python -m benchmarks.train_step --variants auto jit --models s5 gru
KERAS_BACKEND=tensorflow python -m benchmarks.train_step --variants auto jit --rounds 3
python -m benchmarks.train_step --dry-run    # batch 2, width 8, depth 1: checks the script
```

Reported: the median seconds per step (after the compile and warm-up steps) over
`--rounds` runs of `--repeats` interleaved steps each (the median of the rounds'
medians), the ratio to the GRU and to the LSTM (``auto``), the compile-and-warm-up time,
the parameter count; a markdown table to stdout and `--output`.
"""

import argparse
import functools
import pathlib
import sys
import time

import keras
import numpy as np

from benchmarks import _timing as T

MODELS = ("s5", "dss", "dlr", "s4d", "lru", "gru", "lstm", "transformer")
BASELINES = ("gru", "lstm", "transformer")
VARIANTS = ("auto", "jit", "cudagraphs", "free")
FREE = "free_for_benchmark"


def parse_models(names, variants):
    """[(name, variant)]: ``name:variant`` as written, SSMs in every variant, baselines auto."""
    specs = []
    for item in names:
        name, _, variant = item.partition(":")
        if name not in MODELS or (variant and variant not in VARIANTS):
            raise SystemExit(f"unknown model {item!r}: use one of {MODELS}[:{'|'.join(VARIANTS)}]")
        if variant:
            specs.append((name, variant))
        elif name in BASELINES:
            specs.append((name, "auto"))
        else:
            specs.extend((name, v) for v in variants)
    if T.backend() != "torch" and any(v == "cudagraphs" for _, v in specs):
        raise SystemExit("the cudagraphs variant is torch's (torch.compile reduce-overhead)")
    return specs


def label(name, variant):
    return name if variant == "auto" else f"{name} ({variant})"


def build(name, variant, task, preset, width=None, depth=None):
    """A compiled model of `examples/sequential_image.py` (baselines at the S5 preset's width)."""
    from examples import paper_setup
    from examples import presets
    from examples import sequential_image as si

    source = name if name in presets.IMAGE_PRESETS[preset] else "s5"
    settings = dict(presets.IMAGE_PRESETS[preset][source][task])
    if width is not None:
        settings["hidden_size"] = int(width)
    if depth is not None:
        settings["num_layers"] = int(depth)
    if name not in BASELINES:
        model = si.build_ssm_model(task, name, settings, seed=0)
        optimizer = paper_setup.paper_optimizer(model, name, settings, steps_per_epoch=1000)
    else:
        s5_width = dict(presets.IMAGE_PRESETS[preset]["s5"][task])["hidden_size"]
        model = si.build_baseline_model(task, name, settings, width or s5_width, seed=0)
        optimizer = si.baseline_optimizer(settings)(model, 1000)
    if variant == "free":
        _free_kernels(model)
    model.compile(
        optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=True if variant in ("jit", "cudagraphs") else "auto",
    )
    if variant == "cudagraphs":
        _compile_train_function(model, mode="reduce-overhead")
    return model


def _free_kernels(model):
    """Points every SSM layer of `model` at the elementwise stand-ins of its kernels."""
    from keras_ssm.layers import families
    from keras_ssm.ops import registry

    if FREE not in registry.implementations("linear_recurrence"):
        registry.register("linear_recurrence", FREE)(_free_recurrence)
        registry.register("causal_conv", FREE)(_free_conv)
    found = 0
    layers = list(model.layers)
    while layers:
        layer = layers.pop()
        layers.extend(getattr(layer, "layers", []))
        ssm = getattr(layer, "ssm", layer)
        if families.name_of(ssm) is not None:
            ssm.implementation = {"linear_recurrence": FREE, "causal_conv": FREE}
            found += 1
    if not found:
        raise SystemExit("the free variant found no SSM layer in the model")


def _free_recurrence(a, b, *, reverse=False, initial_state=None, return_final_state=False, **_):
    """h = b (pairs stay pairs): linear_recurrence's shapes at the cost of no pass at all."""
    last = (lambda t: t[:, 0]) if reverse else (lambda t: t[:, -1])
    final = tuple(last(t) for t in b) if isinstance(b, (tuple, list)) else last(b)
    return (b, final) if return_final_state else b


def _free_conv(u, kernel, backward_kernel=None, **_):
    """y = u ⊙ mean(K) over time (+ the backward kernel's): one pass, gradients to K."""
    scale = keras.ops.mean(kernel, axis=1)
    if backward_kernel is not None:
        scale = scale + keras.ops.mean(backward_kernel, axis=1)
    return u * keras.ops.cast(scale, u.dtype)


def _compile_train_function(model, mode):
    """Keras' torch train function, compiled by torch.compile(mode=mode) (Keras passes none)."""
    import unittest.mock

    import torch

    with unittest.mock.patch.object(torch, "compile", functools.partial(torch.compile, mode=mode)):
        model.make_train_function(force=True)


def warm(models, batch, warmup):
    """{key: seconds}: each model's compile and `warmup` first steps."""
    x, y = batch
    seconds = {}
    for key, model in models.items():
        start = time.perf_counter()
        for _ in range(warmup):
            model.train_on_batch(x, y)
        seconds[key] = time.perf_counter() - start
        print(f"  {label(*key)}: compiled and warmed in {seconds[key]:.1f} s", flush=True)
    return seconds


def time_steps(models, batch, repeats):
    """{key: [seconds per step, ...]}: `repeats` rounds, each model one step per round."""
    x, y = batch
    times = {key: [] for key in models}
    for _ in range(repeats):
        for key, model in models.items():
            model.train_on_batch(x, y)  # untimed: the same program just ran
            start = time.perf_counter()
            model.train_on_batch(x, y)
            times[key].append(time.perf_counter() - start)
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="sfashion")
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--models", nargs="+", default=["s5", "dss", "dlr", "gru", "lstm"])
    parser.add_argument("--variants", nargs="+", default=["auto"], choices=VARIANTS)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--width", type=int, default=None, help="override every model's width")
    parser.add_argument("--depth", type=int, default=None, help="override every model's depth")
    parser.add_argument("--repeats", type=int, default=7, help="interleaved steps per round")
    parser.add_argument("--rounds", type=int, default=1, help="rounds; the median of medians")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--dry-run", action="store_true", help="batch 2, width 8, depth 1, 1 step")
    parser.add_argument("--output", default=None, help="also write the table to this .md file")
    args = parser.parse_args(argv)
    if args.dry_run:
        args.batch_size, args.width, args.depth = 2, 8, 1
        args.repeats, args.rounds, args.warmup = 1, 1, 1

    from examples import presets
    from keras_ssm.data import images

    info = images.TASK_INFO[args.task]
    settings = presets.IMAGE_PRESETS[args.preset]["s5"][args.task]
    batch_size = args.batch_size or settings["batch_size"]
    length = info["seq_len"]
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (batch_size, length, info["channels"])).astype("uint8")
    y = rng.integers(0, info["num_classes"], (batch_size,)).astype("int32")
    print(
        f"{T.backend()} on {T.device_description()}: {args.task}, preset {args.preset}, "
        f"batch {batch_size}, L {length}; load average {T.load_average()}",
        flush=True,
    )
    specs = parse_models(args.models, args.variants)
    models = {key: build(*key, args.task, args.preset, args.width, args.depth) for key in specs}
    warmed = warm(models, (x, y), args.warmup)
    rounds = [time_steps(models, (x, y), args.repeats) for _ in range(args.rounds)]
    median = {key: float(np.median([np.median(r[key]) for r in rounds])) for key in models}
    peers = {peer: median.get((peer, "auto")) for peer in ("gru", "lstm")}
    rows = []
    for key in specs:
        row = [label(*key), str(models[key].count_params()), f"{median[key]:.4f}"]
        row += [T.fmt(median[key] / peers[p]) if peers[p] else "-" for p in ("gru", "lstm")]
        rows.append(row + [f"{warmed[key]:.1f}"])
    width = args.width or settings["hidden_size"]
    depth = args.depth or settings["num_layers"]
    lines = [
        f"# Training step: {args.task} (L = {length}), preset `{args.preset}`, "
        f"batch {batch_size}, width {width}, depth {depth}",
        "",
        f"- backend: {T.backend()}; device: {T.device_description()}; "
        f"{time.strftime('%Y-%m-%d %H:%M')}; load average {T.load_average()} at the end",
        f"- command: `KERAS_BACKEND={T.backend()} python -m benchmarks.train_step "
        f"{' '.join(argv if argv is not None else sys.argv[1:])}`",
        f"- median over {args.rounds} round(s) of the median of {args.repeats} interleaved "
        f"steps (`model.train_on_batch`), after {args.warmup} warm-up steps; each timed step "
        "follows an untimed one of the same model; ratios to the GRU/LSTM in `auto`",
        "",
        T.markdown_table(
            ["model", "parameters", "s / step", "x GRU", "x LSTM", "compile + warm-up s"], rows
        ),
        "",
    ]
    text = "\n".join(lines)
    print(text, flush=True)
    if args.output:
        pathlib.Path(args.output).write_text(text)
    return {label(*key): value for key, value in median.items()}


if __name__ == "__main__":
    main()
