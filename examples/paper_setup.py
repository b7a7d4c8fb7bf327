"""The papers' classifier set-up (LRA, Speech Commands, sequential images): models, optimizer
groups, callbacks, step scaling, batches, scores and the training run."""

import keras
import numpy as np

from examples.training import fit_resumably
from keras_ssm.layers import families

SSM_MODELS = families.names()
"""The `--model` choices of the LRA and Speech Commands examples: the layer families."""


S5_OPT_CONFIGS = ("standard", "BandCdecay", "BfastandCdecay", "noBCdecay")
"""S5's `opt_config` choices (see `paper_optimizer_groups`)."""


_SSM_KWARGS = {
    "s5": ("state_size", "blocks", "c_init", "clip_eigs", "dt_min", "dt_max"),
    "dss": ("state_size", "variant", "lambda_init", "dt_min", "dt_max"),
    "dlr": ("state_size", "dt_min", "dt_max"),
    "s4d": ("state_size", "init", "dt_min", "dt_max", "discretization"),
    "lru": ("state_size", "r_min", "r_max", "max_phase"),
}
# The families whose code has no final norm after the blocks (S5's, and the LRU's, which
# is built on it).
_NO_FINAL_NORM = ("s5", "lru")


def ssm_model_kwargs(model_name, settings, seed=None):
    """The `keras_ssm.models` builder arguments of a preset (LRA, Speech Commands).

    Encoder → `num_layers` `SSMBlock`s of `model_name` (norm, pre/post-norm, activation,
    dropout, BatchNorm momentum from the settings) → a final norm for pre-norm DSS/DLR/S4D
    models (their backbone), none for S5 and the LRU (their code has none).

    Args:
        model_name: "s5", "dss", "dlr", "s4d" or "lru".
        settings: a preset dict (see `examples/presets.py`).
        seed: int or None.

    Returns:
        dict of keyword arguments for `build_classifier` / `build_retrieval_classifier`
        (without the input and head arguments).

    Example:

    ```python
    kwargs = ssm_model_kwargs("s5", presets.S5_SC35, seed=0)
    model = keras_ssm.models.build_classifier(35, input_features=1, **kwargs)
    ```
    """
    if model_name not in SSM_MODELS:
        raise ValueError(f"`model_name` must be one of {SSM_MODELS}, got {model_name!r}.")
    s = settings
    return dict(
        hidden_size=s["hidden_size"],
        num_layers=s["num_layers"],
        ssm=model_name,
        ssm_kwargs={key: s[key] for key in _SSM_KWARGS[model_name]},
        bidirectional=s["bidirectional"],
        norm=s["norm"],
        prenorm=s["prenorm"],
        activation=s["activation"],
        dropout=s["dropout"],
        final_norm=False if model_name in _NO_FINAL_NORM else None,
        block_kwargs={"norm_kwargs": {"momentum": s["norm_momentum"]}},
        seed=seed,
    )


