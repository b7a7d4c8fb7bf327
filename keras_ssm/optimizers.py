"""SSM parameter groups: the SSM parameters at their own learning rate and without weight decay.

The papers train the state-space parameters (Λ, Δ and, depending on the paper, B or W)
with a separate, usually smaller, learning rate and no weight decay, and everything else
(D, encoders, norms, GLU and output layers, heads) with AdamW:

| paper | SSM group (own rate, no decay) | default ssm_lr |
|-------|--------------------------------|----------------|
| DSS   | Λ, Δ (log_dt), W               | 1e-3           |
| DLR   | Λ, W                           | 1e-4           |
| S5    | Λ, B̃, Δ (log_step)             | 1e-3           |

Each layer decides this where it creates its weights: `DiagonalSSMLayer.add_float32_weight`
tags every variable with its role in the system (`variable.ssm_role`: "eigenvalues",
"step", "input", "output", "feedthrough") and the group its paper trains it in
(`variable.ssm_group`: "ssm" or "main"). `GroupedOptimizer` routes each variable to one
inner Keras optimizer by these tags (`{"group": "ssm"}`, `{"roles": [...]}`) or by regular
expressions on `variable.path`; `ssm_optimizer` builds the papers' groups. Schedules:
`WarmupCosine` (linear warmup then cosine, stepped every iteration) and reduce-on-plateau
with `keras.callbacks.ReduceLROnPlateau`, which scales every group's rate by the same
factor (each group stops at `min_lr` on its own).

Example:

```python
model = keras_ssm.models.build_classifier(10, vocab_size=256)
optimizer = keras_ssm.optimizers.ssm_optimizer(model, paper="dlr", lr=1e-3,
                                               weight_decay=0.05)
model.compile(optimizer, keras.losses.SparseCategoricalCrossentropy(from_logits=True))
```
"""

import math
import re
import warnings

import keras
from keras import ops

PAPERS = ("dss", "dlr", "s5")
SCHEDULES = ("constant", "cosine", "plateau")
TAGS = ("group", "roles")

# Deprecated (the layers tag their weights; see `ssm_variable_patterns`): variable names
# of the SSM group per paper (the last component of variable.path).
SSM_VARIABLES = {
    "dss": ("lambda_log_neg_re", "lambda_re", "lambda_imag", "lambda_im", "log_dt", "w",
            "w_backward"),
    "dlr": ("lambda_radius", "lambda_phase", "w", "w_backward"),
    "s5": ("lambda_re", "lambda_im", "b", "log_step"),
}
SSM_CLASSES = {"dss": "DSS", "dlr": "DLR", "s5": "S5"}
DEFAULT_SSM_LR = {"dss": 1e-3, "dlr": 1e-4, "s5": 1e-3}


