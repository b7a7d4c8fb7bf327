"""SSMBlock: the residual block of the papers (norm + SSM + activation + dropout + residual).

One block maps (batch, length, H) to (batch, length, H):

    pre-norm:   y = x + drop(f(norm(x)))
    post-norm:  y = norm(x + drop(f(x)))

where f is the SSM followed by its nonlinearity and output mixing (s = SSM(u)):

| activation  | f(u)                                   | paper             |
|-------------|----------------------------------------|-------------------|
| "gelu"      | Dense_H(drop(GELU(s)))                 | DSS / DLR         |
|             | GELU(s) with output_linear=False       | S5 "gelu"         |
| "glu"       | GLU(Dense_2H(drop(GELU(s))))           | DSS / DLR (GLU)   |
| "full_glu"  | W1 g ⊙ σ(W2 g),  g = drop(GELU(s))     | S5 "full_glu"     |
| "half_glu1" | g ⊙ σ(W2 g),     g = drop(GELU(s))     | S5 (default)      |
| "half_glu2" | s ⊙ σ(W2 g),     g = drop(GELU(s))     | S5 (ListOps/IMDB) |
| None        | s (the layer gates itself)             | Mamba             |

Dropout masks are shared across time (one mask per example and feature, as
Dropout2d / S5's broadcast dropout). BatchNorm pools its statistics over batch and
time (masked positions excluded); at inference it is a per-position affine map, so
the block streams chunk by chunk like its SSM.
"""

import keras
from keras import ops

from keras_ssm.layers import families
from keras_ssm.layers.base import inputs_spec
from keras_ssm.layers.batch_norm import MaskedBatchNormalization
from keras_ssm.layers.parameters import check_choice
from keras_ssm.layers.parameters import derived_seed

NORMS = ("layer", "batch", "rms", None)
ACTIVATIONS = ("gelu", "glu", "full_glu", "half_glu1", "half_glu2", None)
_S5_ACTIVATIONS = ("full_glu", "half_glu1", "half_glu2")


def make_ssm(ssm, **defaults):
    """A fresh SSM layer from a family name, a config dict, or a layer instance.

    Any registered family (`keras_ssm.layers.families`) is accepted, by its short name
    or class name.

    Args:
        ssm: a layer of a registered family (returned as is), a family name ("dlr",
            "dss", "s5", ...), a dict {"class_name": "dlr", **constructor_kwargs}, or a
            dict produced by `keras.saving.serialize_keras_object`.
        **defaults: constructor arguments used where the config does not set them.

    Returns:
        The layer.

    Raises:
        ValueError: an unknown family name (the message lists the valid ones), or a
            layer that belongs to no registered family.

    Example:

    ```python
    from keras_ssm.layers.block import make_ssm
    make_ssm({"class_name": "dlr", "state_size": 64})
    ```
    """
    if isinstance(ssm, keras.layers.Layer):
        if families.name_of(ssm) is None:
            raise ValueError(
                f"`ssm` must be an SSM layer of a registered family {list(families.names())}, "
                f"got a {type(ssm).__name__}; register its class with "
                "keras_ssm.layers.families.register."
            )
        return ssm
    if isinstance(ssm, str):
        return families.layer_class(ssm)(**defaults)
    if isinstance(ssm, dict):
        if "class_name" not in ssm:
            raise ValueError(
                f"An `ssm` dict needs a 'class_name' key (one of {list(families.names())}), "
                f"got {ssm!r}."
            )
        if "config" in ssm and isinstance(ssm["config"], dict):
            # A full Keras serialization (from get_config of a block).
            layer = keras.saving.deserialize_keras_object(ssm)
            return make_ssm(layer)
        kwargs = dict(ssm)
        cls = families.layer_class(kwargs.pop("class_name"))
        return cls(**{**defaults, **kwargs})
    raise ValueError(
        f"`ssm` must be a layer, a family name (one of {list(families.names())}) or a config "
        f"dict, got {ssm!r}."
    )


