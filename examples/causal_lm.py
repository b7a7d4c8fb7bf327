"""A byte-level SSM language model on the Python standard library's sources, the keras-hub way.

```bash
# Train (S5 blocks, bytes in, next byte out), write the loss curve, samples and a preset:
KERAS_BACKEND=jax python -m examples.causal_lm train --output runs/causal_lm --rounds 10
# The same with Mamba blocks (keras_ssm.hub.MambaCausalLM, x + Mamba(RMSNorm(x))):
KERAS_BACKEND=jax python -m examples.causal_lm train --model mamba --output runs/causal_lm_mamba
# Generation speed and memory at prompt lengths 128 .. 65,536: the SSM carrying its state,
# the same model recomputing the whole prefix per token, and a keras-hub Transformer
# (Llama blocks, RoPE) of about the same size with its key/value cache:
KERAS_BACKEND=jax python -m examples.causal_lm bench --preset runs/causal_lm/preset \
    --output runs/causal_lm_bench
```

The corpus is every `*.py` file of the running Python's standard library (outside
`test/`, `tests/` and `site-packages/`; every 20th file, in sorted order, is the
validation set), present on every machine with Python. Training windows are random
`--seq-len`-character slices, fed as strings through `SSMCausalLMPreprocessor` (start
byte, text, end byte; labels shifted by one). The loss is in nats per byte; bits per
byte = loss / ln 2. `--model s5` (default) is an `SSMCausalLM` of S5 blocks; `--model
mamba` a `MambaCausalLM` of the same width and depth (N = 16, its head tied to the byte
embedding), trained with its paper's groups (A_log and D without weight decay).

`train` writes to `--output`: `history.json` (training and validation loss per round),
`loss.png`, `samples.md` (top-k generations), `preset/` (`save_to_preset`, loaded back
with `SSMCausalLM.from_preset` and checked to generate the same greedy text) and
`results.json`. `bench` runs each (method, prompt length) in its own process, so that
the peak resident memory (`ru_maxrss`) is that run's, and writes `bench.json` and
`bench.md`: time to read the prompt and start generating (prefill), decode tokens per
second, and peak memory.
"""

import argparse
import datetime
import json
import math
import os
import platform
import resource
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import numpy as np

DEFAULT_LENGTHS = (128, 512, 2048, 8192, 32768, 65536)
METHODS = ("ssm_state", "ssm_recompute", "transformer_kv_cache")
MODEL = dict(hidden_dim=128, num_layers=4, ssm="s5", state_size=64, blocks=4)
MAMBA_MODEL = dict(hidden_dim=128, num_layers=4, ssm="mamba", state_size=16)
MODELS = {"s5": MODEL, "mamba": MAMBA_MODEL}


# ----------------------------------------------------------------------------
# data


def stdlib_sources():
    """(train text, validation text): the standard library's Python sources."""
    root = Path(sysconfig.get_paths()["stdlib"])
    skip = {"test", "tests", "site-packages", "idlelib", "lib2to3"}
    files = sorted(p for p in root.rglob("*.py") if not skip & set(p.relative_to(root).parts))
    train, validation = [], []
    for i, path in enumerate(files):
        text = path.read_text(encoding="utf-8", errors="replace")
        (validation if i % 20 == 0 else train).append(text)
    return "\n".join(train), "\n".join(validation), len(files)


def windows(text, count, length, rng):
    """`count` random slices of `length` characters."""
    starts = rng.integers(0, len(text) - length, count)
    return [text[s : s + length] for s in starts]


# ----------------------------------------------------------------------------
# models


