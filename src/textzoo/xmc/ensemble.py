"""Ensembles by score averaging (X-Transformer, Section 4.3, and LightXML, Section 4.4).

X-Transformer averages the label scores of models trained on different label representations
(PIFA-tfidf, PIFA-neural, text-emb) and encoders; LightXML averages three models with different
encoders (BERT, RoBERTa, XLNet). Both ensembles are the plain mean of the members' score matrices.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def average_scores(scores: Sequence[np.ndarray]) -> np.ndarray:
    """Mean of equally shaped (n_docs, n_labels) score matrices."""
    if not scores:
        raise ValueError("an ensemble needs at least one member")
    shapes = {np.shape(s) for s in scores}
    if len(shapes) != 1:
        raise ValueError(f"ensemble members disagree on the score shape: {sorted(shapes)}")
    out = np.zeros(np.shape(scores[0]), dtype=np.float64)
    for s in scores:
        out += s
    return (out / len(scores)).astype(np.float32)


def ensemble_predict_proba(models: Sequence, texts: Sequence[str]) -> np.ndarray:
    """Average ``predict_proba`` of trained textzoo models that share one label vocabulary."""
    _check_members(models)
    return average_scores([m.predict_proba(list(texts)) for m in models])


def ensemble_evaluate(models: Sequence, split, ks: Sequence[int] = (1, 3, 5)) -> dict[str, float]:
    """The metrics of the members' score average on a labelled split (what ``Model.evaluate`` gives
    for one model; ``textzoo evaluate RUN RUN ...``)."""
    from ..models.base import check_scorable, split_metrics

    _check_members(models)
    first = models[0]
    check_scorable(split, first.labels, first.multilabel)
    probs = average_scores([m.predict_proba(list(split.texts)) for m in models])
    return split_metrics(probs, split, first.labels, first.multilabel, ks)


def _check_members(models: Sequence) -> None:
    from ..errors import ConfigError

    if not models:
        raise ConfigError("an ensemble needs at least one member")
    labels = list(models[0].labels)
    for m in models[1:]:
        if list(m.labels) != labels or m.multilabel != models[0].multilabel:
            raise ConfigError(f"ensemble members must share the label vocabulary ({m.name} differs)")
