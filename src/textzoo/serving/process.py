"""`textzoo serve` as a child process on 127.0.0.1: started on a free port, ready once ``/healthz``
answers, stopped with SIGINT on exit. Used by the serving tests and the serving benchmarks.

    with running_server("runs/r8-textgcn", "server.log", "--max-texts", "32") as server:
        httpx.post(server.url + "/v1/predict", json={"texts": ["oil prices rose"]})
"""

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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class ServerProcess:
    """A running server: its base URL (``http://127.0.0.1:PORT``), process and log file."""

    url: str
    process: subprocess.Popen
    log_path: Path


def _log_tail(log_path: Path, chars: int = 5000) -> str:
    return log_path.read_text(errors="replace")[-chars:]


@contextlib.contextmanager
def running_server(run_dir, log_path, *options: str, startup_s: float = 90.0, stop_s: float = 20.0,
                   quiet: bool = False, env: dict | None = None) -> Iterator[ServerProcess]:
    """Run ``python -m textzoo [-q] serve RUN_DIR --host 127.0.0.1 --port PORT OPTIONS`` on a free
    port (``run_dir`` may be a list of run folders: their ensemble) with its output in ``log_path``,
    and yield a :class:`ServerProcess` once ``GET /healthz`` answers 200. A RuntimeError carrying the end of the server's log if it exits first or stays
    silent for ``startup_s`` seconds. On exit the server gets SIGINT, and SIGKILL if it is still
    running ``stop_s`` seconds later. ``env`` adds to this process's environment (with
    ``HF_HUB_OFFLINE=1``: a served run never downloads)."""
    log_path = Path(log_path)
    port = free_port()
    runs = [str(run_dir)] if isinstance(run_dir, (str, os.PathLike)) else [str(r) for r in run_dir]
    command = [sys.executable, "-m", "textzoo", *(["-q"] if quiet else []), "serve", *runs,
               "--host", "127.0.0.1", "--port", str(port), *options]
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT,
                                   env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})})
    server = ServerProcess(f"http://127.0.0.1:{port}", process, log_path)
    try:
        deadline = time.monotonic() + startup_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"textzoo serve exited with {process.returncode} (log {log_path}):\n"
                                   f"{_log_tail(log_path)}")
            try:
                with urllib.request.urlopen(server.url + "/healthz", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"textzoo serve did not answer /healthz in {startup_s:g} s (log {log_path}):\n"
                                   f"{_log_tail(log_path)}")
            time.sleep(0.2)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=stop_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
