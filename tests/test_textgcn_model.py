"""TextGCN end to end on a small slice of R8: training, transductive and inductive prediction,
save/load, and the Python API of docs/design.md."""

import json

import numpy as np
import pytest

import textzoo
from textzoo.data.corpus import Corpus


@pytest.fixture(scope="module")
def small_r8(data_dir):
    corpus = textzoo.load_dataset("R8", data_dir=data_dir)
    return Corpus(name="R8-small", train=corpus.train.head(600), valid=corpus.valid.head(80),
                  test=corpus.test.head(200), labels=corpus.labels)


@pytest.fixture(scope="module")
def trained(small_r8):
    model = textzoo.create("textgcn", epochs=60, min_count=2, seed=1)
    model.fit(small_r8)
    return model


def test_learns_r8_slice(trained, small_r8):
    metrics = trained.evaluate(small_r8.test)
    # a majority-class guess (earn) scores about 0.5 here; the GCN must do far better
    majority = max(np.unique(small_r8.test.labels, return_counts=True)[1]) / len(small_r8.test)
    assert metrics["accuracy"] > majority + 0.2
    assert 0 < metrics["macro_f1"] <= 1
    assert trained.history and "val_loss" in trained.history[0]
    losses = [row["loss"] for row in trained.history]
    assert losses[-1] < losses[0]


def test_same_seed_same_model(small_r8, trained):
    again = textzoo.create("textgcn", epochs=60, min_count=2, seed=1).fit(small_r8)
    np.testing.assert_array_equal(again.predict_proba(small_r8.test.texts),
                                  trained.predict_proba(small_r8.test.texts))


def test_inductive_prediction_agrees_with_transductive(trained, small_r8):
    texts = small_r8.test.texts
    transductive = trained.predict_proba(texts).argmax(1)
    inductive = trained.predict_proba_inductive(texts).argmax(1)
    assert (transductive == inductive).mean() > 0.8


def test_unseen_text_goes_through_inductive_path(trained):
    probs = trained.predict_proba(["oil prices crude opec barrels output production"])
    assert probs.shape == (1, len(trained.labels))
    assert probs.sum() == pytest.approx(1.0, abs=1e-5)
    assert trained.predict(["crude oil opec barrels prices output"]) == ["crude"]


def test_text_with_no_known_word_gets_a_prediction(trained):
    (label,) = trained.predict(["zzzz qqqq"])
    assert label in trained.labels


def test_save_load_predicts_identically(trained, small_r8, tmp_path):
    run = trained.save(tmp_path / "run")
    assert (run / "model.safetensors").exists() and (run / "config.json").exists()
    meta = json.loads((run / "config.json").read_text())
    assert meta["model"] == "textgcn" and meta["labels"] == trained.labels
    assert not list(run.glob("*.pkl")) and not list(run.glob("*.pt"))
    loaded = textzoo.load(run)
    texts = small_r8.test.texts[:50] + ["wheat grain exports tonnes", "the company reported net profit"]
    np.testing.assert_array_equal(loaded.predict_proba(texts), trained.predict_proba(texts))
    assert loaded.history == trained.history


def test_save_replaces_previous_run_whole(trained, tmp_path):
    run = tmp_path / "run"
    trained.save(run)
    (run / "stale.txt").write_text("from an older run")
    trained.save(run)
    assert not (run / "stale.txt").exists()
    assert not list(tmp_path.glob(".run*"))  # no temporary or backup folder left behind


def test_multilabel_training_uses_sigmoid(data_dir):
    corpus = textzoo.load_dataset("reuters21578", data_dir=data_dir)
    small = Corpus(name="reuters-small", train=corpus.train.head(400), valid=corpus.valid.head(50),
                   test=corpus.test.head(100), multilabel=True)
    model = textzoo.create("textgcn", epochs=150, stopping_rule="none", min_count=2).fit(small)
    metrics = model.evaluate(small.test)
    # always answering the most frequent test label scores P@1 = 0.31 on this slice
    assert metrics["P@1"] > 0.4
    predicted = model.predict(small.test.texts[:5])
    assert all(isinstance(p, list) for p in predicted)


def test_unfitted_model_refuses_to_predict():
    with pytest.raises(RuntimeError, match="not trained"):
        textzoo.create("textgcn").predict(["text"])


def test_bad_config_values_are_refused():
    with pytest.raises(textzoo.ConfigError):
        textzoo.create("textgcn", dropout=1.5)
    with pytest.raises(textzoo.ConfigError, match="hiden"):
        textzoo.create("textgcn", hiden=3)


def test_blocked_sparse_product_equals_one_product():
    """sparse_mm takes the CPU product in column blocks: the same numbers up to float rounding
    (MKL's kernel, and so its rounding, depends on the width), gradients included, for widths that
    are and are not a multiple of the block."""
    import scipy.sparse as sp
    import torch

    from textzoo.models.textgcn import _SparseMatmul, _torch_csr, sparse_mm

    m = sp.random(300, 300, density=0.05, format="csr", random_state=np.random.default_rng(0))
    a = _torch_csr(m + m.T)
    for columns in (7, 32, 200):
        x = torch.randn(300, columns, generator=torch.Generator().manual_seed(columns))
        torch.testing.assert_close(sparse_mm(a, x, block=32), torch.sparse.mm(a, x))
        torch.testing.assert_close(sparse_mm(a, x, block=3), torch.sparse.mm(a, x))
        assert torch.allclose(sparse_mm(a, x), torch.from_numpy(((m + m.T) @ x.numpy()).astype(np.float32)), atol=1e-5)
        w = x.clone().requires_grad_()
        _SparseMatmul.apply(a, a, w).square().sum().backward()
        torch.testing.assert_close(w.grad, torch.sparse.mm(a, 2 * torch.sparse.mm(a, x)))
