"""Fetch one file over HTTP(S) with the standard library, verified and written atomically.

The body streams into a temporary file next to ``dest`` (with a tqdm progress bar); the length is
checked against ``Content-Length``, the content against a sha256 and/or a git blob id, and only
then is the file renamed to ``dest``. On any failure the temporary file is removed and nothing
is left at ``dest``.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import socket
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

from .._io import usual_permissions
from ..errors import DownloadError

log = logging.getLogger(__name__)

CHUNK = 1 << 20
DEFAULT_TIMEOUT = 60.0


class NetworkError(DownloadError):
    """The server could not be reached, answered with an HTTP error, or the transfer broke off."""

    def __init__(self, message: str, url: str):
        super().__init__(message)
        self.url = url


class ChecksumError(DownloadError):
    """The downloaded bytes do not have the expected checksum."""

    def __init__(self, message: str, url: str, expected: str, actual: str):
        super().__init__(message)
        self.url, self.expected, self.actual = url, expected, actual


def git_blob_id(data: bytes) -> str:
    """What ``git hash-object`` prints for a file with this content."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def file_digests(path: str | Path) -> dict[str, str]:
    """``{"sha256": ..., "git_blob": ...}`` of a file, computed in one streaming pass."""
    path = Path(path)
    sha256 = hashlib.sha256()
    blob = hashlib.sha1(b"blob %d\0" % path.stat().st_size)
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            sha256.update(chunk)
            blob.update(chunk)
    return {"sha256": sha256.hexdigest(), "git_blob": blob.hexdigest()}


def verify_file(path: str | Path, sha256: str | None = None, git_blob: str | None = None, url: str | None = None) -> None:
    """Raise :class:`ChecksumError` unless the file has every checksum given."""
    if sha256 is None and git_blob is None:
        return
    actual = file_digests(path)
    for kind, expected in (("sha256", sha256), ("git_blob", git_blob)):
        if expected is not None and actual[kind] != expected.lower():
            where = url or str(path)
            raise ChecksumError(
                f"checksum mismatch for {where}: expected {kind} {expected}, got {actual[kind]} "
                f"(the file is corrupt or not the expected version; nothing was saved)",
                where, expected, actual[kind],
            )


def download(
    url: str,
    dest: str | Path,
    sha256: str | None = None,
    git_blob: str | None = None,
    progress: bool = True,
    timeout: float | None = None,
) -> Path:
    """Download ``url`` to ``dest`` and return ``dest``.

    ``timeout`` (seconds, default 60 or env ``TEXTZOO_DOWNLOAD_TIMEOUT``) bounds the connection and
    each read. Raises :class:`NetworkError` (unreachable, HTTP error, timeout, partial transfer) or
    :class:`ChecksumError`; both are :class:`~textzoo.errors.DownloadError`.
    """
    dest = Path(dest)
    if timeout is None:
        timeout = float(os.environ.get("TEXTZOO_DOWNLOAD_TIMEOUT", DEFAULT_TIMEOUT))
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        usual_permissions(tmp)
        with os.fdopen(fd, "wb") as out:
            _fetch(url, out, dest.name, progress, timeout)
            out.flush()
            os.fsync(out.fileno())
        verify_file(tmp, sha256=sha256, git_blob=git_blob, url=url)
        if sha256 is None and git_blob is None:
            log.warning("no checksum known for %s; saved without verification", url)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    log.info("downloaded %s -> %s", url, dest)
    return dest


def _fetch(url: str, out, label: str, progress: bool, timeout: float) -> None:
    from .. import __version__

    request = urllib.request.Request(url, headers={"User-Agent": f"textzoo/{__version__}"})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        raise NetworkError(f"HTTP {exc.code} {exc.reason} for {url}", url) from None
    except urllib.error.URLError as exc:
        raise NetworkError(f"cannot reach {url}: {exc.reason}", url) from None
    except (socket.timeout, TimeoutError):
        raise NetworkError(f"timed out after {timeout:g} s connecting to {url}", url) from None
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise NetworkError(f"cannot download {url}: {exc}", url) from None

    with response:
        header = response.headers.get("Content-Length")
        expected = int(header) if header and header.strip().isdigit() else None
        received = 0
        bar = tqdm(total=expected, unit="B", unit_scale=True, unit_divisor=1024, desc=label,
                   disable=not progress, leave=False)
        try:
            while True:
                try:
                    chunk = response.read(CHUNK)
                except http.client.IncompleteRead as exc:
                    out.write(exc.partial)
                    received += len(exc.partial)
                    break
                except (socket.timeout, TimeoutError):
                    raise NetworkError(
                        f"timed out after {timeout:g} s reading {url} ({received} bytes received)", url
                    ) from None
                except (OSError, http.client.HTTPException) as exc:
                    raise NetworkError(
                        f"connection lost while reading {url} after {received} bytes: {exc}", url
                    ) from None
                if not chunk:
                    break
                out.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
        finally:
            bar.close()
    if expected is not None and received != expected:
        raise NetworkError(
            f"partial download of {url}: received {received} of {expected} bytes (Content-Length); "
            f"the connection was closed early, nothing was saved", url
        )
