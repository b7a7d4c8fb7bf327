"""The `cpu` presets of examples/presets.py: complete settings, and a clear exit where a
preset has no settings for the model or task."""

import pytest

from examples import lra
from examples import presets
from examples import speech_commands


def test_cpu_presets_have_every_key_of_their_family():
    for model, settings in presets.SC_PRESETS["cpu"].items():
        assert set(presets.SC_PRESETS["paper"][model]) <= set(settings), model
    for task in ("listops", "pathfinder"):
        assert set(presets.LRA_PRESETS["cpu"]["s5"][task]) == set(presets._S5), task


def test_missing_cpu_settings_exit_with_the_presets_that_exist():
    out = ["--output", "unused"]
    args = lra.parse_args(["--task", "text", "--model", "s5", "--preset", "cpu", *out])
    with pytest.raises(SystemExit, match="listops and pathfinder"):
        lra.resolve(args)
    args = speech_commands.parse_args(
        ["--model", "lru", "--preset", "cpu", "--data-dir", "unused", *out]
    )
    with pytest.raises(SystemExit, match="dlr, dss, s5"):
        speech_commands.resolve(args)