def paper_optimizer_groups(model_name, settings):
    """The papers' SSM parameter groups: [(weight roles, rate, weight decay), ...].

    Roles are the tags the SSM layers put on their weights (`variable.ssm_role`):
    "eigenvalues" Λ, "step" Δ, "input" B̃, "output" C or W, "feedthrough" D. Every other
    variable (encoder, norms, GLU/output Dense, head, and whatever a group does not name)
    is in the main group, AdamW(lr, weight_decay).

    - S5 (spec s5.md D), by `opt_config`: "standard": Λ, B, Δ at ssm_lr, no decay;
      "BandCdecay": Λ, Δ at ssm_lr, no decay and B at ssm_lr with decay; "BfastandCdecay":
      Λ, Δ at ssm_lr, no decay (B in the main group); "noBCdecay": Λ, Δ, B, C, D at ssm_lr,
      no decay. `dt_global=True` moves Δ to the main group (lr and decay).
    - DSS (spec dss_dlr.md A.6, D.2): Λ and W at ssm_lr, log Δ at `log_dt_lr` (None:
      ssm_lr), no decay.
    - DLR: Λ (radius, phase) and W at ssm_lr, no decay.
    - S4D (spec s4d_lru.md A7, A8): A, B and Δ at ssm_lr, no decay; `dt_global=True`
      trains Δ at the main rate, still without decay (the S4 configs' "dt global").
    - LRU (spec s4d_lru.md B5): ν, θ, γ and B at ssm_lr (the base rate times the paper's
      "LR factor"), no decay.

    Args:
        model_name: "s5", "dss", "dlr", "s4d" or "lru".
        settings: a preset dict.

    Returns:
        list of (tuple of roles, learning rate, weight decay).

    Example:

    ```python
    paper_optimizer_groups("s5", dict(opt_config="BandCdecay", dt_global=False,
                                      ssm_lr=6e-4, weight_decay=0.06))
    # [(('eigenvalues', 'step'), 6e-4, 0.0), (('input',), 6e-4, 0.06)]
    ```
    """
    s = settings
    ssm_lr = s["ssm_lr"]
    if model_name == "s5":
        config = s["opt_config"]
        if config not in S5_OPT_CONFIGS:
            raise ValueError(f"`opt_config` must be one of {S5_OPT_CONFIGS}, got {config!r}.")
        core = ("eigenvalues",) + (() if s["dt_global"] else ("step",))
        if config == "standard":
            return [(core + ("input",), ssm_lr, 0.0)]
        if config == "BandCdecay":
            return [(core, ssm_lr, 0.0), (("input",), ssm_lr, s["weight_decay"])]
        if config == "BfastandCdecay":
            return [(core, ssm_lr, 0.0)]
        return [(core + ("input", "output", "feedthrough"), ssm_lr, 0.0)]
    if model_name == "dss":
        kernel = ("eigenvalues", "output")
        log_dt_lr = s.get("log_dt_lr")
        if log_dt_lr is None or log_dt_lr == ssm_lr:
            return [(kernel + ("step",), ssm_lr, 0.0)]
        return [(kernel, ssm_lr, 0.0), (("step",), log_dt_lr, 0.0)]
    if model_name == "dlr":
        return [(("eigenvalues", "output"), ssm_lr, 0.0)]
    if model_name == "s4d":
        if s.get("dt_global"):
            return [(("eigenvalues", "input"), ssm_lr, 0.0), (("step",), s["lr"], 0.0)]
        return [(("eigenvalues", "step", "input"), ssm_lr, 0.0)]
    if model_name == "lru":
        return [(("eigenvalues", "input"), ssm_lr, 0.0)]
    raise ValueError(f"`model_name` must be one of {SSM_MODELS}, got {model_name!r}.")


def _ssm_layers(layer):
    """Every diagonal SSM layer inside `layer` (nested models and SSMBlocks included)."""
    from keras_ssm.layers import SSMBlock
    from keras_ssm.layers.base import DiagonalSSMLayer

    if isinstance(layer, DiagonalSSMLayer):
        return [layer]
    if isinstance(layer, SSMBlock):
        return _ssm_layers(layer.ssm)
    found = []
    for sub in getattr(layer, "layers", []):
        found += [ssm for ssm in _ssm_layers(sub) if all(ssm is not f for f in found)]
    return found


def paper_optimizer(model, model_name, settings, steps_per_epoch):
    """The paper's optimizer of a preset: SSM groups (`paper_optimizer_groups`) + AdamW.

    Each group selects the model's weights by the roles their SSM layers tagged them
    with. Rates:
    `schedule="cosine"`: `keras_ssm.optimizers.WarmupCosine` per group (linear warmup for
    `warmup_epochs`, cosine to 0 at `epochs`, stepped every optimizer step; S5's code
    measures its cosine from step 0, so it reaches 0 one warmup length earlier);
    "plateau"/"constant": constant rates (`paper_callbacks` adds ReduceLROnPlateau).
    Groups without decay are Adam, the others AdamW; β = (0.9, 0.999), ε = 1e-8.

    Args:
        model: the built model.
        model_name: "s5", "dss", "dlr", "s4d" or "lru".
        settings: a preset dict.
        steps_per_epoch: int, optimizer steps per epoch.

    Returns:
        A `keras_ssm.optimizers.GroupedOptimizer`.

    Example:

    ```python
    optimizer = paper_optimizer(model, "s5", presets.S5_SC35, steps_per_epoch=5300)
    ```
    """
    from keras_ssm.optimizers import GroupedOptimizer
    from keras_ssm.optimizers import WarmupCosine

    s = settings
    if s["schedule"] not in ("cosine", "plateau", "constant"):
        raise ValueError(
            f"`schedule` must be 'cosine', 'plateau' or 'constant', got {s['schedule']!r}."
        )
    warmup = int(round(float(s.get("warmup_epochs", 0)) * int(steps_per_epoch)))
    total = max(int(s["epochs"]) * int(steps_per_epoch), warmup + 1)

    def rate(value):
        return WarmupCosine(value, warmup, total) if s["schedule"] == "cosine" else value

    def adam(value, weight_decay, name):
        if weight_decay:
            return keras.optimizers.AdamW(
                rate(value), weight_decay=weight_decay, epsilon=1e-8, name=name
            )
        return keras.optimizers.Adam(rate(value), epsilon=1e-8, name=name)

    roles_present = {getattr(v, "ssm_role", None) for v in model.trainable_variables}
    if not roles_present - {None}:
        raise ValueError("The model has no SSM layer (DSS, DLR, S5, S4D, LRU).")
    groups = []
    for index, (roles, value, weight_decay) in enumerate(paper_optimizer_groups(model_name, s)):
        if roles_present & set(roles):
            groups.append(({"roles": list(roles)}, adam(value, weight_decay, f"ssm_group_{index}")))
    return GroupedOptimizer(
        groups, default=adam(s["lr"], s["weight_decay"], "main"), name=f"{model_name}_paper"
    )


