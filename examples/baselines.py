"""Plain-Keras baselines for the sequence classification examples: GRU, LSTM, Transformer.

Each is an ordinary `keras.Model` with the SSM classifiers' outline (a Dense encoder of
width H → `num_layers` sequence layers → pooling → Dense(classes) logits), built from
Keras' own layers only, so a user sees what the SSM layers buy at the same width, depth
and parameter count:

- `gru`, `lstm`: `keras.layers.GRU` / `LSTM` (H units, `return_sequences=True`) with a
  residual connection and LayerNormalization around each, the last position pooled (what
  a recurrent classifier reads);
- `transformer`: pre-norm blocks of `keras.layers.MultiHeadAttention` (H/16 heads, at least
  one) and a 2H GELU MLP, learned position embeddings, mean pooling.

`matching_width` finds the width H at which a baseline has (about) a given number of
parameters.
"""

import keras

from keras_ssm.models.heads import LastPosition

BASELINES = ("gru", "lstm", "transformer")


class PositionEmbedding(keras.layers.Layer):
    """Adds a learned embedding of each position: (batch, L, H) → (batch, L, H).

    Args:
        sequence_length: int, L.
        seed: int or None, seeds the initializer.

    Example:

    ```python
    y = PositionEmbedding(16)(keras.ops.zeros((2, 16, 8)))
    ```
    """

    def __init__(self, sequence_length, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.sequence_length = int(sequence_length)
        self.seed = seed

    def build(self, input_shape):
        self.embedding = self.add_weight(
            shape=(self.sequence_length, int(input_shape[-1])),
            name="embedding",
            initializer=keras.initializers.RandomNormal(stddev=0.02, seed=self.seed),
        )

    def call(self, inputs):
        return inputs + keras.ops.cast(self.embedding, inputs.dtype)[None]

    def get_config(self):
        return {**super().get_config(), "sequence_length": self.sequence_length, "seed": self.seed}


def build_baseline_classifier(
    kind,
    num_classes,
    *,
    input_features,
    sequence_length,
    hidden_size,
    num_layers,
    dropout=0.0,
    seed=None,
    name=None,
):
    """A GRU, LSTM or Transformer classifier of pixel (or feature) sequences.

    Args:
        kind: "gru", "lstm" or "transformer".
        num_classes: int, the number of logits.
        input_features: int, features per step.
        sequence_length: int, L (the Transformer's position table needs it).
        hidden_size: int, H.
        num_layers: int, the number of recurrent or attention blocks.
        dropout: float, dropout after each block.
        seed: int or None.
        name: the model name (default `f"{kind}_classifier"`).

    Returns:
        An uncompiled `keras.Model` (batch, L, input_features) → (batch, num_classes) logits.

    Example:

    ```python
    model = build_baseline_classifier("gru", 10, input_features=1, sequence_length=64,
                                      hidden_size=16, num_layers=2)
    ```
    """
    if kind not in BASELINES:
        raise ValueError(f"`kind` must be one of {BASELINES}, got {kind!r}.")
    name = name or f"{kind}_classifier"
    seeds = iter(range(10_000)) if seed is None else iter(range(int(seed), int(seed) + 10_000))

    def glorot():
        return keras.initializers.GlorotUniform(seed=None if seed is None else next(seeds))

    inputs = keras.Input((sequence_length, int(input_features)), name="inputs")
    x = keras.layers.Dense(hidden_size, kernel_initializer=glorot(), name=f"{name}_encoder")(inputs)
    if kind == "transformer":
        x = PositionEmbedding(
            sequence_length, seed=None if seed is None else next(seeds), name=f"{name}_positions"
        )(x)
    for i in range(int(num_layers)):
        prefix = f"{name}_block_{i}"
        if kind in ("gru", "lstm"):
            layer_class = keras.layers.GRU if kind == "gru" else keras.layers.LSTM
            y = keras.layers.LayerNormalization(name=f"{prefix}_norm")(x)
            y = layer_class(
                hidden_size,
                return_sequences=True,
                kernel_initializer=glorot(),
                recurrent_initializer=keras.initializers.Orthogonal(
                    seed=None if seed is None else next(seeds)
                ),
                name=f"{prefix}_{kind}",
            )(y)
        else:
            heads = max(1, hidden_size // 16)
            y = keras.layers.LayerNormalization(name=f"{prefix}_attention_norm")(x)
            y = keras.layers.MultiHeadAttention(
                heads, hidden_size // heads, kernel_initializer=glorot(), name=f"{prefix}_attention"
            )(y, y)
            x = keras.layers.Add(name=f"{prefix}_attention_residual")([x, y])
            y = keras.layers.LayerNormalization(name=f"{prefix}_mlp_norm")(x)
            y = keras.layers.Dense(
                2 * hidden_size,
                activation="gelu",
                kernel_initializer=glorot(),
                name=f"{prefix}_mlp_in",
            )(y)
            y = keras.layers.Dense(
                hidden_size, kernel_initializer=glorot(), name=f"{prefix}_mlp_out"
            )(y)
        if dropout:
            y = keras.layers.Dropout(
                dropout, seed=None if seed is None else next(seeds), name=f"{prefix}_dropout"
            )(y)
        x = keras.layers.Add(name=f"{prefix}_residual")([x, y])
    x = keras.layers.LayerNormalization(name=f"{name}_final_norm")(x)
    if kind == "transformer":
        x = keras.layers.GlobalAveragePooling1D(name=f"{name}_pool")(x)
    else:
        x = LastPosition(name=f"{name}_last")(x)
    outputs = keras.layers.Dense(num_classes, kernel_initializer=glorot(), name=f"{name}_head")(x)
    return keras.Model(inputs, outputs, name=name)


def matching_width(kind, parameters, *, multiple_of=None, low=4, high=2048, **kwargs):
    """The width H at which `build_baseline_classifier(kind, ...)` has about `parameters`.

    Bisection on H (the parameter count grows with H); the closer of the two neighbours.

    Args:
        kind: "gru", "lstm" or "transformer".
        parameters: int, the target count (e.g. an SSM model's `count_params()`).
        multiple_of: int or None, only widths divisible by it (default 16 for the
            Transformer's heads, else 1).
        low, high: the search range of H.
        **kwargs: the other `build_baseline_classifier` arguments (not hidden_size).

    Returns:
        (width, its parameter count).

    Example:

    ```python
    width, count = matching_width("lstm", 20_000, num_classes=10, input_features=1,
                                  sequence_length=64, num_layers=2)
    ```
    """
    step = multiple_of or (16 if kind == "transformer" else 1)

    def count(width):
        return build_baseline_classifier(kind, hidden_size=width * step, **kwargs).count_params()

    lo, hi = max(1, low // step), max(1, high // step)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if count(mid) < parameters:
            lo = mid
        else:
            hi = mid
    best = min((lo, hi), key=lambda w: abs(count(w) - parameters))
    return best * step, count(best)
