"""The real `textzoo serve` for tests: started on 127.0.0.1 on a free port, stopped afterwards."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_server(run_dir, log_path: Path, *options: str, startup_s: float = 90, env: dict | None = None):
    """``python -m textzoo serve RUN_DIR OPTIONS`` as a subprocess; yields its base URL once
    ``/healthz`` answers (an AssertionError with the server's log if it exits or stays silent for
    ``startup_s``), then stops it with SIGINT (SIGKILL after 15 s)."""
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen([sys.executable, "-m", "textzoo", "serve", str(run_dir), "--host", "127.0.0.1",
                                 "--port", str(port), *options],
                                stdout=log_file, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_s
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"server exited with {proc.returncode}:\n{Path(log_path).read_text()}")
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"server did not answer /healthz in {startup_s:g} s:\n"
                                     f"{Path(log_path).read_text()}")
            time.sleep(0.2)
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
