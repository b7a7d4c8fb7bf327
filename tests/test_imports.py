"""The import map: no cycles, one direction (import-linter), and what `import keras_ssm` loads.

The contracts live in pyproject.toml (`[tool.importlinter]`); each is checked by the
real `lint-imports` command, so a violation fails here with import-linter's report.
"""

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONTRACTS = ("layers", "ops", "ops-independent", "acyclic", "data")


def _lint_imports():
    beside = pathlib.Path(sys.executable).with_name("lint-imports")
    if beside.exists():
        return str(beside)
    found = shutil.which("lint-imports")
    if found is None:
        pytest.fail("lint-imports not found: install the dev extra (pip install -e '.[dev]').")
    return found


def test_import_contracts_hold():
    """Every contract, in one `lint-imports` run (the import graph is built once); its
    report names each broken contract."""
    contracts = [arg for contract in CONTRACTS for arg in ("--contract", contract)]
    result = subprocess.run(
        [_lint_imports(), "--no-cache", "--no-logo", *contracts, str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(CONTRACTS)} kept" in result.stdout, result.stdout


def test_every_contract_is_checked():
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    ids = {c["id"] for c in config["tool"]["importlinter"]["contracts"]}
    assert ids == set(CONTRACTS)


def _modules_after(*statements):
    """The modules loaded after each statement in turn, in one fresh interpreter (one
    import of Keras and its backend): a list of sets, one per statement."""
    code = "import sys\n" + "".join(
        f"{statement}\nprint('\\n'.join(sorted(sys.modules)) + '\\n@@')\n"
        for statement in statements
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return [set(part.split()) for part in result.stdout.split("@@")[: len(statements)]]


def test_import_keeps_heavy_parts_lazy():
    loaded, loaded_later = _modules_after(
        "import keras_ssm",
        "keras_ssm.data.synthetic; keras_ssm.callbacks.BackupAndRestore; "
        "keras_ssm.models.build_classifier; keras_ssm.models.stream",
    )
    # Everything Keras serialization needs is registered on import ...
    assert {
        "keras_ssm.layers",
        "keras_ssm.initializers",
        "keras_ssm.optimizers",
        "keras_ssm.models.heads",
    } <= loaded
    # ... the rest waits for its first use.
    for lazy in (
        "keras_ssm.data",
        "keras_ssm.callbacks",
        "keras_ssm.models.builders",
        "keras_ssm.models.streaming",
        "keras_ssm.models.distribution",
        "keras_ssm.models.export",
    ):
        assert lazy not in loaded, lazy
    # keras-hub (the optional `hub` extra, heavy) only with keras_ssm.hub.
    assert not any(name.split(".")[0] == "keras_hub" for name in loaded | loaded_later)
    assert {
        "keras_ssm.data.synthetic",
        "keras_ssm.callbacks",
        "keras_ssm.models.builders",
        "keras_ssm.models.streaming",
    } <= loaded_later
    assert set(dir(__import__("keras_ssm"))) >= {"data", "callbacks", "models"}


def test_library_modules_stay_under_500_lines():
    long_ones = {
        str(path.relative_to(ROOT)): count
        for path in sorted((ROOT / "keras_ssm").rglob("*.py"))
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > 500
    }
    assert not long_ones, f"split these modules (500 lines at most): {long_ones}"
