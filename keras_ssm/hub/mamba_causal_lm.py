"""MambaCausalLM: `MambaBackbone` → tied head, whose `generate()` cache is the Mamba states."""

import keras
import keras_hub

from keras_ssm.hub import mamba_transformers
from keras_ssm.hub.causal_lm import SSMCausalLM
from keras_ssm.hub.mamba_backbone import MambaBackbone
from keras_ssm.hub.mamba_causal_lm_preprocessor import MambaCausalLMPreprocessor


@keras.saving.register_keras_serializable(package="keras_ssm")
class MambaCausalLM(SSMCausalLM):
    """A Mamba language model: logits = hidden states · embeddingᵀ at every position.

    As the authors' `MambaLMHeadModel` and transformers' `MambaForCausalLM`. Training
    (`fit`) runs each mixer's selective scan over the sequence. `generate()` carries
    every block's state as its cache, the convolution window (batch, K − 1, DI) and
    the SSM state (batch, DI, N): the same memory and time per generated token after a
    prompt of any length (no key/value cache grows). The prompt is read once, in
    `prefill_chunk_size` chunks. Any keras-hub sampler draws the tokens
    (`compile(sampler="greedy" | "top_k" | ...)`).

    `from_preset(folder)` loads a keras-hub preset saved by `save_to_preset`, or a
    Hugging Face transformers folder of a Mamba model, as the released
    state-spaces/mamba-130m-hf ... mamba-2.8b-hf are published: config.json with
    "model_type": "mamba", model.safetensors (or pytorch_model.bin, which needs torch;
    sharded files with their index too) and, when present, tokenizer.json (then the
    task has a `MambaCausalLMPreprocessor` and generates from strings). Download the
    folder first (e.g. `huggingface-cli download state-spaces/mamba-130m-hf --local-dir
    mamba-130m`); nothing is fetched at run time. The authors' own checkpoints
    (config.json with "d_model", pytorch_model.bin) load too.

    Args:
        backbone: a `MambaBackbone`.
        preprocessor: a `MambaCausalLMPreprocessor` or None (then `generate` takes
            {"token_ids", "padding_mask"} and `stop_token_ids` must be given).
        prefill_chunk_size: int, positions per chunk when reading the prompt.
        **kwargs: forwarded to `keras_hub.models.CausalLM` (name, ...).

    Example:

    ```python
    import keras_ssm.hub
    backbone = keras_ssm.hub.MambaBackbone(vocabulary_size=64, hidden_dim=16, num_layers=2,
                                           state_size=4)
    lm = keras_ssm.hub.MambaCausalLM(backbone)
    lm.compile(sampler="greedy")
    out = lm.generate({"token_ids": np.ones((1, 8), "int32"),
                       "padding_mask": np.arange(8)[None] < 3}, stop_token_ids=None)
    # a released checkpoint, downloaded beforehand:
    # lm = keras_ssm.hub.MambaCausalLM.from_preset("./mamba-130m-hf")
    # lm.generate("Hey how are you doing?", max_length=20)
    ```
    """

    backbone_cls = MambaBackbone
    preprocessor_cls = MambaCausalLMPreprocessor

    def __init__(self, backbone, preprocessor=None, prefill_chunk_size=512, **kwargs):
        if int(prefill_chunk_size) < 1:
            raise ValueError(f"`prefill_chunk_size` must be >= 1, got {prefill_chunk_size!r}.")
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor

        # === Functional model ===
        inputs = backbone.input
        outputs = backbone.token_embedding(backbone(inputs), reverse=True)
        # SSMCausalLM's generation, with the tied head instead of its Dense one.
        keras_hub.models.CausalLM.__init__(self, inputs=inputs, outputs=outputs, **kwargs)

        # === Config ===
        self.prefill_chunk_size = int(prefill_chunk_size)

    @classmethod
    def from_preset(cls, preset, load_weights=True, **kwargs):
        """A keras-hub preset, or a transformers Mamba folder (see the class docstring).

        Args:
            preset: a keras-hub preset (a folder written by `save_to_preset`, or a
                handle), or the path of a transformers folder.
            load_weights: bool; False gives the architecture with new weights.
            **kwargs: task arguments (preprocessor, prefill_chunk_size, ...), and for a
                transformers folder `dtype` (the backbone's dtype policy).
        """
        if not mamba_transformers.is_model_folder(preset):
            return super().from_preset(preset, load_weights=load_weights, **kwargs)
        backbone = MambaBackbone.from_preset(
            preset, load_weights=load_weights, dtype=kwargs.pop("dtype", None)
        )
        if "preprocessor" not in kwargs and mamba_transformers.has_tokenizer(preset):
            kwargs["preprocessor"] = MambaCausalLMPreprocessor.from_preset(preset)
        return cls(backbone, **kwargs)

    def call_with_cache(self, token_ids, cache):
        """The next position(s) from the cache: (logits, hidden_states, new cache).

        Args:
            token_ids: (batch, length) int, the tokens after those the cache has read.
            cache: the list of block states (`backbone.get_initial_state` or a
                previous call): (conv window, ssm state) per block.
        """
        hidden_states, cache = self.backbone.call_with_state(token_ids, cache)
        logits = self.backbone.token_embedding(hidden_states, reverse=True)
        return logits, hidden_states, cache
