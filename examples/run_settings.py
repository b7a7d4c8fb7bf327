"""Command-line arguments and settings shared by the example scripts: presets + overrides."""

import argparse

import keras

DISTRIBUTIONS = ("none", "auto", "data_parallel", "mirrored", "tpu")
"""Choices of `--distribution` (see `distribution_scope`)."""


def add_training_arguments(parser, presets=None, default_preset=None, default_output=None):
    """Adds the arguments every example shares to an `argparse.ArgumentParser`.

    `--preset`, `--epochs`, `--batch-size`, `--steps-per-epoch`, `--lr`, `--output`,
    `--seed`, `--distribution`, `--verbose`. Training settings default to None, meaning
    "the preset's value" (see `resolve_settings`).

    Args:
        parser: the `argparse.ArgumentParser` to extend.
        presets: optional dict of preset names; adds `--preset` with those choices.
        default_preset: the default of `--preset`.
        default_output: the default of `--output` (None: required).

    Returns:
        The parser.

    Example:

    ```python
    parser = argparse.ArgumentParser()
    add_training_arguments(parser, presets={"small": {}, "paper": {}}, default_preset="small")
    args = parser.parse_args(["--epochs", "3", "--output", "runs/x"])
    ```
    """
    if presets is not None:
        parser.add_argument(
            "--preset",
            choices=sorted(presets),
            default=default_preset,
            help="named settings (default: %(default)s)",
        )
    parser.add_argument(
        "--epochs", type=_positive_int, default=None, help="epochs to train (default: the preset's)"
    )
    parser.add_argument(
        "--batch-size",
        type=_positive_int,
        default=None,
        help="batch size per replica (default: the preset's)",
    )
    parser.add_argument(
        "--steps-per-epoch",
        type=_positive_int,
        default=None,
        help="training batches per epoch (default: the preset's)",
    )
    parser.add_argument(
        "--lr", type=float, default=None, help="learning rate (default: the preset's)"
    )
    parser.add_argument(
        "--output",
        default=default_output,
        required=default_output is None,
        help="output folder: checkpoints, history, results.json, plots; rerun into it to resume",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument(
        "--distribution",
        choices=DISTRIBUTIONS,
        default="none",
        help="multi-device training (default: none); see keras_ssm.models.distribution_scope",
    )
    parser.add_argument(
        "--verbose",
        type=int,
        choices=(0, 1, 2),
        default=1,
        help="0 silent, 1 progress bar, 2 one line per epoch (default: 1)",
    )
    return parser


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def resolve_settings(preset, args, names=None):
    """A preset's settings with the command-line values that were given on top.

    An argument overrides the preset key of the same name (dashes as underscores) when
    its value is not None.

    Args:
        preset: dict of settings.
        args: an `argparse.Namespace`.
        names: the argument names that may override (default: every key of `preset`).

    Returns:
        A new dict.

    Example:

    ```python
    settings = resolve_settings({"epochs": 10, "lr": 1e-3}, args)   # args.epochs = 2 -> 2
    ```
    """
    settings = dict(preset)
    for name in names if names is not None else list(preset):
        value = getattr(args, name, None)
        if value is not None:
            settings[name] = value
    return settings


def backend_name():
    """The Keras backend in use: "jax", "tensorflow" or "torch"."""
    return keras.config.backend()
