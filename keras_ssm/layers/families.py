"""The layer-family registry: each SSM layer family names itself and its optimizer facts once.

A family is a Keras layer class that declares, in its own module,

- its short name ("dss", "dlr", "s5"), the name users give `SSMBlock(ssm=...)`, the
  builders, `SSMBackbone` and `keras_ssm.optimizers.ssm_optimizer(paper=...)`;
- its optimizer roles: the class attribute `ssm_group_roles`, the weight roles
  ("eigenvalues", "step", "input", "output", "feedthrough") its paper trains at the
  SSM learning rate without weight decay; `tag_weight` marks each variable with them;
- its paper's default SSM learning rate.

It registers itself with the class decorator `register(name, ssm_lr=...)`. Blocks,
builders, optimizers, the hub and the examples find families here only, so a new family
is one module (plus its export line in `keras_ssm/layers/__init__.py`) and its tests.
The class need not subclass `DiagonalSSMLayer`: any layer that maps (batch, length, H)
to (batch, length, H), has a `features` attribute once built, and tags its weights with
`tag_weight` is a family.

Example:

```python
import keras
from keras_ssm.layers import DLR, families

@families.register("dlr_demo", ssm_lr=5e-4)
class DLRDemo(DLR):
    ssm_group_roles = ("eigenvalues",)     # Λ at the SSM rate; W joins the model

families.layer_class("dlr_demo")           # DLRDemo (also "DLRDemo", "DLR_DEMO")
families.default_ssm_lr("dlr_demo")        # 0.0005
block = keras_ssm.layers.SSMBlock({"class_name": "dlr_demo", "state_size": 4})
families.unregister("dlr_demo")            # (a demo: keep the built-in list clean)
```
"""

from keras_ssm.layers.parameters import MAIN_GROUP
from keras_ssm.layers.parameters import SSM_GROUP


class Family:
    """One registered family: its short name, layer class and paper's default SSM rate.

    Attributes:
        name: str, the short name (lower case).
        layer_class: the Keras layer class.
        ssm_lr: float, the paper's default learning rate of the SSM group, or None: the
            model's rate (the group differs only by having no weight decay).
    """

    def __init__(self, name, layer_class, ssm_lr):
        self.name = name
        self.layer_class = layer_class
        self.ssm_lr = ssm_lr

    @property
    def roles(self):
        """The weight roles the paper trains at the SSM rate (`ssm_group_roles`)."""
        return tuple(self.layer_class.ssm_group_roles)

    def __repr__(self):
        return (
            f"Family({self.name!r}, {self.layer_class.__name__}, ssm_lr={self.ssm_lr}, "
            f"roles={self.roles})"
        )


# short name -> Family, in registration order.
_FAMILIES = {}


def _check_name(name):
    if not (isinstance(name, str) and name and name == name.lower() and name.isidentifier()):
        raise ValueError(
            f"A family's `name` must be a lower-case Python identifier such as 's4d', got {name!r}."
        )


def _check_roles(cls):
    roles = getattr(cls, "ssm_group_roles", None)
    if not (isinstance(roles, tuple) and all(isinstance(r, str) for r in roles)):
        raise ValueError(
            f"{cls.__name__} must declare `ssm_group_roles`, a tuple of the weight roles its "
            f"paper trains at the SSM rate without weight decay (e.g. ('eigenvalues', "
            f"'step')), got {roles!r}."
        )


def _same_class(a, b):
    # A module reloaded (or a class re-executed in a notebook) registers again.
    return (a.__module__, a.__qualname__) == (b.__module__, b.__qualname__)


def register(name, *, ssm_lr):
    """A class decorator that registers a layer class as the SSM family `name`.

    Args:
        name: str, the short name: a lower-case identifier, unique among the families
            and not another family's class name.
        ssm_lr: float > 0, the paper's default learning rate of the SSM group (the
            weights whose role is in the class's `ssm_group_roles`), or None when the
            paper trains that group at the model's rate, only without weight decay
            (Mamba's A_log and D): `ssm_optimizer` then uses its `lr`.

    Returns:
        The decorator; it returns the class unchanged.

    Raises:
        ValueError: a malformed name or rate, a class without `ssm_group_roles`, or a name
            (or class name) already taken by another family.

    Example:

    ```python
    from keras_ssm.layers import DSS, families

    @families.register("dss_demo", ssm_lr=1e-3)
    class DSSDemo(DSS):
        pass

    families.names()       # (..., 'dss_demo', ...)
    families.unregister("dss_demo")
    ```
    """
    _check_name(name)
    if ssm_lr is not None and (
        isinstance(ssm_lr, bool) or not isinstance(ssm_lr, (int, float)) or not ssm_lr > 0
    ):
        raise ValueError(
            f"`ssm_lr` must be a positive float, or None for the model's rate, got {ssm_lr!r}."
        )

    def decorator(cls):
        if not isinstance(cls, type):
            raise ValueError(f"families.register decorates a layer class, got {cls!r}.")
        _check_roles(cls)
        for family in _FAMILIES.values():
            if family.name == name and _same_class(family.layer_class, cls):
                continue
            keys = {family.name, family.layer_class.__name__.lower()}
            if keys & {name, cls.__name__.lower()}:
                raise ValueError(
                    f"Cannot register {cls.__name__} as {name!r}: the family {family.name!r} "
                    f"({family.layer_class.__name__}) has that name; choose another."
                )
        _FAMILIES[name] = Family(name, cls, None if ssm_lr is None else float(ssm_lr))
        return cls

    return decorator


