"""Streaming inference for whole models: a causal model run chunk by chunk, every SSM state carried.

`StreamingModel(model)` walks the functional graph of `model` in order (read from the
model's public config: `get_config()`'s layers and their inbound nodes, the graph Keras
saves; so every layer must have a config, as for saving). Every `SSMBlock`
or SSM layer is called with `initial_state=` its carried state and `return_state=True`;
every other layer must act position by position (Dense, Embedding, norms at inference,
dropout, elementwise merges, ...) and is called normally with `training=False`. The
concatenated outputs of the chunks equal one call of the model on the whole sequence,
and memory depends on the chunk length only, so an unbounded stream runs in constant
memory.

Not streamable (a clear error is raised): bidirectional SSMs, DSS with the
length-dependent softmax kernel, pooling and position-selecting heads
(`GlobalAveragePooling1D`, `LastPosition`, `TakeLast`, ...), and layers that mix time
steps (convolutions, attention, RNNs). Build per-position models for streaming, e.g.
`build_tagger(..., output_length=None, bidirectional=False)`. Streaming runs in inference
mode (BatchNorm uses its moving statistics, which is per position).
"""

import keras

from keras_ssm.layers import families
from keras_ssm.layers.block import SSMBlock
from keras_ssm.ops import backend as ssm_backend

# Layers that act on each position separately (at inference).
PER_POSITION_LAYERS = (
    keras.layers.InputLayer,
    keras.layers.Dense,
    keras.layers.EinsumDense,
    keras.layers.Embedding,
    keras.layers.LayerNormalization,
    keras.layers.BatchNormalization,
    keras.layers.RMSNormalization,
    keras.layers.Dropout,
    keras.layers.SpatialDropout1D,
    keras.layers.GaussianNoise,
    keras.layers.GaussianDropout,
    keras.layers.AlphaDropout,
    keras.layers.Activation,
    keras.layers.ReLU,
    keras.layers.Softmax,
    keras.layers.Masking,
    keras.layers.Rescaling,
    keras.layers.Identity,
    keras.layers.Add,
    keras.layers.Subtract,
    keras.layers.Multiply,
    keras.layers.Average,
    keras.layers.Maximum,
    keras.layers.Minimum,
    keras.layers.Concatenate,
)


def _is_stateful(layer):
    return isinstance(layer, SSMBlock) or families.name_of(layer) is not None


def _ssm_of(layer):
    return layer.ssm if isinstance(layer, SSMBlock) else layer


def _streaming_error(ssm):
    """Why the (built) SSM layer cannot stream, in its own words, or None.

    Asks the layer's symbolic call for a state (`return_state=True`): bidirectional
    layers and DSS's length-dependent softmax kernel refuse; any family answers.
    """
    try:
        ssm.compute_output_spec(keras.KerasTensor((1, 1, ssm.features)), return_state=True)
    except ValueError as error:
        return str(error)
    return None


class _Tensor:
    """A graph tensor in a call's arguments: the key (operation name, call, output)."""

    def __init__(self, key):
        self.key = key


def _is_history(value):
    """A tensor of the config's `input_layers` / `output_layers`: [name, call, output]."""
    return (
        isinstance(value, (list, tuple))
        and len(value) == 3
        and isinstance(value[0], str)
        and all(isinstance(v, int) for v in value[1:])
    )


