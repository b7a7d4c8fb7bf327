"""The attention baseline of the DLR paper: a per-position tagger of softmax-attention blocks.

The DLR paper compares its SSMs with exact softmax attention placed in the same block
(spec dss_dlr.md B.5, the `kernel_type=attn` layer of the DLR code):

- 4 heads, d_head = H / 4, query/key/value/output projections (`keras.layers.MultiHeadAttention`);
- rotary position embedding (base 10000) on q and k (here also: learned absolute
  positions added after the encoder, or none);
- a learnable scalar temperature τ, initialised to d_head^{-1/2}: scores = τ · q·k;
- causal unless bidirectional;
- the mixer's output is Linear_out(u + dropout(GELU(attn(u)))), an inner residual with no D,
  wrapped in the usual residual block (pre-norm x + f(norm(x)), or post-norm norm(x + f(x))).

The paper's optional feed-forward sublayers (`attn_ff > 0`) are not built: its synthetic
runs use `attn_ff = 0`.

Example:

```python
model = keras_ssm.models.build_attention_tagger(8, input_features=3, sequence_length=256,
                                                hidden_size=64, num_layers=1)
```
"""

import math

import keras
from keras import ops

from keras_ssm.models.heads import TakeLast

POSITIONS = ("rotary", "learned", "none")


def rotate_half(x, base=10000.0):
    """Rotary position embedding of (batch, length, heads, d) vectors (d even).

    Position t rotates the pairs (x_i, x_{i+d/2}) by the angle t·base^{-2i/d}:
    out = x·cos + rotate(x)·sin with rotate(x) = [-x_{d/2:}, x_{:d/2}].

    Args:
        x: tensor (batch, length, heads, d).
        base: float, the frequency base.

    Returns:
        A tensor of the same shape and dtype.

    Example:

    ```python
    q = rotate_half(keras.random.normal((2, 16, 4, 8)))
    ```
    """
    length = ops.shape(x)[1]
    dim = x.shape[-1]
    inverse_frequency = ops.power(base, -ops.arange(0, dim, 2, dtype="float32") / dim)
    angles = ops.arange(length, dtype="float32")[:, None] * inverse_frequency[None, :]
    angles = ops.concatenate([angles, angles], axis=-1)[None, :, None, :]  # (1, L, 1, d)
    cos = ops.cast(ops.cos(angles), x.dtype)
    sin = ops.cast(ops.sin(angles), x.dtype)
    first, second = ops.split(x, 2, axis=-1)
    rotated = ops.concatenate([-second, first], axis=-1)
    return x * cos + rotated * sin