def paper_callbacks(settings, verbose=0):
    """`ReduceLROnPlateau` on val accuracy for `schedule="plateau"` (DSS/DLR), else none.

    Factor `plateau_factor` (0.2), `patience` epochs, mode max; it scales every group's
    rate. Its counters start afresh when a run is resumed.

    Returns:
        A list of callbacks (put them before `training_callbacks`, so history.json
        records the reduced rates).
    """
    if settings["schedule"] != "plateau":
        return []
    return [
        keras.callbacks.ReduceLROnPlateau(
            monitor="val_accuracy",
            mode="max",
            factor=settings["plateau_factor"],
            patience=settings["patience"],
            verbose=1 if verbose else 0,
        )
    ]


def with_step_scale(model, step_scale=1.0, sequence_length=None):
    """The same model (the same layers and weights) with its SSM steps Δ times `step_scale`.

    Rebuilds the functional graph of `model` with `keras.models.clone_model`, reusing
    every layer (`clone_function` returns the layer itself, so nothing is copied and
    later weight changes show in both) and calling every `SSMBlock` with
    `step_scale=step_scale` (`call_function`). With `sequence_length` the new inputs have
    that length: a 16 kHz model evaluated zero-shot on 8 kHz audio is
    `with_step_scale(model, 2.0, 8000)` (S5 paper B2; DSS and S4D the same). DLR and the
    LRU have no Δ: use step_scale 1.0 (a naive evaluation at the new length).

    Args:
        model: a functional model whose SSMBlocks are called directly in its graph (the
            `keras_ssm.models` builders' models); nested functional models are not
            entered.
        step_scale: float > 0, multiplies every SSM's Δ.
        sequence_length: int or None, the new inputs' length (None: keep the model's).

    Returns:
        A `keras.Model` for inference (do not train it with a different step).

    Example:

    ```python
    model_8k = with_step_scale(model_16k, 2.0, sequence_length=8000)
    logits = model_8k.predict(x_8k)
    ```
    """
    from keras_ssm.layers import SSMBlock

    if not float(step_scale) > 0:
        raise ValueError(f"`step_scale` must be positive, got {step_scale!r}.")
    stepless = [layer.name for layer in _ssm_layers(model) if not getattr(layer, "has_step", True)]
    if stepless and float(step_scale) != 1.0:
        raise ValueError(
            f"`step_scale` must be 1.0 for a model with SSM layers without a step Δ "
            f"({', '.join(stepless)}: DLR or LRU); evaluate it naively at the new length."
        )
    input_tensors = None
    if sequence_length is not None:
        input_tensors = [
            keras.Input(
                (int(sequence_length),) + tuple(tensor.shape[2:]),
                dtype=tensor.dtype,
                name=f"{tensor.name.split(':')[0]}_rescaled",
            )
            for tensor in model.inputs
        ]
        if len(input_tensors) == 1:
            input_tensors = input_tensors[0]

    def call_function(layer, *args, **kwargs):
        if isinstance(layer, SSMBlock) and float(step_scale) != 1.0:
            kwargs["step_scale"] = float(step_scale)
        return layer(*args, **kwargs)

    return keras.models.clone_model(
        model,
        input_tensors=input_tensors,
        clone_function=lambda layer: layer,
        call_function=call_function,
    )


