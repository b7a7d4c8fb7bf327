"""A Mamba language model: its training step against a GRU and a Transformer, and its
generation against transformers' MambaForCausalLM, on the CPU.

```bash
# One optimizer step (forward, backward, update; `train_on_batch`) of three byte-level
# LMs of the same width and depth: keras_ssm.hub.MambaCausalLM, a Keras GRU stack, and a
# keras-hub Transformer (Llama blocks), interleaved in one process:
KERAS_BACKEND=jax python -m benchmarks.mamba_lm train \
    --output benchmarks/results/mamba_lm-train-jax-cpu.md
# Greedy generation, batch 1, a random model of mamba-130m's shape (no download): the time
# to read the prompt and give the first token, decode tokens per second, peak memory;
# ours (this backend) and transformers' (PyTorch, its CPU path), each in its own process:
KERAS_BACKEND=jax python -m benchmarks.mamba_lm generate \
    --output benchmarks/results/mamba_lm-generate-jax-cpu.md
```

Both write a markdown table (stdout and `--output`) with the command, machine, date and
load average. Generation runs each model in a child process so that its peak resident
memory (VmHWM) is its own; "over weights" is the peak minus the resident memory once the
model is loaded and compiled, the memory that generation itself takes.
"""

import argparse
import json
import pathlib
import subprocess
import sys
import time

import numpy as np

from benchmarks import _timing as T

# mamba-130m's shape (state-spaces/mamba-130m-hf config.json), random weights.
MAMBA_130M = dict(vocab_size=50280, hidden_size=768, num_hidden_layers=24, state_size=16)


# --------------------------------------------------------------------------------------
# training step


def build_lms(width, depth, vocabulary=256):
    """{name: compiled keras.Model} of three LMs of the same width and depth."""
    import keras
    import keras_hub

    import keras_ssm.hub as hub

    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    mamba = hub.MambaCausalLM(
        hub.MambaBackbone(vocabulary, hidden_dim=width, num_layers=depth, seed=0)
    )
    tokens = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(vocabulary, width)(tokens)
    for _ in range(depth):
        x = keras.layers.GRU(width, return_sequences=True)(x)
    gru = keras.Model(tokens, keras.layers.Dense(vocabulary)(x), name="gru_lm")
    llama = keras_hub.models.LlamaCausalLM(
        keras_hub.models.LlamaBackbone(
            vocabulary_size=vocabulary,
            num_layers=depth,
            num_query_heads=4,
            num_key_value_heads=4,
            hidden_dim=width,
            intermediate_dim=4 * width,
        ),
        preprocessor=None,
    )
    models = {"mamba": mamba, "gru": gru, "transformer": llama}
    for model in models.values():
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss)
    return models


def train(args):
    rng = np.random.default_rng(0)
    token_ids = rng.integers(0, 256, (args.batch_size, args.seq_len + 1)).astype("int32")
    x, y = token_ids[:, :-1], token_ids[:, 1:]
    dict_inputs = {"token_ids": x, "padding_mask": np.ones_like(x)}
    models = build_lms(args.width, args.depth)
    inputs = {name: (x if name == "gru" else dict_inputs) for name in models}
    calls = {}
    for name, model in models.items():
        start = time.perf_counter()
        for _ in range(args.warmup):
            model.train_on_batch(inputs[name], y)
        print(f"  {name}: compiled and warmed in {time.perf_counter() - start:.1f} s", flush=True)
        calls[name] = (lambda m=model, i=inputs[name]: m.train_on_batch(i, y), ())
    medians = T.interleaved_medians(calls, repeats=args.repeats, warm_each=True)
    rows = [
        [
            name,
            f"{models[name].count_params():,}",
            f"{medians[name][0]:.3f}",
            T.fmt(medians[name][0] / medians["gru"][0]),
            T.fmt(medians[name][0] / medians["transformer"][0]),
        ]
        for name in models
    ]
    title = (
        f"# Language-model training step: width {args.width}, depth {args.depth}, batch "
        f"{args.batch_size}, length {args.seq_len}, 256 tokens"
    )
    notes = [
        "mamba: `keras_ssm.hub.MambaCausalLM` (N = 16, expand 2, tied head); gru: Embedding → "
        f"{args.depth} × GRU → Dense; transformer: keras-hub `LlamaCausalLM` (4 heads, MLP "
        f"{4 * args.width}, RoPE). Adam, sparse cross-entropy.",
        f"median of {args.repeats} interleaved `train_on_batch` steps, each after an untimed "
        f"one of the same model; {args.warmup} warm-up steps.",
    ]
    write(args, title, notes, ["model", "parameters", "s / step", "x GRU", "x Transformer"], rows)


# --------------------------------------------------------------------------------------
# generation


