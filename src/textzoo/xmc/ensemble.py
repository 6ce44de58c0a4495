"""Ensembles by score averaging (X-Transformer, Section 4.3, and LightXML, Section 4.4).

X-Transformer averages the label scores of models trained on different label representations
(PIFA-tfidf, PIFA-neural, text-emb) and encoders; LightXML averages three models with different
encoders (BERT, RoBERTa, XLNet). Both ensembles are the plain mean of the members' score matrices; :class:`Ensemble` answers as
one model (any textzoo models sharing a label vocabulary, not only the XMC ones).
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


class Ensemble:
    """Trained models that share one label vocabulary, answering as one model: the mean of their
    scores. It has the facade's prediction side (``predict_proba``, ``predict``, ``evaluate``), so
    ``textzoo serve RUN RUN ...`` and ``textzoo predict RUN --with RUN`` serve it as they serve one run."""

    name = "ensemble"

    def __init__(self, models: Sequence):
        _check_members(models)
        self.models = list(models)
        self.labels = list(models[0].labels)
        self.multilabel = models[0].multilabel

    @classmethod
    def load(cls, run_dirs: Sequence, **runtime) -> "Ensemble":
        """The ensemble of the runs saved in ``run_dirs`` (``runtime``: as for ``Model.load``)."""
        from ..models.base import Model

        return cls([Model.load(run, **runtime) for run in run_dirs])

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return average_scores([m.predict_proba(list(texts)) for m in self.models])

    def predict(self, texts: Sequence[str] | str, top_k: int | None = None, threshold: float = 0.5):
        """What :meth:`textzoo.models.base.Model.predict` answers, for the average of the scores."""
        from ..scoring import labels_of_scores

        single = isinstance(texts, str)
        out = labels_of_scores(self.predict_proba([texts] if single else texts), self.labels, self.multilabel,
                               top_k, threshold)
        return out[0] if single else out

    def evaluate(self, data, labels: Sequence | None = None, *, ks: Sequence[int] = (1, 3, 5),
                 threshold: float = 0.5) -> dict[str, float]:
        """The metrics of the score average on labelled data (``textzoo evaluate RUN RUN ...``), as
        :meth:`textzoo.models.base.Model.evaluate` scores one model."""
        from ..data.inputs import align_targets, as_split
        from ..scoring import check_scorable, split_metrics

        split = align_targets(as_split(data, labels, name="test"), self.multilabel)
        check_scorable(split, self.labels, self.multilabel)
        return split_metrics(self.predict_proba(split.texts), split, self.labels, self.multilabel, ks, threshold)


def ensemble_evaluate(models: Sequence, split, ks: Sequence[int] = (1, 3, 5)) -> dict[str, float]:
    """The metrics of the members' score average on a labelled split (what ``Model.evaluate`` gives
    for one model; ``textzoo evaluate RUN RUN ...``)."""
    return Ensemble(models).evaluate(split, ks=ks)


def _check_members(models: Sequence) -> None:
    from ..errors import ConfigError

    if not models:
        raise ConfigError("an ensemble needs at least one member")
    labels = list(models[0].labels)
    for m in models[1:]:
        if list(m.labels) != labels or m.multilabel != models[0].multilabel:
            raise ConfigError(f"ensemble members must share the label vocabulary ({m.name} differs)")
