"""`textzoo serve`: the real server on 127.0.0.1, called over HTTP; validation, micro-batching
that changes no answer, and a bounded schemathesis run against the served OpenAPI spec."""

import asyncio
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest

import textzoo
from textzoo.data.corpus import Corpus
from textzoo.serving import running_server
from textzoo.serving.app import _answers, create_app
from textzoo.serving.batching import MicroBatcher


@pytest.fixture(scope="module")
def small_r8(data_dir):
    corpus = textzoo.load_dataset("R8", data_dir=data_dir)
    return Corpus(name="R8-small", train=corpus.train.head(300), valid=corpus.valid.head(50),
                  test=corpus.test.head(100), labels=corpus.labels)


@pytest.fixture(scope="module")
def run_dir(small_r8, tmp_path_factory):
    model = textzoo.create("textgcn", epochs=20, min_count=2, seed=0).fit(small_r8)
    model.metrics = {"test": model.evaluate(small_r8.test)}
    return model.save(tmp_path_factory.mktemp("serve") / "run")


@pytest.fixture(scope="module")
def texts(small_r8, data_dir):
    """Test documents (graph nodes), unseen documents (inductive path) and odd inputs."""
    corpus = textzoo.load_dataset("R8", data_dir=data_dir)
    return (small_r8.test.texts[:20] + corpus.test.texts[500:530]
            + ["oil prices rose sharply after the opec meeting", "zzzz qqqq", "wheat", "ümlaut ünïcödé 中文 🙂"])


@pytest.fixture(scope="module")
def server(run_dir, tmp_path_factory):
    """`python -m textzoo serve RUN` as a subprocess; yields its base URL, stopped at the end."""
    log_path = tmp_path_factory.mktemp("serve-log") / "server.log"
    with running_server(run_dir, log_path, "--batch-window-ms", "5", startup_s=60) as running:
        yield running.url


@pytest.fixture(scope="module")
def model(run_dir):
    return textzoo.load(run_dir)


@pytest.fixture(scope="module")
def api(server):
    """One HTTP client (and connection pool) for the module, shared by threads."""
    with httpx.Client(base_url=server, timeout=30) as client:
        yield client


def post(api, body):
    return api.post("/v1/predict", json=body)


def as_pairs(prediction):
    return [(item["label"], item["score"]) for item in prediction["labels"]]


# ----------------------------------------------------------------------------------- the real server
def test_healthz_and_openapi(api):
    answer = api.get("/healthz")
    assert answer.status_code == 200
    assert answer.json()["status"] == "ok" and answer.json()["model"] == "textgcn"
    spec = api.get("/openapi.json").json()
    assert {"/v1/predict", "/v1/model", "/healthz"} <= set(spec["paths"])
    docs = api.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_predictions_equal_the_loaded_model(api, model, texts):
    answer = post(api, {"texts": texts})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model"] == "textgcn" and body["multilabel"] is False
    expected = model.predict(texts, top_k=1)
    assert [as_pairs(p) for p in body["predictions"]] == [[tuple(x) for x in e] for e in expected]
    assert [p["labels"][0]["label"] for p in body["predictions"]] == model.predict(texts)


def test_top_k(api, model, texts):
    body = post(api, {"texts": texts[:10], "top_k": 3}).json()
    expected = model.predict(texts[:10], top_k=3)
    assert [as_pairs(p) for p in body["predictions"]] == [[tuple(x) for x in e] for e in expected]
    everything = post(api, {"texts": texts[:2], "top_k": 10_000}).json()["predictions"]
    assert all(len(p["labels"]) == len(model.labels) for p in everything)
    scores = [x["score"] for x in everything[0]["labels"]]
    assert scores == sorted(scores, reverse=True) and sum(scores) == pytest.approx(1.0, abs=1e-5)


def test_model_card(api, run_dir, model):
    card = api.get("/v1/model").json()
    assert card["model"] == "textgcn" and card["labels"] == model.labels
    assert card["textzoo_version"] == textzoo.__version__
    assert card["config"]["epochs"] == 20 and card["config"]["min_count"] == 2
    saved = json.loads((run_dir / "metrics.json").read_text())
    assert card["metrics"] == saved and 0 < card["metrics"]["test"]["accuracy"] <= 1
    assert card["multilabel"] is False and card["threshold"] == 0.5
    assert card["limits"]["max_texts"] == 64 and card["limits"]["max_chars"] == 20_000
    assert card["limits"]["batching"] is True


