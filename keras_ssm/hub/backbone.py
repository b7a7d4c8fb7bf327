"""SSMBackbone: the papers' stack of SSM blocks as a `keras_hub.models.Backbone`."""

import keras
import keras_hub
from keras import ops

from keras_ssm import optimizers as ssm_optimizers
from keras_ssm.layers import families
from keras_ssm.models.streaming import _streaming_error
from keras_ssm.models.trunk import Trunk


@keras.saving.register_keras_serializable(package="keras_ssm")
class SSMBackbone(keras_hub.models.Backbone):
    """A stack of `SSMBlock`s over any SSM family: tokens or features to (batch, length, H).

    The trunk of `keras_ssm.models` (`keras_ssm.models.trunk.Trunk`): encoder (an
    `Embedding` of token ids, or a `Dense` of input features) → `num_layers` ×
    `SSMBlock` (norm, SSM, GELU/GLU variant, dropout, residual) → a final norm for
    pre-norm stacks (the DSS/DLR convention; S5 has none: `final_norm=False`). Padded
    positions (`padding_mask` 0) never change the outputs at valid ones.

    Args:
        vocabulary_size: int, token inputs `token_ids` (batch, length) int32, embedded
            with N(0, 1) weights (torch's `nn.Embedding`, as DSS and S5).
        input_features: int, real inputs `features` (batch, length, input_features)
            with a Glorot-uniform `Dense` encoder (images and audio as sequences).
            Give exactly one of `vocabulary_size` and `input_features`.
        hidden_dim: int, H, the model width.
        num_layers: int, the number of blocks.
        ssm: a layer family name ("dlr", "dss", "s5", ...; `keras_ssm.layers.families`)
            or a dict {"class_name": ..., **kwargs}; one new layer per block, seeded by
            the trunk's rule (`keras_ssm.models.trunk.trunk_seed`) when `seed` is set.
        ssm_kwargs: dict of SSM arguments (state_size, mode, blocks, ...), merged into `ssm`.
        bidirectional: bool, every SSM also runs backward in time (False: causal, the
            backbone streams and generates).
        norm: "layer", "batch" or None; prenorm: bool; activation: "gelu", "glu",
            "full_glu", "half_glu1", "half_glu2"; dropout: float. See `SSMBlock`.
        final_norm: bool or None; None = a final norm exactly when pre-norm with a norm.
        block_kwargs: dict of further `SSMBlock` arguments (norm_kwargs,
            gelu_approximate, output_linear).
        seed: int or None, seeds every initializer and dropout.
        packed: bool; if True the inputs also have "segment_ids" (batch, length) int:
            several documents per row (a new one starts where the id changes), each
            computed exactly as alone (`SSMCausalLMPreprocessor(packing=True)` makes
            them).
        dtype: a dtype policy for every layer. The one exception to keras-hub's
            convention that every weight takes the policy's variable dtype: the SSM
            parameters (Λ, Δ, B, C, D: the weights tagged `ssm_role`) stay float32
            under every policy, `"bfloat16"` included, and the scans and kernels run in
            float32 (eigenvalues near the unit circle, raised to powers up to the
            sequence length, lose their accuracy in bfloat16). Outputs are still in the
            policy's compute dtype: `dtype="bfloat16"` gives bfloat16 outputs.
        **kwargs: forwarded to `keras_hub.models.Backbone` (name, trainable).

    Call arguments:
        inputs: a dict {"token_ids": (batch, length) int, "padding_mask": (batch,
            length)} or {"features": (batch, length, input_features), "padding_mask": ...},
            plus "segment_ids" when `packed`.

    Example:

    ```python
    import keras_ssm.hub
    backbone = keras_ssm.hub.SSMBackbone(vocabulary_size=256, hidden_dim=16, num_layers=2,
                                         ssm="s5", ssm_kwargs={"state_size": 8})
    x = backbone({"token_ids": np.ones((2, 16), "int32"),
                  "padding_mask": np.ones((2, 16), "int32")})   # (2, 16, 16)
    backbone.save_to_preset("./ssm_preset")
    backbone = keras_ssm.hub.SSMBackbone.from_preset("./ssm_preset")
    ```

    References:
        Gupta et al., Diagonal State Spaces are as Effective as Structured State Spaces
        (2022); Gupta et al., Simplifying and Understanding State Space Models with
        Diagonal Linear RNNs (2022); Smith et al., Simplified State Space Layers for
        Sequence Modeling (2023).
    """

    def __init__(
        self,
        vocabulary_size=None,
        input_features=None,
        hidden_dim=128,
        num_layers=4,
        ssm="dlr",
        ssm_kwargs=None,
        bidirectional=False,
        norm="layer",
        prenorm=True,
        activation="gelu",
        dropout=0.0,
        final_norm=None,
        block_kwargs=None,
        seed=None,
        packed=False,
        dtype=None,
        **kwargs,
    ):
        # === Layers ===
        trunk = Trunk(
            vocab_size=vocabulary_size,
            input_features=input_features,
            hidden_size=hidden_dim,
            num_layers=num_layers,
            ssm=ssm,
            ssm_kwargs=ssm_kwargs,
            bidirectional=bidirectional,
            norm=norm,
            prenorm=prenorm,
            activation=activation,
            dropout=dropout,
            final_norm=final_norm,
            block_kwargs=block_kwargs,
            seed=seed,
            dtype=dtype,
            layer_names={
                "embedding": "token_embedding",
                "encoder": "feature_encoder",
                "block": "ssm_block_{i}",
                "final_norm": "final_norm",
            },
            vocab_name="vocabulary_size",
        )
        self.trunk = trunk
        self.encoder = trunk.encoder
        self.ssm_blocks = trunk.blocks
        self.final_norm_layer = trunk.final_norm

        # === Functional model ===
        input_name = "token_ids" if vocabulary_size is not None else "features"
        data_input = trunk.input(None, input_name)
        padding_mask_input = keras.Input(shape=(None,), dtype="int32", name="padding_mask")
        inputs = {input_name: data_input, "padding_mask": padding_mask_input}
        if packed:
            inputs["segment_ids"] = trunk.segment_ids_input(None)
        mask = ops.not_equal(padding_mask_input, 0)
        x = trunk(data_input, mask=mask, segment_ids=inputs.get("segment_ids"))
        super().__init__(
            inputs=inputs,
            outputs=x,
            dtype=dtype,
            **kwargs,
        )

        # === Config ===
        self.vocabulary_size = None if vocabulary_size is None else int(vocabulary_size)
        self.input_features = None if input_features is None else int(input_features)
        self.hidden_dim = int(hidden_dim)
        self.num_layers = int(num_layers)
        self.ssm = ssm
        self.ssm_kwargs = dict(ssm_kwargs or {})
        self.bidirectional = bool(bidirectional)
        self.norm = norm
        self.prenorm = bool(prenorm)
        self.activation = activation
        self.dropout = float(dropout)
        self.final_norm = final_norm
        self.block_kwargs = dict(block_kwargs or {})
        self.seed = seed
        self.packed = bool(packed)
        self.input_name = input_name
        if vocabulary_size is not None:
            self.token_embedding = self.encoder

    # ----------------------------------------------------------------------------
    # the papers' choices

    @property
    def paper(self):
        """The family name ("dss", "dlr", "s5", ...) of this backbone's SSM layers."""
        return families.name_of(self.ssm_blocks[0].ssm)

    @property
    def ssm_layers(self):
        """The SSM layer (DSS, DLR, S5, ...) of every block, in order."""
        return [block.ssm for block in self.ssm_blocks]

    def ssm_optimizer(self, **kwargs):
        """The paper's optimizer groups for this backbone or a task around it.

        AdamW for every variable but the SSM group (the paper's Λ, Δ and B or W), which
        gets Adam at `ssm_lr` without weight decay: `keras_ssm.optimizers.ssm_optimizer`
        with `paper=self.paper`, the group selected by this backbone's SSM layer names
        (the same names in a task that wraps it).

        Args:
            **kwargs: `keras_ssm.optimizers.ssm_optimizer` arguments (lr, ssm_lr,
                weight_decay, schedule, warmup_steps, total_steps, ...).

        Example:

        ```python
        import keras_ssm.hub
        backbone = keras_ssm.hub.SSMBackbone(vocabulary_size=256, hidden_dim=16, num_layers=1,
                                             ssm="s5", ssm_kwargs={"state_size": 8})
        classifier = keras_ssm.hub.SSMSequenceClassifier(backbone, 2)
        classifier.compile(optimizer=classifier.backbone.ssm_optimizer(lr=4e-3, ssm_lr=1e-3))
        ```
        """
        return ssm_optimizers.ssm_optimizer(self, paper=self.paper, **kwargs)

    # ----------------------------------------------------------------------------
    # streaming

    @property
    def causal(self):
        """True when every SSM can stream: not bidirectional, no length-dependent kernel."""
        return not any(_streaming_error(layer) for layer in self.ssm_layers)

    def _require_causal(self):
        if self.bidirectional:
            raise ValueError(
                "This backbone is bidirectional: it sees the future and cannot "
                "stream or generate. Build it with bidirectional=False."
            )
        for layer in self.ssm_layers:
            error = _streaming_error(layer)
            if error:  # the layer's own message (e.g. DSS's softmax kernel)
                raise ValueError(error)

    def get_initial_state(self, batch_size):
        """The zero state of every block: a list of (real, imag) pairs."""
        self._require_causal()
        return [block.get_initial_state(batch_size) for block in self.ssm_blocks]

    def call_with_state(self, inputs, states, padding_mask=None):
        """One chunk through the backbone with every block's SSM state carried (inference).

        Calling it on consecutive chunks gives the outputs of one call on their
        concatenation; memory depends on the chunk length only.

        Args:
            inputs: token ids (batch, chunk) or features (batch, chunk, input_features).
            states: from `get_initial_state` or a previous call.
            padding_mask: optional (batch, chunk); padded positions leave the state as
                it is only while it is zero (left padding before the first token).

        Returns:
            (sequence_output (batch, chunk, H), new states).
        """
        mask = None if padding_mask is None else ops.not_equal(padding_mask, 0)
        return self.trunk.call_with_state(inputs, states, mask=mask)

    # ----------------------------------------------------------------------------
    # serialization

    def get_config(self):
        config = super().get_config()
        config.update(
            vocabulary_size=self.vocabulary_size,
            input_features=self.input_features,
            hidden_dim=self.hidden_dim,
            num_layers=self.num_layers,
            ssm=self.ssm,
            ssm_kwargs=dict(self.ssm_kwargs),
            bidirectional=self.bidirectional,
            norm=self.norm,
            prenorm=self.prenorm,
            activation=self.activation,
            dropout=self.dropout,
            final_norm=self.final_norm,
            block_kwargs=dict(self.block_kwargs),
            seed=self.seed,
        )
        if self.packed:  # saved presets of unpacked backbones keep their config
            config["packed"] = True
        return config