def build_ssm_lm(seq_len, model=MODEL, seed=0):
    import keras_ssm.hub as hub

    preprocessor = hub.SSMCausalLMPreprocessor(hub.SSMByteTokenizer(), sequence_length=seq_len)
    if model["ssm"] == "mamba":
        backbone = hub.MambaBackbone(
            vocabulary_size=256,
            hidden_dim=model["hidden_dim"],
            num_layers=model["num_layers"],
            state_size=model["state_size"],
            seed=seed,
        )
        return hub.MambaCausalLM(backbone, preprocessor=preprocessor, prefill_chunk_size=1024)
    backbone = hub.SSMBackbone(
        vocabulary_size=256,
        hidden_dim=model["hidden_dim"],
        num_layers=model["num_layers"],
        ssm=model["ssm"],
        ssm_kwargs={"state_size": model["state_size"], "blocks": model["blocks"]},
        norm="layer",
        prenorm=True,
        activation="half_glu1",
        seed=seed,
    )
    return hub.SSMCausalLM(backbone, preprocessor=preprocessor, prefill_chunk_size=1024)


def build_transformer_lm(num_parameters, num_layers=MODEL["num_layers"], hidden_dim=64, heads=4):
    """A keras-hub Llama CausalLM (RoPE: no position table) with about `num_parameters`.

    The same depth as the SSM; attention costs 4·H² per layer where an S5 block costs
    far less, so at equal size the Transformer is narrower (H = 64 against 128), with
    the gated MLP's width chosen to match the parameter count (about 2·H).
    """
    import keras_hub

    # Per layer: attention 4·H², gated MLP 3·H·I, two norms; embeddings + head 2·256·H.
    per_layer = (num_parameters - 2 * 256 * hidden_dim - hidden_dim) / num_layers
    intermediate = max(
        8, int(round((per_layer - 4 * hidden_dim**2 - 2 * hidden_dim) / (3 * hidden_dim)))
    )
    backbone = keras_hub.models.LlamaBackbone(
        vocabulary_size=256,
        num_layers=num_layers,
        num_query_heads=heads,
        hidden_dim=hidden_dim,
        intermediate_dim=intermediate,
        num_key_value_heads=heads,
    )
    return keras_hub.models.LlamaCausalLM(backbone, preprocessor=None)


# ----------------------------------------------------------------------------
# train


