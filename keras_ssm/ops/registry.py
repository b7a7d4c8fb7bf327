"""The op registry: named implementations of each hot op, and how one is chosen.

Every op has a ``reference`` implementation written with ``keras.ops`` alone (correct
on every backend, in ``keras_ssm/ops/reference/``) and fast paths registered by the
backend packages (``keras_ssm/ops/{jax,tensorflow,torch}/``, one module per op family),
which are imported lazily, the first time an op runs, so that running on JAX never
imports torch or TensorFlow.

`OP_MODULES` names each op's family module: ``reference/<module>.py`` defines the
function named after the op (registered here as ``"reference"``), and
``<backend>/<module>.py``, where a backend has one, registers that backend's paths when
its package is imported. A new op is one entry there plus those modules and its public
module ``keras_ssm/ops/<op>.py``.

An implementation is registered with:

- ``backends``: the Keras backends it runs on (None = all);
- ``supports(*args, **kwargs)``: None when it applies to these arguments, else a short
  reason (a CPU tensor for a CUDA kernel, say);
- ``priority(*args, **kwargs)``: a number; the automatic choice takes the applicable
  implementation with the highest priority (``reference`` has the lowest).

Example:

```python
from keras_ssm.ops import registry

@registry.register("linear_recurrence", "my_scan", backends=("jax",),
                   priority=lambda *a, **k: 10)
def my_scan(a, b, *, reverse=False, initial_state=None, return_final_state=False):
    ...
```
"""

import dataclasses
import importlib
import pkgutil
from collections.abc import Callable

import keras

from keras_ssm import config
from keras_ssm.ops.reference import vandermonde_factorized

# Each op and its family module, by that name in ops/reference/ and in ops/<backend>/.
OP_MODULES = {
    "linear_recurrence": "recurrence",
    "causal_conv": "convolution",
    "vandermonde_kernel": "vandermonde",
    "selective_scan": "selective_scan",
}
OPS = tuple(OP_MODULES)
# The automatic choice ranks the reference implementations last.
REFERENCE_PRIORITY = -1.0

_BACKEND_MODULES = {
    "jax": "keras_ssm.ops.jax",
    "tensorflow": "keras_ssm.ops.tensorflow",
    "torch": "keras_ssm.ops.torch",
}

# The implementations each backend package registers (beside `reference`). A package is
# imported only on its own backend, so this is how naming another backend's path gives
# a clear error; tests check it against the registrations of the running backend.
BACKEND_IMPLEMENTATIONS = {
    "jax": {
        "linear_recurrence": ("associative", "sequential"),
        "causal_conv": ("fft",),
        "selective_scan": ("associative", "sequential"),
    },
    "tensorflow": {
        "linear_recurrence": ("associative", "chunked", "sequential"),
        "selective_scan": ("sequential",),
    },
    "torch": {
        "linear_recurrence": ("chunked", "triton"),
        "causal_conv": ("fft",),
        "selective_scan": ("chunked", "triton"),
    },
}


@dataclasses.dataclass(frozen=True)
class Implementation:
    """One registered implementation of an op.

    Attributes:
        op: the op name.
        name: the implementation name (unique per op).
        fn: the function; same signature as the public op.
        backends: tuple of Keras backend names it runs on, or None for all.
        supports: callable(*args, **kwargs) -> None if it applies, else a reason (str).
        priority: callable(*args, **kwargs) -> float; higher wins in automatic selection.
    """

    op: str
    name: str
    fn: Callable
    backends: tuple | None = None
    supports: Callable | None = None
    priority: Callable | None = None

    def runs_on(self, backend):
        return self.backends is None or backend in self.backends

    def reason_not_applicable(self, *args, **kwargs):
        if self.supports is None:
            return None
        return self.supports(*args, **kwargs)

    def rank(self, *args, **kwargs):
        if self.priority is None:
            return 0.0
        return float(self.priority(*args, **kwargs))


_registry = {op: {} for op in OPS}
_loaded_backends = set()


def check_op(op):
    """Raise ValueError unless `op` is a known op name."""
    if op not in _registry:
        raise ValueError(f"Unknown op {op!r}. Valid ops: {', '.join(OPS)}.")


def register(op, name, *, backends=None, supports=None, priority=None):
    """Decorator registering `fn` as implementation `name` of `op`.

    Args:
        op: str, one of `OPS`.
        name: str, the implementation name.
        backends: tuple of backend names ("jax", "tensorflow", "torch") or None (all).
        supports: optional callable(*args, **kwargs) -> None or a reason string.
        priority: optional callable(*args, **kwargs) -> float (default 0; reference uses -1).

    Returns:
        The decorator; it returns `fn` unchanged.
    """
    check_op(op)

    def decorator(fn):
        impl = Implementation(
            op=op,
            name=name,
            fn=fn,
            backends=tuple(backends) if backends is not None else None,
            supports=supports,
            priority=priority,
        )
        # Names are shared across backends ("sequential" on jax and tensorflow): importing
        # another backend's package must not replace this backend's implementation.
        existing = _registry[op].get(name)
        backend = keras.config.backend()
        if existing is None or impl.runs_on(backend) or not existing.runs_on(backend):
            _registry[op][name] = impl
        return fn

    return decorator


def _lowest(*args, **kwargs):
    return REFERENCE_PRIORITY


