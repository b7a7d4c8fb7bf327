"""Benchmarks of the ops and layers (not part of the test suite): run from the repository root.

Each script is a module, `python -m benchmarks.<name>` (e.g. `KERAS_BACKEND=jax python -m
benchmarks.ops --quick`); their shared helpers are imported as `from benchmarks import _timing`.
benchmarks/README.md lists the scripts and what they measure; tables go to benchmarks/results/.
This file imports nothing, so that `--child` subprocesses start light.
"""