@keras.saving.register_keras_serializable(package="keras_ssm")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup to `base_lr`, then cosine decay to `min_lr` at `total_steps`.

    For step t (the optimizer's iteration count, 0 for the first update), with
    W = warmup_steps and T = total_steps:

        t <  W:  lr = base_lr · (t + 1) / W
        t >= W:  lr = min_lr + (base_lr − min_lr) · ½ (1 + cos(π · min(t − W, T − W) / (T − W)))

    and lr = min_lr after T. (S5's code measures its cosine from t = 0 rather than from
    the end of the warmup, so it ends W steps early; DSS/DLR use this form.)

    Args:
        base_lr: float, the peak rate.
        warmup_steps: int >= 0.
        total_steps: int > warmup_steps.
        min_lr: float, the final rate.

    Example:

    ```python
    schedule = keras_ssm.optimizers.WarmupCosine(1e-3, warmup_steps=100, total_steps=10000)
    optimizer = keras.optimizers.AdamW(schedule)
    ```
    """

    def __init__(self, base_lr, warmup_steps, total_steps, min_lr=0.0, name="warmup_cosine"):
        if int(warmup_steps) < 0:
            raise ValueError(f"`warmup_steps` must be >= 0, got {warmup_steps!r}.")
        if total_steps is None or int(total_steps) <= int(warmup_steps):
            raise ValueError(
                f"`total_steps` must be greater than warmup_steps={warmup_steps}, got {total_steps!r}."
            )
        self.base_lr = float(base_lr)
        self.warmup_steps = int(warmup_steps)
        self.total_steps = int(total_steps)
        self.min_lr = float(min_lr)
        self.name = name

    def __call__(self, step):
        t = ops.cast(step, "float32")
        warmup = self.base_lr * (t + 1.0) / max(self.warmup_steps, 1)
        decay_steps = float(self.total_steps - self.warmup_steps)
        progress = ops.clip((t - self.warmup_steps) / decay_steps, 0.0, 1.0)
        cosine = self.min_lr + (self.base_lr - self.min_lr) * 0.5 * (1.0 + ops.cos(math.pi * progress))
        return ops.where(t < self.warmup_steps, warmup, cosine)

    def get_config(self):
        return {
            "base_lr": self.base_lr,
            "warmup_steps": self.warmup_steps,
            "total_steps": self.total_steps,
            "min_lr": self.min_lr,
            "name": self.name,
        }


class _Selector:
    """Which variables a group takes: regexes on `variable.path`, or creation tags."""

    def __init__(self, selector):
        self.patterns, self.tags = None, None
        if isinstance(selector, str):
            self.patterns = (selector,)
        elif isinstance(selector, (list, tuple)) and all(isinstance(s, str) for s in selector):
            self.patterns = tuple(selector)
        elif isinstance(selector, dict) and selector and set(selector) <= set(TAGS):
            self.tags = {"group": selector["group"]} if "group" in selector else {}
            if "roles" in selector:
                roles = selector["roles"]
                self.tags["roles"] = [roles] if isinstance(roles, str) else list(roles)
        else:
            raise ValueError(
                "A group selector must be a regular expression (str), a list of them, or a "
                f"dict of weight tags with keys among {TAGS} (e.g. {{'group': 'ssm'}}), got "
                f"{selector!r}."
            )
        self._compiled = [re.compile(p) for p in self.patterns or ()]

    def matches(self, variable):
        if self.patterns is not None:
            return any(p.search(variable.path) for p in self._compiled)
        if "group" in self.tags and getattr(variable, "ssm_group", None) != self.tags["group"]:
            return False
        if "roles" in self.tags and getattr(variable, "ssm_role", None) not in self.tags["roles"]:
            return False
        return True

    def get_config(self):
        if self.patterns is not None:
            return {"patterns": list(self.patterns)}
        return {"tags": dict(self.tags)}


@keras.saving.register_keras_serializable(package="keras_ssm")
class GroupedOptimizer(keras.optimizers.Optimizer):
    """Routes each variable to one inner optimizer, chosen by weight tags or by `variable.path`.

    A variable goes to the first group whose selector matches it, else to `default`. A
    selector is a dict of the tags an SSM layer puts on its weights (`{"group": "ssm"}`,
    `{"roles": ["eigenvalues", "step"]}`; see `DiagonalSSMLayer.add_float32_weight`), or
    a regex (or a list of regexes) that `re.search`es the variable's path (e.g.
    "block_0/dlr/lambda_radius"). Each inner optimizer keeps
    its own learning rate (float or schedule), weight decay and state, and counts its
    own iterations.

    Learning rate: `optimizer.learning_rate` is the default group's rate; setting it
    (e.g. by `keras.callbacks.LearningRateScheduler`) multiplies every group's rate by
    the same factor. `optimizers` lists the inner optimizers, which
    `keras.callbacks.ReduceLROnPlateau` (Keras >= 3.13) reduces one by one by its factor.

    Args:
        groups: list of (selector, optimizer) pairs; a selector is a dict of tags, a
            regex or a list of regexes. Every optimizer a distinct Keras optimizer instance.
        default: the optimizer of every other variable.
        global_clipnorm, clipnorm, clipvalue: gradient clipping applied to all
            gradients before they are routed (global_clipnorm over all groups together).
        loss_scale_factor: as in `keras.optimizers.Optimizer` (given to every group).
        name: str.

    Example:

    ```python
    model = keras_ssm.models.build_classifier(2, vocab_size=100, hidden_size=8, num_layers=1)
    optimizer = keras_ssm.optimizers.GroupedOptimizer(
        groups=[({"group": "ssm"}, keras.optimizers.Adam(1e-4))],
        default=keras.optimizers.AdamW(1e-3, weight_decay=0.05))
    model.compile(optimizer, keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    ```
    """

    def __init__(self, groups, default, global_clipnorm=None, clipnorm=None, clipvalue=None,
                 loss_scale_factor=None, name=None, **kwargs):
        for key in ("weight_decay", "use_ema", "gradient_accumulation_steps", "learning_rate"):
            if kwargs.get(key):
                raise ValueError(
                    f"GroupedOptimizer does not take `{key}`; set it on the inner optimizers."
                )
            kwargs.pop(key, None)
        super().__init__(learning_rate=0.0, global_clipnorm=global_clipnorm, clipnorm=clipnorm,
                         clipvalue=clipvalue, loss_scale_factor=loss_scale_factor, name=name,
                         **kwargs)
        parsed = []
        for group in groups:
            if not (isinstance(group, (list, tuple)) and len(group) == 2):
                raise ValueError(f"Each group must be a (selector, optimizer) pair, got {group!r}.")
            parsed.append((_Selector(group[0]), group[1]))
        optimizers = [opt for _, opt in parsed] + [default]
        for opt in optimizers:
            if not isinstance(opt, keras.optimizers.Optimizer):
                raise ValueError(f"Expected a keras.optimizers.Optimizer, got {opt!r}.")
            if isinstance(opt, (GroupedOptimizer, keras.optimizers.LossScaleOptimizer)):
                raise ValueError(
                    f"An inner optimizer cannot be a {type(opt).__name__}; wrap the "
                    "GroupedOptimizer instead."
                )
        if len({id(o) for o in optimizers}) != len(optimizers):
            raise ValueError("Every group (and the default) needs its own optimizer instance.")
        self._selectors = [selector for selector, _ in parsed]
        self._inner = optimizers
        for opt in self._inner:
            opt.loss_scale_factor = loss_scale_factor
        self._assignment = {}

    # ----------------------------------------------------------------------------
    # groups

    @property
    def optimizers(self):
        """The inner optimizers: one per group, then the default."""
        return list(self._inner)

    @property
    def default(self):
        return self._inner[-1]

    def group_index(self, variable):
        """The index in `optimizers` of the optimizer that updates `variable`."""
        for i, selector in enumerate(self._selectors):
            if selector.matches(variable):
                return i
        return len(self._inner) - 1

    def optimizer_for(self, variable):
        """The inner optimizer that updates `variable`."""
        return self._inner[self.group_index(variable)]

    # ----------------------------------------------------------------------------
    # Keras optimizer protocol

    def build(self, variables):
        if self.built:
            return
        variables = list(variables)
        per_group = [[] for _ in self._inner]
        for variable in variables:
            index = self.group_index(variable)
            self._assignment[self._var_key(variable)] = index
            per_group[index].append(variable)
        for opt, group_variables in zip(self._inner, per_group):
            if group_variables and not opt.built:
                opt.build(group_variables)
        super().build(variables)

    @property
    def variables(self):
        result = self._variables[:]
        for opt in self._inner:
            result.extend(opt.variables)
        return result

    @property
    def loss_scale_factor(self):
        return getattr(self, "_loss_scale_factor", None)

    @loss_scale_factor.setter
    def loss_scale_factor(self, value):
        self._loss_scale_factor = value
        for opt in getattr(self, "_inner", ()):
            opt.loss_scale_factor = value

    def apply(self, grads, trainable_variables=None):
        grads = list(grads)
        if not grads:
            return
        if trainable_variables is None:
            if not self.built:
                raise ValueError(
                    "Call build(trainable_variables) or pass the variables with the gradients."
                )
            trainable_variables = self._trainable_variables
        else:
            trainable_variables = list(trainable_variables)
            if not self.built:
                with keras.name_scope(self.name, caller=self):
                    self.build(trainable_variables)
            self._check_variables_are_known(trainable_variables)
        if self.clipnorm or self.clipvalue or self.global_clipnorm:
            kept = [i for i, g in enumerate(grads) if g is not None]
            clipped = self._clip_gradients([grads[i] for i in kept])
            for i, g in zip(kept, clipped):
                grads[i] = g
        per_group = [([], []) for _ in self._inner]
        for grad, variable in zip(grads, trainable_variables):
            if grad is None:
                continue
            index = self._assignment[self._var_key(variable)]
            per_group[index][0].append(grad)
            per_group[index][1].append(variable)
        for opt, (group_grads, group_variables) in zip(self._inner, per_group):
            if group_grads:
                opt.apply(group_grads, group_variables)
        self._iterations.assign_add(1)

    def finalize_variable_values(self, var_list):
        per_group = [[] for _ in self._inner]
        for variable in var_list:
            per_group[self._assignment[self._var_key(variable)]].append(variable)
        for opt, group_variables in zip(self._inner, per_group):
            if group_variables:
                opt.finalize_variable_values(group_variables)

    def set_weights(self, weights):
        variables = self.variables
        if len(weights) != len(variables):
            raise ValueError(
                f"Expected {len(variables)} optimizer weights, got {len(weights)}."
            )
        for variable, value in zip(variables, weights):
            variable.assign(value)

    # ----------------------------------------------------------------------------
    # learning rate: the default group's; setting it rescales every group

    @property
    def learning_rate(self):
        return self.default.learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        if not hasattr(self, "_inner"):
            # Called by the base constructor: keep its (unused) placeholder.
            keras.optimizers.Optimizer.learning_rate.fset(self, value)
            return
        current = float(keras.ops.convert_to_numpy(self.default.learning_rate))
        if current == 0.0:
            raise ValueError("The default group's learning rate is 0: it cannot be rescaled.")
        factor = float(value) / current
        for opt in self._inner:
            old = float(keras.ops.convert_to_numpy(opt.learning_rate))
            opt.learning_rate = old * factor

    # ----------------------------------------------------------------------------
    # serialization

    def get_config(self):
        config = {
            "name": self.name,
            "groups": [
                dict(selector.get_config(),
                     optimizer=keras.saving.serialize_keras_object(opt))
                for selector, opt in zip(self._selectors, self._inner[:-1])
            ],
            "default": keras.saving.serialize_keras_object(self.default),
            "global_clipnorm": self.global_clipnorm,
            "clipnorm": self.clipnorm,
            "clipvalue": self.clipvalue,
            "loss_scale_factor": self.loss_scale_factor,
        }
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        groups = [(group["patterns"] if "patterns" in group else group["tags"],
                   _deserialize_optimizer(group["optimizer"], custom_objects))
                  for group in config.pop("groups")]
        default = _deserialize_optimizer(config.pop("default"), custom_objects)
        return cls(groups=groups, default=default, **config)


def _deserialize_optimizer(config, custom_objects):
    # keras.optimizers.deserialize maps built-in class names to this backend's classes
    # (a file saved on torch names torch's Adam module; it loads on every backend).
    return keras.optimizers.deserialize(dict(config), custom_objects=custom_objects)


def _name_pattern(names):
    return r"(^|/)(" + "|".join(re.escape(n) for n in names) + r")$"


def ssm_variable_patterns(paper, model=None):
    """Deprecated: regexes selecting the SSM group of `paper` ("dss", "dlr", "s5") by name.

    The layers now tag their weights at creation; select the group with
    `{"group": "ssm"}` (see `GroupedOptimizer`). Without `model`: one regex on the
    variable names (the last path component). With `model`: one regex per DSS/DLR/S5
    layer of that paper in the model, on its name and variable names.

    Raises:
        ValueError: an unknown paper, or a model without any such layer.
    """
    warnings.warn(
        "keras_ssm.optimizers.ssm_variable_patterns is deprecated: the SSM layers tag their "
        "weights (variable.ssm_group, variable.ssm_role); use the selector {'group': 'ssm'} "
        "in GroupedOptimizer, or ssm_optimizer.", DeprecationWarning, stacklevel=2)
    _check_paper(paper)
    names = SSM_VARIABLES[paper]
    if model is None:
        return [_name_pattern(names)]
    found = _paper_layers(paper, model)
    alternatives = "|".join(re.escape(n) for n in names)
    return [r"(^|/)" + re.escape(layer.name) + r"/(" + alternatives + r")$" for layer in found]


def _check_paper(paper):
    if paper not in PAPERS:
        raise ValueError(f"`paper` must be one of {PAPERS}, got {paper!r}.")


def _paper_layers(paper, model):
    """The `paper`'s SSM layers in `model`; a ValueError when there are none."""
    from keras_ssm import layers

    ssm_class = getattr(layers, SSM_CLASSES[paper])
    found = [layer for layer in _all_layers(model) if isinstance(layer, ssm_class)]
    if not found:
        kinds = sorted({type(l).__name__ for l in _all_layers(model)
                        if isinstance(l, layers.DiagonalSSMLayer)})
        raise ValueError(
            f"paper={paper!r} selects the variables of {SSM_CLASSES[paper]} layers, but the "
            f"model has none (its SSM layers: {kinds or 'none'}). Pass the paper of the "
            "model's layers."
        )
    return found


