"""X-Transformer interrupted in every stage (indexer, matcher fine-tuning, ranker) and resumed each
time ends with the uninterrupted run's model; a resumed run skips the stages its checkpoint finished."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

import textzoo

from interrupt import fit_with_interruptions, without_seconds

os.environ.setdefault("HF_HUB_OFFLINE", "1")
TINY = dict(max_length=32, epochs=1, batch_size=8, eval_batch_size=16, lr=1e-3, tfidf_min_df=1,
            ranker_max_iter=200, cluster_size=20, beam_size=4)



@pytest.mark.parametrize("representation", ["pifa-tfidf", "pifa-neural"])
def test_interrupted_xtransformer_resumes_to_the_same_model(reuters, reuters_bert_dir, tmp_path, monkeypatch,
                                                            representation):
    from textzoo.xmc import indexer

    train = reuters.train.head(80)  # 10 updates; a checkpoint after 4 and 8, at the epoch end, after each stage
    settings = dict(pretrained=str(reuters_bert_dir), label_representation=representation, checkpoint_steps=4, **TINY)
    whole = textzoo.create("xtransformer", **settings).fit(train, labels=reuters.labels)
    indexings = []
    real_kmeans = indexer.balanced_hierarchical_kmeans
    monkeypatch.setattr("textzoo.models.xtransformer.balanced_hierarchical_kmeans",
                        lambda *a, **kw: indexings.append(1) or real_kmeans(*a, **kw))
    model, resumes = fit_with_interruptions(
        monkeypatch, lambda: textzoo.create("xtransformer", **settings),
        lambda m, resume: m.fit(train, labels=reuters.labels, checkpoint_dir=tmp_path / "ck", resume=resume),
        every=1)
    # killed after every checkpoint: resumed after indexing, twice inside the epoch, at its end, after
    # the matcher and after the ranker; the labels were clustered once
    assert model.info["resumed_at"] == ["indexer", [0, 4], [0, 8], [1, 0], "matcher", "ranker"]
    assert resumes == 6 and len(indexings) == 1
    assert np.array_equal(model.index.assign, whole.index.assign)
    drop = lambda rows: [{k: v for k, v in r.items() if k != "train_tokens_per_s"} for r in without_seconds(rows)]
    assert drop(model.history) == drop(whole.history)
    for (name, p), (_, q) in zip(model.net.state_dict().items(), whole.net.state_dict().items()):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-6, msg=name)
    assert model.ranker.shape == whole.ranker.shape
    np.testing.assert_allclose(model.ranker.toarray(), whole.ranker.toarray(), atol=1e-5)
    texts = reuters.test.texts[:8]
    np.testing.assert_allclose(model.predict_proba(texts), whole.predict_proba(texts), atol=1e-5)


@pytest.mark.parametrize("name,settings", [
    ("xtransformer", ["epochs=1", "cluster_size=20", "beam_size=4", "tfidf_min_df=1", "ranker_max_iter=200"]),
    ("lightxml", ["feature_layers=2", "hidden_dim=16", "swa_warmup=0", "swa_step=2", "epochs=2"]),
])
def test_textzoo_train_resume_continues_an_interrupted_xmc_run(reuters, reuters_bert_dir, tmp_path, monkeypatch,
                                                               name, settings):
    """``textzoo train lightxml|xtransformer --resume`` after interruptions saves the same model."""
    import csv

    from textzoo.cli import main

    for split, split_name, n in [(reuters.train, "train", 56), (reuters.test, "test", 16)]:
        with open(tmp_path / f"{split_name}.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "label"])
            writer.writerows((t, "|".join(ls)) for t, ls in zip(split.texts[:n], split.labels[:n]))
    sets = [f"pretrained={reuters_bert_dir}", "max_length=32", "batch_size=8", "eval_batch_size=16",
            "lr=1e-3", "checkpoint_steps=2", *settings]
    args = ["-q", "train", name, "--train", str(tmp_path / "train.csv"), "--test", str(tmp_path / "test.csv"),
            "--label-sep", "|", "--seed", "3", *[a for s in sets for a in ("--set", s)]]
    assert main(args + ["--out", str(tmp_path / "whole")]) == 0
    _, resumes = fit_with_interruptions(
        monkeypatch, lambda: None,
        lambda _, resume: main(args + ["--out", str(tmp_path / "resumed")] + (["--resume"] if resume else [])),
        every=2)
    assert resumes >= 2 and not (tmp_path / "resumed" / "checkpoints").exists()
    whole, resumed = textzoo.load(tmp_path / "whole"), textzoo.load(tmp_path / "resumed")
    assert len(resumed.info["resumed_at"]) == resumes
    texts = reuters.test.texts[:8]
    np.testing.assert_allclose(resumed.predict_proba(texts), whole.predict_proba(texts), atol=1e-5)