@pytest.mark.parametrize("body, where", [
    ({}, ["body", "texts"]),
    ({"texts": "one string, not a list"}, ["body", "texts"]),
    ({"texts": []}, ["body", "texts"]),
    ({"texts": [""]}, ["body", "texts", 0]),
    ({"texts": ["ok", "   \n"]}, ["body", "texts", 1]),
    ({"texts": ["ok", 3]}, ["body", "texts", 1]),
    ({"texts": [None]}, ["body", "texts", 0]),
    ({"texts": ["x"] * 65}, ["body", "texts"]),
    ({"texts": ["x" * 20_001]}, ["body", "texts", 0]),
    ({"texts": ["ok"], "top_k": 0}, ["body", "top_k"]),
    ({"texts": ["ok"], "top_k": "3"}, ["body", "top_k"]),
    ({"texts": ["ok"], "top_k": 2.5}, ["body", "top_k"]),
    ({"texts": ["ok"], "top_k": True}, ["body", "top_k"]),
    ({"texts": ["ok"], "run_dir": "/etc"}, ["body"]),  # counted, not named: keys are input too
    ([["ok"]], ["body"]),
])
def test_invalid_requests_get_a_clear_422(api, body, where):
    answer = post(api, body)
    assert answer.status_code == 422, answer.text
    errors = answer.json()["detail"]
    assert any(e["loc"] == where for e in errors), errors
    assert all(e["msg"] and e["type"] for e in errors)
    assert "xxxxxxxxxx" not in answer.text  # the input is not echoed back


def test_not_json_is_refused(api):
    answer = api.post("/v1/predict", content=b"{not json", headers={"content-type": "application/json"})
    assert answer.status_code == 400 and "not valid JSON" in answer.json()["detail"]
    assert api.get("/v1/predict").status_code == 405


def test_concurrent_requests_answer_as_sequential_ones(api, texts):
    requests = [{"texts": texts[i:i + 1 + i % 4], "top_k": 1 + i % 3} for i in range(len(texts))]
    sequential = [post(api, body).json() for body in requests]
    before = api.get("/healthz").json()
    with ThreadPoolExecutor(max_workers=16) as pool:
        for _ in range(2):
            concurrent = list(pool.map(lambda body: post(api, body).json(), requests))
            assert concurrent == sequential
    after = api.get("/healthz").json()
    assert after["requests"] - before["requests"] == 2 * len(requests)
    assert after["model_calls"] - before["model_calls"] < 2 * len(requests)  # some requests were merged


def test_schemathesis_finds_no_server_error(server, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "run", server + "/openapi.json", "--max-examples", "25",
         "--seed", "1", "--checks", "all", "--generation-database", "none", "--no-color",
         "--request-timeout", "30"],
        capture_output=True, text=True, cwd=tmp_path, timeout=240, env={**os.environ, "NO_COLOR": "1"})
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert "No issues found" in proc.stdout


def test_an_ensemble_of_runs_answers_the_mean_of_their_scores(run_dir, small_r8, model, texts, tmp_path):
    second = textzoo.create("textgcn", epochs=20, min_count=2, seed=1).fit(small_r8)
    second_dir = second.save(tmp_path / "run-seed1")
    mean = (model.predict_proba(texts) + second.predict_proba(texts)) / 2
    order = np.argsort(-mean, axis=1, kind="stable")[:, :3]
    with running_server([run_dir, second_dir], tmp_path / "server.log", startup_s=60) as running, \
            httpx.Client(base_url=running.url, timeout=30) as client:
        body = client.post("/v1/predict", json={"texts": texts, "top_k": 3}).json()
        card = client.get("/v1/model").json()
    assert body["model"] == "ensemble"
    for prediction, best, row in zip(body["predictions"], order, mean):
        assert [x["label"] for x in prediction["labels"]] == [model.labels[j] for j in best]
        assert [x["score"] for x in prediction["labels"]] == pytest.approx(row[best].tolist(), abs=1e-6)
    alone = model.predict_proba(texts)
    assert not np.allclose(alone, mean, atol=1e-3)  # the members disagree: serving one of them would show
    assert [m["run"] for m in card["config"]["members"]] == [str(run_dir), str(second_dir)]
    assert card["config"]["members"][1]["config"]["seed"] == 1 and card["labels"] == model.labels


