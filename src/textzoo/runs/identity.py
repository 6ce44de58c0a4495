""""Is this the same run?", decided in one place.

A run's fingerprint is the model name, its hyper-parameters (runtime settings left out:
:data:`textzoo.runtime.RUNTIME_KEYS`) and facts about its data (a digest of every text and label,
the number of documents, the label vocabulary). The same fingerprint is written into every
checkpoint (a resumed run must match it, :func:`textzoo.training.checkpoint.check_same_run`), its
digest into a finished run's ``config.json`` ``info.fingerprint`` (``--resume`` on a finished run
prints its metrics instead of training again) and into a pretrained folder's summary.
"""

from __future__ import annotations

import hashlib
import json
from typing import Iterable, Sequence

from ..runtime import hyper_parameters


def fingerprint(model: str, config, free: Iterable[str] = (), **facts) -> dict:
    """``{"model", "config", **facts}``: the hyper-parameters of ``config`` without the runtime
    settings and the ``free`` keys (settings a resumed run may change, e.g. progress bars)."""
    free = set(free)
    conf = {k: v for k, v in hyper_parameters(config).items() if k not in free}
    return json.loads(json.dumps({"model": model, "config": conf, **facts}))


def fingerprint_id(fp: dict) -> str:
    """A short digest of a fingerprint (what a finished run records)."""
    return hashlib.blake2b(json.dumps(fp, sort_keys=True).encode(), digest_size=16).hexdigest()


def data_digest(train, valid, unlabelled: Sequence[str]) -> str:
    """Digest of the texts and labels of ``train`` and ``valid`` (Splits) and the ``unlabelled`` texts."""
    digest = hashlib.blake2b(digest_size=16)
    for split in [train] + ([valid] if valid is not None else []):
        for text, label in zip(split.texts, split.labels):
            digest.update(text.encode("utf-8", "surrogatepass") + b"\0")
            digest.update(json.dumps(label).encode() + b"\0")
        digest.update(b"\1")
    for text in unlabelled:
        digest.update(text.encode("utf-8", "surrogatepass") + b"\0")
    return digest.hexdigest()


def model_fingerprint(model, train, valid, unlabelled: Sequence[str], labels: Sequence[str],
                      multilabel: bool) -> dict:
    """The fingerprint of fitting ``model`` (its class and config) on this data."""
    return fingerprint(model.name, model.config, labels=list(labels), multilabel=bool(multilabel),
                       documents=[len(train), 0 if valid is None else len(valid), len(unlabelled)],
                       data=data_digest(train, valid, unlabelled))