def _template(value):
    """A call argument of the config with tensors as `_Tensor` keys and the rest revived."""
    if isinstance(value, dict):
        kind = value.get("class_name")
        if kind == "__keras_tensor__":
            return _Tensor(tuple(value["config"]["keras_history"]))
        if kind == "__tuple__":
            return tuple(_template(v) for v in value["config"]["value"])
        if kind is not None:
            return keras.saving.deserialize_keras_object(value)
        return {k: _template(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_template(v) for v in value)
    return value


def _fill(template, values):
    """`template` with every `_Tensor` replaced by its computed value."""
    if isinstance(template, _Tensor):
        return values[template.key]
    if isinstance(template, dict):
        return {k: _fill(v, values) for k, v in template.items()}
    if isinstance(template, (list, tuple)):
        return type(template)(_fill(v, values) for v in template)
    return template


def _graph(model):
    """The calls of `model`'s functional graph, from its public config.

    Returns:
        (input keys, output structure of keys, calls): each call is (operation, its call
        index, args, kwargs) with `_Tensor` keys for the tensors, in the config's order
        (every operation after those it reads). The outputs of call k of an operation
        are keyed (name, k, i), i their position in its flattened outputs.
    """
    try:
        inputs, outputs = model.input, model.output
    except (AttributeError, ValueError):
        inputs = outputs = None
    if inputs is None or outputs is None:
        raise ValueError(
            "StreamingModel needs a functional keras.Model (built with keras.Input); "
            f"got {type(model).__name__}."
        )
    # A plain functional model on the same tensors: its config is the graph (a subclass,
    # such as a keras-hub Backbone, returns its constructor's arguments instead).
    graph = keras.Model(inputs, outputs)
    config = graph.get_config()
    operations = {operation.name: operation for operation in graph.operations}
    calls = []
    for layer_config in config["layers"]:
        operation = operations[layer_config["name"]]
        for index, node in enumerate(layer_config["inbound_nodes"]):
            calls.append((operation, index, _template(node["args"]), _template(node["kwargs"])))
    structure = config["input_layers"]
    if _is_history(structure):
        structure = [structure]
    elif isinstance(structure, dict):
        structure = list(structure.values())
    input_keys = [tuple(key) for key in structure]
    return input_keys, config["output_layers"], calls


def _outputs(structure, values):
    """The config's `output_layers` structure with the computed values."""
    if _is_history(structure):
        return values[tuple(structure)]
    if isinstance(structure, dict):
        return {k: _outputs(v, values) for k, v in structure.items()}
    return type(structure)(_outputs(v, values) for v in structure)


class StreamingModel:
    """Runs a causal model on a stream, chunk by chunk or step by step.

    Args:
        model: a functional `keras.Model` (e.g. from `build_tagger`) whose layers are
            SSM blocks/layers or per-position layers (see the module docstring).
        per_position_layers: extra layer classes to accept as per-position.
        jit_compile: "auto" (compile the chunk function: `jax.jit` on JAX, a
            `tf.function` graph on TensorFlow; eager on torch), True or False. One
            compilation per chunk shape: keep the chunk length fixed.

    On torch, streaming runs under `torch.no_grad()`: no autograd graph links the
    chunks, so memory stays bounded.

    Example:

    ```python
    model = keras_ssm.models.build_tagger(1, input_features=1, hidden_size=8,
                                          num_layers=2)
    streamer = keras_ssm.models.StreamingModel(model)
    streamer.reset(batch_size=4)
    chunks = np.random.rand(3, 4, 10, 1).astype("float32")
    for chunk in chunks:                 # (4, chunk_length, 1) each
        y = streamer(chunk)              # (4, chunk_length, 1)
    y_t = streamer.step(chunks[0][:, 0])  # (4, 1) -> (4, 1): one time step
    ```
    """

    def __init__(self, model, per_position_layers=(), jit_compile="auto"):
        if not isinstance(model, keras.Model):
            raise ValueError(
                "StreamingModel needs a functional keras.Model (built with keras.Input); "
                f"got {type(model).__name__}."
            )
        input_keys, self._output_keys, self._calls = _graph(model)
        if len(input_keys) != 1:
            raise ValueError(
                f"StreamingModel needs a single-input model; this one has {len(input_keys)} inputs."
            )
        self._input_key = input_keys[0]
        if jit_compile not in ("auto", True, False):
            raise ValueError(f"`jit_compile` must be 'auto', True or False, got {jit_compile!r}.")
        allowed = PER_POSITION_LAYERS + tuple(per_position_layers)
        self.model = model
        self.stateful_layers = []
        for layer in model.operations:
            if _is_stateful(layer):
                error = _streaming_error(_ssm_of(layer))
                if error:
                    raise ValueError(f"Layer {layer.name!r} cannot stream: {error}")
                self.stateful_layers.append(layer)
            elif not isinstance(layer, allowed):
                raise ValueError(
                    f"Layer {layer.name!r} ({type(layer).__name__}) is not known to act on "
                    "each position separately, so the model cannot stream chunk by chunk "
                    "(pooling and position-selecting heads need the whole sequence). Stream "
                    "a per-position model (e.g. build_tagger(..., output_length=None)), or "
                    "pass per_position_layers=(YourLayer,) if it is per-position."
                )
        if not self.stateful_layers:
            raise ValueError("The model has no SSM layer to stream.")
        if jit_compile == "auto":
            jit_compile = ssm_backend.compiles_by_default()
        self.jit_compile = jit_compile
        self._compiled = {}
        self.states = None

    def reset(self, batch_size):
        """Start `batch_size` new streams (zero states).

        Args:
            batch_size: int.
        """
        self.states = [layer.get_initial_state(batch_size) for layer in self.stateful_layers]

    def _run(self, chunk, states, step_scale):
        """One chunk through the graph: (outputs, new states), in inference mode."""
        index = {id(layer): i for i, layer in enumerate(self.stateful_layers)}
        new_states = [None] * len(states)

        def operation_fn(layer):
            if _is_stateful(layer):

                def call(*args, **kwargs):
                    i = index[id(layer)]
                    if new_states[i] is not None:
                        raise ValueError(
                            f"Layer {layer.name!r} is used twice in the graph; a shared SSM "
                            "cannot stream (its state would be ambiguous)."
                        )
                    kwargs.pop("training", None)
                    extra = {} if step_scale == 1.0 else {"step_scale": step_scale}
                    y, state = layer(
                        *args,
                        initial_state=states[i],
                        return_state=True,
                        training=False,
                        **extra,
                        **kwargs,
                    )
                    new_states[i] = tuple(state)
                    return y

                return call

            def call(*args, **kwargs):
                kwargs["training"] = False
                return layer(*args, **kwargs)

            return call

        values = {self._input_key: chunk}
        for operation, call_index, args, kwargs in self._calls:
            outputs = operation_fn(operation)(*_fill(args, values), **_fill(kwargs, values))
            for i, output in enumerate(keras.tree.flatten(outputs)):
                values[(operation.name, call_index, i)] = output
        return _outputs(self._output_keys, values), new_states

    def _chunk_function(self, step_scale):
        """The (compiled) function (chunk, states) -> (outputs, states) for step_scale."""
        key = float(step_scale)
        if key in self._compiled:
            return self._compiled[key]
        fn = ssm_backend.inference_function(
            lambda chunk, states: self._run(chunk, states, key),
            self.model.variables,
            self.jit_compile,
        )
        self._compiled[key] = fn
        return fn

    def __call__(self, chunk, step_scale=1.0):
        """Process the next chunk of every stream.

        Args:
            chunk: (batch, chunk_length, features), or (batch, chunk_length) tokens.
            step_scale: float, multiplies the SSMs' discretization step.

        Returns:
            The model's outputs for these positions, (batch, chunk_length, ...).
        """
        if self.states is None:
            raise ValueError("Call reset(batch_size) before streaming.")
        if not isinstance(step_scale, (int, float)):
            raise ValueError(f"`step_scale` must be a float, got {step_scale!r}.")
        chunk = keras.ops.convert_to_tensor(chunk)
        outputs, states = self._chunk_function(step_scale)(chunk, self.states)
        self.states = [tuple(s) for s in states]
        return outputs

    def step(self, inputs_t, step_scale=1.0):
        """Process one time step: inputs (batch, features) or (batch,) tokens.

        Returns:
            The outputs at this step, (batch, ...) (no time axis).
        """
        return self(keras.ops.convert_to_tensor(inputs_t)[:, None], step_scale=step_scale)[:, 0]


def stream(model, batch_size=1, **kwargs):
    """A `StreamingModel` for `model`, reset for `batch_size` streams.

    Example:

    ```python
    model = keras_ssm.models.build_tagger(1, input_features=1, hidden_size=8, num_layers=1)
    streamer = keras_ssm.models.stream(model, batch_size=1)
    y = streamer(np.ones((1, 10, 1), "float32"))
    ```
    """
    streamer = StreamingModel(model, **kwargs)
    streamer.reset(batch_size)
    return streamer
