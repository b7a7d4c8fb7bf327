"""What the SSM layers share besides the base class: seeds, weight roles, argument checks."""

import random as python_random

import keras
import numpy as np

from keras_ssm.ops import registry

# Derived seeds stay below 2**31 - 1 (a prime), the int32 seeds of every backend.
SEED_MODULUS = 2**31 - 1


def derived_seed(seed, index, stride=1009):
    """The seed of a part's `index`-th initializer (or dropout): (seed · stride + index) mod M.

    One rule for everything that seeds several parts from its own `seed` (None stays
    None: the part draws its own), with M = `SEED_MODULUS` so that nested derivations
    stay int32 seeds. Each user has its own stride, which keeps the seeds of nested
    parts apart: 1009 an SSM layer's initializers, 7919 an `SSMBlock`'s dropouts and
    Dense layers, 101 the blocks of a model trunk (`keras_ssm.models.trunk`).

    Example:

    ```python
    from keras_ssm.layers.parameters import derived_seed
    derived_seed(3, 2)        # 3029
    derived_seed(None, 2)     # None
    ```
    """
    return None if seed is None else (int(seed) * stride + index) % SEED_MODULUS


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


def check_config_version(cls, version, config):
    """Refuse a saved config that would load into a layer computing something else.

    Args:
        cls: the layer class (its `config_version`, `backward_lag_since_version` (the
            version since which its backward system sees strictly future inputs, None
            when it always has) and name are read).
        version: the config's "version" (1 when absent).
        config: the rest of the config (its "bidirectional").

    Raises:
        ValueError: a version newer than this keras-ssm reads, or a bidirectional
            DSS/DLR config saved before their authors' backward convention (version 2).
    """
    current = cls.config_version or 1
    if not isinstance(version, int) or not 1 <= version <= current:
        raise ValueError(
            f"This {cls.__name__} config has version {version!r}, but this keras-ssm "
            f"reads versions 1 to {current}: it was saved by a newer keras-ssm. "
            f"Upgrade keras-ssm to load it."
        )
    # Only DSS and DLR changed their backward system (to lag 1, config version 2); a
    # family born with lag 1 (S4D) declares nothing and its version-1 configs load.
    since = getattr(cls, "backward_lag_since_version", None)
    if since is not None and version < since and config.get("bidirectional"):
        raise ValueError(
            f"This bidirectional {cls.__name__} config has no 'version' (version 1): it "
            f"was saved by a keras-ssm whose backward kernel included lag 0. Since "
            f"config version 2, DSS and DLR follow their authors' code: the backward "
            f"kernel covers strictly future inputs (lags -1..-L; lag 0 is counted only "
            f"by the forward kernel and D), so the saved weights would compute a "
            f"different function and are not loaded silently. To proceed, either load "
            f"the model with the keras-ssm release that saved it, or rebuild the model "
            f"in code and retrain it (optionally starting from the old weights with "
            f"`model.load_weights(path)`, which accepts the .keras file)."
        )


def check_step_scale(layer, step_scale):
    """A call's `step_scale`, checked: a positive float, or a (batch, length) float32 tensor.

    Args:
        layer: the SSM layer (its `has_step` and name are read).
        step_scale: a number, or a (batch, length) tensor of per-step factors.

    Returns:
        A python float, or the tensor cast to float32.

    Raises:
        ValueError: a step scale for a layer without Δ, a non-positive number, or a
            tensor of another rank.
    """
    name = type(layer).__name__
    if isinstance(step_scale, (int, float, np.floating, np.integer)):
        step_scale = float(step_scale)
        if not layer.has_step and step_scale != 1.0:
            raise ValueError(
                f"{name} has no discretization step Δ, so `step_scale` must be 1.0, "
                f"got {step_scale}."
            )
        if step_scale <= 0:
            raise ValueError(f"`step_scale` must be positive, got {step_scale}.")
        return step_scale
    if not layer.has_step:
        raise ValueError(f"{name} has no discretization step Δ; `step_scale` cannot be given.")
    shape = tuple(step_scale.shape)
    if len(shape) != 2:
        raise ValueError(
            f"`step_scale` must be a float or a (batch, length) tensor, got shape {shape}."
        )
    return keras.ops.cast(step_scale, "float32")
