"""Train S5, DSS or DLR on one Long Range Arena task; report test accuracy at the best val epoch.

```bash
# data: docs/data.md (lra_release.gz for listops, retrieval, pathfinder, pathx;
# IMDB and CIFAR-10 for text and image)
KERAS_BACKEND=jax python -m examples.lra --task listops --model s5 --preset paper \
    --data-dir /data/lra_release --output runs/lra_listops_s5
python -m examples.lra --task pathx --model dss --preset paper --data-dir /data/lra_release \
    --output runs/pathx_dss --distribution data_parallel
python -m examples.lra --task pathfinder --model dlr --preset small --data-dir /data/lra_release \
    --output runs/try --epochs 1
# ListOps without the archive: generate it first (LRA's generator, keras_ssm.data.lra.listops)
python -m examples.lra --task listops --generate --data-dir runs/listops_generated \
    --model s5 --preset paper --output runs/lra_listops_generated_s5
# Pathfinder without the archive: tools/generate_pathfinder.py, then the CPU preset
python -m examples.lra --task pathfinder --model s5 --preset cpu \
    --data-dir runs/pathfinder_generated --output runs/lra_pathfinder_generated_s5_cpu
```

Presets: `paper` (the papers' settings), `small` (a smoke test), `cpu` (S5 on ListOps and
Pathfinder only: 4 layers, H 64, meant to learn on a 2-core CPU in hours; not yet seen to).

Models (`keras_ssm.models` builders; settings in `examples/presets.py`):

- `s5`: the S5 scripts (spec s5.md C3): pre-norm BatchNorm blocks with half-GLU, bidirectional
  S5 layers, no final norm, mean pooling; Adam(ssm_lr) for Λ, Δ (and B, C, D per
  `opt_config`) and AdamW(lr, weight decay) for the rest, linear warmup then cosine per step.
- `dss`: the DSS configs (spec dss_dlr.md D.2): DSS_SOFTMAX, N = 64, unidirectional, GELU +
  output linear, BatchNorm, pre- or post-norm per task, mean or last pooling; Adam at 1e-3 for
  Λ, W (log Δ at its own rate where the config sets one), AdamW for the rest,
  ReduceLROnPlateau (factor 0.2) on val accuracy.
- `dlr`: not in the papers: DSS's settings with DLR's N = 1024 and Λ/W rate 1e-4.
- `s4d`, `lru`: the S4 repository's LRA configs with S4D-LegS, and the LRU paper's Table 9
  settings (spec s4d_lru.md A8, B6): see `examples/presets_s4d_lru.py`.

Text encodings (`--tokenizer`): with keras-hub installed (`pip install "keras-ssm[hub]"`),
Text and Retrieval read the raw reviews and documents and encode them with keras-hub's
`ByteTokenizer` and `StartEndPacker` (`keras_ssm.hub.lra.load`); without it (or with
`--tokenizer plain`) with `keras_ssm.data.lra`'s hand-written byte encoder. The ids are the
same (byte + 3, <eos> 2, padding 0; tests/test_hub_lra.py checks it on files in the released
formats). ListOps keeps its hand-written 18-token vocabulary (LRA's fixed token list, with `]`
read as `X` and parentheses dropped: no keras-hub tokenizer does that) and the pixel tasks
have no text. results.json's `notes` name the encoding used.

Inputs (`keras_ssm.data.lra`): token tasks (listops, text) go through an Embedding with
`mask_zero=True` (pad id 0), so padding never reaches the valid positions and pooling is the
masked mean (or the last valid token); retrieval is the dual encoder
`build_retrieval_classifier`; pixel tasks (image, pathfinder, pathx) read raw uint8 grey levels
and the model normalizes them (`pixel_normalization`: Pathfinder/Path-X (x/255 − 0.5)/0.5,
CIFAR (x/255 − 122.6/255)/(61.0/255), as S5's loaders) before its linear encoder.

Command-line values override the preset: `--epochs`, `--batch-size` (per replica),
`--steps-per-epoch`, `--lr` (the main group's rate; the SSM groups keep `ssm_lr`).

Training: `epochs` passes over the training set (or `--steps-per-epoch` batches), shuffled per
(seed, epoch), so rerunning the same command resumes exactly after the last finished epoch. The
checkpoint with the best val accuracy is kept; after training the test set is evaluated with
it (the papers' "test accuracy at the best validation checkpoint"). Text has no validation
split: val is the test set (the LRA convention), so its number is the best test epoch.

Generated ListOps (`--generate`, `--task listops` only):
`keras_ssm.data.lra.listops_release.write_release` draws ListOps from the published LRA generator's
distribution (96,000 / 2,000 / 2,000 samples of 501-1999 tokens, about a minute on one core)
and writes `listops-1000/basic_{train,val,test}.tsv` with `generated.json` into `--data-dir`
(default `runs/listops_generated`), unless that folder already holds them with the same
settings (`--generate-sizes`, `--generate-seed`, `--generate-min-length`,
`--generate-max-length`); then training proceeds as usual.
results.json then has `data: "generated"`, the generation settings under `generated` and a note.

Output (`--output`, see `examples/__init__.py`): config.json, backup/, best.weights.h5,
history.json/csv, training_curves.png and results.json with `test_accuracy`,
`best_val_accuracy`, `best_epoch` and the paper's number for comparison.
"""

