"""The original GPT release's format (openai/finetune-transformer-lm ``model/``) converted and used.

The test writes a tiny release the way the release's files are laid out (shapes list, flat values
cut into 10 shards, BPE vocabulary and merges) and checks the converted checkpoint against a NumPy
forward pass written from the release's ``train.py`` (post-layer-norm blocks, tanh GELU, causal
attention scaled by the square root of the head size, LM logits on the tied token embeddings).
"""

from __future__ import annotations

import json
import math
import string

import numpy as np
import pytest
import torch

import textzoo
from textzoo.errors import ModelFileError
from textzoo.models.gpt_release import convert_release, converted_release, is_release

N_CTX, N_EMBD, N_HEAD, N_LAYER = 16, 24, 12, 2  # the release's 12 heads (its files do not record them)


def _vocab_and_merges():
    letters = list(string.ascii_lowercase) + list(".,!?'-")
    tokens = letters + [c + "</w>" for c in letters]
    merges = [("t", "h"), ("th", "e</w>"), ("i", "n"), ("a", "n"), ("an", "d</w>")]
    tokens += ["th", "the</w>", "in", "an", "and</w>"]
    return {t: i for i, t in enumerate(tokens)}, merges


def write_release(folder, seed=0):
    """A tiny release in the original layout; returns its parameters in the release's order."""
    rng = np.random.default_rng(seed)
    vocab, merges = _vocab_and_merges()
    shapes = [[N_CTX, N_EMBD], [len(vocab), N_EMBD]]
    for _ in range(N_LAYER):
        shapes += [[1, N_EMBD, 3 * N_EMBD], [3 * N_EMBD], [1, N_EMBD, N_EMBD], [N_EMBD], [N_EMBD], [N_EMBD],
                   [1, N_EMBD, 4 * N_EMBD], [4 * N_EMBD], [1, 4 * N_EMBD, N_EMBD], [N_EMBD], [N_EMBD], [N_EMBD]]
    params = [rng.normal(0, 0.3, s).astype(np.float32) for s in shapes]
    for layer in range(N_LAYER):  # layer-norm gains near 1
        for k in (4, 10):
            params[2 + 12 * layer + k] += 1.0
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "params_shapes.json").write_text(json.dumps(shapes))
    for n, piece in enumerate(np.array_split(np.concatenate([p.ravel() for p in params]), 10)):
        np.save(folder / f"params_{n}.npy", piece)
    (folder / "encoder_bpe_40000.json").write_text(json.dumps(vocab))
    (folder / "vocab_40000.bpe").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    return params, vocab


def reference_logits(params, ids):
    """The release's forward pass (train.py's ``model``/``block``/``attn``/``mlp``/``norm``) in NumPy."""
    pos, we = params[0], params[1]
    h = we[ids] + pos[np.arange(len(ids))]

    def norm(x, g, b):
        u = x.mean(-1, keepdims=True)
        s = ((x - u) ** 2).mean(-1, keepdims=True)
        return (x - u) / np.sqrt(s + 1e-5) * g + b

    def gelu(x):
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))

    n, d = len(ids), N_EMBD // N_HEAD
    causal = np.tril(np.ones((n, n)))
    for layer in range(N_LAYER):
        w = params[2 + 12 * layer: 2 + 12 * (layer + 1)]
        c = h @ w[0][0] + w[1]
        q, k, v = (x.reshape(n, N_HEAD, d).transpose(1, 0, 2) for x in np.split(c, 3, axis=-1))
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(d)
        scores = scores * causal - 1e9 * (1 - causal)
        att = np.exp(scores - scores.max(-1, keepdims=True))
        att /= att.sum(-1, keepdims=True)
        a = (att @ v).transpose(1, 0, 2).reshape(n, N_EMBD) @ w[2][0] + w[3]
        nrm = norm(h + a, w[4], w[5])
        m = gelu(nrm @ w[6][0] + w[7]) @ w[8][0] + w[9]
        h = norm(nrm + m, w[10], w[11])
    return h @ we.T


def test_converted_release_computes_the_release_forward_pass(tmp_path):
    import transformers

    params, vocab = write_release(tmp_path / "model")
    assert is_release(tmp_path / "model") and not is_release(tmp_path)
    out = convert_release(tmp_path / "model", tmp_path / "hf")
    net = transformers.AutoModelForCausalLM.from_pretrained(out).eval()
    ids = np.array([vocab["the</w>"], vocab["c"], vocab["a"], vocab["t</w>"], vocab["and</w>"], vocab["i"]])
    with torch.no_grad():
        got = net(torch.from_numpy(ids)[None]).logits[0].numpy()
    np.testing.assert_allclose(got, reference_logits(params, ids), rtol=1e-4, atol=1e-4)

    tok = transformers.AutoTokenizer.from_pretrained(out)
    assert tok.is_fast
    assert tok.convert_ids_to_tokens(tok("The cat AND ink")["input_ids"]) == ["the</w>", "c", "a", "t</w>",
                                                                              "and</w>", "in", "k</w>"]


def test_gpt_fine_tunes_from_a_release_folder(tmp_path, monkeypatch, data_dir):
    monkeypatch.setenv("TEXTZOO_CACHE", str(tmp_path / "cache"))
    write_release(tmp_path / "model")
    r8 = textzoo.load_dataset("R8", data_dir=data_dir)
    model = textzoo.create("gpt", pretrained=str(tmp_path / "model"), max_length=N_CTX, epochs=1, batch_size=16)
    model.fit(r8.train.head(32))
    converted = converted_release(tmp_path / "model")  # converted once, into the cache
    assert converted.parent == tmp_path / "cache" / "converted" and (converted / "model.safetensors").is_file()
    assert model.predict(["oil prices rose"])[0] in r8.labels
    again = textzoo.create("gpt", pretrained=str(tmp_path / "model"), max_length=N_CTX, epochs=1, batch_size=16)
    again.fit(r8.train.head(32))  # the same cached conversion: the same start, the same model
    np.testing.assert_allclose(again.predict_proba(["oil prices rose"]), model.predict_proba(["oil prices rose"]),
                               rtol=1e-5, atol=1e-6)


def test_a_broken_release_names_the_file(tmp_path):
    write_release(tmp_path / "model")
    (tmp_path / "model" / "params_9.npy").unlink()
    with pytest.raises(ModelFileError, match="the shards hold"):
        convert_release(tmp_path / "model", tmp_path / "hf")
    (tmp_path / "model" / "params_3.npy").unlink()
    with pytest.raises(ModelFileError, match="params_0.npy, params_1.npy"):
        convert_release(tmp_path / "model", tmp_path / "hf")
    assert not (tmp_path / "hf").exists()
