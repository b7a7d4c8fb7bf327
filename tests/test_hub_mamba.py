"""keras_ssm.hub Mamba: transformers' MambaForCausalLM is the oracle of the checkpoint reader.

A subprocess (torch and transformers only: importing them after TensorFlow aborts in
LLVM) writes tiny random transformers models with `save_pretrained` (config.json and
model.safetensors, the format of state-spaces/mamba-*-hf), a byte-level BPE
tokenizer.json trained by `tokenizers`, the authors' own folder layout, and their
outputs; nothing is downloaded. Our logits must equal transformers' within 1e-4
(relative to their largest) and greedy `generate` must give its tokens, on every backend.
"""

import json
import os
import subprocess
import sys

import keras
import keras_hub
import numpy as np
import pytest

pytest.importorskip("transformers")

from keras_ssm.hub import MambaBackbone  # noqa: E402
from keras_ssm.hub import MambaCausalLM  # noqa: E402
from keras_ssm.hub import MambaCausalLMPreprocessor  # noqa: E402
from keras_ssm.hub import MambaTokenizer  # noqa: E402
from keras_ssm.hub import mamba_transformers  # noqa: E402

to_numpy = keras.ops.convert_to_numpy
TEXTS = ["state space models select", "what they keep, and forget.", "space state space"]

ORACLE = r"""
import json, os, sys
import numpy as np, torch, transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

root, texts = sys.argv[1], json.loads(sys.argv[2])
out = {}

def model(folder, seed, **config):
    # Every parameter perturbed: transformers' init leaves biases zero, A_log and D fixed.
    torch.manual_seed(seed)
    arguments = dict(vocab_size=300, hidden_size=16, state_size=4, num_hidden_layers=2)
    m = transformers.MambaForCausalLM(transformers.MambaConfig(**{**arguments, **config}))
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.1 * torch.randn_like(p))
    m.save_pretrained(folder)
    return m.eval()

ids = np.random.default_rng(0).integers(0, 300, (2, 9))
x = torch.tensor(ids)
with torch.no_grad():
    m = model(f"{root}/hf", 0)
    out["logits"] = m(x).logits.numpy().tolist()
    out["greedy"] = m.generate(x[:, :5], attention_mask=torch.ones_like(x[:, :5]),
                               max_new_tokens=6, do_sample=False).numpy().tolist()
    out["untied"] = model(f"{root}/untied", 1, tie_word_embeddings=False, use_bias=True,
                          expand=1)(x).logits.numpy().tolist()
    m = model(f"{root}/native_hf", 2)
    out["native"] = m(x).logits.numpy().tolist()
    # The authors' layout: config with d_model, pytorch_model.bin, backbone.embedding.*
    os.makedirs(f"{root}/native")
    state = {k.replace("backbone.embeddings.", "backbone.embedding."): v
             for k, v in m.state_dict().items()}
    torch.save(state, f"{root}/native/pytorch_model.bin")
with open(f"{root}/native/config.json", "w") as f:  # 297 ids padded to the 300 rows
    json.dump({"d_model": 16, "n_layer": 2, "vocab_size": 297, "pad_vocab_size_multiple": 4,
               "ssm_cfg": {"d_state": 4}}, f)
tokenizer = Tokenizer(models.BPE())
tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tokenizer.decoder = decoders.ByteLevel()
trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"],
                              initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                              show_progress=False)
tokenizer.train_from_iterator(texts * 4, trainer)
tokenizer.save(f"{root}/hf/tokenizer.json")
out["ids"] = ids.tolist()
out["encoded"] = {t: tokenizer.encode(t).ids for t in texts + ["selected spaces"]}
with open(f"{root}/oracle.json", "w") as f:
    json.dump(out, f)
"""


