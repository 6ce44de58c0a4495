"""`linear` (TF-IDF + one-vs-rest liblinear) on real slices: single- and multi-label, the options,
a save/load round trip of JSON + safetensors only, the real HTTP server and the ONNX export."""

import json

import httpx
import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

import textzoo
from textzoo.data.corpus import Corpus
from textzoo.errors import ModelFileError
from textzoo.models.linear import platt_scaling


@pytest.fixture(scope="module")
def r8_small(data_dir):
    c = textzoo.load_dataset("R8", data_dir=data_dir)
    return Corpus(name="R8", train=c.train.head(600), valid=c.valid.head(150), test=c.test.head(300),
                  labels=c.labels)


@pytest.fixture(scope="module")
def reuters_small(reuters):
    return Corpus(name="reuters21578", train=reuters.train.head(2000), valid=reuters.valid.head(300),
                  test=reuters.test.head(500), labels=reuters.labels, multilabel=True)


@pytest.fixture(scope="module")
def r8_model(r8_small):
    return textzoo.create("linear").fit(r8_small)


@pytest.fixture(scope="module")
def reuters_model(reuters_small):
    return textzoo.create("linear").fit(reuters_small)


def test_single_label_beats_chance_and_answers_distributions(r8_model, r8_small):
    m = r8_model.evaluate(r8_small.test)
    assert m["accuracy"] > 0.85, m          # 300 R8 test documents after 600 training ones
    p = r8_model.predict_proba(r8_small.test.texts)
    assert p.shape == (300, len(r8_small.labels))
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)
    z = r8_model.decision_function(r8_small.test.texts)
    assert (p.argmax(1) == z.argmax(1)).all()   # calibration keeps the one-vs-rest argmax
    assert r8_model.predict(r8_small.test.texts[:3]) == [r8_model.labels[j] for j in z[:3].argmax(1)]
    a, b = r8_model.platt
    assert a > 0 and r8_model.info["weights_nnz"] > 0


def test_multi_label_precision_and_calibration(reuters_model, reuters_small):
    m = reuters_model.evaluate(reuters_small.test)
    assert m["P@1"] > 0.85 and m["P@5"] > 0.35, m
    p = reuters_model.predict_proba(reuters_small.test.texts)
    assert ((p >= 0) & (p <= 1)).all() and p.min() < 0.01 < 0.99 < p.max()
    # calibrated: predict() (p >= 0.5) finds most true labels and few false ones
    pred = reuters_model.predict(reuters_small.test.texts)
    truth = reuters_small.test.labels
    hits = sum(len(set(a) & set(b)) for a, b in zip(pred, truth))
    assert hits / sum(len(t) for t in truth) > 0.6
    assert hits / max(1, sum(len(a) for a in pred)) > 0.7


def test_logistic_and_character_ngram_options(r8_small):
    lr = textzoo.create("linear", loss="logistic", calibration="sigmoid").fit(r8_small)
    assert lr.evaluate(r8_small.test)["accuracy"] > 0.75
    assert tuple(lr.platt) == (1.0, 0.0)
    char = textzoo.create("linear", analyzer="char_wb", ngram_min=2, ngram_max=4).fit(r8_small)
    assert char.evaluate(r8_small.test)["accuracy"] > 0.8
    assert all(len(t) <= 4 for t in char.vectorizer.get_feature_names_out()[:50])
    with pytest.raises(textzoo.ConfigError, match="ngram_min"):
        textzoo.create("linear", ngram_min=3, ngram_max=2)


def test_platt_scaling_recovers_a_known_sigmoid():
    rng = np.random.default_rng(0)
    z = rng.normal(size=20000)
    y = rng.random(20000) < 1 / (1 + np.exp(-(3.0 * z - 1.0)))
    a, b = platt_scaling(z, y)
    assert a == pytest.approx(3.0, abs=0.2) and b == pytest.approx(-1.0, abs=0.15)


def test_save_load_round_trip_reads_only_json_and_safetensors(reuters_model, reuters_small, tmp_path):
    run = reuters_model.save(tmp_path / "run")
    assert sorted(p.name for p in run.iterdir()) == ["config.json", "history.jsonl", "model.safetensors",
                                                     "tfidf.json"]
    tensors = load_file(str(run / "model.safetensors"))
    w = reuters_model.weights
    assert tensors["weights.data"].numel() == w.nnz < w.shape[0] * w.shape[1] / 5   # stored sparsely
    loaded = textzoo.load(run)
    texts = reuters_small.test.texts[:100] + ["unseen words zzzq", "wheat", "ümlaut 中文 🙂"]
    np.testing.assert_array_equal(loaded.predict_proba(texts), reuters_model.predict_proba(texts))
    # damaged weights: one line naming the file
    tensors["weights.indices"] = tensors["weights.indices"] + 10**9
    save_file(tensors, str(run / "model.safetensors"))
    with pytest.raises(ModelFileError, match="model.safetensors.*malformed"):
        textzoo.load(run)
    tensors = load_file(str(run / "model.safetensors"))
    del tensors["platt"]
    save_file(tensors, str(run / "model.safetensors"))
    with pytest.raises(ModelFileError, match="lacks tensor 'platt'"):
        textzoo.load(run)
    (run / "weights.pkl").write_bytes(b"\x80\x04N.")
    with pytest.raises(ModelFileError, match="pickle"):
        textzoo.load(run)


def test_served_over_http_answers_as_the_loaded_model(r8_model, r8_small, tmp_path):
    from textzoo.serving import running_server

    run = r8_model.save(tmp_path / "run")
    texts = r8_small.test.texts[:20] + ["oil prices rose sharply after the opec meeting"]
    expected = textzoo.load(run).predict(texts, top_k=3)
    with running_server(run, tmp_path / "server.log", startup_s=180) as server:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            r = client.post("/v1/predict", json={"texts": texts, "top_k": 3})
            assert r.status_code == 200, r.text
            got = [[(i["label"], i["score"]) for i in p["labels"]] for p in r.json()["predictions"]]
            card = client.get("/v1/model").json()
    assert [[l for l, _ in row] for row in got] == [[l for l, _ in row] for row in expected]
    np.testing.assert_allclose([[s for _, s in row] for row in got], [[s for _, s in row] for row in expected],
                               atol=1e-6)
    assert "linear" in json.dumps(card)


def test_onnx_export_matches(r8_model, r8_small, tmp_path):
    pytest.importorskip("onnxruntime")
    import onnxruntime as ort

    from textzoo.export import export_onnx, onnx_inputs

    run = r8_model.save(tmp_path / "run")
    out = export_onnx(run, tmp_path / "linear.onnx")
    loaded = textzoo.load(run)
    texts = r8_small.test.texts[:30]
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    probs = session.run(["probabilities"], onnx_inputs(loaded, texts))[0]
    np.testing.assert_allclose(probs, loaded.predict_proba(texts), atol=1e-5)
    side = json.loads(out.with_name(out.name + ".json").read_text())
    assert len(side["vocabulary"]) == len(side["idf"]) == side["inputs"]["tfidf"][1]
    assert torch.tensor(side["idf"]).min() >= 1.0