def generate_one(args):
    """In a child process: one model's generation timings; prints a RESULT line."""
    config = dict(MAMBA_130M, num_hidden_layers=args.layers)
    prompt = np.random.default_rng(0).integers(0, 50000, (1, args.prompt)).astype("int32")
    if args.which == "transformers":
        import torch
        import transformers

        torch.set_num_threads(args.threads)
        torch.manual_seed(0)
        model = transformers.MambaForCausalLM(transformers.MambaConfig(**config)).eval()
        ids = torch.tensor(prompt, dtype=torch.long)

        def run(new):
            with torch.no_grad():
                return model.generate(
                    ids,
                    attention_mask=torch.ones_like(ids),
                    max_new_tokens=new,
                    min_new_tokens=new,
                    do_sample=False,
                )

        backend, parameters = "torch (transformers)", sum(p.numel() for p in model.parameters())
    else:
        import keras

        import keras_ssm.hub as hub

        T.limit_threads(args.threads)
        backbone = hub.MambaBackbone(
            config["vocab_size"],
            hidden_dim=config["hidden_size"],
            num_layers=config["num_hidden_layers"],
            state_size=config["state_size"],
            seed=0,
        )
        model = hub.MambaCausalLM(backbone)
        model.compile(sampler="greedy")

        def run(new):
            token_ids = np.zeros((1, args.prompt + new), "int32")
            token_ids[:, : args.prompt] = prompt
            mask = np.arange(args.prompt + new)[None] < args.prompt
            out = model.generate(
                {"token_ids": token_ids, "padding_mask": mask}, stop_token_ids=None
            )
            return keras.ops.convert_to_numpy(out["token_ids"])

        backend, parameters = f"keras_ssm ({keras.config.backend()})", model.count_params()
    for new in (1, args.new_tokens):  # compile / warm both lengths
        run(new)
    loaded = T.rss_bytes()
    times = {
        new: min(_timed(run, new) for _ in range(args.repeats)) for new in (1, args.new_tokens)
    }
    record = dict(
        which=args.which,
        backend=backend,
        parameters=int(parameters),
        prefill_seconds=times[1],
        decode_tokens_per_second=(args.new_tokens - 1)
        / max(times[args.new_tokens] - times[1], 1e-9),
        peak_rss_mb=T.peak_rss_bytes() / 2**20,
        over_weights_mb=(T.peak_rss_bytes() - loaded) / 2**20,
    )
    print("RESULT " + json.dumps(record), flush=True)


def _timed(run, new):
    start = time.perf_counter()
    run(new)
    return time.perf_counter() - start


def generate(args):
    rows = []
    for which in ("keras_ssm", "transformers"):
        command = [sys.executable, "-m", "benchmarks.mamba_lm", "generate-one", "--which", which]
        for name in ("layers", "prompt", "new_tokens", "repeats", "threads"):
            command += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
        proc = subprocess.run(command, capture_output=True, text=True)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
        if proc.returncode or not lines:
            rows.append([which, "failed: " + (proc.stderr.strip().splitlines() or ["?"])[-1]])
            continue
        r = json.loads(lines[-1][len("RESULT ") :])
        print(json.dumps(r), flush=True)
        rows.append(
            [
                r["backend"],
                f"{r['parameters']:,}",
                f"{r['prefill_seconds']:.3f}",
                f"{r['decode_tokens_per_second']:.1f}",
                f"{r['peak_rss_mb']:.0f}",
                f"{r['over_weights_mb']:.0f}",
            ]
        )
    title = (
        f"# Mamba generation on the CPU: mamba-130m's shape with {args.layers} layers, "
        f"prompt {args.prompt}, {args.new_tokens} new tokens, batch 1, greedy"
    )
    notes = [
        "keras_ssm: `keras_ssm.hub.MambaCausalLM.generate` (the cache: each layer's conv "
        "window and SSM state); transformers: `MambaForCausalLM.generate` (its MambaCache), "
        "random weights of the same shape.",
        f"best of {args.repeats} runs per length; decode tokens/s = (new − 1) / (t(new) − t(1)); "
        f"{args.threads} compute thread(s) each.",
    ]
    headers = ["model", "parameters", "prompt + 1st token (s)", "decode tokens/s", "peak RSS (MB)"]
    write(args, title, notes, headers + ["over weights (MB)"], rows)


# --------------------------------------------------------------------------------------


def write(args, title, notes, headers, rows):
    command = f"KERAS_BACKEND={T.backend()} python -m benchmarks.mamba_lm {' '.join(sys.argv[1:])}"
    lines = [
        title,
        "",
        f"- backend: {T.backend()}; device: {T.device_description()}; "
        f"{time.strftime('%Y-%m-%d')}; load average {T.load_average()}",
        f"- command: `{command}`",
        *[f"- {note}" for note in notes],
        "",
        T.markdown_table(headers, rows),
        "",
    ]
    text = "\n".join(lines)
    print(text, flush=True)
    if args.output:
        pathlib.Path(args.output).write_text(text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    t = commands.add_parser("train", help="training step against a GRU and a Transformer")
    t.add_argument("--width", type=int, default=128)
    t.add_argument("--depth", type=int, default=4)
    t.add_argument("--batch-size", type=int, default=8)
    t.add_argument("--seq-len", type=int, default=512)
    t.add_argument("--repeats", type=int, default=5)
    t.add_argument("--warmup", type=int, default=2)
    t.add_argument("--output", default=None)
    g = commands.add_parser("generate", help="generation against transformers'")
    o = commands.add_parser("generate-one", help=argparse.SUPPRESS)
    o.add_argument("--which", choices=("keras_ssm", "transformers"), required=True)
    for p in (g, o):
        p.add_argument("--layers", type=int, default=24)
        p.add_argument("--prompt", type=int, default=128)
        p.add_argument("--new-tokens", type=int, default=32)
        p.add_argument("--repeats", type=int, default=3)
        p.add_argument("--threads", type=int, default=1)
    g.add_argument("--output", default=None)
    args = parser.parse_args(argv)
    {"train": train, "generate": generate, "generate-one": generate_one}[args.command](args)


if __name__ == "__main__":
    main()
