"""No private Keras (or keras-hub) API in keras_ssm: what Keras may change without notice.

Two cheap checks over the library's source:

1. Every private attribute read or written in keras_ssm/ (`obj._name`, and
   `getattr`/`hasattr`/`setattr` with a "_name" string) is one that keras_ssm itself
   defines (a function, a class, an assignment, a module), never one of Keras' own
   classes (`model._run_through_graph`, `optimizer._var_key`, `layer._flatten_layers`).
2. No class of keras_ssm defines (overrides or assigns) a private name that one of its
   Keras, keras-hub or backend base classes defines (`BackupAndRestore._save_model`,
   `BatchNormalization._moments`, `Optimizer._trainable_variables`).

`KERAS_HUB_HOOKS` lists the exceptions: keras-hub's hooks for model families, which
keras-hub's own models use and for which it has no public form (a tokenizer declares its
special tokens with `_add_special_token`, as 38 of keras-hub's do; a preprocessor
customizes its Python path with `_call_python`, which keras-hub's tf.data path calls too,
as its masked-LM and text-classifier preprocessors do). Keras itself has none.
"""

import ast
import functools
import importlib
import inspect
import pathlib
import pkgutil
import re
import textwrap

import keras

import keras_ssm

LIBRARY = pathlib.Path(keras_ssm.__file__).parent
# Backend packages other than the running one are not imported (their modules define
# no Keras subclass; check 1 reads their source all the same).
BACKEND_PACKAGES = ("keras_ssm.ops.jax", "keras_ssm.ops.tensorflow", "keras_ssm.ops.torch")
KERAS_HUB_HOOKS = {"_add_special_token", "_call_python"}
ASSIGNED = re.compile(r"self\.(_[A-Za-z]\w*)\s*(?::[^=\n]+)?=(?!=)")


def _private(name):
    return name.startswith("_") and not name.startswith("__")


@functools.cache
def _private_names_of(cls):
    """The private names a class defines: its attributes and its `self._x = ...`."""
    names = {name for name in vars(cls) if _private(name)}
    try:
        names |= set(ASSIGNED.findall(inspect.getsource(cls)))
    except (OSError, TypeError):  # built-in or generated classes
        pass
    return names


def _own_private_names(cls):
    """The private names a keras_ssm class's own source defines (methods, class
    attributes, `self._x = ...`); not those its metaclass adds (torch's Function)."""
    (tree,) = ast.parse(textwrap.dedent(inspect.getsource(cls))).body
    names = set(ASSIGNED.findall(ast.unparse(tree)))
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return {name for name in names if _private(name)}


def _library_sources():
    return {path: ast.parse(path.read_text()) for path in LIBRARY.rglob("*.py")}


def _defined_and_used(sources):
    """(private names keras_ssm defines, {private name used: [files]})."""
    defined = {path.stem for path in sources} | {path.parent.name for path in sources}
    used = {}
    for path, tree in sources.items():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                defined.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                defined.add(node.id)
            elif isinstance(node, ast.alias):
                defined.add(node.asname or node.name.split(".")[-1])
            elif isinstance(node, ast.arg):
                defined.add(node.arg)
            if isinstance(node, ast.Attribute) and _private(node.attr):
                if isinstance(node.ctx, ast.Store):
                    defined.add(node.attr)
                used.setdefault(node.attr, set()).add(str(path.relative_to(LIBRARY)))
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("getattr", "hasattr", "setattr", "delattr")
                and len(node.args) > 1
                and isinstance(node.args[1], ast.Constant)
                and isinstance(node.args[1].value, str)
                and _private(node.args[1].value)
            ):
                used.setdefault(node.args[1].value, set()).add(str(path.relative_to(LIBRARY)))
    return defined, used


def _keras_private_names():
    """The private names of Keras' classes that keras_ssm uses or subclasses."""
    inputs = keras.Input((2,))
    functional = type(keras.Model(inputs, keras.layers.Dense(1)(inputs)))
    roots = [
        functional,
        keras.Sequential,
        keras.optimizers.Optimizer,
        keras.callbacks.BackupAndRestore,
        keras.layers.BatchNormalization,
        keras.Variable,
        keras.KerasTensor,
        keras.utils.PyDataset,
        keras.initializers.Initializer,
    ]
    names = set()
    for root in roots:
        for cls in root.__mro__:
            if cls is not object:
                names |= _private_names_of(cls)
    return names


def test_private_attributes_used_are_keras_ssms_own():
    defined, used = _defined_and_used(_library_sources())
    keras_names = _keras_private_names()
    foreign = {
        name: sorted(files)
        for name, files in used.items()
        if (name not in defined or name in keras_names) and name not in KERAS_HUB_HOOKS
    }
    assert not foreign, (
        f"keras_ssm uses private attributes of Keras (or keras-hub): {foreign}. Use the "
        "public API (e.g. `model.get_config()` for the functional graph, an optimizer's "
        "`apply`, a callback's `on_*` hooks, `model.non_trainable_variables`)."
    )


def _library_modules(path, prefix):
    """keras_ssm's modules, imported; never another backend's package (pkgutil's
    walk_packages would import it, and with it that backend's framework)."""
    backend = f"keras_ssm.ops.{keras.config.backend()}"
    for info in pkgutil.iter_modules(path, prefix):
        if info.name.startswith(BACKEND_PACKAGES) and not info.name.startswith(backend):
            continue
        if info.name.startswith("keras_ssm.hub") and importlib.util.find_spec("keras_hub") is None:
            continue
        module = importlib.import_module(info.name)
        yield module
        if info.ispkg:
            yield from _library_modules(module.__path__, info.name + ".")


def _library_classes():
    for module in _library_modules(keras_ssm.__path__, "keras_ssm."):
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__:
                yield cls


def test_no_class_overrides_a_private_name_of_its_bases():
    clashes = {}
    for cls in _library_classes():
        bases = [b for b in cls.__mro__[1:] if b is not object]
        foreign = [b for b in bases if not b.__module__.startswith("keras_ssm")]
        if not foreign:
            continue
        own = _own_private_names(cls) - KERAS_HUB_HOOKS
        for name in sorted(own):
            owners = [b.__qualname__ for b in foreign if name in _private_names_of(b)]
            if owners:
                clashes[f"{cls.__module__}.{cls.__qualname__}.{name}"] = owners
    assert not clashes, (
        f"keras_ssm classes define private names of their Keras/keras-hub bases: {clashes}. "
        "Override the public methods (call, build, on_epoch_end, apply, ...) and give "
        "your own attributes names the bases do not use."
    )
