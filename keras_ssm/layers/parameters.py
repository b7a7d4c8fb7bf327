"""What the SSM layers share besides the base class: seeds, weight roles, argument checks."""

import random as python_random

import keras

from keras_ssm.ops import registry

# Derived seeds stay below 2**31 - 1 (a prime), the int32 seeds of every backend.
SEED_MODULUS = 2**31 - 1


def derived_seed(seed, index, stride=1009):
    """The seed of a layer's `index`-th initializer (or dropout): seed · stride + index.

    One rule for every layer that seeds several parts from its own `seed` (None stays
    None: the part draws its own). Distinct strides keep the seeds of nested layers
    (an `SSMBlock` and its SSM layer) apart.
    """
    return None if seed is None else int(seed) * stride + index


# The role of each weight of an SSM layer in its system. `add_float32_weight` tags the
# variable with it (`variable.ssm_role`) and with the optimizer group the layer's paper
# trains it in (`variable.ssm_group`, "ssm" or "main"); `keras_ssm.optimizers` reads the
# tags, so the groups are decided once, where the weights are created.
WEIGHT_ROLES = ("eigenvalues", "step", "input", "output", "feedthrough")
SSM_GROUP = "ssm"
MAIN_GROUP = "main"


def role_from_name(name):
    """The role a weight of this package's naming convention plays (Λ: lambda_*, Δ: log_dt /
    log_step, B̃: b, C/W: c, w (and *_backward), D: d); used when a layer gives none."""
    base = name[: -len("_backward")] if name.endswith("_backward") else name
    if base.startswith("lambda"):
        return "eigenvalues"
    if base in ("log_dt", "log_step"):
        return "step"
    if base == "b":
        return "input"
    if base in ("c", "w"):
        return "output"
    if base == "d":
        return "feedthrough"
    raise ValueError(
        f"No role for the weight {name!r}: pass `role=` (one of {WEIGHT_ROLES}) to "
        "add_float32_weight."
    )


def draw_default_seed():
    """The seed of an unseeded layer: an int from Python's `random`.

    `keras.utils.set_random_seed(s)` seeds Python's `random` (its documented first
    step), and Keras' own initializers and `keras.random.SeedGenerator` draw their
    default seeds from it the same way, so unseeded layers are reproducible under
    the global seed and differ between builds without it.
    """
    return python_random.randint(1, 10**9)


def check_implementation(implementation):
    """Validate a per-layer choice {op: implementation name} for this backend.

    Args:
        implementation: None, or a dict mapping op names (`keras_ssm.ops.OPS`) to
            names from `keras_ssm.ops.implementations(op)` (None = automatic).
    Returns:
        A new dict, or None.

    Raises:
        ValueError: not a dict, an unknown op, an unknown name, or a name registered
            only for another backend (the message names the argument and the valid
            choices).
    """
    if implementation is None:
        return None
    if not isinstance(implementation, dict):
        raise ValueError(
            f"`implementation` must be None or a dict {{op: name}}, e.g. "
            f"{{'linear_recurrence': 'reference'}}; got {implementation!r}."
        )
    for op, name in implementation.items():
        try:
            registry.check_op(op)
            if name is not None:
                registry.check_name(op, name)
        except ValueError as error:
            raise ValueError(f"`implementation`={implementation!r}: {error}") from None
    return dict(implementation)


def inputs_spec(features=None):
    """The `InputSpec` of a sequence layer: `inputs` of rank 3, features fixed once known.

    Keras checks it on every call, so a wrong input reads like Keras' own error:
    'Input 0 with name 'inputs' of layer 'dlr' is incompatible with the layer:
    expected ndim=3, found ndim=2'.
    """
    axes = None if features is None else {-1: int(features)}
    return keras.layers.InputSpec(ndim=3, axes=axes, name="inputs")


def check_choice(name, value, choices):
    """`value` if it is one of `choices`, else a ValueError naming the argument and the choices.

    Args:
        name: str, the argument's name as the caller knows it (e.g. "mode").
        value: the value given.
        choices: tuple of the valid values.

    Returns:
        `value`, unchanged.

    Example:

    ```python
    from keras_ssm.layers.parameters import check_choice
    check_choice("mode", "auto", ("auto", "recurrence"))     # 'auto'
    # check_choice("mode", "fft", ("auto", "recurrence")) raises
    # ValueError: `mode` must be one of ('auto', 'recurrence'), got 'fft'.
    ```
    """
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {choices}, got {value!r}.")
    return value


def check_step_range(dt_min, dt_max):
    """The range of a layer's initial steps Δ (or decays), checked: 0 < dt_min <= dt_max.

    Args:
        dt_min, dt_max: numbers, the bounds of the log-uniform initial Δ.

    Returns:
        `(dt_min, dt_max)` as floats.

    Example:

    ```python
    from keras_ssm.layers.parameters import check_step_range
    check_step_range(1e-3, 0.1)     # (0.001, 0.1)
    ```
    """
    if not (0 < dt_min <= dt_max):
        raise ValueError(f"Need 0 < dt_min <= dt_max, got dt_min={dt_min}, dt_max={dt_max}.")
    return float(dt_min), float(dt_max)
