"""Downloads against a real HTTP server on 127.0.0.1: verified success, checksum failure,
partial transfer, unreachable server, timeout."""

from __future__ import annotations

import http.server
import shutil
import socket
import threading
from functools import partial
from pathlib import Path

import pytest

from textzoo.data import get_spec, list_datasets, load_dataset
from textzoo.data.download import ChecksumError, NetworkError, download, file_digests, git_blob_id
from textzoo.errors import DownloadError

TREC_FILES = ["extra/TREC/uiuc/train_5500.label", "extra/TREC/uiuc/TREC_10.label"]


class MirrorHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder; under ``/truncated/`` it promises 1000 bytes more than it sends."""

    def do_GET(self):  # noqa: N802
        if self.path.startswith("/truncated/"):
            body = b"only part of the file"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body) + 1000))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            self.close_connection = True
            return
        super().do_GET()

    def log_message(self, *args):  # keep the test output quiet
        pass


@pytest.fixture
def mirror(tmp_path, data_dir, monkeypatch):
    """A temporary mirror folder holding TREC and textgcn/R8.txt, served over HTTP on 127.0.0.1."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("TEXTZOO_DATA", raising=False)
    monkeypatch.setenv("TEXTZOO_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "served"
    for rel in TREC_FILES + ["textgcn/R8.txt"]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(data_dir / rel, root / rel)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(MirrorHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_download_via_mirror_url_is_verified_and_loads(mirror, tmp_path, monkeypatch):
    root, url = mirror
    monkeypatch.setenv("TEXTZOO_DOWNLOAD_URL", url + "/")
    assert {r["name"]: r["status"] for r in list_datasets()}["TREC"] == f"not downloaded ({url}/extra/TREC)"
    corpus = load_dataset("TREC", progress=False)
    assert (len(corpus.train) + len(corpus.valid), len(corpus.test), len(corpus.labels)) == (5452, 500, 6)
    cache = tmp_path / "cache"
    for rel, f in zip(TREC_FILES, get_spec("TREC").files):
        assert (cache / rel).read_bytes() == (root / rel).read_bytes()
        assert file_digests(cache / rel)["sha256"] == f.sha256
    assert corpus.test.where(0) == (str(cache / TREC_FILES[1]), 1)
    assert sorted(p.name for p in leftovers(cache)) == ["TREC_10.label", "train_5500.label"]  # no temp files
    assert {r["name"]: r["status"] for r in list_datasets()}["TREC"] == f"cached: {cache / 'extra' / 'TREC'}"
    # a second load uses the cache, not the server
    monkeypatch.setenv("TEXTZOO_DOWNLOAD_URL", f"http://127.0.0.1:{closed_port()}")
    assert len(load_dataset("TREC", valid_fraction=0).train) == 5452


def test_download_verifies_git_blob_id(mirror, tmp_path, data_dir):
    root, url = mirror
    dest = tmp_path / "out" / "R8.txt"
    blob = get_spec("R8").files[0].git_blob
    assert git_blob_id((data_dir / "textgcn" / "R8.txt").read_bytes()) == blob
    assert download(f"{url}/textgcn/R8.txt", dest, git_blob=blob, progress=True) == dest
    assert dest.read_bytes() == (root / "textgcn" / "R8.txt").read_bytes()
    other = tmp_path / "out" / "R8-bad.txt"
    with pytest.raises(ChecksumError) as exc:
        download(f"{url}/textgcn/R8.txt", other, git_blob="0" * 40, progress=False)
    assert "0" * 40 in str(exc.value) and blob in str(exc.value)
    assert not other.exists() and sorted(p.name for p in leftovers(tmp_path / "out")) == ["R8.txt"]


def test_checksum_failure_leaves_nothing(mirror, tmp_path, monkeypatch):
    root, url = mirror
    altered = root / TREC_FILES[1]
    altered.write_bytes(altered.read_bytes().replace(b"Denver", b"Boston", 1))
    monkeypatch.setenv("TEXTZOO_DOWNLOAD_URL", url)
    with pytest.raises(DownloadError) as exc:
        load_dataset("TREC", progress=False)
    assert isinstance(exc.value, ChecksumError)
    message = str(exc.value)
    expected = get_spec("TREC").files[1].sha256
    assert expected in message and file_digests(altered)["sha256"] in message
    assert "TREC_10.label" in message
    cache = tmp_path / "cache"
    assert not (cache / TREC_FILES[1]).exists()
    # the good file downloaded before stays; nothing else (no temp file) is left behind
    assert [p.name for p in leftovers(cache)] == ["train_5500.label"]


def test_partial_download_is_an_error(mirror, tmp_path):
    _, url = mirror
    dest = tmp_path / "partial" / "file.txt"
    with pytest.raises(NetworkError) as exc:
        download(f"{url}/truncated/file.txt", dest, progress=False)
    message = str(exc.value)
    assert "partial download" in message and "1021" in message and "21 of" in message
    assert not dest.exists() and leftovers(dest.parent) == []


def test_http_error(mirror, tmp_path):
    _, url = mirror
    with pytest.raises(NetworkError) as exc:
        download(f"{url}/no/such/file.txt", tmp_path / "out" / "x.txt", progress=False)
    assert "404" in str(exc.value) and "/no/such/file.txt" in str(exc.value)
    assert leftovers(tmp_path / "out") == []


def test_no_network_names_the_mirror_remedy_and_url(tmp_path, monkeypatch):
    monkeypatch.delenv("TEXTZOO_DATA", raising=False)
    monkeypatch.setenv("TEXTZOO_CACHE", str(tmp_path / "cache"))
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    base = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("TEXTZOO_DOWNLOAD_URL", base)
    with pytest.raises(DownloadError) as exc:
        load_dataset("R8", data_dir=tmp_path / "empty-mirror", progress=False)
    message = str(exc.value)
    assert f"{base}/textgcn/R8.txt" in message
    assert "TEXTZOO_DATA" in message and "--data-dir" in message and "network" in message
    assert str(tmp_path / "empty-mirror") in message
    assert leftovers(tmp_path / "cache") == []


def test_timeout(tmp_path):
    with socket.socket() as listener:  # accepts connections (kernel backlog) but never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        with pytest.raises(NetworkError) as exc:
            download(f"http://127.0.0.1:{port}/x", tmp_path / "x.txt", progress=False, timeout=0.5)
    assert "timed out" in str(exc.value)
    assert leftovers(tmp_path) == []
