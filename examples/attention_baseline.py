"""The attention baseline of the DLR paper: a per-position tagger of softmax-attention blocks.

An example model, not part of the library (it was `keras_ssm.models.build_attention_tagger`,
removed in 0.x: see CHANGELOG.md): `python -m examples.synthetic --model attention` builds
it. Public Keras API only.

The DLR paper compares its SSMs with exact softmax attention placed in the same block
(spec dss_dlr.md B.5, the `kernel_type=attn` layer of the DLR code):

- 4 heads, d_head = H / 4, query/key/value/output projections (`keras.layers.EinsumDense`);
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
from examples import attention_baseline

model = attention_baseline.build_attention_tagger(8, input_features=3, sequence_length=256,
                                                  hidden_size=64, num_layers=1)
```
"""

import math

import keras
from keras import ops

from keras_ssm.layers.parameters import derived_seed
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
class RotarySelfAttention(keras.layers.Layer):
    """Multi-head self-attention with rotary q/k and a learnable temperature.

    With per-head projections q = u W_q + b_q, k = u W_k + b_k, v = u W_v + b_v (heads of
    size `key_dim`):

        scores[n, t, s] = τ · rope(q)[t, n] · rope(k)[s, n]        (s ≤ t when causal)
        out[t] = Σ_n Σ_s softmax_s(scores[n, t, :])[s] · v[s, n] · W_o[n] + b_o

    with τ a trainable scalar initialised to key_dim^{-1/2} (the DLR paper's attention).
    Built from public Keras pieces (`keras.layers.EinsumDense`, `keras.ops`).

    Args:
        num_heads: int.
        key_dim: int, d_head (even when `rotary`).
        rotary: bool, apply the rotary position embedding to q and k.
        rotary_base: float, its frequency base.
        learnable_temperature: bool, train τ (False: the fixed key_dim^{-1/2}).
        dropout: float, dropout on the attention weights.
        kernel_initializer: initializer of the four projections.
        seed: int or None, the dropout seed.
        **kwargs: forwarded to `keras.layers.Layer`.

    Call arguments:
        inputs: (batch, length, H).
        attention_mask: optional bool (batch, length, length), True where query t may
            attend to key s.
        use_causal_mask: bool, also restrict every query to keys s ≤ t.
        training: bool.

    Example:

    ```python
    x = keras.random.normal((2, 16, 64))        # (batch, length, 64)
    attention = RotarySelfAttention(num_heads=4, key_dim=16)
    y = attention(x, use_causal_mask=True)      # (2, 16, 64)
    ```
    """

    def __init__(
        self,
        num_heads,
        key_dim,
        rotary=True,
        rotary_base=10000.0,
        learnable_temperature=True,
        dropout=0.0,
        kernel_initializer="glorot_uniform",
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if rotary and int(key_dim) % 2:
            raise ValueError(f"Rotary embeddings need an even `key_dim`, got {key_dim}.")
        self.num_heads = int(num_heads)
        self.key_dim = int(key_dim)
        self.rotary = bool(rotary)
        self.rotary_base = float(rotary_base)
        self.learnable_temperature = bool(learnable_temperature)
        self.dropout = float(dropout)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.seed = seed
        self.temperature = None
        self.supports_masking = True

    def _projection(self, name, equation, output_shape, bias_axes):
        return keras.layers.EinsumDense(
            equation,
            output_shape=output_shape,
            bias_axes=bias_axes,
            # A fresh copy per projection, as keras.layers.MultiHeadAttention makes.
            kernel_initializer=self.kernel_initializer.__class__.from_config(
                self.kernel_initializer.get_config()
            ),
            dtype=self.dtype_policy,
            name=name,
        )

    def build(self, input_shape):
        features = int(input_shape[-1])
        heads = (None, self.num_heads, self.key_dim)
        self._query_dense = self._projection("query", "btf,fnd->btnd", heads, "nd")
        self._key_dense = self._projection("key", "btf,fnd->btnd", heads, "nd")
        self._value_dense = self._projection("value", "btf,fnd->btnd", heads, "nd")
        self._output_dense = self._projection(
            "attention_output", "btnd,ndf->btf", (None, features), "f"
        )
        for dense in (self._query_dense, self._key_dense, self._value_dense):
            dense.supports_masking = True  # the padding mask is applied to the scores
            dense.build(input_shape)
        self._output_dense.build(tuple(input_shape[:-1]) + (self.num_heads, self.key_dim))
        self._dropout_layer = keras.layers.Dropout(self.dropout, seed=self.seed)
        initial = 1.0 / math.sqrt(self.key_dim)
        if self.learnable_temperature:
            self.temperature = self.add_weight(
                name="temperature",
                shape=(),
                initializer=keras.initializers.Constant(initial),
                trainable=True,
            )
        else:
            self._fixed_temperature = initial
        self.built = True

    def call(self, inputs, attention_mask=None, use_causal_mask=False, training=None):
        q = self._query_dense(inputs)  # (batch, length, heads, d)
        k = self._key_dense(inputs)
        v = self._value_dense(inputs)
        if self.rotary:
            q = rotate_half(q, self.rotary_base)
            k = rotate_half(k, self.rotary_base)
        tau = self.temperature if self.temperature is not None else self._fixed_temperature
        # In float32 whatever the compute dtype: the masked scores are -inf-like.
        scores = ops.einsum("btnd,bsnd->bnts", ops.cast(q, "float32"), ops.cast(k, "float32"))
        scores = scores * ops.cast(tau, "float32")
        allowed = None
        if use_causal_mask:
            length = ops.shape(inputs)[1]
            positions = ops.arange(length)
            allowed = (positions[None, :] <= positions[:, None])[None, None]
        if attention_mask is not None:
            given = ops.cast(attention_mask, "bool")[:, None]
            allowed = given if allowed is None else ops.logical_and(allowed, given)
        if allowed is not None:
            scores = ops.where(allowed, scores, ops.full_like(scores, -1e9))
        weights = ops.softmax(scores, axis=-1)
        weights = self._dropout_layer(ops.cast(weights, v.dtype), training=training)
        attended = ops.einsum("bnts,bsnd->btnd", weights, v)
        return self._output_dense(attended)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            num_heads=self.num_heads,
            key_dim=self.key_dim,
            rotary=self.rotary,
            rotary_base=self.rotary_base,
            learnable_temperature=self.learnable_temperature,
            dropout=self.dropout,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            seed=self.seed,
        )
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

    def __init__(
        self,
        num_heads=4,
        rotary=True,
        bidirectional=False,
        norm="layer",
        prenorm=True,
        dropout=0.0,
        seed=None,
        **kwargs,
    ):
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
        return derived_seed(self.seed, index, stride=7919)

    def build(self, input_shape):
        features = int(input_shape[-1])
        if features % self.num_heads:
            raise ValueError(
                f"The width H={features} must be divisible by num_heads={self.num_heads}; "
                "choose hidden_size as a multiple of num_heads."
            )
        self.attention = RotarySelfAttention(
            self.num_heads,
            features // self.num_heads,
            rotary=self.rotary,
            kernel_initializer=keras.initializers.GlorotUniform(seed=self._seed_for(0)),
            dtype=self.dtype_policy,
            name="attention",
        )
        self.attention.build(input_shape)
        self.output_dense = keras.layers.Dense(
            features,
            kernel_initializer=keras.initializers.GlorotUniform(seed=self._seed_for(1)),
            dtype=self.dtype_policy,
            name="output_dense",
        )
        self.output_dense.build(input_shape)
        self.norm_layer = None
        if self.norm == "layer":
            self.norm_layer = keras.layers.LayerNormalization(
                epsilon=1e-5, dtype=self.dtype_policy, name="norm"
            )
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
        a = self.attention(
            u,
            attention_mask=attention_mask,
            use_causal_mask=not self.bidirectional,
            training=training,
        )
        z = self.output_dense(
            u + self.inner_dropout(ops.gelu(a, approximate=False), training=training)
        )
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
        config.update(
            num_heads=self.num_heads,
            rotary=self.rotary,
            bidirectional=self.bidirectional,
            norm=self.norm,
            prenorm=self.prenorm,
            dropout=self.dropout,
            seed=self.seed,
        )
        return config


