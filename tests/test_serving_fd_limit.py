"""The server under a low open-file limit (issue 25, item 4): more idle connections than it has file
descriptors make ``accept()`` fail again and again; the server logs that once per interval (no
traceback per failure), keeps answering ``/healthz`` once they go, and exits cleanly."""

import resource
import socket
import time

import httpx
import pytest

from textzoo.serving import running_server

LIMIT = 200  # open files of the server process (its soft RLIMIT_NOFILE)


def test_accept_failures_are_logged_once_per_interval(tiny_textgcn_run, tmp_path):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2 * LIMIT + 100:
        pytest.fail(f"this test needs a hard open-file limit of at least {2 * LIMIT + 100}, not {hard}")
    log_path = tmp_path / "server.log"
    resource.setrlimit(resource.RLIMIT_NOFILE, (LIMIT, hard))  # inherited by the server process
    try:
        server_cm = running_server(tiny_textgcn_run, log_path, "--request-timeout", "60", "--max-connections", "1000")
        server = server_cm.__enter__()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    port = int(server.url.rsplit(":", 1)[1])
    socks = []
    try:
        for _ in range(LIMIT + 60):  # more than the server can hold open
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        time.sleep(4)  # asyncio retries a failed accept() every second
        log = log_path.read_text(errors="replace")
        accept_lines = [line for line in log.splitlines() if "accept" in line.lower()]
        assert 1 <= len(accept_lines) <= 2, log[-3000:]  # the failure is said, once per interval
        assert "Traceback" not in log, log[-3000:]
    finally:
        for s in socks:
            s.close()
    deadline = time.monotonic() + 10
    while True:  # the server recovers once the connections are gone
        try:
            if httpx.get(server.url + "/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, log_path.read_text(errors="replace")[-3000:]
        time.sleep(0.2)
    server_cm.__exit__(None, None, None)
    assert server.process.returncode is not None
    assert "Traceback" not in log_path.read_text(errors="replace")
