"""Atomic writes: a temporary file (or folder) beside the target, then ``os.replace``."""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger(__name__)


def _read_umask() -> int:
    mask = os.umask(0o022)  # the only way to read it is to set it; done once, at import
    os.umask(mask)
    return mask


UMASK = _read_umask()


def usual_permissions(path: str | Path) -> None:
    """Give ``path``, and all below it if it is a folder, the permissions ``open`` or ``mkdir``
    would have given it (0644 / 0755 under the usual umask). ``mkstemp``, ``mkdtemp`` and
    safetensors' ``save_file`` make files 0600 and folders 0700, which would leave saved runs
    unreadable to another user, a server's account, a container."""
    path = Path(path)
    for p in [path, *path.rglob("*")] if path.is_dir() else [path]:
        if not p.is_symlink():
            os.chmod(p, (0o777 if p.is_dir() else 0o666) & ~UMASK)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        usual_permissions(tmp)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


def swap_in_folder(tmp: Path, path: Path) -> None:
    """Replace folder ``path`` by ``tmp``; a crash in between leaves ``path`` or its backup whole."""
    if not path.exists():
        os.replace(tmp, path)
        return
    backup = path.with_name(f".{path.name}.previous")
    shutil.rmtree(backup, ignore_errors=True)  # a stale backup: ``path`` is complete
    os.replace(path, backup)
    os.replace(tmp, path)
    shutil.rmtree(backup, ignore_errors=True)


def recover_run_folder(path: Path) -> Path:
    """If a save was killed between its two renames, put the complete ``.NAME.previous`` back.

    Returns the folder to read: ``path`` (after renaming the backup back when needed), or the backup
    itself if it cannot be renamed (a read-only location).
    """
    path = Path(path)
    backup = path.with_name(f".{path.name}.previous")
    if path.exists() or not backup.is_dir():
        return path
    try:
        os.replace(backup, path)
        log.warning("%s: restored the previous run from %s (a save was interrupted)", path, backup.name)
        return path
    except OSError:
        log.warning("%s: missing; reading the previous run from %s (a save was interrupted)", path, backup)
        return backup


def write_folder(out: Path, write: Callable[[Path], None]) -> None:
    """``write(tmp)`` fills a new folder beside ``out``, which then replaces ``out`` whole (run
    folders, pretrained folders); folders of earlier writes that were killed are removed."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".saving", dir=out.parent))
    try:
        write(tmp)
        usual_permissions(tmp)
        swap_in_folder(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for stale in out.parent.glob(f".{out.name}.*.saving"):  # folders of writes that were killed
        shutil.rmtree(stale, ignore_errors=True)
