"""The `elmo` classifier: fit / predict / save / load on a slice of MR with the fixture biLM."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

pytest.importorskip("h5py")

import textzoo  # noqa: E402
from textzoo.data.corpus import Split  # noqa: E402
from textzoo.errors import ConfigError  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _slice(split: Split, n: int) -> Split:
    idx = random.Random(0).sample(range(len(split)), n)
    return Split(texts=[split.texts[i] for i in idx], labels=[split.labels[i] for i in idx], name=split.name)


@pytest.fixture(scope="module")
def mr(data_dir):
    corpus = textzoo.load_dataset("mr", data_dir=data_dir)
    return _slice(corpus.train, 300), _slice(corpus.valid, 60), _slice(corpus.test, 100)


SMALL = {"epochs": 2, "hidden": 16, "word_dim": 16, "progress": False}


@pytest.mark.parametrize("features,elmo_output", [("elmo+words", True), ("elmo", False), ("words", False)])
def test_fit_predict_save_load(mr, data_dir, tmp_path, features, elmo_output):
    train, valid, test = mr
    model = textzoo.create("elmo", pretrained=str(data_dir / "elmo-fixture"), features=features,
                           elmo_output=elmo_output, **SMALL)
    model.fit(train, valid)
    assert len(model.history) == 2 and "val_loss" in model.history[0]
    probs = model.predict_proba(test.texts)
    assert probs.shape == (100, 2) and np.allclose(probs.sum(1), 1, atol=1e-5)
    metrics = model.evaluate(test)
    assert 0 <= metrics["accuracy"] <= 1
    model.save(tmp_path / "run")
    loaded = textzoo.load(tmp_path / "run")
    assert np.array_equal(loaded.predict_proba(test.texts), probs)
    assert loaded.predict(["an utterly new , unseen text"])[0] in ("0", "1")
    if features != "words":
        # the frozen biLM is unchanged by training
        fixture = textzoo.models.elmo_bilm.load_release(data_dir / "elmo-fixture")
        for (name, a), (_, b) in zip(fixture.state_dict().items(), loaded.bilm.state_dict().items()):
            assert torch.equal(a, b), name


def test_caches_do_not_change_predictions(mr, data_dir):
    train, valid, test = mr
    kw = dict(pretrained=str(data_dir / "elmo-fixture"), **SMALL)
    a = textzoo.create("elmo", **kw).fit(train, valid)
    b = textzoo.create("elmo", cache_token_embeddings=False, cache_activations=False, **kw).fit(train, valid)
    assert np.allclose(a.predict_proba(test.texts), b.predict_proba(test.texts), atol=1e-4)


def test_missing_biLM_explains_how_to_make_one(mr):
    train, valid, _ = mr
    with pytest.raises(ConfigError, match="textzoo pretrain elmo"):
        textzoo.create("elmo").fit(train, valid)


def test_interrupted_training_resumes_to_the_same_model(mr, data_dir, tmp_path, monkeypatch):
    """Interrupted after checkpoints (an exception stands in for the kill) and resumed each time, the
    run ends with the uninterrupted run's history and predictions (batch order, dropout, Adam, best
    epoch all restored)."""
    from interrupt import fit_with_interruptions, without_seconds

    train, valid, test = mr
    kw = dict(pretrained=str(data_dir / "elmo-fixture"), **{**SMALL, "epochs": 5, "patience": 10}, seed=4)
    reference = textzoo.create("elmo", **kw).fit(train, valid)
    model, resumes = fit_with_interruptions(
        monkeypatch, lambda: textzoo.create("elmo", **kw),
        lambda m, resume: m.fit(train, valid, checkpoint_dir=tmp_path / "ck", resume=resume), every=2)
    assert resumes >= 2 and model.info["resumed_at"][0] > 0
    assert without_seconds(model.history) == without_seconds(reference.history)
    np.testing.assert_array_equal(model.predict_proba(test.texts), reference.predict_proba(test.texts))
