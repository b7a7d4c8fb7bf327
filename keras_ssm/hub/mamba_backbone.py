"""MambaBackbone: the Mamba language model's trunk as a `keras_hub.models.Backbone`."""

import math

import keras
import keras_hub
from keras import ops

from keras_ssm import optimizers as ssm_optimizers
from keras_ssm.hub import mamba_transformers
from keras_ssm.layers.block import SSMBlock
from keras_ssm.layers.block import rms_norm
from keras_ssm.layers.mamba import Mamba
from keras_ssm.models.trunk import trunk_seed


@keras.saving.register_keras_serializable(package="keras_ssm")
class MambaBackbone(keras_hub.models.Backbone):
    """Token ids to hidden states through Mamba blocks, as the authors' `MixerModel`.

    embedding (V, H) → `num_layers` × [x + Mamba(RMSNorm(x))] → RMSNorm: each block is
    an `SSMBlock` around a `keras_ssm.layers.Mamba` mixer (norm "rms", activation None,
    pre-norm). The embedding is a keras-hub `ReversibleEmbedding`, whose transpose is
    the language-model head (tied, as the released models) unless
    `tie_word_embeddings=False`. Under a mixed dtype policy every layer computes in the
    policy's dtype, as keras-hub's models do; the mixers' SSM parameters (A_log, D, the
    Δ bias) stay float32 and their scans run in float32. (The authors also keep the
    residual stream in float32, `residual_in_fp32`; here it has the compute dtype.)

    Initialization (the authors' `_init_weights`): embedding N(0, 0.02), RMSNorm scales
    1, the mixers as `Mamba`, and each output projection divided by √num_layers (the
    GPT-2 rescaling of residual branches).

    `from_preset` also reads a Hugging Face transformers folder of a Mamba model
    ("model_type": "mamba", e.g. state-spaces/mamba-130m-hf downloaded beforehand):
    see `keras_ssm.hub.MambaCausalLM.from_preset`.

    Args:
        vocabulary_size: int, V (50280 for the released models).
        hidden_dim: int, H (d_model).
        num_layers: int, the number of blocks.
        state_size, expand, conv_kernel, dt_rank, use_bias, use_conv_bias: each
            mixer's (`keras_ssm.layers.Mamba`).
        layer_norm_epsilon: float, the RMSNorms' epsilon (1e-5).
        tie_word_embeddings: bool, the head is the embedding's transpose.
        seed: int or None, seeds every initializer.
        dtype: a dtype policy for the layers (parameters stay float32 under mixed
            policies).
        **kwargs: forwarded to `keras_hub.models.Backbone` (name, trainable).

    Call arguments:
        inputs: {"token_ids": (batch, length) int, "padding_mask": (batch, length)}.

    Example:

    ```python
    import keras_ssm.hub
    backbone = keras_ssm.hub.MambaBackbone(vocabulary_size=64, hidden_dim=16, num_layers=2,
                                           state_size=4)
    x = backbone({"token_ids": np.ones((2, 8), "int32"),
                  "padding_mask": np.ones((2, 8), "int32")})    # (2, 8, 16)
    ```

    References:
        Gu and Dao, Mamba: Linear-Time Sequence Modeling with Selective State Spaces
        (2023); the code state-spaces/mamba (`mixer_seq_simple.py`).
    """

    def __init__(
        self,
        vocabulary_size,
        hidden_dim=768,
        num_layers=24,
        state_size=16,
        expand=2,
        conv_kernel=4,
        dt_rank="auto",
        use_bias=False,
        use_conv_bias=True,
        layer_norm_epsilon=1e-5,
        tie_word_embeddings=True,
        seed=None,
        dtype=None,
        **kwargs,
    ):
        if int(num_layers) < 1:
            raise ValueError(f"`num_layers` must be >= 1, got {num_layers!r}.")
        norm_kwargs = {"epsilon": float(layer_norm_epsilon)}
        # === Layers ===
        self.token_embedding = keras_hub.layers.ReversibleEmbedding(
            int(vocabulary_size),
            int(hidden_dim),
            tie_weights=bool(tie_word_embeddings),
            embeddings_initializer=keras.initializers.RandomNormal(
                stddev=0.02, seed=trunk_seed(seed, 0)
            ),
            dtype=dtype,
            name="token_embedding",
        )
        # The head (reverse=True) reads the masked hidden states: nothing to mask there.
        self.token_embedding.supports_masking = True
        self.mamba_blocks = []
        for i in range(int(num_layers)):
            mixer = Mamba(
                state_size=state_size,
                expand=expand,
                conv_kernel=conv_kernel,
                dt_rank=dt_rank,
                use_bias=use_bias,
                use_conv_bias=use_conv_bias,
                seed=trunk_seed(seed, i + 1),
                dtype=dtype,
                name="mixer",
            )
            self.mamba_blocks.append(
                SSMBlock(
                    mixer,
                    norm="rms",
                    activation=None,
                    norm_kwargs=norm_kwargs,
                    dtype=dtype,
                    name=f"mamba_block_{i}",
                )
            )
        self.final_norm = rms_norm(dtype=dtype, name="final_norm", **norm_kwargs)

        # === Functional model ===
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        padding_mask = keras.Input(shape=(None,), dtype="int32", name="padding_mask")
        mask = ops.not_equal(padding_mask, 0)
        x = self.token_embedding(token_ids)
        for block in self.mamba_blocks:
            x = block(x, mask=mask)
        x = self.final_norm(x)
        super().__init__(
            inputs={"token_ids": token_ids, "padding_mask": padding_mask},
            outputs=x,
            dtype=dtype,
            **kwargs,
        )

        # === Config ===
        self.vocabulary_size = int(vocabulary_size)
        self.hidden_dim = int(hidden_dim)
        self.num_layers = int(num_layers)
        self.state_size = int(state_size)
        self.expand = expand
        self.conv_kernel = int(conv_kernel)
        self.dt_rank = dt_rank
        self.use_bias = bool(use_bias)
        self.use_conv_bias = bool(use_conv_bias)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.tie_word_embeddings = bool(tie_word_embeddings)
        self.seed = seed
        # The authors' rescaling of the residual branches: out_proj / sqrt(n_layer).
        for mixer in self.mixers:
            mixer.out_proj_kernel.assign(mixer.out_proj_kernel / math.sqrt(self.num_layers))

    @classmethod
    def from_preset(cls, preset, load_weights=True, **kwargs):
        """A keras-hub preset, or a transformers Mamba folder (`MambaCausalLM.from_preset`):
        built from its config.json, its weights copied (`kwargs` override the config)."""
        if not mamba_transformers.is_model_folder(preset):
            return super().from_preset(preset, load_weights=load_weights, **kwargs)
        config = mamba_transformers.read_config(preset)
        backbone = cls(**{**mamba_transformers.backbone_arguments(config), **kwargs})
        if load_weights:
            mamba_transformers.assign_weights(backbone, mamba_transformers.read_weights(preset))
        return backbone

    # ----------------------------------------------------------------------------
    # the family's choices

    @property
    def mixers(self):
        """The `Mamba` layer of every block, in order."""
        return [block.ssm for block in self.mamba_blocks]

    @property
    def paper(self):
        """The family of this backbone's layers: "mamba"."""
        return "mamba"

    def ssm_optimizer(self, **kwargs):
        """AdamW for every weight but A_log and D, which get Adam without weight decay.

        `keras_ssm.optimizers.ssm_optimizer(paper="mamba")`: both groups at `lr` unless
        `ssm_lr` is given.

        Example:

        ```python
        import keras_ssm.hub
        backbone = keras_ssm.hub.MambaBackbone(vocabulary_size=64, hidden_dim=16,
                                               num_layers=1, state_size=4)
        optimizer = backbone.ssm_optimizer(lr=1e-3, weight_decay=0.1)
        ```
        """
        return ssm_optimizers.ssm_optimizer(self, paper="mamba", **kwargs)

    # ----------------------------------------------------------------------------
    # streaming: the cache of generation

    def _require_causal(self):
        """Mamba is causal: always streams (the `SSMCausalLM` contract)."""

    def get_initial_state(self, batch_size):
        """The zero state of every block: a list of (conv window, ssm state) pairs."""
        return [block.get_initial_state(batch_size) for block in self.mamba_blocks]

    def call_with_state(self, token_ids, states, padding_mask=None):
        """One chunk of tokens with every block's state carried (inference).

        Args:
            token_ids: (batch, chunk) int.
            states: from `get_initial_state` or a previous call.
            padding_mask: optional (batch, chunk); padded positions leave the states as
                they are while they are zero (left padding before the first token).

        Returns:
            (hidden states (batch, chunk, H), new states).
        """
        mask = None if padding_mask is None else ops.not_equal(padding_mask, 0)
        x = self.token_embedding(token_ids)
        new_states = []
        for block, state in zip(self.mamba_blocks, states):
            x, state = block(x, mask=mask, initial_state=state, return_state=True, training=False)
            new_states.append(tuple(state))
        return self.final_norm(x), new_states

    # ----------------------------------------------------------------------------
    # serialization

    def get_config(self):
        config = super().get_config()
        config.update(
            vocabulary_size=self.vocabulary_size,
            hidden_dim=self.hidden_dim,
            num_layers=self.num_layers,
            state_size=self.state_size,
            expand=self.expand,
            conv_kernel=self.conv_kernel,
            dt_rank=self.dt_rank,
            use_bias=self.use_bias,
            use_conv_bias=self.use_conv_bias,
            layer_norm_epsilon=self.layer_norm_epsilon,
            tie_word_embeddings=self.tie_word_embeddings,
            seed=self.seed,
        )
        return config
