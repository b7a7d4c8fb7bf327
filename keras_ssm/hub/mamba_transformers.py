"""Read a Mamba checkpoint folder of Hugging Face transformers (or of the authors' code).

The released models (state-spaces/mamba-130m-hf ... mamba-2.8b-hf) are folders with

- config.json: "model_type": "mamba", hidden_size, num_hidden_layers, state_size,
  intermediate_size (= expand · hidden_size), conv_kernel, time_step_rank, use_bias,
  use_conv_bias, layer_norm_epsilon, vocab_size, tie_word_embeddings (residual_in_fp32
  only matters in half precision; here the residual has the compute dtype);
- model.safetensors (or pytorch_model.bin; sharded files with a *.index.json), the torch
  weights `backbone.embeddings.weight`, `backbone.layers.{i}.norm.weight`,
  `backbone.layers.{i}.mixer.{in_proj, conv1d, x_proj, dt_proj, out_proj}.*`,
  `...mixer.A_log`, `...mixer.D`, `backbone.norm_f.weight` (and `lm_head.weight` when
  untied);
- tokenizer.json: the GPT-NeoX byte-level BPE (vocabulary, merges, added tokens).

The authors' own folders (config.json with d_model, n_layer, ssm_cfg; pytorch_model.bin
with `backbone.embedding.weight`) are read too. Nothing is downloaded: give a local
folder. safetensors files are read here with numpy alone; pytorch_model.bin needs torch.
"""

import json
import math
import os
import struct

import numpy as np

CONFIG = "config.json"
TOKENIZER = "tokenizer.json"
_SAFETENSORS_DTYPES = {
    "F64": "<f8",
    "F32": "<f4",
    "F16": "<f2",
    "BF16": "<u2",
    "I64": "<i8",
    "I32": "<i4",
    "I16": "<i2",
    "I8": "i1",
    "U8": "u1",
    "BOOL": "?",
}


def read_config(folder):
    """The dict of `folder`'s config.json."""
    with open(os.path.join(folder, CONFIG), encoding="utf-8") as file:
        return json.load(file)


def is_model_folder(preset):
    """True when `preset` is a local folder with a Mamba config.json (transformers' or
    the authors'), which keras-hub's own loaders do not read.

    Example:

    ```python
    from keras_ssm.hub import mamba_transformers
    mamba_transformers.is_model_folder("no/such/folder")      # False
    ```
    """
    if not isinstance(preset, (str, os.PathLike)) or not os.path.isdir(preset):
        return False
    if not os.path.exists(os.path.join(preset, CONFIG)):
        return False
    config = read_config(preset)
    return config.get("model_type") == "mamba" or _is_native(config)


def _is_native(config):
    """The authors' MambaConfig (mamba_ssm): d_model, n_layer, ssm_cfg, no model_type."""
    return "model_type" not in config and "d_model" in config and "n_layer" in config


def _rank(rank, hidden):
    return math.ceil(hidden / 16) if rank in (None, "auto") else int(rank)


