"""Reading a run folder's files without trusting them (:mod:`textzoo.models.base` loads runs with it).

* Only regular files are read: a FIFO, a device (``/dev/zero``), a socket or a symlink to one of them
  is refused. The file is opened without blocking (a FIFO with no writer does not hang the open),
  checked with ``fstat`` on the open descriptor, and read with a bound, so a file that grows while
  it is read is refused too.
* Each kind of file has a size limit (:data:`LIMITS`), checked before anything is read.
* ``model.safetensors``: every floating-point tensor must be finite (NaN weights would answer NaN
  scores, which JSON cannot carry), and every tensor must be one the model reads
  (:class:`TrackedTensors`).

Each refusal is one :class:`~textzoo.errors.ModelFileError` line naming the file (and the tensor).
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Iterator

import torch

from .errors import ModelFileError

MIB = 1 << 20
#: most bytes per file kind: the run's metadata, its JSON side files (vocabularies, tokenizers, TF-IDF
#: tables of XMC runs), the training history and the weights
LIMITS = {"config.json": 64 * MIB, "metrics.json": 64 * MIB, "history.jsonl": 256 * MIB,
          "model.safetensors": 256 * 1024 * MIB}
SIDE_FILE_LIMIT = 2048 * MIB

_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder"))


def size_limit(path: Path) -> int:
    return LIMITS.get(path.name, SIDE_FILE_LIMIT)


def _check_stat(path: Path, st: os.stat_result, limit: int) -> None:
    if not stat.S_ISREG(st.st_mode):
        kind = next((what for test, what in _KINDS if test(st.st_mode)), "not a regular file")
        raise ModelFileError(f"{path}: is {kind}, not a regular file; a run folder holds regular files only")
    if st.st_size > limit:
        raise ModelFileError(f"{path}: {st.st_size:,} bytes, over the limit of {limit:,} for this file")


def check_regular(path: Path, limit: int | None = None) -> None:
    """A :class:`ModelFileError` unless ``path`` is a regular file within its size limit."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ModelFileError(f"{path}: missing; the run folder is incomplete") from None
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    _check_stat(path, st, size_limit(path) if limit is None else limit)


def read_bytes(path: Path, limit: int | None = None) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` (default: its kind's limit)."""
    path = Path(path)
    limit = size_limit(path) if limit is None else limit
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise ModelFileError(f"{path}: missing; the run folder is incomplete") from None
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    with open(fd, "rb", closefd=True) as handle:
        st = os.fstat(fd)
        _check_stat(path, st, limit)
        try:
            data = handle.read(st.st_size + 1)  # one byte more: a file that grew is noticed
        except OSError as exc:
            raise ModelFileError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if len(data) > st.st_size:
        raise ModelFileError(f"{path}: changed while it was read; read it again when it is complete")
    return data


def read_json(path: Path):
    """A run folder's JSON file, parsed; refused in one line when it is not valid JSON."""
    try:
        return json.loads(read_bytes(path).decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, huge ints, deep nesting
        raise ModelFileError(f"{path}: not valid JSON ({exc}); the file is damaged or truncated") from None


def read_history(path: Path) -> list[dict]:
    """``history.jsonl``: one JSON object per line (the damaged line is named)."""
    try:
        lines = read_bytes(path).decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise ModelFileError(f"{path}: cannot be read ({exc})") from None
    rows = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (ValueError, RecursionError) as exc:
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
            raise ModelFileError(f"{path}:{i + 1}: not valid JSON ({reason}); the file is damaged or truncated") from None
        if not isinstance(row, dict):
            raise ModelFileError(f"{path}:{i + 1}: expected a JSON object per line")
        rows.append(row)
    return rows


def read_weights(path: Path) -> "TrackedTensors":
    """The tensors of ``model.safetensors``, each floating-point one checked to be finite."""
    from safetensors.torch import load_file

    check_regular(path)
    try:
        tensors = load_file(str(path))
    except Exception as exc:  # safetensors raises its own error types for truncated files
        raise ModelFileError(f"{path}: cannot be read ({exc}); the file is damaged or truncated") from None
    for name, t in tensors.items():
        if (t.is_floating_point() or t.is_complex()) and not bool(torch.isfinite(t).all()):
            raise ModelFileError(f"{path}: tensor {name!r} holds NaN or infinite values; the weights are "
                                 "damaged (retrain, or restore the run from a copy)")
    return TrackedTensors(tensors)


class TrackedTensors(dict):
    """A dict of tensors that records which ones a model's ``_restore`` read.

    Reading one tensor (``t[name]``, ``t.get(name)``) marks it; reading them all (iteration,
    ``items()``, ``values()``, ``keys()``, ``dict(t)``) marks every one: a model that takes the
    whole dict checks the names itself (Transformer state dicts are loaded with ``strict=True``)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.read: set[str] = set()

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def _all(self) -> None:
        self.read.update(super().keys())

    def __iter__(self) -> Iterator:
        self._all()
        return super().__iter__()

    def keys(self):
        self._all()
        return super().keys()

    def items(self):
        self._all()
        return super().items()

    def values(self):
        self._all()
        return super().values()

    def refuse_unread(self, path: Path) -> None:
        """A :class:`ModelFileError` naming the tensors the model did not read (unexpected ones)."""
        unread = sorted(set(super().keys()) - self.read)
        if unread:
            raise ModelFileError(f"{path}: unexpected tensors {unread[:5]}{' ...' if len(unread) > 5 else ''} "
                                 "that this model and config do not use; the file does not belong to this run")
