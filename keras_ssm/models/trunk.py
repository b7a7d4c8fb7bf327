"""The model trunk: encoder → `SSMBlock`s → final norm, the one stack of every model.

`keras_ssm.models` builders and `keras_ssm.hub.SSMBackbone` both build their stack here:

    x = encoder(inputs)                 Embedding (N(0, 1), token ids) or Dense (Glorot
                                        uniform, real features)
    x = block_i(x)  for i < num_layers  SSMBlock(norm, SSM, activation, dropout, residual)
    x = final_norm(x)                   for pre-norm stacks (DSS/DLR), none for S5

Seeds follow one rule: with a `seed`, part i (0 the encoder, i + 1 block i, which also
seeds its SSM layer) is seeded `derived_seed(seed, i, stride=SEED_STRIDE)`, i.e.
(seed · 101 + i) mod (2^31 − 1) (`keras_ssm.layers.parameters.derived_seed`); the block
and its SSM derive their own initializer seeds from theirs with their own strides.
"""

import keras

from keras_ssm.layers.batch_norm import MaskedBatchNormalization
from keras_ssm.layers.block import SSMBlock
from keras_ssm.layers.block import rms_norm
from keras_ssm.layers.parameters import derived_seed

# The trunk's stride in `derived_seed` (SSM layers use 1009, SSMBlock 7919).
SEED_STRIDE = 101


def trunk_seed(seed, index):
    """The seed of the trunk's part `index` (0 the encoder, i + 1 block i), None without `seed`.

    Example:

    ```python
    from keras_ssm.models.trunk import trunk_seed
    trunk_seed(3, 1)       # 304: the first block of a trunk seeded 3
    ```
    """
    return derived_seed(seed, index, stride=SEED_STRIDE)


def ssm_block_config(ssm, ssm_kwargs, bidirectional, seed):
    """The SSM config of one block: a dict {"class_name": ..., **kwargs} for `SSMBlock`.

    Args:
        ssm: a layer family name ("dlr", "dss", "s5", ...; see
            `keras_ssm.layers.families`) or a dict {"class_name": ..., **kwargs}.
        ssm_kwargs: dict or None, constructor arguments added to the config.
        bidirectional: bool, or None to leave the config's own choice.
        seed: int or None, the layer's seed where the config sets none.

    Returns:
        A new dict (one layer is built from it per block).

    Example:

    ```python
    from keras_ssm.models.trunk import ssm_block_config
    ssm_block_config("dlr", {"state_size": 8}, True, 3)
    # {'class_name': 'dlr', 'state_size': 8, 'bidirectional': True, 'seed': 3}
    ```
    """
    kwargs = dict(ssm_kwargs or {})
    if isinstance(ssm, str):
        config = {"class_name": ssm}
    elif isinstance(ssm, dict) and "class_name" in ssm and "config" not in ssm:
        config = dict(ssm)
    else:
        raise ValueError(
            f"`ssm` must be a family name ('dlr', 'dss', 's5', ...) or a dict "
            f"{{'class_name': ..., **kwargs}} (one new layer is built per block), got {ssm!r}."
        )
    config.update(kwargs)
    # Set when asked for or overriding the config's own: a causal family without the
    # argument (Mamba) takes the default False.
    if bidirectional is not None and (bidirectional or "bidirectional" in config):
        config["bidirectional"] = bool(bidirectional)
    if seed is not None and config.get("seed") is None:
        config["seed"] = seed
    return config


def check_trunk_args(vocab_size, input_features, num_layers, vocab_name="vocab_size"):
    """Check a model trunk's inputs: exactly one of a vocabulary and input features, >= 1 block.

    Args:
        vocab_size: int or None, the vocabulary of token inputs (an Embedding encoder).
        input_features: int or None, the features of real inputs (a Dense encoder).
        num_layers: int, the number of SSM blocks.
        vocab_name: the vocabulary argument's name in the caller's signature (errors name it).

    Raises:
        ValueError: naming the arguments and what to give.

    Example:

    ```python
    from keras_ssm.models.trunk import check_trunk_args
    check_trunk_args(None, 3, 2)       # fine: real inputs with 3 features, 2 blocks
    # check_trunk_args(256, 3, 2) raises: give exactly one of `vocab_size` or `input_features`
    ```
    """
    if (vocab_size is None) == (input_features is None):
        raise ValueError(
            f"Give exactly one of `{vocab_name}` (token inputs, an Embedding encoder) or "
            f"`input_features` (real inputs, a Dense encoder); got {vocab_name}={vocab_size!r}, "
            f"input_features={input_features!r}."
        )
    if int(num_layers) < 1:
        raise ValueError(f"`num_layers` must be >= 1, got {num_layers!r}.")


def _final_norm_layer(norm, norm_kwargs, dtype, name):
    """The final norm of a stack whose blocks use `norm` (their defaults, their kwargs)."""
    kwargs = dict(norm_kwargs or {})
    if norm == "batch":
        return MaskedBatchNormalization(
            dtype=dtype, name=name, **{"epsilon": 1e-5, "momentum": 0.9, **kwargs}
        )
    if norm == "rms":
        return rms_norm(dtype=dtype, name=name, **{"epsilon": 1e-5, **kwargs})
    return keras.layers.LayerNormalization(dtype=dtype, name=name, **{"epsilon": 1e-5, **kwargs})