class OrderedBatches(keras.utils.PyDataset):
    """Batches of (inputs[, labels]) in order, for validation and prediction.

    Reads only the rows of each batch, so memory-mapped arrays are never loaded whole.

    Args:
        inputs: an array or a tuple of arrays with the same first dimension.
        labels: optional array.
        batch_size: int.

    Example:

    ```python
    model.fit(train, validation_data=OrderedBatches(x_val, y_val, 64))
    ```
    """

    def __init__(self, inputs, labels=None, batch_size=32, **kwargs):
        super().__init__(**kwargs)
        self.inputs, self.labels = inputs, labels
        self.size = len(keras.tree.flatten(inputs)[0])
        self.batch_size = int(batch_size)

    @property
    def num_batches(self):
        return -(-self.size // self.batch_size)

    def __getitem__(self, index):
        rows = slice(int(index) * self.batch_size, (int(index) + 1) * self.batch_size)
        x = keras.tree.map_structure(lambda a: np.asarray(a[rows]), self.inputs)
        if self.labels is None:
            return (x,)
        return x, np.asarray(self.labels[rows])


def classification_scores(model, inputs, labels, batch_size):
    """Accuracy and mean cross-entropy of a logits model on a labelled set, in numpy.

    Args:
        model: a model returning (batch, classes) logits.
        inputs: array (or tuple of arrays; memory-mapped arrays are read batch by batch).
        labels: int array (n,).
        batch_size: int.

    Returns:
        {"accuracy": float in [0, 1], "loss": float, "samples": n}.

    Example:

    ```python
    classification_scores(model, x_test, y_test, batch_size=64)["accuracy"]
    ```
    """
    labels = np.asarray(labels).astype(np.int64)
    batches = OrderedBatches(inputs, batch_size=batch_size)
    logits = np.asarray(keras.ops.convert_to_numpy(model.predict(batches, verbose=0)), np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return {
        "accuracy": float(np.mean(np.argmax(logits, axis=-1) == labels)),
        "loss": float(-np.mean(log_probs[np.arange(len(labels)), labels])),
        "samples": int(len(labels)),
    }


def fit_paper_classifier(
    build,
    loaded,
    model_name,
    settings,
    output_dir,
    *,
    seed,
    verbose,
    num_replicas=1,
    make_optimizer=None,
    extra_callbacks=(),
):
    """Train a classifier the papers' way, resumably, and restore its best weights.

    Shuffled, resumable training batches; the papers' optimizer and callbacks; sparse
    cross-entropy on logits; checkpoints and history in `output_dir` (a rerun resumes
    after the last finished epoch); at the end, the weights of the best validation
    accuracy. Call inside `distribution_scope`.

    Args:
        build: callable() -> an uncompiled keras.Model returning logits.
        loaded: {"train": (inputs, labels), "val": (inputs, labels)}.
        model_name: "s5", "dss", "dlr", "s4d" or "lru" (selects the optimizer groups).
        settings: resolved preset (batch_size, epochs, steps_per_epoch, drop_remainder, ...).
        output_dir: the run folder (from `prepare_output_dir`).
        seed: the shuffling seed.
        verbose: keras verbosity.
        num_replicas: data-parallel replicas; the global batch is batch_size * replicas.
        make_optimizer: optional callable(model, steps_per_epoch) -> optimizer, instead of
            the papers' (`paper_optimizer`): for models without SSM layers (baselines).
        extra_callbacks: callbacks run before the checkpoint and history writers (so
            values they add to the logs, e.g. `EpochTimer`'s, are recorded).

    Returns:
        (model, batch_size): the trained model and the global batch size.

    Example:

    ```python
    with distribution_scope("none") as scope:
        model, batch = fit_paper_classifier(lambda: build_model(...), loaded, "s5",
                                            settings, out, seed=0, verbose=1)
    ```
    """
    from keras_ssm.callbacks import ResumableBatches

    batch_size = settings["batch_size"] * num_replicas
    train = ResumableBatches(
        *loaded["train"],
        batch_size=batch_size,
        shuffle=True,
        seed=seed,
        steps_per_epoch=settings["steps_per_epoch"],
        drop_remainder=settings["drop_remainder"],
    )
    validation = OrderedBatches(*loaded["val"], batch_size=batch_size)
    model = build()
    if make_optimizer is None:
        optimizer = paper_optimizer(model, model_name, settings, train.steps_per_epoch)
    else:
        optimizer = make_optimizer(model, train.steps_per_epoch)
    model.compile(
        optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy("accuracy")],
    )
    fit_resumably(
        model,
        train,
        epochs=settings["epochs"],
        validation_data=validation,
        output_dir=output_dir,
        verbose=verbose,
        monitor="val_accuracy",
        mode="max",
        callbacks=paper_callbacks(settings, verbose) + list(extra_callbacks),
    )
    return model, batch_size
