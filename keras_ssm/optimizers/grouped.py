"""`GroupedOptimizer`: one inner Keras optimizer per group of variables (by tags or paths)."""

import re

import keras

TAGS = ("group", "roles")


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


class _Routing:
    """Which group updates each variable: `group` id(variable) -> index, and `variables`,
    those the optimizer was built with. A plain object, so that Keras' attribute
    tracking does not count the model's variables among the optimizer's own."""

    def __init__(self):
        self.group = {}
        self.variables = []


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
            gradients before they are routed (global_clipnorm over all groups together),
            as `keras.optimizers.Optimizer` clips (one of the three).
        loss_scale_factor: as in `keras.optimizers.Optimizer`: the gradients are divided
            by it before clipping and routing.
        name: str.

    Each group is updated through its optimizer's public `apply`; only the public
    optimizer API is used, so any Keras optimizer can be an inner one.

    Example:

    ```python
    model = keras_ssm.models.build_classifier(2, vocab_size=100, hidden_size=8, num_layers=1)
    optimizer = keras_ssm.optimizers.GroupedOptimizer(
        groups=[({"group": "ssm"}, keras.optimizers.Adam(1e-4))],
        default=keras.optimizers.AdamW(1e-3, weight_decay=0.05))
    model.compile(optimizer, keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    ```
    """

    def __init__(
        self,
        groups,
        default,
        global_clipnorm=None,
        clipnorm=None,
        clipvalue=None,
        loss_scale_factor=None,
        name=None,
        **kwargs,
    ):
        for key in ("weight_decay", "use_ema", "gradient_accumulation_steps", "learning_rate"):
            if kwargs.get(key):
                raise ValueError(
                    f"GroupedOptimizer does not take `{key}`; set it on the inner optimizers."
                )
            kwargs.pop(key, None)
        super().__init__(
            learning_rate=0.0,
            global_clipnorm=global_clipnorm,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            loss_scale_factor=loss_scale_factor,
            name=name,
            **kwargs,
        )
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
        self._routing = _Routing()

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
            self._routing.group[id(variable)] = index
            per_group[index].append(variable)
        self._routing.variables = variables
        for opt, group_variables in zip(self._inner, per_group):
            if group_variables and not opt.built:
                opt.build(group_variables)
        super().build(variables)

    @property
    def variables(self):
        result = list(super().variables)
        for opt in self._inner:
            result.extend(opt.variables)
        return result

    def apply(self, grads, trainable_variables=None):
        grads = list(grads)
        if not grads:
            return
        if trainable_variables is None:
            if not self.built:
                raise ValueError(
                    "Call build(trainable_variables) or pass the variables with the gradients."
                )
            trainable_variables = self._routing.variables
            if len(grads) != len(trainable_variables):
                raise ValueError(
                    f"Got {len(grads)} gradients for the {len(trainable_variables)} variables "
                    "this optimizer was built with; pass `trainable_variables` with them."
                )
        else:
            trainable_variables = list(trainable_variables)
            if not self.built:
                with keras.name_scope(self.name, caller=self):
                    self.build(trainable_variables)
            unknown = [v for v in trainable_variables if id(v) not in self._routing.group]
            if unknown:
                raise ValueError(
                    f"Unknown variable: {unknown[0]}. This optimizer updates only the "
                    "variables it was built with; build a new optimizer for new variables."
                )
        kept = [i for i, g in enumerate(grads) if g is not None]
        for i, g in zip(kept, self._unscale_and_clip([grads[i] for i in kept])):
            grads[i] = g
        per_group = [([], []) for _ in self._inner]
        for grad, variable in zip(grads, trainable_variables):
            if grad is None:
                continue
            index = self._routing.group[id(variable)]
            per_group[index][0].append(grad)
            per_group[index][1].append(variable)
        for opt, (group_grads, group_variables) in zip(self._inner, per_group):
            if group_grads:
                opt.apply(group_grads, group_variables)
        self.iterations.assign_add(1)

    def _unscale_and_clip(self, grads):
        """The gradients divided by `loss_scale_factor`, then clipped as Keras' optimizers
        clip them (by `clipnorm` each, else by `global_clipnorm` together, else by
        `clipvalue`), in `keras.ops`."""
        if not grads:
            return grads
        if self.loss_scale_factor is not None:
            grads = [g / self.loss_scale_factor for g in grads]
        if self.clipnorm and self.clipnorm > 0:
            return [_clip_by_norm(g, self.clipnorm) for g in grads]
        if self.global_clipnorm and self.global_clipnorm > 0:
            return _clip_by_global_norm(grads, self.global_clipnorm)
        if self.clipvalue and self.clipvalue > 0:
            return [keras.ops.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        return grads

    def finalize_variable_values(self, var_list):
        per_group = [[] for _ in self._inner]
        for variable in var_list:
            per_group[self._routing.group[id(variable)]].append(variable)
        for opt, group_variables in zip(self._inner, per_group):
            if group_variables:
                opt.finalize_variable_values(group_variables)

    def set_weights(self, weights):
        variables = self.variables
        if len(weights) != len(variables):
            raise ValueError(f"Expected {len(variables)} optimizer weights, got {len(weights)}.")
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
                dict(selector.get_config(), optimizer=keras.saving.serialize_keras_object(opt))
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
        groups = [
            (
                group["patterns"] if "patterns" in group else group["tags"],
                _deserialize_optimizer(group["optimizer"], custom_objects),
            )
            for group in config.pop("groups")
        ]
        default = _deserialize_optimizer(config.pop("default"), custom_objects)
        return cls(groups=groups, default=default, **config)


def _clip_by_norm(grad, clipnorm):
    """`grad` · clipnorm / max(|grad|, clipnorm) (a zero gradient stays zero, NaN-free)."""
    squares = keras.ops.sum(keras.ops.square(grad))
    positive = squares > 0
    norm = keras.ops.where(
        positive, keras.ops.sqrt(keras.ops.where(positive, squares, 1.0)), squares
    )
    return grad * clipnorm / keras.ops.maximum(norm, clipnorm)


def _clip_by_global_norm(grads, clipnorm):
    """Every gradient times clipnorm / max(global norm, clipnorm); NaN for a non-finite norm."""
    norm = keras.ops.sqrt(keras.ops.sum(keras.ops.stack([keras.ops.sum(g * g) for g in grads])))
    scale = clipnorm * keras.ops.minimum(1.0 / norm, 1.0 / clipnorm)
    scale = scale + (norm - norm)  # inf or NaN norms give NaN, as in Keras
    return [g * keras.ops.cast(scale, g.dtype) for g in grads]


def _deserialize_optimizer(config, custom_objects):
    # keras.optimizers.deserialize maps built-in class names to this backend's classes
    # (a file saved on torch names torch's Adam module; it loads on every backend).
    return keras.optimizers.deserialize(dict(config), custom_objects=custom_objects)
