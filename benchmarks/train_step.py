"""Whole training steps: S5, DSS and DLR against a Keras GRU and LSTM of equal width and depth.

What a user feels is `model.fit`'s step time, not an op's. This times one optimizer step
(forward, backward, update, through `model.train_on_batch`, Keras' own compiled train
function) of the sequential-image classifiers of `examples/sequential_image.py` at a
preset's shape, for the three SSMs and the GRU/LSTM/Transformer baselines at the **same
width and depth**, interleaved in one process so their ratios share the machine's state.

```bash
KERAS_BACKEND=jax python -m benchmarks.train_step                 # cpu preset, sfashion, batch 32
KERAS_BACKEND=torch python -m benchmarks.train_step --models s5 gru --repeats 5
python -m benchmarks.train_step --output benchmarks/results/train_step-jax-cpu.md
```

Reported: the median seconds per step (after the compile and warm-up steps), the ratio to
the GRU and to the LSTM, the parameter count; a markdown table to stdout and `--output`.
"""

import argparse
import pathlib
import sys
import time

import keras
import numpy as np

from benchmarks import _timing as T

MODELS = ("s5", "dss", "dlr", "gru", "lstm", "transformer")


def build(name, task, preset, width=None):
    """A compiled model of `examples/sequential_image.py` (baselines at the S5 preset's width)."""
    from examples import paper_setup
    from examples import presets
    from examples import sequential_image as si

    source = name if name in paper_setup.SSM_MODELS else "s5"
    settings = dict(presets.IMAGE_PRESETS[preset][source][task])
    if width is not None:
        settings["hidden_size"] = int(width)
    if name in paper_setup.SSM_MODELS:
        model = si.build_ssm_model(task, name, settings, seed=0)
        optimizer = paper_setup.paper_optimizer(model, name, settings, steps_per_epoch=1000)
    else:
        s5_width = dict(presets.IMAGE_PRESETS[preset]["s5"][task])["hidden_size"]
        model = si.build_baseline_model(task, name, settings, width or s5_width, seed=0)
        optimizer = si.baseline_optimizer(settings)(model, 1000)
    model.compile(optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def time_steps(models, batch, repeats, warmup):
    """{name: [seconds per step, ...]}: `repeats` rounds, each model one step per round."""
    x, y = batch
    for name, model in models.items():
        start = time.perf_counter()
        for _ in range(warmup):
            model.train_on_batch(x, y)
        print(f"  {name}: compiled and warmed in {time.perf_counter() - start:.1f} s", flush=True)
    times = {name: [] for name in models}
    for _ in range(repeats):
        for name, model in models.items():
            model.train_on_batch(x, y)  # untimed: the same program just ran
            start = time.perf_counter()
            model.train_on_batch(x, y)
            times[name].append(time.perf_counter() - start)
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="sfashion")
    parser.add_argument("--preset", default="cpu")
    parser.add_argument(
        "--models", nargs="+", default=["s5", "dss", "dlr", "gru", "lstm"], choices=MODELS
    )
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--width", type=int, default=None, help="override every model's width")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--output", default=None, help="also write the table to this .md file")
    args = parser.parse_args(argv)

    from examples import presets
    from keras_ssm.data import images

    info = images.TASK_INFO[args.task]
    settings = presets.IMAGE_PRESETS[args.preset]["s5"][args.task]
    batch_size = args.batch_size or settings["batch_size"]
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (batch_size, info["seq_len"], info["channels"])).astype("uint8")
    y = rng.integers(0, info["num_classes"], (batch_size,)).astype("int32")
    print(
        f"{T.backend()} on {T.device_description()}: {args.task}, preset {args.preset}, "
        f"batch {batch_size}, L {info['seq_len']}",
        flush=True,
    )
    models = {name: build(name, args.task, args.preset, args.width) for name in args.models}
    times = time_steps(models, (x, y), args.repeats, args.warmup)
    median = {name: float(np.median(t)) for name, t in times.items()}
    rows = []
    for name in args.models:
        row = [name, str(models[name].count_params()), f"{median[name]:.3f}"]
        for peer in ("gru", "lstm"):
            row.append(T.fmt(median[name] / median[peer]) if peer in median else "-")
        rows.append(row)
    width = args.width or settings["hidden_size"]
    lines = [
        f"# Training step: {args.task} (L = {info['seq_len']}), preset `{args.preset}`, "
        f"batch {batch_size}, width {width}, depth {settings['num_layers']}",
        "",
        f"- backend: {T.backend()}; device: {T.device_description()}; "
        f"{time.strftime('%Y-%m-%d')}; load average {T.load_average()}",
        f"- command: `KERAS_BACKEND={T.backend()} python -m benchmarks.train_step "
        f"{' '.join(argv if argv is not None else sys.argv[1:])}`",
        f"- median of {args.repeats} interleaved steps (`model.train_on_batch`), after "
        f"{args.warmup} warm-up steps; each timed step follows an untimed one of the same model",
        "",
        T.markdown_table(["model", "parameters", "s / step", "x GRU", "x LSTM"], rows),
        "",
    ]
    text = "\n".join(lines)
    print(text, flush=True)
    if args.output:
        pathlib.Path(args.output).write_text(text)
    return median


if __name__ == "__main__":
    main()