def backbone_arguments(config):
    """`MambaBackbone` arguments from a config.json dict (transformers' or the authors').

    Raises:
        ValueError: a model this reader does not build (LayerNorm instead of RMSNorm,
            attention or MLP layers, another activation), naming the key.

    Example:

    ```python
    from keras_ssm.hub.mamba_transformers import backbone_arguments
    backbone_arguments({"model_type": "mamba", "vocab_size": 50280, "hidden_size": 768,
                        "num_hidden_layers": 24})["hidden_dim"]       # 768
    ```
    """
    if _is_native(config):
        ssm = dict(config.get("ssm_cfg") or {})
        if ssm.pop("layer", "Mamba1") != "Mamba1" or config.get("attn_layer_idx"):
            raise ValueError("Only Mamba-1 stacks are read (ssm_cfg 'layer', attn_layer_idx).")
        if config.get("d_intermediate", 0) or not config.get("rms_norm", True):
            raise ValueError("Only d_intermediate = 0 and rms_norm = true models are read.")
        hidden = int(config["d_model"])
        multiple = int(config.get("pad_vocab_size_multiple", 8))
        vocabulary = int(config["vocab_size"])
        vocabulary += (-vocabulary) % multiple
        return dict(
            vocabulary_size=vocabulary,
            hidden_dim=hidden,
            num_layers=int(config["n_layer"]),
            state_size=int(ssm.get("d_state", 16)),
            expand=ssm.get("expand", 2),
            conv_kernel=int(ssm.get("d_conv", 4)),
            dt_rank=_rank(ssm.get("dt_rank"), hidden),
            use_bias=bool(ssm.get("bias", False)),
            use_conv_bias=bool(ssm.get("conv_bias", True)),
            layer_norm_epsilon=float(config.get("norm_epsilon", 1e-5)),
            tie_word_embeddings=bool(config.get("tie_embeddings", True)),
        )
    if config.get("hidden_act", "silu") != "silu":
        raise ValueError(f"Mamba's activation is silu, config.json has {config['hidden_act']!r}.")
    hidden = int(config.get("hidden_size", 768))
    inner = int(config.get("intermediate_size", int(config.get("expand", 2) * hidden)))
    expand = inner // hidden if inner % hidden == 0 else inner / hidden
    if round(expand * hidden) != inner:
        raise ValueError(f"intermediate_size {inner} is not a multiple of hidden_size {hidden}.")
    return dict(
        vocabulary_size=int(config.get("vocab_size", 50280)),
        hidden_dim=hidden,
        num_layers=int(config.get("num_hidden_layers", 32)),
        state_size=int(config.get("state_size", 16)),
        expand=expand,
        conv_kernel=int(config.get("conv_kernel", 4)),
        dt_rank=_rank(config.get("time_step_rank"), hidden),
        use_bias=bool(config.get("use_bias", False)),
        use_conv_bias=bool(config.get("use_conv_bias", True)),
        layer_norm_epsilon=float(config.get("layer_norm_epsilon", 1e-5)),
        tie_word_embeddings=bool(config.get("tie_word_embeddings", True)),
    )


# ----------------------------------------------------------------------------------------
# weights


def read_safetensors(path):
    """{name: numpy array} of a .safetensors file (bfloat16 widened to float32).

    The format: an 8-byte little-endian header length, a JSON header {name: {"dtype",
    "shape", "data_offsets"}}, then the raw little-endian data. Arrays are memory-mapped.
    """
    with open(path, "rb") as file:
        (size,) = struct.unpack("<Q", file.read(8))
        header = json.loads(file.read(size))
    data = np.memmap(path, dtype="u1", mode="r", offset=8 + size)
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] not in _SAFETENSORS_DTYPES:
            raise ValueError(f"{path}: tensor {name!r} has unsupported dtype {info['dtype']}.")
        start, end = info["data_offsets"]
        array = data[start:end].view(_SAFETENSORS_DTYPES[info["dtype"]]).reshape(info["shape"])
        if info["dtype"] == "BF16":  # the upper 16 bits of a float32
            array = (array.astype("<u4") << 16).view("<f4")
        tensors[name] = array
    return tensors


def _read_torch(path):
    try:
        import torch
    except ImportError:
        raise ImportError(
            f"{path} is a PyTorch pickle: reading it needs torch (pip install torch), or "
            "convert the folder to model.safetensors, which is read without it."
        ) from None
    state = torch.load(path, map_location="cpu", weights_only=True)
    return {name: tensor.float().numpy() for name, tensor in state.items()}


def read_weights(folder):
    """{name: numpy array} of every weight file in `folder` (single or sharded).

    Raises:
        FileNotFoundError: no model.safetensors, pytorch_model.bin or index in the folder.
    """
    for weights, index, read in (
        ("model.safetensors", "model.safetensors.index.json", read_safetensors),
        ("pytorch_model.bin", "pytorch_model.bin.index.json", _read_torch),
    ):
        if os.path.exists(os.path.join(folder, weights)):
            return read(os.path.join(folder, weights))
        if os.path.exists(os.path.join(folder, index)):
            with open(os.path.join(folder, index), encoding="utf-8") as file:
                shards = sorted(set(json.load(file)["weight_map"].values()))
            tensors = {}
            for shard in shards:
                tensors.update(read(os.path.join(folder, shard)))
            return tensors
    raise FileNotFoundError(
        f"No model.safetensors or pytorch_model.bin (nor a sharded index) in {folder}; "
        "download the model's weight files into it."
    )


