"""GPT: <start> text <classify> framing, classify-token head, L = L_clf + 0.5 L_lm, save/load."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import textzoo
from textzoo.data.corpus import Split
from textzoo.models.gpt import CLASSIFY, START

from tiny_transformers import tiny_checkpoint

os.environ.setdefault("HF_HUB_OFFLINE", "1")
TINY = dict(max_length=32, epochs=1, batch_size=8, eval_batch_size=16, lr=1e-3)


@pytest.fixture(scope="module")
def r8(data_dir):
    return textzoo.load_dataset("R8", data_dir=data_dir)


@pytest.fixture(scope="module", params=["openai-gpt", "gpt2"])
def gpt_dir(request, r8, tmp_path_factory):
    return tiny_checkpoint(request.param, tmp_path_factory.mktemp(request.param), r8.train.texts[:300])


@pytest.fixture(scope="module")
def tiny_gpt(gpt_dir, r8):
    return textzoo.create("gpt", pretrained=str(gpt_dir), **TINY).fit(r8.train.head(48))


def test_defaults_are_the_papers():
    cfg = textzoo.create("gpt").config
    assert (cfg.lr, cfg.batch_size, cfg.epochs, cfg.warmup, cfg.dropout, cfg.lm_weight) == (
        6.25e-5, 32, 3, 0.002, 0.1, 0.5)


def test_special_tokens_added_and_framing(tiny_gpt, gpt_dir):
    import transformers

    base_vocab = len(transformers.AutoTokenizer.from_pretrained(gpt_dir))
    assert tiny_gpt.net.backbone.get_input_embeddings().num_embeddings == base_vocab + 2
    assert tiny_gpt.tokenizer.token_to_id(START) == tiny_gpt.special["start"] >= base_vocab
    assert tiny_gpt.tokenizer.token_to_id(CLASSIFY) == tiny_gpt.special["classify"] >= base_vocab
    (seq,) = tiny_gpt._encode(["oil prices " * 50])
    assert len(seq) == 32 and seq[0] == tiny_gpt.special["start"] and seq[-1] == tiny_gpt.special["classify"]


def test_head_reads_the_classify_token_and_lm_loss(tiny_gpt):
    seqs = tiny_gpt._encode(["oil prices rose sharply today", "wheat"])
    from textzoo.models.transformer_base import pad_batch

    ids, mask = pad_batch(seqs, tiny_gpt.special["pad"])
    with torch.no_grad():
        logits, lm_sum, n_tok = tiny_gpt._forward(ids, mask, lm=True)
        hidden = tiny_gpt.net.backbone.base_model(input_ids=ids[1:, :len(seqs[1])]).last_hidden_state
        expected = tiny_gpt.net.head.classifier(hidden[0, -1])
        torch.testing.assert_close(logits[1], expected, atol=1e-5, rtol=1e-5)  # padding changes nothing
        ref = tiny_gpt.net.backbone(input_ids=ids[:1], labels=ids[:1]).loss      # HF's own LM loss
        lm0, _, _ = None, None, None
        _, lm_first, n_first = tiny_gpt._forward(ids[:1], mask[:1], lm=True)
    assert n_tok == len(seqs[0]) - 1 + len(seqs[1]) - 1
    torch.testing.assert_close(lm_first / n_first, ref, atol=1e-5, rtol=1e-5)


def test_total_loss_weights_the_lm_term(gpt_dir, r8):
    """One update with lm_weight=0 vs 0.5 differs, and the logged loss is L_clf + 0.5 L_lm."""
    train = r8.train.head(8)
    losses = {}
    for w in (0.0, 0.5):
        m = textzoo.create("gpt", pretrained=str(gpt_dir), max_length=24, epochs=1, batch_size=8,
                           dropout=0.0, backbone_dropout=0.0, lm_weight=w, lr=1e-9, warmup=0.0)
        m.fit(train)
        losses[w] = m.history[0]["loss"]
    # recompute L_clf and L_lm at (virtually) the initial weights
    seqs = m._encode(train.texts)
    from textzoo.models.transformer_base import pad_batch

    ids, mask = pad_batch(seqs, m.special["pad"])
    with torch.no_grad():
        logits, lm_sum, n_tok = m._forward(ids, mask, lm=True)
    clf = F.cross_entropy(logits, torch.from_numpy(m.label_indices(train)))
    assert abs(losses[0.0] - float(clf)) < 1e-3
    assert abs(losses[0.5] - float(clf + 0.5 * lm_sum / n_tok)) < 1e-3


def test_save_load_identical_with_tied_lm_head(tiny_gpt, r8, tmp_path):
    texts = r8.test.texts[:10]
    before = tiny_gpt.predict_proba(texts)
    np.testing.assert_allclose(before.sum(1), 1.0, rtol=1e-5)
    loaded = textzoo.load(tiny_gpt.save(tmp_path / "run"))
    np.testing.assert_array_equal(loaded.predict_proba(texts), before)
    assert loaded.tokenizer.token_to_id(CLASSIFY) == tiny_gpt.special["classify"]


def test_gpt_multilabel(gpt_dir):
    texts = ["oil and gas", "wheat crop", "oil wheat", "gas prices"] * 4
    labels = [["oil", "gas"], ["grain"], ["oil", "grain"], ["gas"]] * 4
    model = textzoo.create("gpt", pretrained=str(gpt_dir), **TINY).fit(Split(texts, labels, "train"))
    assert model.multilabel and model.predict_proba(texts[:2]).shape == (2, 3)