# ----------------------------------------------------------------------------------- in process
def test_limits_are_configurable(run_dir):
    app = create_app(run_dir, max_texts=2, max_chars=10, batching=False)

    async def calls():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://textzoo") as client:
            ok = await client.post("/v1/predict", json={"texts": ["oil", "wheat"]})
            too_many = await client.post("/v1/predict", json={"texts": ["a", "b", "c"]})
            too_long = await client.post("/v1/predict", json={"texts": ["x" * 11]})
            too_big = await client.post("/v1/predict", content=b" " * 400_000,
                                        headers={"content-type": "application/json"})
            card = (await client.get("/v1/model")).json()
        await app.state.batcher.aclose()
        return ok, too_many, too_long, too_big, card

    ok, too_many, too_long, too_big, card = asyncio.run(calls())
    assert ok.status_code == 200 and len(ok.json()["predictions"]) == 2
    assert too_many.status_code == 422 and too_long.status_code == 422
    assert too_big.status_code == 413
    assert card["limits"]["max_texts"] == 2 and card["limits"]["batching"] is False


def test_batcher_merges_concurrent_requests_without_changing_answers():
    rng = np.random.default_rng(0)
    table = {f"t{i}": rng.random(5).astype(np.float32) for i in range(200)}
    calls = []

    def predict(batch):
        calls.append(len(batch))
        return np.stack([table[t] for t in batch])

    requests = [[f"t{j}" for j in range(i, i + 1 + i % 5)] for i in range(0, 150, 3)]

    async def run(batcher):
        try:
            return await asyncio.gather(*(batcher.predict(r) for r in requests))
        finally:
            await batcher.aclose()

    batched = asyncio.run(run(MicroBatcher(predict, max_batch=16, window_ms=20)))
    assert len(calls) < len(requests) and max(calls) <= 16
    for request, rows in zip(requests, batched):
        np.testing.assert_array_equal(rows, np.stack([table[t] for t in request]))
    calls.clear()
    alone = asyncio.run(run(MicroBatcher(predict, enabled=False)))
    assert len(calls) == len(requests)
    for a, b in zip(alone, batched):
        np.testing.assert_array_equal(a, b)


def test_a_failing_request_does_not_fail_its_batch():
    def predict(batch):
        if "bad" in batch:
            raise ValueError("cannot predict 'bad'")
        return np.ones((len(batch), 2), dtype=np.float32)

    async def run():
        batcher = MicroBatcher(predict, max_batch=64, window_ms=20)
        try:
            return await asyncio.gather(batcher.predict(["a"]), batcher.predict(["bad"]), batcher.predict(["b", "c"]),
                                        return_exceptions=True)
        finally:
            await batcher.aclose()

    first, second, third = asyncio.run(run())
    assert first.shape == (1, 2) and third.shape == (2, 2)
    assert isinstance(second, ValueError)


def test_multilabel_answers_use_the_threshold_and_top_k():
    # the one rule of textzoo.scoring: threshold (the best label when none passes), or the k best
    labels = np.array(["a", "b", "c", "d"], dtype=object)
    probs = np.array([[0.9, 0.2, 0.6, 0.1], [0.1, 0.2, 0.3, 0.4]], dtype=np.float32)
    plain = _answers(probs, labels, True, None, 0.5)
    assert [[x.label for x in p.labels] for p in plain] == [["a", "c"], ["d"]]
    assert [[x.label for x in p.labels] for p in _answers(probs, labels, True, None, 0.15)] == [["a", "c", "b"], ["d", "c", "b"]]
    ranked = _answers(probs, labels, True, 3, 0.5)
    assert [[x.label for x in p.labels] for p in ranked] == [["a", "c", "b"], ["d", "c", "b"]]
    assert [[x.label for x in p.labels] for p in _answers(probs, labels, True, 1, 0.5)] == [["a"], ["d"]]
    single = _answers(probs, labels, False, None, 0.5)
    assert [[x.label for x in p.labels] for p in single] == [["a"], ["d"]]


def test_device_option_is_refused_for_a_cpu_only_model(run_dir):
    with pytest.raises(textzoo.ConfigError, match="CPU only"):
        create_app(run_dir, device="cuda")
    assert create_app(run_dir, device="cpu") is not None  # where it computes anyway
