"""`textzoo export --format onnx`: the exported graphs, run by onnxruntime, give PyTorch's scores
(within 1e-4) on a test slice, for the Transformer models and TextGCN's inductive predictor."""

import json
import os

import numpy as np
import pytest
import torch

import textzoo
from textzoo.cli import main
from textzoo.export import exportable_models, onnx_inputs

from tiny_transformers import tiny_checkpoint

ort = pytest.importorskip("onnxruntime")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
TINY = dict(max_length=32, epochs=1, batch_size=8, eval_batch_size=16, lr=1e-3)


@pytest.fixture(scope="module")
def r8(data_dir):
    return textzoo.load_dataset("R8", data_dir=data_dir)


@pytest.fixture(scope="module")
def test_texts(r8):
    """A test slice of very different lengths (some cut by max_length), unseen by the models."""
    return r8.test.texts[:40]


def run_session(path, inputs):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == list(inputs)
    (probs,) = session.run(["probabilities"], inputs)
    return probs


@pytest.mark.parametrize("name, kind", [("bert", "bert"), ("albert", "albert"), ("gpt", "openai-gpt")])
def test_transformer_export_matches_pytorch(name, kind, r8, test_texts, tmp_path):
    folder = tiny_checkpoint(kind, tmp_path / "ckpt", r8.train.texts[:200])
    model = textzoo.create(name, pretrained=str(folder), **TINY).fit(r8.train.head(32))
    # a few steps from a tiny random checkpoint (weights of std 0.02) leave the scores almost the
    # same for every text; wider random weights make them differ from text to text, so that
    # comparing them within 1e-4 tests the exported graph (any weights are a model to export)
    torch.manual_seed(0)
    with torch.no_grad():
        for weight in model.net.parameters():
            if weight.dim() == 2:
                torch.nn.init.normal_(weight, std=0.3)
    run = model.save(tmp_path / "run")
    out = tmp_path / "export" / f"{name}.onnx"
    assert main(["-q", "export", str(run), "--format", "onnx", "--out", str(out)]) == 0
    loaded = textzoo.load(run)
    inputs = onnx_inputs(loaded, test_texts)
    assert inputs["input_ids"].dtype == np.int64 and inputs["input_ids"].shape[0] == len(test_texts)
    probs = run_session(out, inputs)
    expected = loaded.predict_proba(test_texts)
    assert probs.shape == expected.shape == (len(test_texts), len(loaded.labels))
    assert np.ptp(expected, axis=0).max() > 0.05  # the scores differ between texts
    np.testing.assert_allclose(probs, expected, atol=1e-4, rtol=0)
    assert (probs.argmax(1) == expected.argmax(1)).all()
    side = json.loads(out.with_name(out.name + ".json").read_text())
    assert side["labels"] == loaded.labels and side["special_tokens"] == loaded.special
    assert side["max_length"] == 32 and "model" in side["tokenizer"]
    # a batch of one and another batch size: the axes are dynamic
    one = run_session(out, onnx_inputs(loaded, test_texts[3:4]))
    np.testing.assert_allclose(one, expected[3:4], atol=1e-4, rtol=0)


def test_textgcn_inductive_export_matches_pytorch(r8, test_texts, tmp_path):
    small = textzoo.Corpus(name="R8", train=r8.train.head(300), valid=r8.valid.head(50), test=r8.test.head(50),
                           labels=r8.labels)
    model = textzoo.create("textgcn", epochs=20, min_count=2).fit(small.train, small.valid, labels=small.labels)
    run = model.save(tmp_path / "run")
    assert main(["-q", "export", str(run)]) == 0  # onnx is the default format; FILE defaults to RUN.onnx
    out = tmp_path / "run.onnx"
    loaded = textzoo.load(run)
    inputs = onnx_inputs(loaded, test_texts)
    assert inputs["tfidf"].shape == (len(test_texts), len(loaded.vocabulary))
    probs = run_session(out, inputs)
    expected = loaded.predict_proba(test_texts)  # not graph nodes: the inductive path
    np.testing.assert_allclose(probs, loaded.predict_proba_inductive(test_texts), atol=1e-4, rtol=0)
    np.testing.assert_allclose(probs, expected, atol=1e-4, rtol=0)
    assert probs.sum(axis=1) == pytest.approx(np.ones(len(test_texts)), abs=1e-5)
    side = json.loads((tmp_path / "run.onnx.json").read_text())
    assert side["vocabulary"] == loaded.vocabulary and len(side["idf"]) == len(loaded.vocabulary)
    # the documented recipe: counts of cleaned in-vocabulary words times idf
    from textzoo.data.cleaning import clean_new_documents

    cleaned = clean_new_documents(test_texts[:1], {w: i for i, w in enumerate(side["vocabulary"])},
                                  side["remove_stopwords"])[0]
    row = np.zeros(len(side["vocabulary"]), dtype=np.float32)
    index = {w: i for i, w in enumerate(side["vocabulary"])}
    for word in cleaned.split():
        if word in index:
            row[index[word]] += side["idf"][index[word]]
    np.testing.assert_allclose(row, inputs["tfidf"][0], rtol=1e-6)


def test_export_refuses_other_models_and_formats(tmp_path, capsys):
    from textzoo.errors import ConfigError

    with pytest.raises(SystemExit):
        main(["-q", "export", str(tmp_path), "--format", "torchscript"])
    assert "invalid choice" in capsys.readouterr().err
    assert exportable_models() == ["albert", "bert", "gpt", "linear", "textgcn"]
    for name in ("elmo", "tensorgcn", "lightxml", "xtransformer"):  # scores outside a fixed-shape graph
        with pytest.raises(ConfigError, match=f"supports albert, bert, gpt, linear, textgcn runs, not '{name}'"):
            textzoo.create(name).onnx_export()
    assert main(["-q", "export", str(tmp_path / "missing")]) == 2


def test_export_of_an_xmc_run_is_refused_in_one_line(reuters, reuters_bert_dir, tmp_path, capsys):
    """LightXML exported with exit status 0 a graph whose scores differed from predict_proba by 0.38."""
    tiny = dict(TINY, feature_layers=2, hidden_dim=16, swa_warmup=1, swa_step=2)
    run = textzoo.create("lightxml", pretrained=str(reuters_bert_dir), **tiny).fit(reuters.train.head(48)).save(
        tmp_path / "run")
    capsys.readouterr()
    assert main(["-q", "export", str(run), "--out", str(tmp_path / "x.onnx")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "supports albert, bert, gpt, linear, textgcn runs, not 'lightxml'" in err
    assert not (tmp_path / "x.onnx").exists() and not list(tmp_path.glob(".x.onnx*"))


def test_multilabel_bert_export_gives_a_score_per_label(reuters, reuters_bert_dir, tmp_path):
    """A multi-label run: one sigmoid score per label (X-Transformer's graph had shape (3, 1) for 61)."""
    model = textzoo.create("bert", pretrained=str(reuters_bert_dir), **TINY).fit(reuters.train.head(48))
    assert model.multilabel
    run = model.save(tmp_path / "run")
    out = tmp_path / "ml.onnx"
    assert main(["-q", "export", str(run), "--out", str(out)]) == 0
    loaded, texts = textzoo.load(run), reuters.test.texts[:12]
    probs = run_session(out, onnx_inputs(loaded, texts))
    assert probs.shape == (len(texts), len(loaded.labels))
    np.testing.assert_allclose(probs, loaded.predict_proba(texts), atol=1e-4, rtol=0)
