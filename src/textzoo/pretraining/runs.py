"""What every pretrainer shares to survive a kill: the fingerprint a resumed run must match
(checked by :func:`textzoo.training.checkpoint.check_same_run`) and opening the run (:func:`open_run`).

A pretraining writes its checkpoints to ``OUT/checkpoints`` (:mod:`textzoo.training.checkpoint`)
and, at the end, builds the finished folder beside ``OUT`` and swaps it in whole, checkpoints
included (:func:`textzoo._io.write_folder`): a kill at any moment leaves the previous ``OUT`` or
the new one, never a mixture.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path
from typing import Iterable

from .._io import recover_run_folder
from ..runs.identity import fingerprint as run_fingerprint
from ..runtime import without_runtime

log = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"   #: OUT/checkpoints: the checkpoints of an unfinished pretraining
SUMMARY = "pretraining.json"  #: the finished folder's summary, which holds the fingerprint


def fingerprint(model: str, config, texts: Iterable[str], free: Iterable[str] = ()) -> dict:
    """What a resumed pretraining must share with the interrupted one (:mod:`textzoo.runs.identity`):
    the model, the hyper-parameters (not the runtime settings nor the ``free`` ones, e.g. progress
    bars) and a digest of the texts."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8") + b"\n")
    return run_fingerprint(model, config, free, corpus_sha256=digest.hexdigest())


def finished(out: Path, fp: dict) -> bool:
    """Whether ``out`` already holds the finished pretraining with fingerprint ``fp``."""
    try:
        summary = json.loads((out / SUMMARY).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    saved = summary.get("fingerprint") if isinstance(summary, dict) else None
    if isinstance(saved, dict) and isinstance(saved.get("config"), dict):  # older folders recorded runtime keys
        saved = {**saved, "config": without_runtime(saved["config"])}
    return saved == fp


def open_run(out: Path, fp: dict, resume: bool) -> tuple[Path, tuple | None, bool]:
    """``(checkpoint folder, checkpoint to resume from or None, finished)`` of pretraining ``fp``
    into ``out``; ``finished``: ``out`` already holds it and ``resume`` asks for nothing more.

    First puts back a finished folder whose write was killed between its two renames. Without a
    checkpoint to resume from, old checkpoints are deleted (the pointer first, so that a kill
    meanwhile leaves none half there)."""
    from ..training.checkpoint import check_same_run, clear_checkpoints, load_checkpoint

    recover_run_folder(out)
    folder = out / CHECKPOINTS
    if resume:
        found = load_checkpoint(folder)
        if found is not None:
            check_same_run(folder, found[1].get("fingerprint"), fp, "pretraining",
                           "resume with the same corpus and settings, or drop --resume to start afresh")
            return folder, found, False
        if finished(out, fp):
            log.info("%s already holds this finished pretraining; nothing to resume", out)
            return folder, None, True
        log.info("no checkpoint in %s: the pretraining starts afresh", folder)
    if folder.exists():
        log.info("deleting the old checkpoints in %s (--resume would continue them)", folder)
        clear_checkpoints(folder)
        shutil.rmtree(folder, ignore_errors=True)
    return folder, None, False