import argparse
import time

import keras

import keras_ssm
from examples import paper_setup
from examples import plots
from examples import presets
from examples import run_folder
from examples import run_settings
from examples import training
from keras_ssm.data import _shared as _cache
from keras_ssm.data import lra
from keras_ssm.data.lra import listops
from keras_ssm.data.lra import listops_release

PRESETS = presets.LRA_PRESETS
TASKS = lra.TASKS
MODELS = paper_setup.SSM_MODELS

PIXEL_NORMALIZATION = {
    "image": (122.6, 61.0),  # CIFAR grey levels: mean 122.6/255, std 61.0/255 (S4/S5)
    "pathfinder": (127.5, 127.5),  # (x/255 - 0.5) / 0.5
    "pathx": (127.5, 127.5),
}
"""(mean, std) in grey levels (0-255) of the pixel tasks: the model computes (x − mean)/std."""

GENERATED_DATA_DIR = "runs/listops_generated"
"""Where `--generate` writes ListOps when `--data-dir` is not given."""


def task_info(task):
    """`keras_ssm.data.lra.TASK_INFO[task]`."""
    return lra.TASK_INFO[task]


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------


def truncate(inputs, seq_len):
    """Token inputs cut to their first `seq_len` positions (views; a pair stays a pair)."""
    if seq_len is None:
        return inputs
    if isinstance(inputs, tuple):
        return tuple(x[:, :seq_len] for x in inputs)
    return inputs[:, :seq_len]


HUB_TASKS = ("text", "retrieval")
"""The tasks whose texts keras-hub's tokenizer encodes (`--tokenizer keras-hub`)."""


def keras_hub_available():
    """True when `keras_ssm.hub` can be imported (keras-hub >= 0.32 installed)."""
    try:
        import keras_ssm.hub  # noqa: F401  (raises ImportError without keras-hub >= 0.32)
    except ImportError:
        return False
    return True


def text_encoding(task, tokenizer="auto"):
    """How `load_split` encodes `task`: "keras-hub", "plain" or None (no text).

    Args:
        task: one of `TASKS`.
        tokenizer: "auto" (keras-hub when installed), "keras-hub" or "plain".
    """
    if task not in HUB_TASKS:
        return None
    if tokenizer == "auto":
        return "keras-hub" if keras_hub_available() else "plain"
    if tokenizer == "keras-hub" and not keras_hub_available():
        raise ImportError("--tokenizer keras-hub needs keras-hub: pip install 'keras-ssm[hub]'.")
    return tokenizer


def load_split(task, data_dir, split, settings, cache_dir=None, verbose=1, tokenizer="auto"):
    """(inputs, labels) of one split as the model reads them.

    Token inputs are int32 ids (truncated to `settings["seq_len"]` when set), retrieval a
    (docs1, docs2) pair, pixels uint8 (n, L) grey levels; arrays stay memory-mapped. Text
    and Retrieval go through keras-hub's tokenizer (`keras_ssm.hub.lra.load`) when
    `text_encoding(task, tokenizer)` is "keras-hub", the same ids either way.
    """
    if text_encoding(task, tokenizer) == "keras-hub":
        from keras_ssm.hub import lra as hub_lra

        inputs, labels = hub_lra.load(task, data_dir, split, cache_dir=cache_dir, verbose=verbose)
        if task == "retrieval":
            inputs = tuple(inputs)
    else:
        inputs, labels = lra.load(task, data_dir, split, cache_dir=cache_dir, verbose=verbose)
    if task_info(task)["inputs"] != "pixels":
        inputs = truncate(inputs, settings.get("seq_len"))
    return inputs, labels