# The ground truth of every op. Registered here, so that ops/reference/ does not import
# the registry: the imports run one way, ops -> registry -> (reference, config).
for _op, _module in OP_MODULES.items():
    _reference = importlib.import_module(f"keras_ssm.ops.reference.{_module}")
    register(_op, "reference", priority=_lowest)(getattr(_reference, _op))
del _op, _module, _reference

# Fast paths written with keras.ops alone run on every backend and live beside it.
register(
    "vandermonde_kernel",
    "factorized",
    supports=vandermonde_factorized.supports,
    priority=vandermonde_factorized.priority,
)(vandermonde_factorized.vandermonde_kernel)


def import_op_modules(package, path):
    """Import the family modules (`OP_MODULES`) that the backend package has.

    Each backend package calls this from its ``__init__.py``, so that importing the
    package registers all its paths and a new op's module needs no other edit.

    Args:
        package: the package's name (its ``__name__``).
        path: the package's ``__path__``.
    """
    present = {info.name for info in pkgutil.iter_modules(path)}
    for module in OP_MODULES.values():
        if module in present:
            importlib.import_module(f"{package}.{module}")


def _ensure_backend_loaded():
    backend = keras.config.backend()
    if backend in _loaded_backends:
        return backend
    module = _BACKEND_MODULES.get(backend)
    if module is not None:
        importlib.import_module(module)
    _loaded_backends.add(backend)
    return backend


def load_backend():
    """Import the running backend's package now, so that its paths are registered.

    `keras_ssm.ops` calls it on import: the first call of an op may be traced by
    `torch.compile`, where an import would break the graph.
    """
    return _ensure_backend_loaded()


def _available(op):
    backend = _ensure_backend_loaded()
    return {name: impl for name, impl in _registry[op].items() if impl.runs_on(backend)}


def implementations(op):
    """Names of the implementations of `op` registered for the current backend.

    Always includes "reference".

    Example:

    ```python
    keras_ssm.ops.implementations("linear_recurrence")
    # on jax: ['reference', 'associative', 'sequential']
    ```
    """
    check_op(op)
    return sorted(_available(op), key=lambda n: (n != "reference", n))


def backends_of(op, name):
    """The backends that have an implementation `name` of `op` (sorted names).

    Counts the backend modules' declared names (`BACKEND_IMPLEMENTATIONS`, whose
    modules load lazily) and everything registered so far.
    """
    check_op(op)
    found = {b for b, names in BACKEND_IMPLEMENTATIONS.items() if name in names.get(op, ())}
    impl = _registry[op].get(name)
    if impl is not None:
        found.update(impl.backends or _BACKEND_MODULES)
    return sorted(found)


def check_name(op, name):
    """Raise ValueError unless `name` is an implementation of `op` on this backend.

    A name that exists only on other backends says which ones.
    """
    check_op(op)
    valid = implementations(op)
    if name in valid:
        return
    backend = keras.config.backend()
    elsewhere = backends_of(op, name)
    if elsewhere:
        raise ValueError(
            f"Implementation {name!r} of op {op!r} runs only on the "
            f"{' and '.join(elsewhere)} backend{'s' if len(elsewhere) > 1 else ''}, not on "
            f"the {backend} backend (KERAS_BACKEND). Valid names on {backend}: "
            f"{', '.join(valid)}."
        )
    raise ValueError(
        f"Unknown implementation {name!r} for op {op!r} on the "
        f"{backend} backend. Valid names: {', '.join(valid)}."
    )


def get(op, name):
    """The `Implementation` object `name` of `op` (current backend)."""
    check_name(op, name)
    return _available(op)[name]


def resolve(op, *args, **kwargs):
    """Name of the implementation that would run `op` on these arguments.

    A forced choice (`keras_ssm.config`) wins; it raises ValueError when it does not
    apply to the arguments. Otherwise the applicable implementation with the highest
    priority is chosen.

    Example:

    ```python
    a, b = keras.ops.full((4,), 0.9), keras.ops.ones((2, 16, 4))
    keras_ssm.ops.resolve("linear_recurrence", a, b)  # e.g. 'sequential'
    ```
    """
    available = _available(op)
    forced = config.get_implementation(op)
    if forced is not None:
        check_name(op, forced)
        reason = available[forced].reason_not_applicable(*args, **kwargs)
        if reason is not None:
            raise ValueError(
                f"Implementation {forced!r} of {op!r} was forced but does not apply to "
                f"these arguments: {reason}. Valid names: {', '.join(implementations(op))}; "
                f"or unset the choice (keras_ssm.config.set_implementation({op!r}, None), "
                f"the KERAS_SSM_IMPL environment variable, or a layer's `implementation`)."
            )
        return forced
    best, best_rank = None, None
    for name, impl in available.items():
        if impl.reason_not_applicable(*args, **kwargs) is not None:
            continue
        rank = impl.rank(*args, **kwargs)
        if best is None or rank > best_rank:
            best, best_rank = name, rank
    if best is None:  # pragma: no cover - reference always applies
        raise ValueError(f"No implementation of {op!r} applies to these arguments.")
    return best


def dispatch(op, *args, **kwargs):
    """Run `op` with the implementation `resolve` picks."""
    name = resolve(op, *args, **kwargs)
    return _available(op)[name].fn(*args, **kwargs)


# keras_ssm.config validates forced choices with these checks; it receives them here
# rather than importing this module (config sits below the registry).
config._attach_registry(OPS, check_op, check_name, implementations)
