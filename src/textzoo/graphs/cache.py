"""A small on-disk cache for slow graph stages (dependency parses, LSTM relations).

Entries are ``.npz`` files (NumPy arrays only, read with ``allow_pickle=False``) under
``TEXTZOO_CACHE`` (default ``~/.cache/textzoo``) / ``graphs``, named by a hash of everything the
result depends on (corpus content and settings). Writes are atomic, so a killed run never leaves a
half-written entry; a damaged entry is ignored and recomputed.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from .._io import atomic_write_bytes
from ..data.registry import cache_dir_path

__all__ = ["content_key", "cache_path", "load_arrays", "save_arrays"]

log = logging.getLogger(__name__)


def content_key(kind: str, settings: dict[str, Any], texts: Iterable[str] = (), extra: Iterable[bytes] = ()) -> str:
    """A 32-hex-digit key over ``kind``, ``settings`` (JSON), every text and extra byte strings."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(kind.encode() + b"\0" + json.dumps(settings, sort_keys=True, default=str).encode() + b"\0")
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass") + b"\0")
    digest.update(b"\1")
    for blob in extra:
        digest.update(blob + b"\0")
    return digest.hexdigest()


def cache_path(kind: str, key: str, cache_dir: str | Path | None = None) -> Path:
    return cache_dir_path(cache_dir) / "graphs" / f"{kind}-{key}.npz"


def load_arrays(path: Path) -> dict[str, np.ndarray] | None:
    """The arrays of a cache entry, or None when missing or unreadable."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except Exception as exc:  # a damaged entry: recompute it
        log.warning("ignoring unreadable cache entry %s (%s)", path, exc)
        return None


def save_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    try:
        atomic_write_bytes(path, buffer.getvalue())
        log.info("cached %s (%.1f MB)", path, buffer.tell() / 1e6)
    except OSError as exc:  # a read-only cache must not stop training
        log.warning("cannot write cache entry %s (%s)", path, exc)
