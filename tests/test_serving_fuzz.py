"""Property-based tests (hypothesis) of the HTTP request schema against the real server.

`python -m textzoo serve` runs as a subprocess on 127.0.0.1 (a TextGCN run and a tiny BERT run) and
gets random JSON values, near-valid request bodies, random bytes under random content types and
random methods and paths. Every answer must be 200 or one of the documented errors (400 body not
parsable, 404, 405, 413 body too large, 422 invalid request), never a 5xx; a 200 answers exactly
the request (one prediction per text, known labels, scores in [0, 1], best first, ``top_k``
respected); a 422 lists where, what and why without echoing the input; and after all that the
server is alive and has logged no traceback.
"""

from __future__ import annotations

import json

import httpx
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import textzoo
from textzoo.data.corpus import Corpus
from textzoo.serving import running_server

MAX_TEXTS, MAX_CHARS = 8, 200  # small limits, so random requests reach them
DOCUMENTED = {200, 400, 404, 405, 413, 422}
FUZZ = settings(max_examples=25, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def tiny_r8(data_dir):
    corpus = textzoo.load_dataset("R8", data_dir=data_dir)
    return Corpus(name="R8-tiny", train=corpus.train.head(150), valid=corpus.valid.head(30),
                  test=corpus.test.head(40), labels=corpus.labels)


def _train(kind: str, corpus: Corpus, folder):
    if kind == "textgcn":
        return textzoo.create("textgcn", epochs=10, min_count=2).fit(corpus)
    from tiny_transformers import tiny_checkpoint

    tiny = tiny_checkpoint("bert", folder / "tiny-bert", corpus.train.texts)
    return textzoo.create("bert", pretrained=str(tiny), max_length=32, epochs=1, batch_size=16).fit(corpus)


@pytest.fixture(scope="module", params=["textgcn", "bert"])
def served(request, tiny_r8, tmp_path_factory):
    """``(client, labels, log_path)`` of a real server on 127.0.0.1, stopped at the end."""
    folder = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # far faster than two threads on two shared, busy cores
    try:
        model = _train(request.param, tiny_r8, folder)
    finally:
        torch.set_num_threads(threads)
    run = model.save(folder / "run")
    log_path = folder / "server.log"
    with running_server(run, log_path, "--max-texts", str(MAX_TEXTS), "--max-chars", str(MAX_CHARS),
                        "--batch-window-ms", "2", startup_s=240, env={"OMP_NUM_THREADS": "1"}) as running:
        with httpx.Client(base_url=running.url, timeout=60) as client:
            yield client, list(model.labels), log_path
            assert client.get("/healthz").status_code == 200  # alive after everything
    log = log_path.read_text(errors="replace")
    assert "Traceback" not in log and "Exception in ASGI application" not in log, log[-4000:]


# --------------------------------------------------------------------------------------------
# strategies

_odd_chars = st.sampled_from(["\x00", "\u2028", "\ufeff", "\t", "\n", " ", "\x1c", "é", "中", "🙂", "\\", '"',
                              "\ud800", "\udfff", "\U0010ffff", "\u0301"])
_text = st.one_of(
    st.text(max_size=30),
    st.lists(st.one_of(st.sampled_from(["oil", "wheat", "profit", "opec", "the"]), _odd_chars,
                       st.text(max_size=4)), max_size=12).map(" ".join),
    st.integers(MAX_CHARS - 2, MAX_CHARS + 2).map(lambda n: ("oil " * n)[:n]),
)
_scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(-2**70, 2**70),
                    st.floats(allow_nan=True, allow_infinity=True), _text)
_json = st.recursive(_scalar, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                      st.dictionaries(st.text(max_size=6), inner, max_size=4)),
                     max_leaves=12)
_top_k = st.one_of(st.integers(-3, 12), st.sampled_from([0.0, 1.0, 2.5, 3.0, 1e400, 2**63, 2**64 + 1]),
                   st.booleans(), st.none(), st.text(max_size=3), _json)
_near_valid = st.fixed_dictionaries(
    {"texts": st.one_of(st.lists(_text, max_size=MAX_TEXTS + 2), _json)},
    optional={"top_k": _top_k, "extra": _json})
_valid = st.fixed_dictionaries(
    {"texts": st.lists(st.lists(st.sampled_from(["oil", "wheat", "profit", "é", "中文", "🙂", "x"]), min_size=1,
                                max_size=6).map(" ".join), min_size=1, max_size=MAX_TEXTS)},
    optional={"top_k": st.integers(1, 12)})


