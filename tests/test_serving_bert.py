"""`textzoo serve` with a Transformer model: a tiny `bert` (local checkpoint from tiny_transformers,
fine-tuned for a few steps on an R8 slice), served by the real server on 127.0.0.1 and called over
HTTP; answers equal the loaded model's, batching changes no answer, and a bounded schemathesis run
finds no server error."""

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

import textzoo
from textzoo.serving import running_server

from tiny_transformers import tiny_checkpoint

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def r8(data_dir):
    return textzoo.load_dataset("R8", data_dir=data_dir)


@pytest.fixture(scope="module")
def run_dir(r8, tmp_path_factory):
    folder = tiny_checkpoint("bert", tmp_path_factory.mktemp("tiny-bert"), r8.train.texts[:300])
    model = textzoo.create("bert", pretrained=str(folder), max_length=32, epochs=1, batch_size=8,
                           eval_batch_size=16, lr=1e-3)
    model.fit(r8.train.head(64), r8.valid.head(16))
    model.metrics = {"test": model.evaluate(r8.test.head(40))}
    return model.save(tmp_path_factory.mktemp("serve-bert") / "run")


@pytest.fixture(scope="module")
def model(run_dir):
    return textzoo.load(run_dir)


@pytest.fixture(scope="module")
def texts(r8):
    """Test documents of very different lengths (so batches pad) and odd inputs."""
    return [t[:8000] for t in r8.test.texts[:24]] + ["oil prices rose sharply after the opec meeting", "zzzz qqqq", "wheat",
                                 "ümlaut ünïcödé 中文 🙂", "x " * 900]


@pytest.fixture(scope="module")
def server(run_dir, tmp_path_factory):
    """`python -m textzoo serve RUN` as a subprocess; yields its base URL, stopped at the end."""
    log_path = tmp_path_factory.mktemp("serve-bert-log") / "server.log"
    with running_server(run_dir, log_path, "--batch-window-ms", "5", "--max-texts", "32",
                        "--max-chars", "8000", "--device", "cpu", startup_s=90) as running:
        yield running.url


@pytest.fixture(scope="module")
def api(server):
    with httpx.Client(base_url=server, timeout=60) as client:
        yield client


def _check_same(answers: list[dict], expected: list[list[tuple[str, float]]]) -> None:
    """Same labels in the same order; scores equal up to float32 noise (padding to another batch
    width changes the summation order inside the encoder, never the answer)."""
    assert len(answers) == len(expected)
    for answer, wanted in zip(answers, expected):
        got = [(x["label"], x["score"]) for x in answer["labels"]]
        assert [g[0] for g in got] == [w[0] for w in wanted]
        assert [g[1] for g in got] == pytest.approx([w[1] for w in wanted], abs=1e-5)


def test_bert_model_card_and_health(api, run_dir, model):
    health = api.get("/healthz").json()
    assert health["status"] == "ok" and health["model"] == "bert"
    card = api.get("/v1/model").json()
    assert card["model"] == "bert" and card["labels"] == model.labels and card["multilabel"] is False
    assert card["config"]["max_length"] == 32 and card["config"]["epochs"] == 1
    assert card["config"]["device"] == "cpu"  # --device (the run was trained under "auto")
    assert card["metrics"] == json.loads((run_dir / "metrics.json").read_text())
    assert card["limits"]["max_texts"] == 32 and card["limits"]["max_chars"] == 8000


def test_bert_predictions_equal_the_loaded_model(api, model, texts):
    answer = api.post("/v1/predict", json={"texts": texts, "top_k": 3})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model"] == "bert" and body["multilabel"] is False
    _check_same(body["predictions"], model.predict(texts, top_k=3))
    plain = api.post("/v1/predict", json={"texts": texts[:5]}).json()["predictions"]
    assert [p["labels"][0]["label"] for p in plain] == model.predict(texts[:5])
    assert all(len(p["labels"]) == 1 for p in plain)


def test_bert_invalid_requests_get_422(api):
    for body in ({"texts": []}, {"texts": [" "]}, {"texts": ["ok"] * 33}, {"texts": ["ok"], "top_k": 0}):
        assert api.post("/v1/predict", json=body).status_code == 422, body


def test_bert_concurrent_requests_are_batched_without_changing_answers(api, model, texts):
    requests = [{"texts": texts[i:i + 1 + i % 3], "top_k": 2} for i in range(len(texts))]
    expected = [model.predict(r["texts"], top_k=2) for r in requests]
    before = api.get("/healthz").json()
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda body: api.post("/v1/predict", json=body), requests))
    after = api.get("/healthz").json()
    for answer, wanted in zip(answers, expected):
        assert answer.status_code == 200, answer.text
        _check_same(answer.json()["predictions"], wanted)
    assert after["requests"] - before["requests"] == len(requests)
    assert after["model_calls"] - before["model_calls"] < len(requests)  # some requests were merged


def test_bert_schemathesis_finds_no_server_error(server, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "run", server + "/openapi.json", "--max-examples", "15",
         "--seed", "1", "--checks", "all", "--generation-database", "none", "--no-color",
         "--request-timeout", "60"],
        capture_output=True, text=True, cwd=tmp_path, timeout=300, env={**os.environ, "NO_COLOR": "1"})
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert "No issues found" in proc.stdout


def test_device_option_is_checked(run_dir):
    import torch

    from textzoo.serving.app import create_app

    with pytest.raises(textzoo.ConfigError, match="not a torch device"):
        create_app(run_dir, device="gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(textzoo.ConfigError, match="no CUDA GPU"):
            create_app(run_dir, device="cuda")
    else:
        assert create_app(run_dir, device="cuda") is not None