def unregister(name):
    """Remove the family `name` (tests and demos that register a throwaway family).

    Example:

    ```python
    from keras_ssm.layers import families
    families.unregister("no_such_family")     # nothing to remove: a no-op
    ```
    """
    _FAMILIES.pop(str(name).lower(), None)


def names():
    """The short names of every registered family, sorted.

    Example:

    ```python
    from keras_ssm.layers import families
    families.names()     # ('dlr', 'dss', 's5')
    ```
    """
    return tuple(sorted(_FAMILIES))


def family(name, argument="ssm"):
    """The `Family` of a short name or class name, case-insensitive.

    Args:
        name: str, e.g. "dlr", "DLR".
        argument: the caller's argument name, used in the error.

    Raises:
        ValueError: an unknown name; the message lists the valid ones.

    Example:

    ```python
    from keras_ssm.layers import families
    families.family("S5").ssm_lr      # 0.001
    ```
    """
    key = str(name).lower()
    if key in _FAMILIES:
        return _FAMILIES[key]
    for found in _FAMILIES.values():
        if found.layer_class.__name__.lower() == key:
            return found
    raise ValueError(
        f"Unknown SSM layer family {name!r} for `{argument}`; use one of {list(names())} "
        "(a short name or the class name, any case)."
    )


def layer_class(name, argument="ssm"):
    """The layer class of the family `name` (a short name or class name, any case).

    Example:

    ```python
    from keras_ssm.layers import families
    layer = families.layer_class("dlr")(state_size=8)     # a keras_ssm.layers.DLR
    ```
    """
    return family(name, argument).layer_class


def default_ssm_lr(name, argument="paper"):
    """The paper's default SSM learning rate of the family `name` (DSS 1e-3, DLR 1e-4, S5 1e-3;
    None for Mamba: the model's rate).

    Example:

    ```python
    from keras_ssm.layers import families
    families.default_ssm_lr("dlr")     # 0.0001
    ```
    """
    return family(name, argument).ssm_lr


def name_of(layer):
    """The family name of a layer or layer class: its nearest registered class, else None.

    A subclass of a family's class belongs to that family until it registers itself.

    Example:

    ```python
    import keras
    from keras_ssm.layers import DLR, families
    families.name_of(DLR(state_size=4))          # 'dlr'
    families.name_of(keras.layers.Dense(3))      # None
    ```
    """
    cls = layer if isinstance(layer, type) else type(layer)
    by_class = {id(f.layer_class): f.name for f in _FAMILIES.values()}
    for base in cls.__mro__:
        if id(base) in by_class:
            return by_class[id(base)]
    return None


def tag_weight(variable, layer, role):
    """Mark a family layer's `variable` with the tags the optimizers read.

    Sets `variable.ssm_role` (its part in the system), `variable.ssm_group` ("ssm" when
    `role` is in the layer's `ssm_group_roles`, else "main") and `variable.ssm_family`
    (the layer's family name, None when unregistered). `DiagonalSSMLayer` calls it for
    every weight; a family outside that base class calls it from its own `build`.

    Args:
        variable: a `keras.Variable`.
        layer: the layer that created it.
        role: str, the weight's role.

    Returns:
        The variable.

    Example:

    ```python
    import keras
    from keras_ssm.layers import DLR, families
    layer = DLR(state_size=4)
    v = keras.Variable(keras.ops.zeros((4,)), name="lambda_radius")
    families.tag_weight(v, layer, "eigenvalues").ssm_group     # 'ssm'
    ```
    """
    variable.ssm_role = role
    roles = getattr(layer, "ssm_group_roles", ())
    variable.ssm_group = SSM_GROUP if role in roles else MAIN_GROUP
    variable.ssm_family = name_of(layer)
    return variable