def rms_norm(**kwargs):
    """`keras.layers.RMSNormalization(**kwargs)` passing masks through (it is per position)."""
    layer = keras.layers.RMSNormalization(**kwargs)
    layer.supports_masking = True
    return layer


@keras.saving.register_keras_serializable(package="keras_ssm")
@keras.saving.register_keras_serializable(package="keras_ssm")
class SSMBlock(keras.layers.Layer):
    """Residual SSM block: y = x + drop(f(norm(x))) (pre-norm) or norm(x + drop(f(x))).

    f is the SSM followed by its nonlinearity (see the module docstring for every
    `activation`). The block is the one of DSS/DLR (GELU + output linear, optional
    GLU) and of S5 (GELU, full/half GLU with a tanh-approximate GELU).

    Args:
        ssm: the SSM layer: an instance of a registered family (DSS, DLR, S5, ...;
            see `keras_ssm.layers.families`), a family name ("dlr", "dss", "s5") or a
            dict {"class_name": "dlr", **kwargs}; a name or dict builds a new layer
            with this block's dtype policy.
        norm: "layer" (LayerNormalization over features), "batch" (BatchNormalization
            with statistics over batch and time), "rms" (RMSNormalization, Mamba's)
            or None.
        prenorm: bool, pre-norm (True) or post-norm (False) residual.
        activation: one of "gelu", "glu", "full_glu", "half_glu1", "half_glu2", or
            None: f(u) = SSM(u), for a layer with its own gate and output projection
            (Mamba: the block is then the authors' x + Mixer(RMSNorm(x))).
        dropout: float in [0, 1), the rate of both dropouts (inside f after GELU
            and on the residual branch); masks are shared across time.
        output_linear: bool, for activation="gelu" only: add the Dense(H) output
            mixing of DSS/DLR (True) or not (S5's plain "gelu", False).
        gelu_approximate: bool or None; None = the paper's choice: the tanh
            approximation for the S5 activations (flax's default), exact GELU for
            "gelu" and "glu" (torch's default).
        norm_kwargs: dict of extra arguments of the norm layer (e.g. epsilon,
            momentum, synchronized). Defaults: epsilon 1e-5, BatchNorm momentum 0.9
            (torch's 0.1 in Keras convention). `synchronized=True` gives global batch
            statistics under `tf.distribute` (masked ones too); JAX's
            `keras.distribution` always computes them over the global batch.
        seed: int or None, seeds the dropouts and the Dense initializers.
        **kwargs: forwarded to `keras.layers.Layer` (name, dtype, ...).

    Call arguments:
        inputs: (batch, length, H).
        mask: optional (batch, length) boolean; passed to the SSM and BatchNorm and
            returned unchanged (padded positions do not affect valid ones).
        training: bool, dropout and BatchNorm batch statistics.
        initial_state, return_state: streaming, passed to the SSM (causal SSMs).
        step_scale: multiplies the SSM's discretization step (DSS, S5).
        segment_ids: optional (batch, length) int, packed documents, passed to the SSM
            (a new document starts where the id changes; each gives exactly its outputs
            alone: the norms and the branch act per position).

    Input shape: (batch, length, H). Output shape: the same (and the SSM state
    when `return_state=True`).

    Example:

    ```python
    import keras, keras_ssm
    inputs = keras.Input((None, 64))
    x = keras_ssm.layers.SSMBlock({"class_name": "dlr", "state_size": 64},
                                  norm="batch", dropout=0.1)(inputs)
    model = keras.Model(inputs, x)
    ```
    """

    def __init__(
        self,
        ssm="dlr",
        norm="layer",
        prenorm=True,
        activation="gelu",
        dropout=0.0,
        output_linear=True,
        gelu_approximate=None,
        norm_kwargs=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_choice("norm", norm, NORMS)
        check_choice("activation", activation, ACTIVATIONS)
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1), got {dropout!r}.")
        self.norm = norm
        self.prenorm = bool(prenorm)
        self.activation = activation
        self.dropout = float(dropout)
        self.output_linear = bool(output_linear)
        if gelu_approximate is None:
            gelu_approximate = activation in _S5_ACTIVATIONS
        self.gelu_approximate = bool(gelu_approximate)
        self.norm_kwargs = dict(norm_kwargs or {})
        self.seed = seed
        defaults = {"dtype": self.dtype_policy}
        self.ssm = make_ssm(ssm, **defaults)
        self.supports_masking = True
        self.input_spec = inputs_spec()
        self.norm_layer = self._make_norm()
        self.inner_dropout = keras.layers.SpatialDropout1D(
            self.dropout, seed=self._seed_for(0), dtype=self.dtype_policy, name="inner_dropout"
        )
        self.residual_dropout = keras.layers.SpatialDropout1D(
            self.dropout, seed=self._seed_for(1), dtype=self.dtype_policy, name="residual_dropout"
        )
        self.output_dense = None
        self.gate_dense = None

    def _seed_for(self, index):
        return derived_seed(self.seed, index, stride=7919)

    def _make_norm(self):
        if self.norm is None:
            return None
        if self.norm == "layer":
            kwargs = {"epsilon": 1e-5, **self.norm_kwargs}
            return keras.layers.LayerNormalization(dtype=self.dtype_policy, name="norm", **kwargs)
        if self.norm == "rms":
            kwargs = {"epsilon": 1e-5, **self.norm_kwargs}
            return rms_norm(dtype=self.dtype_policy, name="norm", **kwargs)
        kwargs = {"epsilon": 1e-5, "momentum": 0.9, **self.norm_kwargs}
        return MaskedBatchNormalization(dtype=self.dtype_policy, name="norm", **kwargs)

    def _dense(self, units, name, index, fan_in):
        if self.activation in _S5_ACTIVATIONS:
            # flax.linen.Dense defaults: lecun_normal kernel, zero bias.
            kernel = keras.initializers.LecunNormal(seed=self._seed_for(index))
            bias = "zeros"
        else:
            # torch.nn.Linear defaults: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for both.
            limit = fan_in**-0.5
            kernel = keras.initializers.RandomUniform(-limit, limit, seed=self._seed_for(index))
            bias = keras.initializers.RandomUniform(-limit, limit, seed=self._seed_for(index + 1))
        return keras.layers.Dense(
            units,
            kernel_initializer=kernel,
            bias_initializer=bias,
            dtype=self.dtype_policy,
            name=name,
        )

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(
                f"SSMBlock expects inputs of shape (batch, length, features) with known "
                f"features, got {input_shape}."
            )
        features = int(input_shape[-1])
        self.input_spec = inputs_spec(features)
        if not self.ssm.built:
            self.ssm.build(input_shape)
        if self.norm_layer is not None:
            self.norm_layer.build(input_shape)
        # Output mixing: Dense(H) for "gelu" (DSS/DLR) and "full_glu" (W1), Dense(2H) + GLU.
        if self.activation == "glu":
            self.output_dense = self._dense(2 * features, "output_dense", 2, features)
        elif self.activation == "full_glu" or (self.activation == "gelu" and self.output_linear):
            self.output_dense = self._dense(features, "output_dense", 2, features)
        if self.activation in _S5_ACTIVATIONS:
            self.gate_dense = self._dense(features, "gate_dense", 4, features)
            self.gate_dense.build(input_shape)
        if self.output_dense is not None:
            self.output_dense.build(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def compute_output_spec(
        self,
        inputs,
        mask=None,
        training=None,
        initial_state=None,
        return_state=False,
        step_scale=1.0,
        segment_ids=None,
    ):
        """The outputs' KerasTensor, and `(outputs, state)` with `return_state=True`."""
        outputs = keras.KerasTensor(tuple(inputs.shape), dtype=self.compute_dtype)
        if initial_state is not None or return_state:
            _, state = self.ssm.compute_output_spec(
                inputs, initial_state=initial_state, return_state=True
            )
            if return_state:
                return outputs, state
        return outputs

    def compute_mask(self, inputs, mask=None):
        return mask

    def _normalize(self, x, mask, training):
        if self.norm_layer is None:
            return x
        if self.norm == "batch":
            return self.norm_layer(x, training=training, mask=mask)
        return self.norm_layer(x)

    def _gelu(self, x):
        return ops.gelu(x, approximate=self.gelu_approximate)

    def _branch(self, s, training):
        """f: the nonlinearity and output mixing applied to the SSM output s."""
        act = self.activation
        if act is None:
            return s
        if act == "gelu":
            g = self._gelu(s)
            if not self.output_linear:
                return g
            return self.output_dense(self.inner_dropout(g, training=training))
        g = self.inner_dropout(self._gelu(s), training=training)
        if act == "glu":
            z = self.output_dense(g)
            a, b = ops.split(z, 2, axis=-1)
            return a * ops.sigmoid(b)
        gate = ops.sigmoid(self.gate_dense(g))
        if act == "full_glu":
            return self.output_dense(g) * gate
        if act == "half_glu1":
            return g * gate
        return s * gate  # half_glu2: the gate multiplies the raw SSM output

    def call(
        self,
        inputs,
        mask=None,
        training=None,
        initial_state=None,
        return_state=False,
        step_scale=1.0,
        segment_ids=None,
    ):
        x = inputs
        u = self._normalize(x, mask, training) if self.prenorm else x
        # Only the arguments that are set: a family without them still runs in a block.
        ssm_kwargs = {} if segment_ids is None else {"segment_ids": segment_ids}
        if initial_state is not None or return_state:
            ssm_kwargs.update(initial_state=initial_state, return_state=True)
        if not (isinstance(step_scale, (int, float)) and float(step_scale) == 1.0):
            ssm_kwargs["step_scale"] = step_scale
        s = self.ssm(u, mask=mask, **ssm_kwargs)
        state = None
        if "return_state" in ssm_kwargs:
            s, state = s
        s = ops.cast(s, self.compute_dtype)
        z = self.residual_dropout(self._branch(s, training), training=training)
        y = x + ops.cast(z, x.dtype)
        if not self.prenorm:
            y = self._normalize(y, mask, training)
        if return_state:
            return y, state
        return y

    # ----------------------------------------------------------------------------
    # streaming

    def get_initial_state(self, batch_size):
        """The SSM's zero state for `batch_size` streams (see `DiagonalSSMLayer`)."""
        return self.ssm.get_initial_state(batch_size)

    def step(self, inputs_t, state, step_scale=1.0):
        """One time step: (outputs_t (batch, H), new_state), inference mode.

        Example:

        ```python
        block = keras_ssm.layers.SSMBlock("dlr")
        x = np.random.rand(2, 5, 4).astype("float32")
        block.build(x.shape)
        state = block.get_initial_state(2)
        for t in range(5):
            y_t, state = block.step(x[:, t], state)   # (2, 4)
        ```
        """
        y, state = self(
            inputs_t[:, None, :],
            initial_state=state,
            return_state=True,
            step_scale=step_scale,
            training=False,
        )
        return y[:, 0], state

    # ----------------------------------------------------------------------------
    # serialization

    def get_config(self):
        config = super().get_config()
        ssm_config = keras.saving.serialize_keras_object(self.ssm)
        # Built by this block's build() (inside its name scope), not on deserialization,
        # so a loaded block has the same variable paths as the original.
        ssm_config.pop("build_config", None)
        config.update(
            ssm=ssm_config,
            norm=self.norm,
            prenorm=self.prenorm,
            activation=self.activation,
            dropout=self.dropout,
            output_linear=self.output_linear,
            gelu_approximate=self.gelu_approximate,
            norm_kwargs=dict(self.norm_kwargs),
            seed=self.seed,
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        ssm = config.pop("ssm")
        if isinstance(ssm, dict) and "config" in ssm:
            import keras_ssm.layers  # noqa: F401  (registers the classes)

            ssm = keras.saving.deserialize_keras_object(ssm)
        return cls(ssm=ssm, **config)
