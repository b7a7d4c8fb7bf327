"""Implementation selection for the hot ops.

An op (``linear_recurrence``, ``causal_conv``, ``vandermonde_kernel``) has several
registered implementations (``keras_ssm.ops.implementations(op)``). By default the
registry picks the fastest one that applies to the given arguments. A choice can be
forced, in order of precedence:

1. :func:`use_implementation` (a context manager) or :func:`set_implementation`;
2. the environment variable ``KERAS_SSM_IMPL``: ``"reference"`` (every op) or a
   comma-separated list ``"op=name,op=name"``;
3. automatic selection.

Example:

```python
import keras_ssm
keras_ssm.config.set_implementation("linear_recurrence", "reference")
with keras_ssm.config.use_implementation("causal_conv", "reference"):
    ...
keras_ssm.config.set_implementation("linear_recurrence", None)  # automatic again
```
"""

import contextlib
import os
import threading
import types

ENV_VAR = "KERAS_SSM_IMPL"

_forced = {}
_local = threading.local()

# The op registry's name checks. This module sits below the registry (ops -> registry
# -> config) and never imports it: `keras_ssm.ops.registry` hands them over when it is
# imported, which `import keras_ssm` always does.
_registry = None


def _attach_registry(ops, check_op, check_name, implementations):
    """Called once by `keras_ssm.ops.registry`: the op names and the checks to use."""
    global _registry
    _registry = types.SimpleNamespace(
        OPS=tuple(ops),
        check_op=check_op,
        check_name=check_name,
        implementations=implementations,
    )


def _checks():
    if _registry is None:  # pragma: no cover - `import keras_ssm` loads the registry
        raise RuntimeError("keras_ssm.config needs the op registry: `import keras_ssm` first.")
    return _registry


def _check_choice(op, name):
    registry = _checks()
    registry.check_op(op)
    if name is not None:
        registry.check_name(op, name)


def set_implementation(op, name):
    """Force the implementation of `op` process-wide.

    Args:
        op: str, one of `keras_ssm.ops.OPS`.
        name: str, a name from `keras_ssm.ops.implementations(op)`, or None to go
            back to automatic selection.

    Raises:
        ValueError: unknown op or implementation name (the message lists the valid ones).

    Example:

    ```python
    keras_ssm.config.set_implementation("linear_recurrence", "reference")
    ```
    """
    _check_choice(op, name)
    if name is None:
        _forced.pop(op, None)
    else:
        _forced[op] = name


def get_implementation(op):
    """The forced implementation name for `op`, or None when automatic.

    Looks at `use_implementation` scopes, then `set_implementation`, then the
    `KERAS_SSM_IMPL` environment variable.
    """
    for scope_op, scope_name in reversed(getattr(_local, "stack", [])):
        if scope_op == op:
            return scope_name
    if op in _forced:
        return _forced[op]
    return _from_environment().get(op)


@contextlib.contextmanager
def use_implementation(op, name):
    """Context manager forcing `op` to use implementation `name` inside the block.

    Args:
        op: str, the op name.
        name: str or None (None = automatic inside the block).

    Example:

    ```python
    a, b = keras.ops.full((4,), 0.9), keras.ops.ones((2, 16, 4))
    with keras_ssm.config.use_implementation("linear_recurrence", "reference"):
        y = keras_ssm.ops.linear_recurrence(a, b)
    ```
    """
    _check_choice(op, name)
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    stack.append((op, name))
    try:
        yield
    finally:
        stack.pop()


def _from_environment():
    """Parse `KERAS_SSM_IMPL` into {op: name}."""
    value = os.environ.get(ENV_VAR, "").strip()
    if not value:
        return {}
    registry = _checks()
    if "=" not in value:
        # One name for every op that has an implementation of that name.
        choices = {op: value for op in registry.OPS if value in registry.implementations(op)}
        if not choices:
            registry.check_name(registry.OPS[0], value)
        return choices
    choices = {}
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        if "=" not in item:
            raise ValueError(
                f"{ENV_VAR}={value!r}: expected 'reference' or 'op=name,op=name', "
                f"got the item {item!r}."
            )
        op, name = (part.strip() for part in item.split("=", 1))
        registry.check_op(op)
        registry.check_name(op, name)
        choices[op] = name
    return choices