def train(args):
    import keras
    import keras_hub

    import keras_ssm.hub  # noqa: F401  (registers the tasks that from_preset reads back)

    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    train_text, validation_text, num_files = stdlib_sources()
    validation = windows(
        validation_text, args.validation_windows, args.seq_len, np.random.default_rng(12345)
    )
    lm = build_ssm_lm(args.seq_len, model=MODELS[args.model], seed=args.seed)
    total_steps = args.rounds * args.steps_per_round
    optimizer = lm.backbone.ssm_optimizer(
        lr=args.lr,
        ssm_lr=args.ssm_lr,
        weight_decay=args.weight_decay,
        schedule="cosine",
        warmup_steps=max(1, total_steps // 20),
        total_steps=total_steps,
    )
    lm.compile(optimizer=optimizer, sampler="greedy")
    parameters = int(sum(np.prod(v.shape) for v in lm.trainable_variables))
    print(
        f"{parameters:,} parameters; corpus {len(train_text):,} + {len(validation_text):,} "
        f"characters from {num_files} files",
        flush=True,
    )

    history = {"step": [], "train_loss": [], "validation_loss": [], "seconds": []}
    start = time.time()
    for round_index in range(1, args.rounds + 1):
        batch = windows(train_text, args.steps_per_round * args.batch_size, args.seq_len, rng)
        fit = lm.fit(batch, batch_size=args.batch_size, epochs=1, verbose=0)
        validation_loss = lm.evaluate(validation, batch_size=args.batch_size, verbose=0)[0]
        history["step"].append(round_index * args.steps_per_round)
        history["train_loss"].append(float(fit.history["loss"][-1]))
        history["validation_loss"].append(float(validation_loss))
        history["seconds"].append(time.time() - start)
        print(
            f"step {history['step'][-1]}: train {history['train_loss'][-1]:.3f}, validation "
            f"{validation_loss:.3f} nats/byte ({validation_loss / math.log(2):.3f} bits), "
            f"{history['seconds'][-1]:.0f} s",
            flush=True,
        )
    (output / "history.json").write_text(json.dumps(history, indent=1))
    plot_history(history, output / "loss.png", args.model)

    # Samples: top-k (k = 5) and greedy, from prompts that open Python code.
    prompts = ["import ", "def __init__(self, ", "class ", "    for i in range("]
    lm.compile(sampler=keras_hub.samplers.TopKSampler(k=5, seed=args.seed))
    top_k = lm.generate(prompts, max_length=args.sample_length)
    lm.compile(sampler="greedy")
    greedy = lm.generate(prompts, max_length=args.sample_length)
    with open(output / "samples.md", "w") as f:
        for name, texts in (("top-k (k = 5)", top_k), ("greedy", greedy)):
            f.write(f"## {name}\n\n")
            for prompt, text in zip(prompts, texts):
                f.write(f"prompt `{prompt!r}`:\n\n```python\n{text}\n```\n\n")

    # The trained checkpoint as a keras-hub preset, loaded back from the local folder.
    lm.save_to_preset(str(output / "preset"))
    loaded = keras_hub.models.CausalLM.from_preset(str(output / "preset"))
    loaded.compile(sampler="greedy")
    same = loaded.generate(prompts, max_length=args.sample_length) == greedy
    results = {
        "command": " ".join(["python"] + sys.argv),
        "backend": keras.config.backend(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "parameters": parameters,
        "model": MODELS[args.model],
        "seq_len": args.seq_len,
        "batch_size": args.batch_size,
        "steps": total_steps,
        "final_validation_loss": history["validation_loss"][-1],
        "final_validation_bits_per_byte": history["validation_loss"][-1] / math.log(2),
        "training_seconds": history["seconds"][-1],
        "preset_reload_same_greedy_text": same,
    }
    (output / "results.json").write_text(json.dumps(results, indent=1))
    print(json.dumps(results, indent=1))


def plot_history(history, path, model="s5"):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(history["step"], np.array(history["train_loss"]) / math.log(2), "o-", label="train")
    ax.plot(
        history["step"],
        np.array(history["validation_loss"]) / math.log(2),
        "s-",
        label="validation",
    )
    ax.set_xlabel("step")
    ax.set_ylabel("bits per byte")
    name = {"s5": "S5", "mamba": "Mamba"}[model]
    ax.set_title(f"{name} byte-level LM on the Python standard library")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def machine():
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {platform.system()}"
    )


# ----------------------------------------------------------------------------
# bench


def peak_memory_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_one(args):
    """One method at one prompt length, in this process: prints one JSON line."""
    import keras

    from keras_ssm.hub import SSMCausalLM

    length, new = args.length, args.new_tokens
    if args.preset:
        lm = SSMCausalLM.from_preset(args.preset)
    else:
        lm = build_ssm_lm(256, model=MODELS[args.model])
    lm.preprocessor = None
    lm.compile(sampler="greedy")
    parameters = int(sum(np.prod(v.shape) for v in lm.trainable_variables))
    rng = np.random.default_rng(0)
    prompt = rng.integers(32, 127, (1, length)).astype("int32")

    def inputs(max_length):
        token_ids = np.zeros((1, max_length), "int32")
        token_ids[:, :length] = prompt
        mask = np.zeros((1, max_length), bool)
        mask[:, :length] = True
        return {"token_ids": token_ids, "padding_mask": mask}

    record = {"method": args.method, "length": length, "backend": keras.config.backend()}
    if args.method in ("ssm_state", "transformer_kv_cache"):
        model = lm if args.method == "ssm_state" else build_transformer_lm(parameters)
        if args.method == "transformer_kv_cache":
            model.compile(sampler="greedy")
        record["parameters"] = int(sum(np.prod(v.shape) for v in model.trainable_variables))
        record["cache_bytes"] = cache_bytes(model, length + new)
        baseline = peak_memory_mb()
        times = {}
        for count in (1, new):
            x = inputs(length + count)
            model.generate(x, stop_token_ids=None)  # compile for this shape
            times[count] = best_time(lambda: model.generate(x, stop_token_ids=None), args.repeats)
        # Prefill: the prompt read and the first token drawn; decode: each further token.
        record["prefill_seconds"] = times[1]
        record["decode_tokens_per_second"] = (new - 1) / max(times[new] - times[1], 1e-9)
    else:
        record["parameters"] = parameters
        record["cache_bytes"] = 0
        max_length = length + new
        x = inputs(max_length)
        forward = keras_forward(lm)
        baseline = peak_memory_mb()
        token_ids = x["token_ids"].copy()
        forward(token_ids, x["padding_mask"].astype("int32"))  # compile
        seconds = []
        for t in range(length, max_length):
            start = time.perf_counter()
            logits = forward(token_ids, (np.arange(max_length) < t)[None].astype("int32"))
            token_ids[0, t] = int(np.asarray(logits)[0, t - 1].argmax())
            seconds.append(time.perf_counter() - start)
            if sum(seconds) > args.recompute_budget and len(seconds) >= 3:
                break
        per_token = sorted(seconds)[len(seconds) // 2]
        # Every token, the first included, runs the model over the whole buffer.
        record["prefill_seconds"] = per_token
        record["decode_tokens_per_second"] = 1.0 / per_token
        record["tokens_timed"] = len(seconds)
    record["peak_memory_mb"] = peak_memory_mb()
    record["memory_over_model_mb"] = record["peak_memory_mb"] - baseline
    print("RESULT " + json.dumps(record), flush=True)


def best_time(fn, repeats):
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def cache_bytes(model, max_length):
    """The generation cache: the SSM states, or the Transformer's keys and values."""
    from keras_ssm.hub import SSMCausalLM

    if isinstance(model, SSMCausalLM):
        states = model.backbone.get_initial_state(1)
        return int(sum(np.prod(part.shape) * 4 for state in states for part in state))
    backbone = model.backbone
    head_dim = backbone.hidden_dim // backbone.num_query_heads
    # keras-hub's Llama cache: (batch, layers, 2, max_length, key/value heads, head_dim).
    return int(
        backbone.num_layers
        * 2
        * max_length
        * backbone.num_key_value_heads
        * head_dim
        * np.dtype(backbone.compute_dtype).itemsize
    )


def keras_forward(lm):
    """The model on the whole (fixed-size) buffer: logits at every position, compiled."""
    import keras

    backend = keras.config.backend()
    if backend == "jax":
        import jax

        variables = lm.trainable_variables + lm.non_trainable_variables

        @jax.jit
        def run(values, token_ids, mask):
            with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                return lm({"token_ids": token_ids, "padding_mask": mask})

        return lambda t, m: run([v.value for v in variables], t, m)
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(lambda t, m: lm({"token_ids": t, "padding_mask": m}), jit_compile=True)
    import torch

    def run(t, m):
        with torch.no_grad():
            return keras.ops.convert_to_numpy(lm({"token_ids": t, "padding_mask": m}))

    return run


def bench(args):
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    results = []
    for length in args.lengths:
        for method in args.methods:
            if method == "transformer_kv_cache" and length > args.max_transformer_length:
                results.append(
                    {
                        "method": method,
                        "length": length,
                        "skipped": (
                            "prompt longer than --max-transformer-length "
                            f"{args.max_transformer_length}: "
                            f"the prefill's attention scores alone need 4 heads × L² × 4 B = "
                            f"{4 * length * length * 4 / 2**30:.0f} GiB"
                        ),
                    }
                )
                continue
            command = [
                sys.executable,
                "-m",
                "examples.causal_lm",
                "bench-one",
                "--method",
                method,
                "--length",
                str(length),
                "--new-tokens",
                str(args.new_tokens),
                "--recompute-budget",
                str(args.recompute_budget),
                "--repeats",
                str(args.repeats),
            ]
            if args.preset:
                command += ["--preset", args.preset]
            command += ["--model", args.model]
            start = time.time()
            proc = subprocess.run(command, capture_output=True, text=True)
            lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
            if proc.returncode or not lines:
                record = {
                    "method": method,
                    "length": length,
                    "error": (proc.stderr.strip().splitlines() or ["?"])[-1][:300],
                }
            else:
                record = json.loads(lines[-1][len("RESULT ") :])
            record["wall_seconds"] = time.time() - start
            print(json.dumps(record), flush=True)
            results.append(record)
            (output / "bench.json").write_text(json.dumps(results, indent=1))
    write_bench_table(results, output / "bench.md", args)


def write_bench_table(results, path, args):
    lines = [
        f"Command: `python {' '.join(sys.argv)}`  ",
        f"Machine: {machine()}; backend {os.environ.get('KERAS_BACKEND', 'jax')}"
        + (
            f" (OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']})"
            if "OMP_NUM_THREADS" in os.environ
            else ""
        )
        + "; "
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; "
        f"{args.new_tokens} new tokens, batch 1.",
        "",
        "| prompt length | method | prefill + 1st token (s) | decode tokens/s | cache (MB) "
        "| peak RSS (MB) |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        if "skipped" in r or "error" in r:
            lines.append(
                f"| {r['length']:,} | {r['method']} | — | — | — | "
                f"{r.get('skipped') or 'failed: ' + r['error']} |"
            )
            continue
        lines.append(
            f"| {r['length']:,} | {r['method']} | {r['prefill_seconds']:.3f} | "
            f"{r['decode_tokens_per_second']:.1f} | {r['cache_bytes'] / 2**20:.3f} | "
            f"{r['peak_memory_mb']:.0f} |"
        )
    Path(path).write_text("\n".join(lines) + "\n")


# ----------------------------------------------------------------------------


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    t = commands.add_parser("train", help="train, plot, sample, save a preset")
    t.add_argument("--output", required=True)
    t.add_argument("--model", choices=sorted(MODELS), default="s5")
    t.add_argument("--seq-len", type=int, default=256)
    t.add_argument("--batch-size", type=int, default=16)
    t.add_argument("--rounds", type=int, default=10, help="evaluations of the validation loss")
    t.add_argument("--steps-per-round", type=int, default=50)
    t.add_argument("--lr", type=float, default=4e-3)
    t.add_argument(
        "--ssm-lr", type=float, default=None, help="the SSM group's rate (default: the family's)"
    )
    t.add_argument("--weight-decay", type=float, default=0.01)
    t.add_argument("--validation-windows", type=int, default=128)
    t.add_argument("--sample-length", type=int, default=160)
    t.add_argument("--seed", type=int, default=0)
    b = commands.add_parser("bench", help="generation speed and memory against prompt length")
    b.add_argument("--output", required=True)
    b.add_argument("--preset", default=None, help="a trained SSMCausalLM preset (else untrained)")
    b.add_argument("--model", choices=sorted(MODELS), default="s5", help="without --preset")
    b.add_argument(
        "--lengths", type=lambda s: [int(v) for v in s.split(",")], default=list(DEFAULT_LENGTHS)
    )
    b.add_argument("--methods", type=lambda s: s.split(","), default=list(METHODS))
    b.add_argument("--new-tokens", type=int, default=32)
    b.add_argument("--repeats", type=int, default=3, help="timings per measurement (best kept)")
    b.add_argument(
        "--recompute-budget",
        type=float,
        default=60.0,
        help="seconds of recomputation per length (at least 3 tokens)",
    )
    b.add_argument("--max-transformer-length", type=int, default=8192)
    o = commands.add_parser("bench-one", help=argparse.SUPPRESS)
    o.add_argument("--method", choices=METHODS, required=True)
    o.add_argument("--length", type=int, required=True)
    o.add_argument("--new-tokens", type=int, default=32)
    o.add_argument("--repeats", type=int, default=3)
    o.add_argument("--recompute-budget", type=float, default=60.0)
    o.add_argument("--preset", default=None)
    o.add_argument("--model", choices=sorted(MODELS), default="s5")
    args = parser.parse_args(argv)
    {"train": train, "bench": bench, "bench-one": bench_one}[args.command](args)


if __name__ == "__main__":
    main()