@keras.saving.register_keras_serializable(package="keras_ssm")
class LearnedPositions(keras.layers.Layer):
    """Adds a trainable vector per position: (B, L, H) -> x + P[:L], P of shape (max_length, H).

    Args:
        max_length: int, the longest sequence.
        seed: int or None.

    Example:

    ```python
    x = keras.random.normal((2, 100, 32))
    x = LearnedPositions(1024)(x)   # adds the first 100 of 1024 learned vectors
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
            name="positions",
            shape=(self.max_length, int(input_shape[-1])),
            initializer=keras.initializers.RandomNormal(stddev=0.02, seed=self.seed),
        )

    def call(self, inputs):
        length = ops.shape(inputs)[1]
        return inputs + ops.cast(self.positions[None, :length], inputs.dtype)

    def compute_mask(self, inputs, mask=None):
        return mask

    def get_config(self):
        config = super().get_config()
        config.update(max_length=self.max_length, seed=self.seed)
        return config


def build_attention_tagger(
    output_features,
    *,
    vocab_size=None,
    input_features=None,
    sequence_length=None,
    output_length=None,
    hidden_size=128,
    num_layers=1,
    num_heads=4,
    positions="rotary",
    bidirectional=False,
    norm="layer",
    prenorm=True,
    dropout=0.0,
    final_norm=None,
    mask_zero=False,
    seed=None,
    name="attention_tagger",
):
    """The DLR paper's attention baseline: a per-position model, as `keras_ssm.models.build_tagger`.

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
    model = build_attention_tagger(1, input_features=3, output_length=64, hidden_size=64)
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
            int(vocab_size),
            hidden_size,
            mask_zero=mask_zero,
            embeddings_initializer=keras.initializers.RandomNormal(stddev=1.0, seed=seed_at(0)),
            name=f"{name}_embedding",
        )(inputs)
    else:
        inputs = keras.Input((sequence_length, int(input_features)), name="inputs")
        x = keras.layers.Dense(
            hidden_size,
            kernel_initializer=keras.initializers.GlorotUniform(seed=seed_at(0)),
            name=f"{name}_encoder",
        )(inputs)
    if positions == "learned":
        x = LearnedPositions(sequence_length, seed=seed_at(0), name=f"{name}_positions")(x)
    for i in range(int(num_layers)):
        x = AttentionBlock(
            num_heads=num_heads,
            rotary=positions == "rotary",
            bidirectional=bidirectional,
            norm=norm,
            prenorm=prenorm,
            dropout=dropout,
            seed=seed_at(i + 1),
            name=f"{name}_block_{i}",
        )(x)
    if final_norm is None:
        final_norm = prenorm and norm is not None
    if final_norm:
        x = keras.layers.LayerNormalization(epsilon=1e-5, name=f"{name}_final_norm")(x)
    if output_length is not None:
        x = TakeLast(output_length, name=f"{name}_take_last")(x)
    outputs = keras.layers.Dense(output_features, name=f"{name}_head")(x)
    return keras.Model(inputs, outputs, name=name)
