"""Hostile requests against the real server on 127.0.0.1 (issue 25, item 4 and 6): a million-key
body, a huge unknown key, slow-header connections, too many connections, byte-order marks; the
server answers each quickly with a small 4xx (or closes the connection) and ``/healthz`` stays
responsive."""

import json
import socket
import threading
import time

import httpx
import psutil
import pytest

from textzoo.serving import running_server


@pytest.fixture(scope="module")
def server(tiny_textgcn_run, tmp_path_factory):
    log_path = tmp_path_factory.mktemp("hostile-log") / "server.log"
    with running_server(tiny_textgcn_run, log_path, "--request-timeout", "1", "--max-connections", "40") as running:
        yield running
    log = log_path.read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]


def _post(url, content: bytes, timeout=30):
    return httpx.post(url + "/v1/predict", content=content, headers={"content-type": "application/json"},
                      timeout=timeout)


def _while_polling_health(server, action):
    """``(result of action(), slowest /healthz answer in s)`` with /healthz polled during ``action``."""
    latencies, done = [], threading.Event()

    def poll():
        with httpx.Client(base_url=server.url, timeout=30) as client:
            while not done.is_set():
                start = time.monotonic()
                assert client.get("/healthz").status_code == 200
                latencies.append(time.monotonic() - start)
                time.sleep(0.02)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        result = action()
    finally:
        done.set()
        poller.join()
    return result, max(latencies)


def test_a_million_unknown_keys_get_a_small_422_at_once(server):
    """Before: 22 s of a blocked event loop, /healthz waiting 21.6 s, 1.7 GB RSS, an 87 MB answer."""
    body = ('{"texts": ["oil prices"], ' + ", ".join(f'"k{i}": 0' for i in range(1_000_000)) + "}").encode()
    assert len(body) > 8_000_000
    rss_before = psutil.Process(server.process.pid).memory_info().rss
    start = time.monotonic()
    answer, slowest_health = _while_polling_health(server, lambda: _post(server.url, body))
    elapsed = time.monotonic() - start
    assert answer.status_code == 422 and len(answer.content) < 300, answer.content[:300]
    assert answer.json()["detail"][0]["msg"].startswith("more JSON strings than a request holds")
    assert elapsed < 5 and slowest_health < 1.0, (elapsed, slowest_health)
    grown = psutil.Process(server.process.pid).memory_info().rss - rss_before
    assert grown < 400e6, grown


def test_a_huge_unknown_key_is_not_echoed(server):
    key = "k" * 10_000_000
    answer = _post(server.url, json.dumps({"texts": ["oil"], key: 1}).encode())
    assert answer.status_code == 422 and len(answer.content) < 300 and "kkkkkkkkkk" not in answer.text
    answer = _post(server.url, json.dumps({"texts": ["oil"], "top_k": {key: 1}}).encode())
    assert answer.status_code == 422 and len(answer.content) < 1000 and "kkkkkkkkkk" not in answer.text


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_byte_order_marks_and_utf16_bodies_get_400(server, encoding):
    answer = _post(server.url, json.dumps({"texts": ["oil prices"]}).encode(encoding))
    assert answer.status_code == 400, (encoding, answer.status_code)
    assert "UTF-8" in answer.json()["detail"] or "JSON" in answer.json()["detail"]


@pytest.mark.parametrize("text, status", [("\u0085", 200), ("oil\u0085prices", 200), ("\x1c", 200),
                                          ("\ufeff", 422), (" \u3000\u2028", 422)])
def test_white_space_is_what_the_schema_says(server, text, status):
    """JSON Schema's \\s (ECMA-262) lacks U+0085 and U+001C but has U+FEFF; the server agrees with it."""
    answer = _post(server.url, json.dumps({"texts": [text]}).encode())
    assert answer.status_code == status, answer.text
    spec = httpx.get(server.url + "/openapi.json").json()
    schema = spec["paths"]["/v1/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert "\\u0085" not in schema["properties"]["texts"]["items"]["pattern"]


def test_slow_header_connections_are_closed(server):
    socks = []
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", int(server.url.rsplit(":", 1)[1])), timeout=10)
        s.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\n")  # never finishes its headers
        socks.append(s)
    s = socket.create_connection(("127.0.0.1", int(server.url.rsplit(":", 1)[1])), timeout=10)
    socks.append(s)  # sends nothing at all
    start = time.monotonic()
    assert httpx.get(server.url + "/healthz", timeout=5).status_code == 200
    for s in socks:
        assert s.recv(1024) == b""  # closed by the server (request timeout 1 s)
        s.close()
    assert time.monotonic() - start < 6


def test_connections_over_the_limit_get_503_and_the_server_recovers(server):
    port = int(server.url.rsplit(":", 1)[1])
    idle = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(45)]
    time.sleep(0.3)
    try:
        assert httpx.get(server.url + "/healthz", timeout=5).status_code == 503
    finally:
        for s in idle:
            s.close()
    time.sleep(0.3)
    assert _post(server.url, b'{"texts": ["oil"]}').status_code == 200
    log = server.log_path.read_text(errors="replace")
    assert log.count("Exceeded concurrency limit") <= 2


def test_unknown_keys_in_a_small_body_are_counted_not_listed(server):
    answer = _post(server.url, json.dumps({"texts": ["oil"], **{f"key{i}": i for i in range(50)}}).encode())
    assert answer.status_code == 422
    assert answer.json()["detail"] == [{"loc": ["body"], "type": "extra_forbidden",
                                        "msg": "50 unknown field(s); a request has only texts and threshold and top_k"}]