def _take(tensors, name):
    if name not in tensors:
        raise ValueError(f"The checkpoint has no weight {name!r}.")
    return np.asarray(tensors.pop(name), "float32")


def assign_weights(backbone, tensors):
    """Copy the torch weights into a `MambaBackbone` (Dense kernels transposed, the
    depthwise conv (DI, 1, K) to (K, DI)).

    Raises:
        ValueError: a missing weight, a shape that differs, or weights left unread.
    """
    tensors = dict(tensors)
    for old in [k for k in tensors if "backbone.embedding." in k]:  # the authors' spelling
        tensors[old.replace("backbone.embedding.", "backbone.embeddings.")] = tensors.pop(old)
    pairs = [(backbone.token_embedding.embeddings, _take(tensors, "backbone.embeddings.weight"))]
    head = tensors.pop("lm_head.weight", None)
    if not backbone.tie_word_embeddings:
        if head is None:
            raise ValueError("tie_word_embeddings is false but there is no lm_head.weight.")
        pairs.append((backbone.token_embedding.reverse_embeddings, np.asarray(head).T))
    for i, block in enumerate(backbone.mamba_blocks):
        prefix = f"backbone.layers.{i}."
        mixer = block.ssm
        take = lambda name, p=prefix: _take(tensors, p + name)  # noqa: E731
        pairs += [
            (block.norm_layer.scale, take("norm.weight")),
            (mixer.in_proj_kernel, take("mixer.in_proj.weight").T),
            (mixer.conv1d_kernel, take("mixer.conv1d.weight")[:, 0, :].T),
            (mixer.x_proj_kernel, take("mixer.x_proj.weight").T),
            (mixer.dt_proj_kernel, take("mixer.dt_proj.weight").T),
            (mixer.dt_bias, take("mixer.dt_proj.bias")),
            (mixer.A_log, take("mixer.A_log")),
            (mixer.D, take("mixer.D")),
            (mixer.out_proj_kernel, take("mixer.out_proj.weight").T),
        ]
        if mixer.use_conv_bias:
            pairs.append((mixer.conv1d_bias, take("mixer.conv1d.bias")))
        if mixer.use_bias:
            pairs.append((mixer.in_proj_bias, take("mixer.in_proj.bias")))
            pairs.append((mixer.out_proj_bias, take("mixer.out_proj.bias")))
    pairs.append((backbone.final_norm.scale, _take(tensors, "backbone.norm_f.weight")))
    if tensors:
        raise ValueError(f"Weights the model has no place for: {sorted(tensors)[:8]}.")
    for variable, value in pairs:
        if tuple(variable.shape) != value.shape:
            raise ValueError(
                f"{variable.path} has shape {tuple(variable.shape)}, the checkpoint "
                f"{value.shape}: the config.json does not describe these weights."
            )
        variable.assign(value)


# ----------------------------------------------------------------------------------------
# the tokenizer


def has_tokenizer(folder):
    """True when `folder` has a tokenizer.json."""
    return os.path.exists(os.path.join(folder, TOKENIZER))


def tokenizer_arguments(folder):
    """`MambaTokenizer` arguments from `folder`'s tokenizer.json: the vocabulary (added
    tokens included), the merges ("a b" strings), the added tokens kept whole.

    Raises:
        FileNotFoundError: no tokenizer.json (the authors' folders have none: they use
            the GPT-NeoX-20B tokenizer, whose tokenizer.json can be copied in).
    """
    path = os.path.join(folder, TOKENIZER)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"No {TOKENIZER} in {folder}: copy the GPT-NeoX-20B tokenizer.json there "
            "(EleutherAI/gpt-neox-20b, the tokenizer of the released Mamba models)."
        )
    with open(path, encoding="utf-8") as file:
        spec = json.load(file)
    model = spec["model"]
    if model.get("type", "BPE") != "BPE":
        raise ValueError(f"{path} holds a {model.get('type')} model; a BPE one is read.")
    vocabulary = dict(model["vocab"])
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    added = []
    for token in spec.get("added_tokens", []):
        vocabulary[token["content"]] = int(token["id"])
        added.append(token["content"])
    return dict(vocabulary=vocabulary, merges=merges, unsplittable_tokens=added)
