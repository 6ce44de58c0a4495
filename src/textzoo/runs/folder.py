"""A run folder's names and states: where its checkpoints go, what a killed save leaves behind,
and whether it already holds a finished run.

    OUT/                   the finished run (``config.json``, weights, metrics, history, plots)
    OUT/checkpoints/       checkpoints of the run being trained into OUT (gone once it finishes)
    .OUT.previous/         the run a save is replacing: present only while the save swaps folders
    .OUT.*.saving/         the new run being written; renamed to OUT when complete

A save writes ``.OUT.*.saving`` whole and swaps it in with two renames (:func:`textzoo._io.write_folder`),
so OUT is always complete or absent.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from .._io import recover_run_folder

log = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"


def default_out(model: str, dataset: str) -> Path:
    """``runs/MODEL-DATASET`` (lower case): where ``textzoo train`` writes without ``--out``."""
    return Path(f"runs/{model}-{dataset}".lower())


def backup_of(out: Path) -> Path:
    """The name a run takes while a save replaces it."""
    return out.with_name(f".{out.name}.previous")


def prepare(out: Path) -> None:
    """Make ``out`` whole again before a run starts: put back the previous run if a save was killed
    between its two renames, and delete the backup a save killed after its swap left beside the
    new, complete ``out``."""
    recover_run_folder(out)
    backup = backup_of(out)
    if out.is_dir() and backup.is_dir():
        log.info("%s: deleting %s, left by a save that was interrupted after it completed", out, backup.name)
        shutil.rmtree(backup, ignore_errors=True)


def is_finished(out: Path) -> bool:
    """Whether ``out`` holds a finished run (a saved ``config.json``)."""
    return (out / CONFIG_FILE).is_file()


def finished_run(out: Path, fingerprint: str) -> dict | None:
    """The metrics of the finished run in ``out`` if its fingerprint is ``fingerprint``, else None."""
    from ..errors import ModelFileError
    from ..models.base import _read_json, read_run_config

    if not (is_finished(out) and (out / METRICS_FILE).is_file()):
        return None
    try:
        meta, metrics = read_run_config(out), _read_json(out / METRICS_FILE)
    except ModelFileError:
        return None
    same = meta.get("info", {}).get("fingerprint") == fingerprint
    return metrics if same and isinstance(metrics, dict) else None


def describe(out: Path) -> str:
    """A few words on the finished run in ``out`` for an error message (its model and accuracy)."""
    import json

    try:
        meta = json.loads((out / CONFIG_FILE).read_text(encoding="utf-8"))
        test = json.loads((out / METRICS_FILE).read_text(encoding="utf-8")).get("test", {})
    except (OSError, ValueError, AttributeError):
        return "a finished run"
    score = next(((k, v) for k, v in test.items() if isinstance(v, float)), None) if isinstance(test, dict) else None
    what = f"a finished {meta.get('model', '?')} run" if isinstance(meta, dict) else "a finished run"
    return what + (f" (test {score[0]} {score[1]:.4f})" if score else "")
