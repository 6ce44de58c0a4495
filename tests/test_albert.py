"""ALBERT: BERT's pooled head on a tiny local ALBERT checkpoint, both losses, save/load."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

import textzoo
from textzoo.data.corpus import Split

from tiny_transformers import tiny_checkpoint

os.environ.setdefault("HF_HUB_OFFLINE", "1")
TINY = dict(max_length=32, epochs=2, batch_size=8, eval_batch_size=16, lr=2e-3)


@pytest.fixture(scope="module")
def r8(data_dir):
    return textzoo.load_dataset("R8", data_dir=data_dir)


@pytest.fixture(scope="module")
def albert_dir(r8, tmp_path_factory):
    return tiny_checkpoint("albert", tmp_path_factory.mktemp("tiny-albert"), r8.train.texts[:300])


def test_albert_head_loss_and_save_load(albert_dir, r8, tmp_path):
    model = textzoo.create("albert", pretrained=str(albert_dir), **TINY).fit(r8.train.head(64))
    backbone = model.net.backbone
    assert type(backbone).__name__ == "AlbertModel"
    assert backbone.config.embedding_size == 16 and backbone.pooler is not None  # factorised E, pooler
    assert model.net.head.own_pooler is None
    assert model.history[-1]["loss"] < model.history[0]["loss"] + 1e-6 or np.isfinite(model.history[-1]["loss"])
    texts = r8.test.texts[:12]
    before = model.predict_proba(texts)
    np.testing.assert_allclose(before.sum(1), 1.0, rtol=1e-5)
    loaded = textzoo.load(model.save(tmp_path / "run"))
    np.testing.assert_array_equal(loaded.predict_proba(texts), before)


def test_albert_multilabel(albert_dir):
    texts = ["oil and gas", "wheat crop", "oil wheat", "gas prices"] * 4
    labels = [["oil", "gas"], ["grain"], ["oil", "grain"], ["gas"]] * 4
    model = textzoo.create("albert", pretrained=str(albert_dir), **TINY).fit(Split(texts, labels, "train"))
    probs = model.predict_proba(texts[:4])
    assert model.multilabel and probs.shape == (4, 3)
    assert ((probs > 0) & (probs < 1)).all()


def test_random_init_keeps_the_architecture(albert_dir, r8):
    model = textzoo.create("albert", pretrained=str(albert_dir), random_init=True, **TINY)
    model.fit(r8.train.head(16))
    import transformers

    pretrained = transformers.AutoModel.from_pretrained(albert_dir)
    w = model.net.backbone.embeddings.word_embeddings.weight
    assert w.shape == pretrained.embeddings.word_embeddings.weight.shape
    assert not torch.allclose(w, pretrained.embeddings.word_embeddings.weight)