def sequence_length(task, settings):
    """The model's input length: the task's L, or the preset's `seq_len` for token tasks."""
    info = task_info(task)
    if info["inputs"] != "pixels" and settings.get("seq_len"):
        return min(int(settings["seq_len"]), info["seq_len"])
    return info["seq_len"]


def generation_settings(args):
    """`listops_release.release_settings` for `--generate`, or None without it."""
    if not args.generate:
        return None
    return listops_release.release_settings(
        args.generate_seed,
        args.generate_sizes,
        min_length=args.generate_min_length,
        max_length=args.generate_max_length,
    )


def prepare_generated_listops(data_dir, settings, cache_dir=None, verbose=1):
    """Makes sure `data_dir` holds ListOps generated with `settings`; generates it if not.

    Files generated earlier with the same settings are reused. A folder holding
    `listops-1000` TSVs without `generated.json` (e.g. the LRA release) or generated with
    other settings is an error, never overwritten. After generating, the reader's stale
    ListOps caches in the cache folder (`--cache-dir` or `DATA_DIR/.keras_ssm_cache`) are
    deleted.

    Args:
        data_dir: the folder (created if needed).
        settings: a `listops_release.release_settings` dict.
        cache_dir: the readers' cache folder, or None for the default.
        verbose: 0 silent, else one line on stdout and a progress count on stderr.

    Returns:
        "generated" or "reused".
    """
    paths = listops_release.release_paths(data_dir)
    recorded = listops_release.read_marker(data_dir)
    folder = paths["train"].parent
    if recorded is not None and all(path.is_file() for path in paths.values()):
        if recorded != settings:
            different = ", ".join(
                f"{key}: {recorded.get(key)!r} -> {settings.get(key)!r}"
                for key in sorted(set(recorded) | set(settings))
                if recorded.get(key) != settings.get(key)
            )
            raise ValueError(
                f"--generate: {folder} holds ListOps generated with other settings "
                f"({different}). Choose another --data-dir, or delete {folder} to "
                "generate it again."
            )
        return "reused"
    if recorded is None and any(path.exists() for path in paths.values()):
        raise ValueError(
            f"--generate: {folder} already holds ListOps files that keras_ssm did not "
            f"generate (no {listops.MARKER_FILE}), e.g. the LRA release. Drop --generate to "
            "train on them, or choose another --data-dir."
        )
    if verbose:
        sizes = "/".join(str(size) for size in settings["sizes"])
        print(
            f"Generating ListOps ({sizes} samples, seed {settings['seed']}) into {folder}",
            flush=True,
        )
    listops_release.write_release(
        data_dir,
        settings["seed"],
        settings["sizes"],
        min_length=settings["min_length"],
        max_length=settings["max_length"],
        max_depth=settings["max_depth"],
        max_args=settings["max_args"],
        verbose=1 if verbose else 0,
    )
    cache_folder = _cache.resolve_cache_dir(data_dir, cache_dir)
    for split in lra.SPLITS:
        key = f"listops-{split}-{lra.CACHE_VERSION}"
        for path in _cache.cache_paths(cache_folder, key, ("inputs", "labels")).values():
            if path.is_file():
                path.unlink()
    return "generated"


# ---------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------


def build_model(task, model_name, settings, seed=None):
    """The classifier of `model_name` for an LRA task (see the module docstring).

    Args:
        task: one of `TASKS`.
        model_name: a layer family ("s5", "dss", "dlr", "s4d", "lru").
        settings: a resolved settings dict.
        seed: int or None.

    Returns:
        An uncompiled `keras.Model` to (batch, num_classes) logits: inputs int32 token ids
        (batch, L), a pair of them (retrieval), or grey levels (batch, L).
    """
    info = task_info(task)
    length = sequence_length(task, settings)
    name = f"{model_name}_{task}"
    kwargs = paper_setup.ssm_model_kwargs(model_name, settings, seed=seed)
    if info["inputs"] == "token_pairs":
        return keras_ssm.models.build_retrieval_classifier(
            info["num_classes"],
            vocab_size=info["vocab_size"],
            sequence_length=length,
            mask_zero=True,
            name=name,
            **kwargs,
        )
    if info["inputs"] == "tokens":
        return keras_ssm.models.build_classifier(
            info["num_classes"],
            vocab_size=info["vocab_size"],
            sequence_length=length,
            mask_zero=True,
            pooling=settings["pooling"],
            name=name,
            **kwargs,
        )
    classifier = keras_ssm.models.build_classifier(
        info["num_classes"],
        input_features=info["input_channels"],
        sequence_length=length,
        pooling=settings["pooling"],
        name=f"{name}_classifier",
        **kwargs,
    )
    mean, std = PIXEL_NORMALIZATION[task]
    pixels = keras.Input((length,), name="pixels")
    x = keras.layers.Rescaling(1.0 / std, offset=-mean / std, name="pixel_normalization")(pixels)
    x = keras.layers.Reshape((length, 1), name="channel")(x)
    return keras.Model(pixels, classifier(x), name=name)