class Trunk:
    """The stack encoder → `SSMBlock`s → final norm, its layers created once.

    Calling it applies the same layers (shared weights) to any input; the layers are
    plain attributes, so a functional model built from its outputs lists them in order.

    Args:
        vocab_size: int, token inputs (an `Embedding` with N(0, 1) weights).
        input_features: int, real inputs (a Glorot-uniform `Dense`). Exactly one of the two.
        hidden_size: int, H.
        num_layers: int >= 1, the number of blocks.
        ssm, ssm_kwargs, bidirectional: each block's SSM (`ssm_block_config`).
        norm, prenorm, activation, dropout: `SSMBlock` arguments.
        final_norm: bool or None; None = a final norm exactly when pre-norm with a norm.
        mask_zero: bool, token 0 is padding (token inputs).
        block_kwargs: dict of further `SSMBlock` arguments (norm_kwargs is also the
            final norm's).
        seed: int or None, seeds the encoder and every block (module docstring).
        dtype: a dtype policy for every layer, or None (the global policy).
        name: the prefix of the layer names: `{name}_embedding` or `{name}_encoder`,
            `{name}_block_{i}`, `{name}_final_norm`.
        layer_names: dict overriding some of those names (keys "embedding", "encoder",
            "final_norm", and "block", a format string with `{i}`).
        vocab_name: the vocabulary argument's name in the caller (for errors).

    Example:

    ```python
    from keras_ssm.models.trunk import Trunk
    trunk = Trunk(input_features=3, hidden_size=8, num_layers=2,
                  ssm_kwargs={"state_size": 4}, seed=0, name="demo")
    inputs = trunk.input(16, "inputs")
    model = keras.Model(inputs, trunk(inputs))      # (batch, 16, 3) -> (batch, 16, 8)
    ```
    """

    def __init__(
        self,
        *,
        vocab_size=None,
        input_features=None,
        hidden_size=128,
        num_layers=4,
        ssm="dlr",
        ssm_kwargs=None,
        bidirectional=False,
        norm="layer",
        prenorm=True,
        activation="gelu",
        dropout=0.0,
        final_norm=None,
        mask_zero=False,
        block_kwargs=None,
        seed=None,
        dtype=None,
        name="trunk",
        layer_names=None,
        vocab_name="vocab_size",
    ):
        check_trunk_args(vocab_size, input_features, num_layers, vocab_name)
        names = {
            "embedding": f"{name}_embedding",
            "encoder": f"{name}_encoder",
            "block": f"{name}_block_{{i}}",
            "final_norm": f"{name}_final_norm",
            **dict(layer_names or {}),
        }
        block_kwargs = dict(block_kwargs or {})
        self.vocab_size = vocab_size
        self.input_features = input_features
        if vocab_size is not None:
            self.encoder = keras.layers.Embedding(
                int(vocab_size),
                int(hidden_size),
                mask_zero=mask_zero,
                embeddings_initializer=keras.initializers.RandomNormal(
                    stddev=1.0, seed=trunk_seed(seed, 0)
                ),
                dtype=dtype,
                name=names["embedding"],
            )
        else:
            self.encoder = keras.layers.Dense(
                int(hidden_size),
                kernel_initializer=keras.initializers.GlorotUniform(seed=trunk_seed(seed, 0)),
                dtype=dtype,
                name=names["encoder"],
            )
        self.blocks = [
            SSMBlock(
                ssm_block_config(ssm, ssm_kwargs, bidirectional, trunk_seed(seed, i + 1)),
                norm=norm,
                prenorm=prenorm,
                activation=activation,
                dropout=dropout,
                seed=trunk_seed(seed, i + 1),
                dtype=dtype,
                name=names["block"].format(i=i),
                **block_kwargs,
            )
            for i in range(int(num_layers))
        ]
        if final_norm is None:
            final_norm = prenorm and norm is not None
        self.final_norm = None
        if final_norm:
            self.final_norm = _final_norm_layer(
                norm, block_kwargs.get("norm_kwargs"), dtype, names["final_norm"]
            )

    def input(self, sequence_length, name):
        """The `keras.Input` of this trunk: (batch, length) int32 tokens or real features."""
        if self.vocab_size is not None:
            return keras.Input((sequence_length,), dtype="int32", name=name)
        return keras.Input((sequence_length, int(self.input_features)), name=name)

    def segment_ids_input(self, sequence_length, name="segment_ids"):
        """The `keras.Input` of packed documents' ids: (batch, length) int32."""
        return keras.Input((sequence_length,), dtype="int32", name=name)

    def __call__(self, inputs, mask=None, segment_ids=None):
        """(batch, length, H): the stack on `inputs`; `mask` (batch, length) and
        `segment_ids` (batch, length) int, packed documents, go to every block."""
        x = self.encoder(inputs)
        kwargs = {"mask": mask, "segment_ids": segment_ids}
        kwargs = {key: value for key, value in kwargs.items() if value is not None}
        for block in self.blocks:
            x = block(x, **kwargs)
        if self.final_norm is not None:
            x = self.final_norm(x)
        return x

    def call_with_state(self, inputs, states, mask=None):
        """One chunk with every block's SSM state carried (inference): (outputs, new states).

        Args:
            inputs: a chunk of token ids or features.
            states: one state per block (`SSMBlock.get_initial_state` or a previous call).
            mask: optional (batch, chunk) boolean.
        """
        x = self.encoder(inputs)
        new_states = []
        for block, state in zip(self.blocks, states):
            x, state = block(x, mask=mask, initial_state=state, return_state=True, training=False)
            new_states.append(tuple(state))
        if self.final_norm is not None:
            x = self.final_norm(x, training=False)
        return x, new_states