def _dumps(body) -> bytes:
    # allow_nan: the server must cope with NaN / Infinity tokens too; lone surrogates go as \\u escapes
    return json.dumps(body, allow_nan=True).encode()


def _check_answer(answer: httpx.Response, body, labels: list[str]) -> None:
    assert answer.status_code in DOCUMENTED, (answer.status_code, answer.text[:500])
    assert len(answer.content) < 20_000 or answer.status_code == 200  # errors never echo big input
    if answer.status_code == 422:
        detail = answer.json()["detail"]
        assert isinstance(detail, list) and detail
        assert all(set(d) == {"loc", "msg", "type"} for d in detail)
    if answer.status_code != 200:
        return
    out = answer.json()
    texts = body["texts"]
    assert out["multilabel"] is False and len(out["predictions"]) == len(texts)
    top_k = body.get("top_k")
    want = 1 if top_k is None else min(int(top_k), len(labels))
    for prediction in out["predictions"]:
        scores = [item["score"] for item in prediction["labels"]]
        assert len(scores) == want
        assert all(item["label"] in labels for item in prediction["labels"])
        assert all(0.0 <= s <= 1.0 for s in scores) and scores == sorted(scores, reverse=True)


# --------------------------------------------------------------------------------------------
# properties


@FUZZ
@given(body=_valid)
def test_valid_requests_are_answered(served, body):
    client, labels, _ = served
    answer = client.post("/v1/predict", json=body)
    assert answer.status_code == 200, answer.text[:500]
    _check_answer(answer, body, labels)


@FUZZ
@given(body=st.one_of(_near_valid, _json))
def test_random_json_gets_an_answer_or_a_documented_error(served, body):
    client, labels, _ = served
    answer = client.post("/v1/predict", content=_dumps(body), headers={"content-type": "application/json"})
    _check_answer(answer, body, labels)


@FUZZ
@given(data=st.one_of(st.binary(max_size=300), st.builds(lambda b, c: _dumps(b)[:c], _near_valid, st.integers(0, 80)),
                      st.integers(1, 5000).map(lambda n: b"[" * n + b"]" * n),
                      st.integers(1, 5000).map(lambda n: b'{"texts": ["oil"], "top_k": ' + b"9" * n + b"}")),
       content_type=st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded",
                                     "multipart/form-data", "application/json; charset=latin-1", None]))
def test_random_bytes_get_a_documented_error(served, data, content_type):
    client, _, _ = served
    headers = {} if content_type is None else {"content-type": content_type}
    answer = client.post("/v1/predict", content=data, headers=headers)
    assert answer.status_code in DOCUMENTED - {200} or answer.status_code == 200 and b'"texts"' in data, (
        answer.status_code, answer.text[:300])


@FUZZ
@given(method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]),
       path=st.one_of(st.sampled_from(["/v1/predict", "/v1/model", "/healthz", "/", "/docs", "/openapi.json",
                                       "/v1/predict/", "/v1", "/%ff", "/v1/model?x=%00"]),
                      st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7e), max_size=12).map(lambda p: "/" + p)))
def test_random_methods_and_paths(served, method, path):
    client, _, _ = served
    answer = client.request(method, path, content=b"{}", follow_redirects=False)
    assert answer.status_code in DOCUMENTED | {307}, (method, path, answer.status_code, answer.text[:300])


def test_oversized_bodies_are_refused_before_parsing(served):
    client, _, _ = served
    limit = client.get("/v1/model").json()["limits"]["max_body_bytes"]
    answer = client.post("/v1/predict", content=b" " * (limit + 1), headers={"content-type": "application/json"})
    assert answer.status_code == 413


def test_chunked_bodies_are_cut_off_at_the_limit(served):
    """A body sent without a Content-Length (chunked) is counted as it streams in and refused with
    413 once over the limit: the server never buffers more than the limit."""
    client, labels, _ = served
    limit = client.get("/v1/model").json()["limits"]["max_body_bytes"]

    def chunks(n):
        yield b'{"texts": ["oil"], "pad": "'
        for _ in range(n):
            yield b"x" * 65536
        yield b'"}'

    sent = limit // 65536 + 30  # about 2 MB more than the limit
    try:
        answer = client.post("/v1/predict", content=chunks(sent), headers={"content-type": "application/json"})
        assert answer.status_code == 413, answer.text[:300]
    except (httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadError):
        pass  # the server answered 413 and closed the connection while the client was still sending
    small = client.post("/v1/predict", content=iter([b'{"texts": ', b'["oil"]}']),
                        headers={"content-type": "application/json"})
    assert small.status_code == 200 and len(small.json()["predictions"]) == 1
