"""Every docstring example in keras_ssm runs, on the current backend.

The examples are collected from the source (module, class, function and method
docstrings, read with `ast`, so that no other backend's module is imported):

- fenced code blocks (```python ... ```), each run as one script;
- doctest examples (`>>>`), run by `doctest` with their expected outputs checked
  (NORMALIZE_WHITESPACE and ELLIPSIS).

Both run in the namespace of their module (as doctest does) plus `keras`, `keras_ssm`
and `np`, from a fresh temporary working folder. An example that cannot run here (it
needs a dataset, the internet, minutes) says so: a code block whose first line is
`# Not run by the tests (<why>).`, a doctest line marked `# doctest: +SKIP`. Examples
in a backend's own package (`keras_ssm/ops/jax/`, ...) run on that backend only, those
of the Triton kernels (`keras_ssm/ops/torch/triton_scan.py`) only where CUDA is
available. The op registry and the implementation choices are restored after each
example (an example may register an implementation). Examples of `keras_ssm.hub` are
skipped where keras-hub (an optional extra) is not installed.
"""

import ast
import doctest
import importlib
import pathlib
import re
import textwrap

import keras
import numpy as np
import pytest

import keras_ssm

PACKAGE = pathlib.Path(keras_ssm.__file__).parent
BACKEND = keras.config.backend()
# Packages that import a backend's own library: their modules' examples run on that backend.
BACKEND_MODULES = {
    "keras_ssm.ops.jax": "jax",
    "keras_ssm.ops.tensorflow": "tensorflow",
    "keras_ssm.ops.torch": "torch",
}
# Modules whose examples run CUDA kernels (torch tensors on device="cuda").
CUDA_MODULES = ("keras_ssm.ops.torch.triton_scan",)
NOT_RUN = "# Not run by the tests"
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```", re.S | re.M)


def _docstrings(path):
    """(qualified name, docstring) of the module and of every class, function, method."""
    tree = ast.parse(path.read_text())
    found = []

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"{prefix}{child.name}"
                doc = ast.get_docstring(child)
                if doc:
                    found.append((name, doc))
                visit(child, name + ".")

    doc = ast.get_docstring(tree)
    if doc:
        found.append(("", doc))
    visit(tree, "")
    return found


def collect_examples():
    """pytest params (module, name, kind, source) of every docstring example."""
    params = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        for name, doc in _docstrings(path):
            where = f"{module}:{name}" if name else module
            for i, block in enumerate(FENCE.findall(doc)):
                params.append(
                    pytest.param(module, name, "code", textwrap.dedent(block), id=f"{where}#{i}")
                )
            if ">>>" in doc:
                params.append(pytest.param(module, name, "doctest", doc, id=f"{where}#doctest"))
    return params


EXAMPLES = collect_examples()


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """A temporary working folder; the registry and the dtype policy restored after."""
    from keras_ssm.ops import registry

    monkeypatch.chdir(tmp_path)
    saved = {op: dict(impls) for op, impls in registry._registry.items()}
    policy = keras.config.dtype_policy()
    yield
    for op, impls in saved.items():
        registry._registry[op].clear()
        registry._registry[op].update(impls)
    keras.config.set_dtype_policy(policy)


def _cuda_available():
    import torch

    return torch.cuda.is_available()


def namespace(module):
    try:
        names = dict(vars(importlib.import_module(module)))
    except ImportError as error:
        if module.split(".")[:2] != ["keras_ssm", "hub"]:
            raise
        pytest.skip(f"optional extra not installed: {error}")
    names.update(keras=keras, keras_ssm=keras_ssm, np=np, __name__="__docstring_example__")
    return names


def test_examples_were_collected():
    """The collector finds the examples of the layers, ops and initializers."""
    ids = [p.id for p in EXAMPLES]
    for expected in (
        "keras_ssm.layers.dlr:DLR#0",
        "keras_ssm.ops.linear_recurrence:linear_recurrence#0",
        ":hippo_legs#doctest",
        "keras_ssm.data.lra.reader:load#doctest",
    ):
        assert any(i.endswith(expected) for i in ids), expected
    assert len(EXAMPLES) > 100


@pytest.mark.parametrize("module,name,kind,source", EXAMPLES)
def test_docstring_example(module, name, kind, source, isolated):
    backend = BACKEND_MODULES.get(".".join(module.split(".")[:3]))
    if backend is not None and backend != BACKEND:
        pytest.skip(f"an example of the {backend} backend's module")
    if module in CUDA_MODULES and not _cuda_available():
        pytest.skip("an example of a CUDA kernel; no CUDA device here")
    if kind == "code" and source.startswith(NOT_RUN):
        pytest.skip(source.splitlines()[0])
    globs = namespace(module)
    if kind == "code":
        exec(compile(source, f"<{module}:{name} example>", "exec"), globs)
        return
    parser = doctest.DocTestParser()
    test = parser.get_doctest(source, globs, f"{module}:{name}", module, 0)
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    messages = []
    runner.run(test, out=messages.append)
    assert runner.failures == 0, "".join(messages)