@pytest.fixture(scope="module")
def oracle(tmp_path_factory):
    """(root folder, transformers' outputs): folders hf/ (as the released -hf
    checkpoints, with tokenizer.json), untied/ (untied head, biases, expand 1),
    native/ (the authors' layout) and native_hf/ (the same weights for transformers)."""
    root = str(tmp_path_factory.mktemp("mamba"))
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run(
        [sys.executable, "-c", ORACLE, root, json.dumps(TEXTS)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(os.path.join(root, "oracle.json")) as file:
        return root, json.load(file)


def keras_logits(lm, token_ids):
    x = {"token_ids": token_ids.astype("int32"), "padding_mask": np.ones_like(token_ids, "int32")}
    return to_numpy(lm(x))


def assert_logits_close(got, want):
    error = np.abs(got - want).max() / np.abs(want).max()
    assert error <= 1e-4, f"logits differ from transformers' by {error:.2e} (relative)"


def test_logits_greedy_tokens_and_preset_round_trip(oracle, tmp_path):
    root, want = oracle
    lm = MambaCausalLM.from_preset(os.path.join(root, "hf"))
    assert isinstance(lm.preprocessor, MambaCausalLMPreprocessor)
    token_ids = np.array(want["ids"])
    assert_logits_close(keras_logits(lm, token_ids), np.array(want["logits"]))
    # Greedy continuation of a 5-token prompt, 6 new tokens, by transformers and by the
    # keras-hub preset saved from the loaded model.
    lm.save_to_preset(str(tmp_path))
    loaded = keras_hub.models.CausalLM.from_preset(str(tmp_path))
    assert type(loaded) is MambaCausalLM and type(loaded.backbone) is MambaBackbone
    assert isinstance(loaded.preprocessor, MambaCausalLMPreprocessor)
    tokenize = lambda model: to_numpy(model.preprocessor.tokenizer("state space"))  # noqa: E731
    np.testing.assert_array_equal(tokenize(loaded), tokenize(lm))
    loaded.compile(sampler="greedy")
    buffer = np.zeros((2, 11), "int32")
    buffer[:, :5] = token_ids[:, :5]
    inputs = {"token_ids": buffer, "padding_mask": np.arange(11)[None].repeat(2, 0) < 5}
    loaded.preprocessor = None  # token ids in, token ids out
    got = loaded.generate(inputs, stop_token_ids=None)
    np.testing.assert_array_equal(to_numpy(got["token_ids"]), want["greedy"])
    # The cache: (conv window (batch, K-1, DI), ssm state (batch, DI, N)) per block,
    # whatever the prompt length.
    cache = loaded._prefill(buffer, 5)
    assert [tuple(p.shape) for state in cache for p in state] == [(2, 3, 32), (2, 32, 4)] * 2


def test_tokenizer_json_reads_as_transformers_tokenizes(oracle):
    root, want = oracle
    ours = MambaTokenizer.from_preset(os.path.join(root, "hf"))
    for text, ids in want["encoded"].items():
        assert to_numpy(ours(text)).tolist() == ids
        assert ours.detokenize(ids) == text
    assert ours.end_token_id == ours.start_token_id == ours.pad_token_id == 0


def test_untied_head_biases_and_the_authors_folder(oracle):
    """tie_word_embeddings=False, use_bias=True and expand=1 read right; the authors' own
    layout (config with d_model, pytorch_model.bin, backbone.embedding.weight) too."""
    root, want = oracle
    token_ids = np.array(want["ids"])
    backbone = MambaBackbone.from_preset(os.path.join(root, "untied"))
    assert not backbone.tie_word_embeddings and backbone.mixers[0].inner_size == 16
    assert_logits_close(keras_logits(MambaCausalLM(backbone), token_ids), np.array(want["untied"]))
    lm = MambaCausalLM.from_preset(os.path.join(root, "native"))
    assert lm.preprocessor is None  # the authors' folders have no tokenizer.json
    assert_logits_close(keras_logits(lm, token_ids), np.array(want["native"]))


def test_reader_errors_name_the_fix(tmp_path):
    with open(tmp_path / "config.json", "w") as file:
        json.dump({"model_type": "mamba", "hidden_size": 8, "num_hidden_layers": 1}, file)
    assert mamba_transformers.is_model_folder(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        MambaBackbone.from_preset(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="tokenizer.json"):
        MambaTokenizer.from_preset(str(tmp_path))
    with pytest.raises(ValueError, match="silu"):
        mamba_transformers.backbone_arguments({"model_type": "mamba", "hidden_act": "gelu"})
