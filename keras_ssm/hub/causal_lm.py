"""SSMCausalLM: a causal `SSMBackbone` as a keras-hub `CausalLM` whose cache is the SSM state."""

import keras
import keras_hub
from keras import ops

from keras_ssm.hub.backbone import SSMBackbone
from keras_ssm.hub.causal_lm_preprocessor import SSMCausalLMPreprocessor
from keras_ssm.ops import backend as ssm_backend


def _any_equal(x, values, where):
    """Elementwise: x equals one of `values`, and `where` is True."""
    found = ops.zeros_like(x, dtype="bool")
    for value in values:
        found = ops.logical_or(found, ops.equal(x, value))
    return ops.logical_and(found, where)


@keras.saving.register_keras_serializable(package="keras_ssm")
class SSMCausalLM(keras_hub.models.CausalLM):
    """A next-token model: causal `SSMBackbone` → Dense(vocabulary) logits at every position.

    Training (`fit`) runs each SSM over the whole sequence (convolution or scan).
    `generate()` runs it as the recurrence it is: the cache is every block's SSM state,
    a fixed (batch, H, N) per block whatever the prompt length, so each generated
    token costs the same time and memory after a prompt of 10 or 100,000 tokens. The
    prompt is read once (the prefill), chunk by chunk with the state carried, in
    `prefill_chunk_size` steps: memory bounded by the chunk, time linear in the prompt.
    Any keras-hub sampler (`compile(sampler="greedy" | "top_k" | "top_p" | "random" |
    "beam")`) draws the tokens.

    The backbone must be causal: not bidirectional, and no DSS softmax kernel (it
    depends on the total length; use DSS's "exp" kernel).

    Args:
        backbone: an `SSMBackbone` with `vocabulary_size`.
        preprocessor: an `SSMCausalLMPreprocessor` or None (then `generate` takes
            {"token_ids", "padding_mask"} arrays and `stop_token_ids` must be given).
        prefill_chunk_size: int, positions per chunk when reading the prompt.
        **kwargs: forwarded to `keras_hub.models.CausalLM` (name, compile).

    Example:

    ```python
    import keras_ssm.hub
    backbone = keras_ssm.hub.SSMBackbone(vocabulary_size=256, hidden_dim=16, num_layers=2,
                                         ssm="s5", ssm_kwargs={"state_size": 8})
    preprocessor = keras_ssm.hub.SSMCausalLMPreprocessor(
        keras_ssm.hub.SSMByteTokenizer(), sequence_length=32)
    lm = keras_ssm.hub.SSMCausalLM(backbone, preprocessor=preprocessor)
    lm.fit(["import os", "import sys"], epochs=1, verbose=0)
    lm.compile(sampler="top_k")
    text = lm.generate("import ", max_length=24)
    ```
    """

    backbone_cls = SSMBackbone
    preprocessor_cls = SSMCausalLMPreprocessor

    def __init__(self, backbone, preprocessor=None, prefill_chunk_size=512, **kwargs):
        if backbone.vocabulary_size is None:
            raise ValueError(
                "SSMCausalLM needs a token backbone (`vocabulary_size`), "
                "got one with `input_features`."
            )
        backbone._require_causal()
        if int(prefill_chunk_size) < 1:
            raise ValueError(f"`prefill_chunk_size` must be >= 1, got {prefill_chunk_size!r}.")
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.lm_head = keras.layers.Dense(
            backbone.vocabulary_size, dtype=backbone.dtype_policy, name="lm_head"
        )

        # === Functional model ===
        inputs = backbone.input
        outputs = self.lm_head(backbone(inputs))
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        # === Config ===
        self.prefill_chunk_size = int(prefill_chunk_size)

    def compile(
        self, optimizer="auto", loss="auto", *, weighted_metrics="auto", sampler="top_k", **kwargs
    ):
        """`CausalLM.compile` with Adam(1e-3) for "auto" (keras-hub's 2e-5 is a
        fine-tuning rate; these models train from scratch)."""
        if optimizer == "auto":
            optimizer = keras.optimizers.Adam(1e-3)
        super().compile(
            optimizer=optimizer,
            loss=loss,
            weighted_metrics=weighted_metrics,
            sampler=sampler,
            **kwargs,
        )

    # ----------------------------------------------------------------------------
    # the cache: every block's SSM state

    def call_with_cache(self, token_ids, cache):
        """The next position(s) from the state: (logits, hidden_states, new cache).

        Args:
            token_ids: (batch, length) int, the tokens after those the cache has read.
            cache: the list of block states (`backbone.get_initial_state` or a
                previous call).

        Returns:
            logits (batch, length, vocabulary), hidden states (batch, length, H), and
            the cache after these tokens.
        """
        hidden_states, cache = self.backbone.call_with_state(token_ids, cache)
        return self.lm_head(hidden_states), hidden_states, cache

    def _prefill(self, token_ids, length):
        """The cache after reading the first `length` tokens of each row (a scalar tensor).

        The first `length` tokens are moved to the end of a buffer whose earlier
        positions are masked: masked inputs leave a zero state at zero, so the state at
        the end is that of the prompt alone. Chunks before the first prompt token are
        skipped; the loop runs ceil(length / chunk) chunks in constant memory.
        """
        batch_size = ops.shape(token_ids)[0]
        max_length = token_ids.shape[1]
        chunk = min(self.prefill_chunk_size, max_length)  # a short buffer is one chunk
        num_chunks = -(-max_length // chunk)
        padded = num_chunks * chunk
        length = ops.cast(length, "int32")
        source = ops.arange(padded, dtype="int32") - (padded - length)
        valid = ops.greater_equal(source, 0)
        source = ops.maximum(source, 0)
        buffer = ops.take(token_ids, source, axis=1)
        mask = ops.broadcast_to(ops.cast(valid, "int32")[None, :], ops.shape(buffer))
        first = (padded - length) // chunk

        def read_chunk(i, cache):
            start = i * chunk
            tokens = ops.slice(buffer, [0, start], [batch_size, chunk])
            chunk_mask = ops.slice(mask, [0, start], [batch_size, chunk])
            _, cache = self.backbone.call_with_state(tokens, cache, padding_mask=chunk_mask)
            return cache

        cache = self.backbone.get_initial_state(batch_size)
        return ssm_backend.fori_loop(first, num_chunks, read_chunk, cache)

    def generate_step(self, inputs, stop_token_ids=None):
        """Generate for one batch: {"token_ids", "padding_mask"} → the same, filled in.

        Reads the shortest prompt of the batch once (`_prefill`), then the sampler
        calls `next` once per position: one token in, one state update, logits out.
        Longer prompts keep their own tokens (the sampler does not overwrite them)
        and are read through the same recurrence.
        """
        token_ids, padding_mask = inputs["token_ids"], inputs["padding_mask"]
        row_lengths = ops.sum(ops.cast(padding_mask, "int32"), axis=-1)
        index = ops.maximum(ops.min(row_lengths), 1)
        cache = self._prefill(token_ids, index - 1)

        def next(prompt, cache, index):
            batch_size = ops.shape(prompt)[0]
            tokens = ops.slice(prompt, [0, index - 1], [batch_size, 1])
            logits, hidden_states, cache = self.call_with_cache(tokens, cache)
            return ops.squeeze(logits, axis=1), ops.squeeze(hidden_states, axis=1), cache

        token_ids = self.sampler(
            next=next,
            prompt=token_ids,
            cache=cache,
            index=index,
            mask=padding_mask,
            stop_token_ids=stop_token_ids,
            model=self,
        )
        if stop_token_ids is not None:
            # Positions after the first new stop token are padding.
            ends = ops.cast(
                _any_equal(
                    token_ids, stop_token_ids, ops.logical_not(ops.cast(padding_mask, "bool"))
                ),
                "int32",
            )
            after = ops.cumsum(ends, axis=-1) - ends
            padding_mask = ops.logical_not(ops.cast(after, "bool"))
        else:
            padding_mask = ops.ones_like(token_ids, dtype="bool")
        return {"token_ids": token_ids, "padding_mask": padding_mask}

    def get_config(self):
        config = super().get_config()
        config.update(prefill_chunk_size=self.prefill_chunk_size)
        return config
