"""Train S5, DSS or DLR on raw 16 kHz Speech Commands; test at 16 kHz and zero-shot at 8 kHz.

```bash
# data: docs/data.md (speech_commands_v0.02.tar.gz, extracted into its own folder)
KERAS_BACKEND=jax python -m examples.speech_commands --classes 35 --model s5 --preset paper \
    --data-dir /data/speech_commands_v0.02 --output runs/sc35_s5
python -m examples.speech_commands --classes 10 --model dss --preset paper \
    --data-dir /data/speech_commands_v0.02 --output runs/sc10_dss --distribution data_parallel
# without the download: the words spoken by espeak-ng (make data-speech), a CPU preset
python -m examples.speech_commands --model s5 --preset cpu \
    --data-dir runs/speech_commands_generated --output runs/sc35_generated_s5_cpu
```

Presets: `paper`, `small` (a smoke test), `cpu` (S5, DSS, DLR: 4 bidirectional layers, H 32,
meant for a 2-core CPU; not yet seen to learn, examples/results/generated_trials.md).

Data (`keras_ssm.data.speech`): one-second clips, the official validation and test
lists, 35 words (`--classes 35`, S4/S5's SC35) or the 10 command words on the same lists
(`--classes 10`; not the NeuralCDE/CKConv "SC10" split DSS reports), normalized with the
train set's scalar mean and std. The model reads the waveform as one real channel
(batch, 16000, 1) through a linear encoder.

Models (settings in `examples/presets.py`, same for both class counts):

- `s5`: S5's SC35 script (spec s5.md C3): 6 bidirectional S5 layers, H 96, P 128 (64 kept),
  J 16, pre-norm BatchNorm, half-GLU, mean pooling; Λ, Δ, B, C, D at ssm_lr 2e-3 without decay
  ("noBCdecay"), the rest AdamW(8e-3, 0.04), 1 warmup epoch then cosine; 40 epochs, batch 16.
- `dss`: DSS's SC10 config (spec dss_dlr.md D.2): 6 layers, H 128, N 64, DSS_SOFTMAX,
  unidirectional, pre-norm BatchNorm, GELU, dropout 0.1, lr 0.01, ReduceLROnPlateau (0.2,
  patience 20), 200 epochs, batch 20.
- `dlr`: not in the papers: DSS's settings with DLR's N = 1024 and Λ/W rate 1e-4.
- `s4d`, `lru`: no SC script in our sources: S5's SC35 depth, width, batch and epochs with
  their own blocks and SSM rates (`examples/presets_s4d_lru.py`); S4D's 8 kHz run is
  zero-shot as S5's, the LRU's naive as DLR's.

After training, the checkpoint with the best 16 kHz val accuracy is evaluated on the test
set at 16 kHz and on the same clips at 8 kHz (every second sample). S5 and DSS run the 8 kHz
input zero-shot with every Δ multiplied by 2 (`step_scale=2.0`, S5 paper B2): the same layers
and weights, rebuilt for length 8000 by `paper_setup.with_step_scale`. DLR has no Δ, so its 8 kHz
number is naive (the same model on the shorter input, nothing rescaled); results.json says so.

Output (`--output`, see `examples/__init__.py`): results.json with `test_accuracy` (16 kHz),
`test_accuracy_8khz`, `step_scale_8khz`, `eval_8khz`, `best_val_accuracy`, `best_epoch`, the
paper's numbers, and the usual checkpoints, history and training curves.
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
from keras_ssm.data.speech import speech_commands

PRESETS = presets.SC_PRESETS
MODELS = paper_setup.SSM_MODELS
CLASSES = (35, 10)
RATE_16K, RATE_8K = 16000, 8000
STEP_SCALE_8K = {
    name: 2.0 if getattr(keras_ssm.layers.families.layer_class(name), "has_step", True) else 1.0
    for name in MODELS
}
"""Δ multiplier of the 8 kHz evaluation: 16000 / 8000 for the models with a step Δ."""


def eval_8khz_description(model_name):
    """How the 8 kHz number was obtained (written to results.json)."""
    if STEP_SCALE_8K[model_name] == 1.0:
        return (
            f"naive: {model_name.upper()} has no discretization step, so the 16 kHz model "
            "runs unchanged on the 8 kHz clips (no zero-shot rescaling is possible)"
        )
    return (
        "zero-shot: the 16 kHz weights with every SSM step multiplied by "
        f"{STEP_SCALE_8K[model_name]:g} (step_scale), nothing retrained"
    )


def load_split(data_dir, split, classes, sample_rate, cache_dir=None, verbose=1):
    """(waveforms (n, rate, 1) float32, labels (n,)); memory-mapped views."""
    waveforms, labels = speech_commands.load(
        data_dir,
        split,
        classes=classes,
        sample_rate=sample_rate,
        normalize=True,
        cache_dir=cache_dir,
        verbose=verbose,
    )
    return waveforms[..., None], labels


def build_model(model_name, settings, num_classes, seed=None, sequence_length=RATE_16K):
    """The classifier of `model_name`: Dense encoder of the waveform → SSM blocks → mean pool.

    Args:
        model_name: a layer family ("s5", "dss", "dlr", "s4d", "lru").
        settings: a resolved settings dict.
        num_classes: 35 or 10.
        seed: int or None.
        sequence_length: the input length (16000).

    Returns:
        An uncompiled `keras.Model` from (batch, length, 1) to (batch, num_classes) logits.
    """
    return keras_ssm.models.build_classifier(
        num_classes,
        input_features=1,
        sequence_length=sequence_length,
        pooling=settings["pooling"],
        name=f"{model_name}_sc{num_classes}",
        **paper_setup.ssm_model_kwargs(model_name, settings, seed=seed),
    )


def model_8khz(model, model_name):
    """The trained 16 kHz model rebuilt for 8000 samples, Δ × `STEP_SCALE_8K[model_name]`."""
    return paper_setup.with_step_scale(model, STEP_SCALE_8K[model_name], sequence_length=RATE_8K)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Train S5/DSS/DLR on Speech Commands at 16 kHz; test at 16 and 8 kHz."
    )
    parser.add_argument("--classes", type=int, choices=CLASSES, default=35)
    parser.add_argument("--model", choices=MODELS, default="s5")
    parser.add_argument(
        "--data-dir",
        required=True,
        help="the extracted speech_commands_v0.02 folder (docs/data.md)",
    )
    parser.add_argument(
        "--cache-dir",
        default=None,
        help="folder of the reader's .npy caches (default: DATA_DIR/.keras_ssm_cache)",
    )
    run_settings.add_training_arguments(parser, presets=PRESETS, default_preset="paper")
    return parser.parse_args(argv)


def resolve(args):
    """The run's settings: the preset's for the model, then the command line."""
    if args.model not in PRESETS[args.preset]:
        raise SystemExit(
            f"--preset {args.preset} has no settings for --model {args.model}; use --preset "
            f"paper or small (cpu: {', '.join(sorted(PRESETS['cpu']))})."
        )
    return run_settings.resolve_settings(
        PRESETS[args.preset][args.model],
        args,
        names=["epochs", "batch_size", "steps_per_epoch", "lr"],
    )


def summary_line(results):
    """The one-line result, e.g. `SC35  s5  16 kHz 0.9652  8 kHz 0.9453 (zero-shot) ...`."""
    kind = "zero-shot" if results["step_scale_8khz"] != 1.0 else "naive"
    return (
        f"SC{results['classes']}  {results['model']}  test 16 kHz "
        f"{results['test_accuracy']:.4f}  8 kHz {results['test_accuracy_8khz']:.4f} ({kind})"
        f"  (best val {results['best_val_accuracy']:.4f}, epoch {results['best_epoch']}; "
        f"{results['wall_time_s']:.0f} s)"
    )


def main(argv=None):
    """Runs the script; returns the results dict (also written to OUTPUT/results.json)."""
    start = time.perf_counter()
    args = parse_args(argv)
    settings = resolve(args)
    model_name, classes, seed = args.model, args.classes, args.seed
    keras.utils.set_random_seed(seed)
    config = dict(
        classes=classes,
        model=model_name,
        preset=args.preset,
        seed=seed,
        backend=run_settings.backend_name(),
        **settings,
    )
    output = run_folder.prepare_output_dir(args.output, config)

    verbose = min(args.verbose, 1)
    loaded = {
        split: load_split(args.data_dir, split, classes, RATE_16K, args.cache_dir, verbose)
        for split in ("train", "val", "test")
    }
    test_8k = load_split(args.data_dir, "test", classes, RATE_8K, args.cache_dir, verbose)
    with training.distribution_scope(args.distribution) as scope:
        model, batch_size = paper_setup.fit_paper_classifier(
            lambda: build_model(model_name, settings, classes, seed=seed),
            loaded,
            model_name,
            settings,
            output,
            seed=seed,
            verbose=args.verbose,
            num_replicas=scope.num_replicas,
        )
        test = paper_setup.classification_scores(model, *loaded["test"], batch_size=batch_size)
        test_8khz = paper_setup.classification_scores(
            model_8khz(model, model_name), *test_8k, batch_size=batch_size
        )

    epoch, val_accuracy = run_folder.best_epoch(output)
    paper = presets.PAPER_SC[model_name].get(classes, {})
    results = dict(
        classes=classes,
        model=model_name,
        preset=args.preset,
        backend=run_settings.backend_name(),
        test_accuracy=test["accuracy"],
        test_loss=test["loss"],
        test_accuracy_8khz=test_8khz["accuracy"],
        test_loss_8khz=test_8khz["loss"],
        step_scale_8khz=STEP_SCALE_8K[model_name],
        eval_8khz=eval_8khz_description(model_name),
        best_val_accuracy=val_accuracy,
        best_epoch=epoch,
        paper_test_accuracy=paper.get("16khz"),
        paper_test_accuracy_8khz=paper.get("8khz"),
        samples={split: len(labels) for split, (_, labels) in loaded.items()},
        epochs_completed=len(run_folder.load_history(output).get("epoch", [])),
        parameters=model.count_params(),
        settings=settings,
        wall_time_s=time.perf_counter() - start,
    )
    run_folder.write_results(output, results)
    plots.plot_history(
        output,
        metrics=["loss", "accuracy"],
        title=f"Speech Commands {classes} / {model_name} ({run_settings.backend_name()})",
    )
    print(summary_line(results), flush=True)
    return results


if __name__ == "__main__":
    main()
