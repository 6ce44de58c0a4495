"""Score fusion with ``linear`` (an option of ``xtransformer`` and ``lightxml``: ``fusion=linear``).

The neural model is trained as its paper says; then a ``linear`` model (TF-IDF + one-vs-rest
liblinear SVMs, Platt-calibrated, :mod:`textzoo.models.linear`) is trained on the same training
split, and the answer is the convex combination

    score = w * neural score + (1 - w) * linear probability,

with w chosen on the validation split from 0, 0.05, ..., 1 by the mean of P@1 and P@5 (accuracy
for single-label data; the largest w among equals). Without a validation split w = 0.5, with a
warning. The idea is PECOS's XR-Transformer practice of combining the neural matcher with a TF-IDF
linear model (Zhang et al., "Fast Multi-Resolution Transformer Fine-tuning for Extreme Multi-label
Text Classification", NeurIPS 2021, which concatenates TF-IDF and neural features for its ranker);
here it is the simplest late fusion of the two scores. ``fusion=none`` (default) is the paper's
model alone.

:class:`LinearFusion` is a mixin placed between the model class and its base: it wraps ``fit`` and
``predict_proba``, and adds the linear model (tensors ``fusion.*``, side file ``fusion.json``) to
the run folder through ``_state``/``_restore``.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from ..errors import ModelFileError

log = logging.getLogger(__name__)

GRID = np.round(np.linspace(0.0, 1.0, 21), 2)


class LinearFusion:
    """Mixin: ``fusion=linear`` in the model's config fuses its scores with a ``linear`` model."""

    _fusion = None           # the fitted textzoo.models.linear.Linear, or None
    _fusion_weight = 1.0

    def fit(self, train, valid=None, **kwargs):
        from ..data.corpus import Corpus

        super().fit(train, valid, **kwargs)
        self._fusion = None
        if getattr(self.config, "fusion", "none") != "linear":
            return self
        if isinstance(train, Corpus):
            train, valid = train.train, train.valid if valid is None else valid
        from ..models.linear import Linear

        linear = Linear()
        linear.fit(train, valid, labels=self.labels)
        if valid is None:
            log.warning("%s: fusion=linear without a validation split: the weight is 0.5; give a validation "
                        "split to choose it", self.name)
            weight, table = 0.5, {}
        else:
            weight, table = choose_weight(super().predict_proba(valid.texts), linear.predict_proba(valid.texts),
                                          valid, self.labels, self.multilabel)
        self._fusion, self._fusion_weight = linear, float(weight)
        self.info["fusion"] = {"weight": self._fusion_weight, "linear_seconds": linear.info["train_seconds"],
                               "valid": table}
        log.info("%s: fused with linear, weight %.2f on the neural scores", self.name, weight)
        return self

    def predict_proba(self, texts):
        return self.fuse_scores(super().predict_proba(texts), texts)

    def unfused_proba(self, texts) -> np.ndarray:
        """The neural model's own scores (the paper's model), without the fusion."""
        return super().predict_proba(texts)

    def fuse_scores(self, scores: np.ndarray, texts) -> np.ndarray:
        """``w * scores + (1 - w) * linear`` for the neural ``scores`` of ``texts`` (unchanged
        without fusion)."""
        if self._fusion is None or len(scores) == 0:
            return scores
        w = self._fusion_weight
        return (w * scores + (1.0 - w) * self._fusion.predict_proba(list(texts))).astype(np.float32)

    def _state(self):
        state = super()._state()
        if self._fusion is not None:
            inner = self._fusion._state()
            state.tensors.update({f"fusion.{k}": v for k, v in inner.tensors.items()})
            state.tensors["fusion.weight"] = torch.tensor([self._fusion_weight], dtype=torch.float64)
            state.extra["fusion"] = {"tfidf": inner.extra["tfidf"]}
        return state

    def _restore(self, state):
        from ..models.base import State
        from ..models.linear import Linear

        fusion = {k[len("fusion."):]: v for k, v in state.tensors.items() if k.startswith("fusion.")}
        rest = {k: v for k, v in state.tensors.items() if not k.startswith("fusion.")}
        super()._restore(State(tensors=rest, extra=state.extra, source=state.source))
        self._fusion = None
        if getattr(self.config, "fusion", "none") != "linear":
            return
        where = state.source / "model.safetensors" if state.source else "model.safetensors"
        if "weight" not in fusion or "fusion" not in state.extra:
            raise ModelFileError(f"{where}: fusion=linear but the run lacks the fused linear model (fusion.*)")
        weight = fusion.pop("weight")
        if weight.shape != (1,) or not 0.0 <= float(weight[0]) <= 1.0:
            raise ModelFileError(f"{where}: fusion.weight must be one number in [0, 1]")
        linear = Linear()
        linear.labels, linear.multilabel = list(self.labels), self.multilabel
        linear._restore(State(tensors=fusion, extra=state.extra["fusion"], source=state.source))
        linear.fitted = True
        self._fusion, self._fusion_weight = linear, float(weight[0])


def choose_weight(neural: np.ndarray, linear: np.ndarray, valid, labels, multilabel: bool) -> tuple[float, dict]:
    """``(w, {w: criterion})``: the grid weight maximising the validation criterion (see the module
    docstring) of ``w * neural + (1 - w) * linear``."""
    from ..models.base import split_metrics

    table = {}
    for w in GRID:
        m = split_metrics(w * neural + (1.0 - w) * linear, valid, labels, multilabel, ks=(1, 5))
        table[float(w)] = round((m["P@1"] + m["P@5"]) / 2 if multilabel else m["accuracy"], 6)
    best = max(table.values())
    return max(w for w, v in table.items() if v == best), table
