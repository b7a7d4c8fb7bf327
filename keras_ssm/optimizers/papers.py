"""The papers' optimizer: `ssm_optimizer` (AdamW, plus Adam at the SSM rate without decay)."""

import re
import warnings

import keras

from keras_ssm.layers import families
from keras_ssm.optimizers.grouped import GroupedOptimizer
from keras_ssm.optimizers.schedules import SCHEDULES
from keras_ssm.optimizers.schedules import WarmupCosine


def ssm_variable_patterns(paper, model=None):
    """Deprecated: regexes selecting the SSM group of `paper`'s layers in `model` by path.

    The layers tag their weights at creation; select the group with `{"group": "ssm"}`
    (see `GroupedOptimizer`). One regex per layer of that family in the model, on its
    name and the names of its SSM-group variables (read from their tags).

    Raises:
        ValueError: an unknown paper, no model, or a model without any such layer.
    """
    warnings.warn(
        "keras_ssm.optimizers.ssm_variable_patterns is deprecated: the SSM layers tag their "
        "weights (variable.ssm_group, variable.ssm_role); use the selector {'group': 'ssm'} "
        "in GroupedOptimizer, or ssm_optimizer.",
        DeprecationWarning,
        stacklevel=2,
    )
    paper = families.family(paper, "paper").name
    if model is None:
        raise ValueError(
            "ssm_variable_patterns needs the `model`: the variable names come from its "
            "layers' weight tags. Better, select the group with {'group': 'ssm'}."
        )
    names_by_layer = {}
    for variable in _paper_variables(paper, model):
        if variable.ssm_group == "ssm":
            layer_path, name = variable.path.rsplit("/", 1)
            names = names_by_layer.setdefault(layer_path.rsplit("/", 1)[-1], [])
            if name not in names:
                names.append(name)
    return [
        r"(^|/)" + re.escape(layer) + r"/(" + "|".join(re.escape(n) for n in names) + r")$"
        for layer, names in names_by_layer.items()
    ]


def _paper_variables(paper, model):
    """The variables that `paper`'s layers created in `model` (by their `ssm_family` tag).

    Raises:
        ValueError: the model has none (the message names the families it has).
    """
    variables = list(model.variables)
    found = [v for v in variables if getattr(v, "ssm_family", None) == paper]
    if not found:
        present = sorted(
            {v.ssm_family for v in variables if getattr(v, "ssm_family", None) is not None}
        )
        kinds = [families.layer_class(name).__name__ for name in present]
        hint = "" if variables else " (it has no variables yet: build it first)"
        raise ValueError(
            f"paper={paper!r} selects the variables of "
            f"{families.layer_class(paper).__name__} layers, but the model has none{hint} "
            f"(its SSM layers: {kinds or 'none'}). Pass the paper of the model's layers."
        )
    return found


def ssm_optimizer(
    model=None,
    paper="dss",
    lr=1e-3,
    ssm_lr=None,
    weight_decay=0.01,
    schedule="constant",
    warmup_steps=0,
    total_steps=None,
    min_lr=0.0,
    beta_1=0.9,
    beta_2=0.999,
    epsilon=1e-8,
    global_clipnorm=None,
):
    """The papers' optimizer: AdamW for the model, Adam at `ssm_lr` without decay for the SSM.

    Args:
        model: optional built model; if given, it is checked to contain layers of
            `paper`.
        paper: a layer family name (`keras_ssm.layers.families.names()`: "dss", "dlr",
            "s5", ...): the default `ssm_lr`. The SSM group is every variable its layer
            tagged `ssm_group="ssm"` (module table).
        lr: float, the main rate (AdamW group).
        ssm_lr: float or None, the SSM group's rate; None = the family's default
            (`families.default_ssm_lr`: DSS 1e-3, DLR 1e-4, S5 1e-3; Mamba: `lr`, its
            A_log and D only without weight decay).
        weight_decay: float, AdamW's decoupled decay of the main group.
        schedule: "constant", "plateau" (constant rates for
            `keras.callbacks.ReduceLROnPlateau`, which scales every group) or "cosine"
            (`WarmupCosine` per group; the SSM group's floor is min_lr · ssm_lr / lr).
        warmup_steps, total_steps, min_lr: the cosine schedule (in optimizer steps).
        beta_1, beta_2, epsilon: Adam's (torch/optax defaults).
        global_clipnorm: optional clipping over all gradients.

    Returns:
        A `GroupedOptimizer` with groups [SSM: Adam(ssm_lr)] and default AdamW(lr, weight_decay).

    Example:

    ```python
    model = keras_ssm.models.build_classifier(2, vocab_size=100, ssm="s5", hidden_size=8,
                                              num_layers=1)
    optimizer = keras_ssm.optimizers.ssm_optimizer(
        model, paper="s5", lr=4e-3, ssm_lr=1e-3, weight_decay=0.05,
        schedule="cosine", warmup_steps=1000, total_steps=50000)
    ```
    """
    family = families.family(paper, "paper")
    paper = family.name
    if model is not None:
        _paper_variables(paper, model)
    if schedule not in SCHEDULES:
        raise ValueError(f"`schedule` must be one of {SCHEDULES}, got {schedule!r}.")
    if ssm_lr is None:
        ssm_lr = lr if family.ssm_lr is None else family.ssm_lr
    ssm_lr = float(ssm_lr)
    lr = float(lr)
    if schedule == "cosine":
        main_rate = WarmupCosine(lr, warmup_steps, total_steps, min_lr)
        ssm_rate = WarmupCosine(
            ssm_lr, warmup_steps, total_steps, min_lr * ssm_lr / lr if lr else 0.0
        )
    else:
        main_rate, ssm_rate = lr, ssm_lr
    adam = dict(beta_1=beta_1, beta_2=beta_2, epsilon=epsilon)
    ssm_group = keras.optimizers.Adam(ssm_rate, name="ssm_adam", **adam)
    main = keras.optimizers.AdamW(main_rate, weight_decay=weight_decay, name="main_adamw", **adam)
    return GroupedOptimizer(
        groups=[({"group": "ssm"}, ssm_group)],
        default=main,
        global_clipnorm=global_clipnorm,
        name=f"{paper}_grouped",
    )
