"""LightXML: dynamic negative sampling keeps the true labels; tiny end-to-end runs on Reuters-21578."""

from __future__ import annotations

import os

import numpy as np
import pytest
import scipy.sparse as sp
import torch

import textzoo
from textzoo.models.lightxml import LightXMLHead, candidate_targets, sample_true_groups
from textzoo.xmc import ClusterIndex


os.environ.setdefault("HF_HUB_OFFLINE", "1")
TINY = dict(max_length=32, epochs=2, batch_size=8, eval_batch_size=16, lr=1e-3, feature_layers=2,
            hidden_dim=16, swa_warmup=1, swa_step=2)



def test_negative_sampler_always_holds_the_true_labels():
    rng = np.random.default_rng(0)
    n_labels, size = 300, 10
    index = ClusterIndex(assign=rng.permutation(np.arange(n_labels) % 32), n_clusters=32)
    members = torch.from_numpy(index.members().copy())
    head = LightXMLHead(8, n_labels, 0.0, members, 4)
    for trial in range(20):
        y = sp.csr_matrix((rng.random((16, n_labels)) < 0.02 * (1 + trial % 3)).astype(np.float32))
        groups = sample_true_groups(y, index.assign, index.n_clusters)
        logits = torch.randn(16, index.n_clusters) * 5  # a generator that ranks the truth anywhere
        k = max(3, int(groups.sum(1).max()))
        _, cand, _ = head.candidates(logits, k, groups)
        target = candidate_targets(y, cand.numpy(), n_labels)
        # every true label of every document is a candidate, with target 1
        for i in range(16):
            truth = set(y[i].indices.tolist())
            picked = set(cand[i][target[i] > 0].tolist())
            assert truth == picked and truth <= set(cand[i].tolist())
        assert target.sum() == y.nnz
    # without the true-cluster indicator (prediction), the top-k follows the generator alone
    logits = (torch.arange(32.0) / 10).repeat(2, 1)
    top, _, _ = head.candidates(logits, 3)
    assert top.tolist() == [[31, 30, 29]] * 2


def test_tiny_lightxml_flat_fit_predict_save_load(reuters, reuters_bert_dir, tmp_path):
    train = reuters.train.head(48)
    model = textzoo.create("lightxml", pretrained=str(reuters_bert_dir), **TINY)
    model.fit(train, reuters.valid.head(16), labels=reuters.labels)
    assert not model.net.head.clustered and model.net.head.l0.out_features == 394
    assert model.net.head.l0.in_features == 2 * 32  # [CLS] of the last 2 layers of the tiny BERT
    assert [row["epoch"] for row in model.history] == [1, 2] and model.history[-1]["swa_averages"] >= 1
    probs = model.predict_proba(reuters.test.texts[:5])
    assert probs.shape == (5, 394) and np.all((probs >= 0) & (probs <= 1))
    metrics = model.evaluate(reuters.test.head(20))
    assert 0.0 <= metrics["P@1"] <= 1.0
    model.save(tmp_path / "run")
    again = textzoo.load(tmp_path / "run")
    np.testing.assert_allclose(again.predict_proba(reuters.test.texts[:5]), probs, atol=1e-6)


def test_tiny_lightxml_clustered_fit_predict_save_load(reuters, reuters_bert_dir, tmp_path):
    train = reuters.train.head(64)
    model = textzoo.create("lightxml", pretrained=str(reuters_bert_dir), clusters="on", cluster_size=20, topk=3, **TINY)
    model.fit(train, labels=reuters.labels)
    head = model.net.head
    assert head.clustered and head.members.shape == (32, 13) and model.info["clusters"] == 32
    probs = model.predict_proba(reuters.test.texts[:6])
    # only the labels of the top-3 clusters get a score, each sigmoid(label) * sigmoid(cluster)
    assert probs.shape == (6, 394) and ((probs > 0).sum(1) <= 3 * 13).all() and probs.max() <= 1
    model.save(tmp_path / "run")
    again = textzoo.load(tmp_path / "run")
    assert torch.equal(again.net.head.members, head.members)
    np.testing.assert_allclose(again.predict_proba(reuters.test.texts[:6]), probs, atol=1e-6)


@pytest.mark.parametrize("clusters", ["off", "on"])
def test_interrupted_lightxml_resumes_to_the_same_model(reuters, reuters_bert_dir, tmp_path, monkeypatch, clusters):
    """Killed (an exception right after a checkpoint is written) inside epochs, at epoch ends and
    after the last epoch, and resumed each time: the same SWA model, history and scores."""
    from interrupt import fit_with_interruptions, without_seconds
    from textzoo.training import checkpoint as ckpt

    train, valid = reuters.train.head(48), reuters.valid.head(16)
    settings = dict(pretrained=str(reuters_bert_dir), clusters=clusters, cluster_size=20, topk=3, checkpoint_steps=2, **TINY)
    whole = textzoo.create("lightxml", **settings).fit(train, valid, labels=reuters.labels)
    seen = []
    real_load = ckpt.load_checkpoint
    monkeypatch.setattr(ckpt, "load_checkpoint", lambda folder: seen.append(real_load(folder)) or seen[-1])
    model, resumes = fit_with_interruptions(
        monkeypatch, lambda: textzoo.create("lightxml", **settings),
        lambda m, resume: m.fit(train, valid, labels=reuters.labels, checkpoint_dir=tmp_path / "ck",
                                resume=resume), every=2)
    # 6 updates an epoch, a checkpoint every 2 and at each epoch end: resumed inside an epoch and after it
    assert resumes >= 3 and [e for e, _ in model.info["resumed_at"]][:2] == [0, 1]
    assert model.info["resumed_at"][0][1] > 0 and model.info["resumed_at"][-1] == [2, 0]
    assert len(seen) == resumes and all("swa.n_averaged" in tensors for tensors, _ in seen)
    drop = lambda rows: [{k: v for k, v in r.items() if k != "train_tokens_per_s"} for r in without_seconds(rows)]
    assert drop(model.history) == drop(whole.history) and model.history[-1]["swa_averages"] >= 1
    texts = reuters.test.texts[:8]
    np.testing.assert_allclose(model.predict_proba(texts), whole.predict_proba(texts), atol=1e-6)
    for (name, p), (_, q) in zip(model.net.state_dict().items(), whole.net.state_dict().items()):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-6, msg=name)