# ---------------------------------------------------------------------------
# Script
# ---------------------------------------------------------------------------


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Train an SSM on a Long Range Arena task (docs/data.md for the data)."
    )
    parser.add_argument("--task", choices=TASKS, default="listops")
    parser.add_argument("--model", choices=MODELS, default="s5")
    parser.add_argument(
        "--data-dir",
        default=None,
        help="the extracted lra_release folder (text: may hold aclImdb/; image: not needed)",
    )
    parser.add_argument(
        "--tokenizer",
        choices=("auto", "keras-hub", "plain"),
        default="auto",
        help="text and retrieval: keras-hub's ByteTokenizer (auto: when "
        "keras-hub is installed) or the hand-written byte encoder; same ids",
    )
    parser.add_argument(
        "--cache-dir",
        default=None,
        help="folder of the readers' .npy caches (default: DATA_DIR/.keras_ssm_cache)",
    )
    generation = parser.add_argument_group(
        "generated ListOps",
        "--task listops only: LRA's generator (keras_ssm.data.lra.listops) "
        "instead of the released files",
    )
    generation.add_argument(
        "--generate",
        action="store_true",
        help="generate ListOps into --data-dir (default "
        f"{GENERATED_DATA_DIR}) unless it is already there, then "
        "train on it",
    )
    generation.add_argument(
        "--generate-sizes",
        type=int,
        nargs=3,
        default=None,
        metavar=("TRAIN", "VAL", "TEST"),
        help="samples per split (default: {} {} {}, as LRA)".format(*listops.RELEASE_SIZES),
    )
    generation.add_argument(
        "--generate-seed", type=int, default=None, help="generation seed (default: 0)"
    )
    generation.add_argument(
        "--generate-min-length",
        type=int,
        default=None,
        help=f"keep expressions of more than this many tokens (default: {listops.MIN_LENGTH})",
    )
    generation.add_argument(
        "--generate-max-length",
        type=int,
        default=None,
        help=f"... and fewer than this many (default: {listops.MAX_LENGTH})",
    )
    run_settings.add_training_arguments(parser, presets=PRESETS, default_preset="paper")
    args = parser.parse_args(argv)
    options = ("generate_sizes", "generate_seed", "generate_min_length", "generate_max_length")
    if not args.generate:
        given = [
            f"--{name.replace('_', '-')}" for name in options if getattr(args, name) is not None
        ]
        if given:
            parser.error(f"{', '.join(given)} need --generate.")
        return args
    if args.task != "listops":
        parser.error(
            f"--generate is for --task listops only (got --task {args.task}); the "
            "other LRA tasks read their released files (docs/data.md)."
        )
    defaults = dict(
        generate_sizes=list(listops.RELEASE_SIZES),
        generate_seed=0,
        generate_min_length=listops.MIN_LENGTH,
        generate_max_length=listops.MAX_LENGTH,
    )
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.data_dir is None:
        args.data_dir = GENERATED_DATA_DIR
    try:
        generation_settings(args)
    except ValueError as error:
        parser.error(f"--generate: {error}")
    return args


def resolve(args):
    """The run's settings: the preset's for (model, task), then the command line."""
    if args.task not in PRESETS[args.preset].get(args.model, {}):
        raise SystemExit(
            f"--preset {args.preset} has no settings for --model {args.model} --task "
            f"{args.task}; use --preset paper or small (cpu: s5 on listops and pathfinder)."
        )
    return run_settings.resolve_settings(
        PRESETS[args.preset][args.model][args.task],
        args,
        names=["epochs", "batch_size", "steps_per_epoch", "lr"],
    )