def _all_layers(layer):
    """Every layer nested in `layer`, itself included."""
    if hasattr(layer, "_flatten_layers"):
        return list(layer._flatten_layers(include_self=True, recursive=True))
    return [layer] + [sub for child in getattr(layer, "layers", []) for sub in _all_layers(child)]


def ssm_optimizer(model=None, paper="dss", lr=1e-3, ssm_lr=None, weight_decay=0.01,
                  schedule="constant", warmup_steps=0, total_steps=None, min_lr=0.0,
                  beta_1=0.9, beta_2=0.999, epsilon=1e-8, global_clipnorm=None):
    """The papers' optimizer: AdamW for the model, Adam at `ssm_lr` without decay for the SSM.

    Args:
        model: optional model; if given, it is checked to contain layers of `paper`.
        paper: "dss", "dlr" or "s5": the default `ssm_lr`. The SSM group is every
            variable its layer tagged `ssm_group="ssm"` (module table).
        lr: float, the main rate (AdamW group).
        ssm_lr: float or None, the SSM group's rate; None = the paper's default
            (DSS 1e-3, DLR 1e-4, S5 1e-3).
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
    _check_paper(paper)
    if model is not None:
        _paper_layers(paper, model)
    if schedule not in SCHEDULES:
        raise ValueError(f"`schedule` must be one of {SCHEDULES}, got {schedule!r}.")
    ssm_lr = DEFAULT_SSM_LR[paper] if ssm_lr is None else float(ssm_lr)
    lr = float(lr)
    if schedule == "cosine":
        main_rate = WarmupCosine(lr, warmup_steps, total_steps, min_lr)
        ssm_rate = WarmupCosine(ssm_lr, warmup_steps, total_steps,
                                min_lr * ssm_lr / lr if lr else 0.0)
    else:
        main_rate, ssm_rate = lr, ssm_lr
    adam = dict(beta_1=beta_1, beta_2=beta_2, epsilon=epsilon)
    ssm_group = keras.optimizers.Adam(ssm_rate, name="ssm_adam", **adam)
    main = keras.optimizers.AdamW(main_rate, weight_decay=weight_decay, name="main_adamw", **adam)
    return GroupedOptimizer(groups=[({"group": "ssm"}, ssm_group)],
                            default=main, global_clipnorm=global_clipnorm,
                            name=f"{paper}_grouped")