@keras.saving.register_keras_serializable(package="keras_ssm")
class RotarySelfAttention(keras.layers.MultiHeadAttention):
    """`keras.layers.MultiHeadAttention` with rotary q/k and a learnable temperature.

    scores = τ · rope(q) · rope(k)ᵀ, with τ a trainable scalar initialised to
    key_dim^{-1/2} (the DLR paper's attention). Everything else (projections,
    masks, causal masking with `use_causal_mask=True`, dropout) is Keras'.

    Args:
        num_heads: int.
        key_dim: int, d_head (even when `rotary`).
        rotary: bool, apply the rotary position embedding to q and k.
        rotary_base: float, its frequency base.
        learnable_temperature: bool, train τ (False: the fixed key_dim^{-1/2}).
        **kwargs: `keras.layers.MultiHeadAttention` arguments.

    Example:

    ```python
    attention = RotarySelfAttention(num_heads=4, key_dim=16)
    y = attention(x, x, use_causal_mask=True)   # x: (batch, length, 64)
    ```
    """

    def __init__(self, num_heads, key_dim, rotary=True, rotary_base=10000.0,
                 learnable_temperature=True, **kwargs):
        super().__init__(num_heads=num_heads, key_dim=key_dim, **kwargs)
        if rotary and int(key_dim) % 2:
            raise ValueError(f"Rotary embeddings need an even `key_dim`, got {key_dim}.")
        self.rotary = bool(rotary)
        self.rotary_base = float(rotary_base)
        self.learnable_temperature = bool(learnable_temperature)
        self.temperature = None

    def build(self, query_shape, value_shape, key_shape=None):
        super().build(query_shape, value_shape, key_shape)
        if self.learnable_temperature:
            self.temperature = self.add_weight(
                name="temperature", shape=(),
                initializer=keras.initializers.Constant(1.0 / math.sqrt(self.key_dim)),
                trainable=True)

    def _compute_attention(self, query, key, value, attention_mask=None, training=None,
                           return_attention_scores=False, **kwargs):
        if self.rotary:
            query = rotate_half(query, self.rotary_base)
            key = rotate_half(key, self.rotary_base)
        if self.temperature is not None:
            # Keras scales q by key_dim^{-1/2}; undo it and apply τ instead.
            factor = ops.cast(self.temperature, query.dtype) * math.sqrt(self.key_dim)
            query = query * factor
        return super()._compute_attention(query, key, value, attention_mask, training,
                                          return_attention_scores, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update(rotary=self.rotary, rotary_base=self.rotary_base,
                      learnable_temperature=self.learnable_temperature)
        return config


@keras.saving.register_keras_serializable(package="keras_ssm")
class AttentionBlock(keras.layers.Layer):
    """Residual attention block: y = x + drop(f(norm(x))) (pre-norm) or norm(x + drop(f(x))).

    f(u) = Dense_H(u + drop(GELU(attn(u)))), attn a `RotarySelfAttention` with
    `num_heads` heads of size H / num_heads (the DLR paper's attention layer).

    Args:
        num_heads: int, dividing H.
        rotary: bool, rotary position embedding on q and k.
        bidirectional: bool, attend to every position (False: causal).
        norm: "layer" or None.
        prenorm: bool.
        dropout: float in [0, 1).
        seed: int or None.
        **kwargs: forwarded to `keras.layers.Layer`.

    Input shape: (batch, length, H). Output shape: the same.

    Example:

    ```python
    y = AttentionBlock(num_heads=4)(keras.random.normal((2, 32, 64)))
    ```
    """

    def __init__(self, num_heads=4, rotary=True, bidirectional=False, norm="layer",
                 prenorm=True, dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if norm not in ("layer", None):
            raise ValueError(f"`norm` must be 'layer' or None, got {norm!r}.")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1), got {dropout!r}.")
        self.num_heads = int(num_heads)
        self.rotary = bool(rotary)
        self.bidirectional = bool(bidirectional)
        self.norm = norm
        self.prenorm = bool(prenorm)
        self.dropout = float(dropout)
        self.seed = seed
        self.supports_masking = True

    def _seed_for(self, index):
        return None if self.seed is None else int(self.seed) * 7919 + index

    def build(self, input_shape):
        features = int(input_shape[-1])
        if features % self.num_heads:
            raise ValueError(
                f"The width H={features} must be divisible by num_heads={self.num_heads}; "
                "choose hidden_size as a multiple of num_heads."
            )
        self.attention = RotarySelfAttention(
            self.num_heads, features // self.num_heads, rotary=self.rotary,
            kernel_initializer=keras.initializers.GlorotUniform(seed=self._seed_for(0)),
            dtype=self.dtype_policy, name="attention")
        self.attention.build(input_shape, input_shape)
        self.output_dense = keras.layers.Dense(
            features, kernel_initializer=keras.initializers.GlorotUniform(seed=self._seed_for(1)),
            dtype=self.dtype_policy, name="output_dense")
        self.output_dense.build(input_shape)
        self.norm_layer = None
        if self.norm == "layer":
            self.norm_layer = keras.layers.LayerNormalization(
                epsilon=1e-5, dtype=self.dtype_policy, name="norm")
            self.norm_layer.build(input_shape)
        self.inner_dropout = keras.layers.Dropout(self.dropout, seed=self._seed_for(2))
        self.residual_dropout = keras.layers.Dropout(self.dropout, seed=self._seed_for(3))
        self.built = True

    def _normalize(self, x):
        return x if self.norm_layer is None else self.norm_layer(x)

    def call(self, inputs, mask=None, training=None):
        x = inputs
        u = self._normalize(x) if self.prenorm else x
        attention_mask = None
        if mask is not None:
            valid = ops.cast(mask, "bool")
            attention_mask = ops.logical_and(valid[:, :, None], valid[:, None, :])
        a = self.attention(u, u, attention_mask=attention_mask,
                           use_causal_mask=not self.bidirectional, training=training)
        z = self.output_dense(u + self.inner_dropout(ops.gelu(a, approximate=False),
                                                     training=training))
        y = x + self.residual_dropout(z, training=training)
        if not self.prenorm:
            y = self._normalize(y)
        return y

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def compute_mask(self, inputs, mask=None):
        return mask

    def get_config(self):
        config = super().get_config()
        config.update(num_heads=self.num_heads, rotary=self.rotary,
                      bidirectional=self.bidirectional, norm=self.norm, prenorm=self.prenorm,
                      dropout=self.dropout, seed=self.seed)
        return config


@keras.saving.register_keras_serializable(package="keras_ssm")
class LearnedPositions(keras.layers.Layer):
    """Adds a trainable vector per position: (B, L, H) -> x + P[:L], P of shape (max_length, H).

    Args:
        max_length: int, the longest sequence.
        seed: int or None.

    Example:

    ```python
    x = LearnedPositions(1024)(x)
    ```
    """

    def __init__(self, max_length, seed=None, **kwargs):
        super().__init__(**kwargs)
        if max_length is None or int(max_length) < 1:
            raise ValueError(
                f"Learned positions need a known `sequence_length`, got {max_length!r}."
            )
        self.max_length = int(max_length)
        self.seed = seed
        self.supports_masking = True

    def build(self, input_shape):
        self.positions = self.add_weight(
            name="positions", shape=(self.max_length, int(input_shape[-1])),
            initializer=keras.initializers.RandomNormal(stddev=0.02, seed=self.seed))

    def call(self, inputs):
        length = ops.shape(inputs)[1]
        return inputs + ops.cast(self.positions[None, :length], inputs.dtype)

    def compute_mask(self, inputs, mask=None):
        return mask

    def get_config(self):
        config = super().get_config()
        config.update(max_length=self.max_length, seed=self.seed)
        return config


def build_attention_tagger(output_features, *, vocab_size=None, input_features=None,
                           sequence_length=None, output_length=None, hidden_size=128,
                           num_layers=1, num_heads=4, positions="rotary", bidirectional=False,
                           norm="layer", prenorm=True, dropout=0.0, final_norm=None,
                           mask_zero=False, seed=None, name="attention_tagger"):
    """The DLR paper's attention baseline as a per-position model (as `build_tagger`).

    encoder (Embedding or Dense) → (learned positions) → `AttentionBlock`s →
    (final norm) → (last ℓ_out positions) → Dense(output_features).

    Args:
        output_features: int, d_out per position.
        vocab_size: int, token inputs with an Embedding encoder, or
        input_features: int, real inputs with a Dense encoder (give exactly one).
        sequence_length: int or None (required for positions="learned").
        output_length: int or None, keep the last ℓ_out positions (synthetic tasks).
        hidden_size: int, H (a multiple of num_heads).
        num_layers: int, the number of attention blocks.
        num_heads: int (4 in the paper).
        positions: "rotary" (the paper), "learned" or "none".
        bidirectional: bool (False: causal).
        norm, prenorm, dropout: the residual block (`AttentionBlock`).
        final_norm: bool or None; None = after the last block exactly when pre-norm.
        mask_zero: bool, token 0 is padding (token inputs).
        seed: int or None.
        name: the model name.

    Returns:
        A `keras.Model` to (batch, ℓ_out or length, output_features) logits/values.

    Example:

    ```python
    model = keras_ssm.models.build_attention_tagger(1, input_features=3, output_length=64,
                                                    hidden_size=64)
    ```
    """
    if (vocab_size is None) == (input_features is None):
        raise ValueError(
            "Give exactly one of `vocab_size` (token inputs) or `input_features` (real "
            f"inputs); got vocab_size={vocab_size!r}, input_features={input_features!r}."
        )
    if positions not in POSITIONS:
        raise ValueError(f"`positions` must be one of {POSITIONS}, got {positions!r}.")
    if int(num_layers) < 1:
        raise ValueError(f"`num_layers` must be >= 1, got {num_layers!r}.")
    seed_at = (lambda i: None) if seed is None else (lambda i: int(seed) + 101 * i)
    if vocab_size is not None:
        inputs = keras.Input((sequence_length,), dtype="int32", name="tokens")
        x = keras.layers.Embedding(
            int(vocab_size), hidden_size, mask_zero=mask_zero,
            embeddings_initializer=keras.initializers.RandomNormal(stddev=1.0, seed=seed_at(0)),
            name=f"{name}_embedding")(inputs)
    else:
        inputs = keras.Input((sequence_length, int(input_features)), name="inputs")
        x = keras.layers.Dense(
            hidden_size, kernel_initializer=keras.initializers.GlorotUniform(seed=seed_at(0)),
            name=f"{name}_encoder")(inputs)
    if positions == "learned":
        x = LearnedPositions(sequence_length, seed=seed_at(0), name=f"{name}_positions")(x)
    for i in range(int(num_layers)):
        x = AttentionBlock(num_heads=num_heads, rotary=positions == "rotary",
                           bidirectional=bidirectional, norm=norm, prenorm=prenorm,
                           dropout=dropout, seed=seed_at(i + 1), name=f"{name}_block_{i}")(x)
    if final_norm is None:
        final_norm = prenorm and norm is not None
    if final_norm:
        x = keras.layers.LayerNormalization(epsilon=1e-5, name=f"{name}_final_norm")(x)
    if output_length is not None:
        x = TakeLast(output_length, name=f"{name}_take_last")(x)
    outputs = keras.layers.Dense(output_features, name=f"{name}_head")(x)
    return keras.Model(inputs, outputs, name=name)