def summary_line(results):
    """The one-line result, e.g. `listops  s5  test accuracy 0.6215 (best val 0.6300, epoch 31)`."""
    paper = results["paper_test_accuracy"]
    paper_text = "" if paper is None else f", paper {paper:.2f}%"
    task = results["task"] + ("  (generated data)" if results.get("data") == "generated" else "")
    return (
        f"{task}  {results['model']}  test accuracy {results['test_accuracy']:.4f} "
        f"(best val {results['best_val_accuracy']:.4f}, epoch {results['best_epoch']}"
        f"{paper_text}; {results['wall_time_s']:.0f} s)"
    )


def main(argv=None):
    """Runs the script; returns the results dict (also written to OUTPUT/results.json)."""
    start = time.perf_counter()
    args = parse_args(argv)
    settings = resolve(args)
    task, model_name, seed = args.task, args.model, args.seed
    info = task_info(task)
    keras.utils.set_random_seed(seed)
    config = dict(
        task=task,
        model=model_name,
        preset=args.preset,
        seed=seed,
        backend=run_settings.backend_name(),
        **settings,
    )
    generated = generation_settings(args)
    if generated is not None:
        config["data"] = dict(source="generated", **generated)
    output = run_folder.prepare_output_dir(args.output, config)
    if generated is not None:
        status = prepare_generated_listops(
            args.data_dir, generated, args.cache_dir, verbose=args.verbose
        )

    loaded = {
        split: load_split(
            task,
            args.data_dir,
            split,
            settings,
            args.cache_dir,
            verbose=min(args.verbose, 1),
            tokenizer=args.tokenizer,
        )
        for split in ("train", "val", "test")
    }
    with training.distribution_scope(args.distribution) as scope:
        model, batch_size = paper_setup.fit_paper_classifier(
            lambda: build_model(task, model_name, settings, seed=seed),
            loaded,
            model_name,
            settings,
            output,
            seed=seed,
            verbose=args.verbose,
            num_replicas=scope.num_replicas,
        )
        test = paper_setup.classification_scores(model, *loaded["test"], batch_size=batch_size)

    epoch, val_accuracy = run_folder.best_epoch(output)
    notes = []
    if task == "text":
        notes.append("IMDB has no validation split: val is the test set (LRA convention).")
    if model_name == "dlr":
        notes.append(
            "DLR has no LRA setting in its paper: DSS's settings with DLR's SSM "
            "(examples/presets.py)."
        )
    if model_name == "lru":
        notes.append(
            "The LRU paper does not list its base learning rates: the lr is our choice "
            "(examples/presets.py); the SSM rate is lr times the paper's LR factor."
        )
    encoding = text_encoding(task, args.tokenizer)
    if encoding is not None:
        notes.append(
            "Text encoded by "
            + (
                "keras-hub's ByteTokenizer and StartEndPacker (keras_ssm.hub.lra)"
                if encoding == "keras-hub"
                else "keras_ssm.data.lra's byte encoder"
            )
            + ": byte + 3, <eos> 2, padding 0."
        )
    extra = {}
    if generated is not None:
        notes.append(
            "Generated ListOps (keras_ssm.data.lra.listops, the LRA generator's "
            "distribution), not the released files: the paper's number is for "
            "the released samples."
        )
        extra = dict(
            data="generated", generated=dict(generated, data_dir=str(args.data_dir), status=status)
        )
    results = dict(
        task=task,
        model=model_name,
        preset=args.preset,
        backend=run_settings.backend_name(),
        seq_len=sequence_length(task, settings),
        num_classes=info["num_classes"],
        test_accuracy=test["accuracy"],
        test_loss=test["loss"],
        best_val_accuracy=val_accuracy,
        best_epoch=epoch,
        paper_test_accuracy=presets.PAPER_LRA[model_name][task],
        samples={split: len(labels) for split, (_, labels) in loaded.items()},
        epochs_completed=len(run_folder.load_history(output).get("epoch", [])),
        parameters=model.count_params(),
        settings=settings,
        notes=notes,
        wall_time_s=time.perf_counter() - start,
        **extra,
    )
    run_folder.write_results(output, results)
    plots.plot_history(
        output,
        metrics=["loss", "accuracy"],
        title=f"LRA {task} / {model_name} ({run_settings.backend_name()})",
    )
    print(summary_line(results), flush=True)
    return results


if __name__ == "__main__":
    main()
