"""One rule from scores to answers, shared by ``Model.predict``, ``textzoo predict`` and the HTTP server.

For a (n_texts, n_labels) score matrix, each text is answered with ``(label, score)`` pairs, best
first (equal scores: the lower label index first):

- with ``top_k``: the ``top_k`` best labels whatever their score (all labels when ``top_k`` is
  larger than their number), for single-label and multi-label runs alike;
- without it, single-label runs: the best label;
- without it, multi-label runs: every label scoring at least ``threshold`` (default 0.5); when no
  label reaches it, the best label alone, so no text is ever answered with nothing.

The metrics of multi-label runs score the same answers: ``micro_f1`` and ``macro_f1`` at the
threshold are those of the labels this rule answers without ``top_k``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .data.corpus import Split, check_labels_known
from .metrics import classification_metrics, multilabel_metrics

DEFAULT_THRESHOLD = 0.5


def check_threshold(threshold: float) -> float:
    """``threshold`` as a float in [0, 1], else a ValueError saying so."""
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be a number in [0, 1], not {threshold!r}")
    return float(threshold)


def answered(probs: np.ndarray, multilabel: bool, threshold: float = DEFAULT_THRESHOLD) -> np.ndarray:
    """Boolean (n_texts, n_labels): the labels each text is answered with when no ``top_k`` is given."""
    probs = np.asarray(probs)
    best = np.zeros(probs.shape, dtype=bool)
    if probs.shape[0] and probs.shape[1]:
        best[np.arange(probs.shape[0]), probs.argmax(axis=1)] = True
    if not multilabel:
        return best
    above = probs >= check_threshold(threshold)
    return np.where(above.any(axis=1, keepdims=True), above, best)


def ranked_answers(probs: np.ndarray, labels: Sequence[str], multilabel: bool, top_k: int | None = None,
                   threshold: float = DEFAULT_THRESHOLD) -> list[list[tuple[str, float]]]:
    """Per text, the answered ``(label, score)`` pairs, best first (the rule of the module docstring)."""
    probs = np.asarray(probs)
    order = np.argsort(-probs, axis=1, kind="stable")
    if top_k is not None:
        k = max(1, min(int(top_k), probs.shape[1]))
        return [[(labels[j], float(row[j])) for j in idx[:k]] for idx, row in zip(order, probs)]
    keep = answered(probs, multilabel, threshold)
    return [[(labels[j], float(row[j])) for j in idx if mask[j]] for idx, row, mask in zip(order, probs, keep)]


def labels_of_scores(probs: np.ndarray, labels: Sequence[str], multilabel: bool, top_k: int | None = None,
                     threshold: float = DEFAULT_THRESHOLD) -> list:
    """What :meth:`Model.predict` returns: with ``top_k`` the ``(label, score)`` pairs; otherwise one
    label per text (single-label) or the list of answered labels, best first (multi-label)."""
    answers = ranked_answers(probs, labels, multilabel, top_k, threshold)
    if top_k is not None:
        return answers
    if multilabel:
        return [[label for label, _ in pairs] for pairs in answers]
    return [pairs[0][0] for pairs in answers]


def threshold_f1(pred: np.ndarray, truth) -> dict[str, float]:
    """``micro_f1`` (counts pooled over documents and labels) and ``macro_f1`` (mean of per-label F1
    over the labels that occur in ``truth`` or in ``pred``; as scikit-learn leaves out a class that
    occurs in neither) of boolean predictions against a sparse 0/1 truth matrix."""
    pred = np.asarray(pred, dtype=bool)
    true = np.asarray(truth.toarray() if hasattr(truth, "toarray") else truth, dtype=bool)
    tp = (pred & true).sum(axis=0).astype(np.float64)
    fp = (pred & ~true).sum(axis=0).astype(np.float64)
    fn = (~pred & true).sum(axis=0).astype(np.float64)
    denom = 2 * tp + fp + fn
    micro = 2 * tp.sum() / denom.sum() if denom.sum() else 0.0
    seen = denom > 0
    macro = float(np.mean(2 * tp[seen] / denom[seen])) if seen.any() else 0.0
    return {"micro_f1": float(micro), "macro_f1": macro}


def check_scorable(split: Split, labels: Sequence[str], multilabel: bool) -> None:
    """A clear error unless ``split`` is a non-empty labelled split whose labels are all in ``labels``."""
    from .models.base import _check_split

    _check_split(split, split.name, need_labels=True)
    check_labels_known(labels, multilabel, split)


def split_metrics(probs: np.ndarray, split: Split, labels: Sequence[str], multilabel: bool,
                  ks: Sequence[int] = (1, 3, 5), threshold: float = DEFAULT_THRESHOLD) -> dict[str, float]:
    """Metrics of the (n_docs, n_labels) scores ``probs`` against the labels of ``split`` (columns in
    the order of ``labels``): accuracy and F1 scores, or, when ``multilabel``, P@k / nDCG@k / R@k and
    the micro / macro F1 of the labels answered at ``threshold``."""
    index = {label: i for i, label in enumerate(labels)}
    if multilabel:
        import scipy.sparse as sp

        rows = np.repeat(np.arange(len(split)), [len(t) for t in split.labels])
        cols = np.fromiter((index[l] for t in split.labels for l in t), dtype=np.int64, count=len(rows))
        truth = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(split), len(labels)))
        out = multilabel_metrics(probs, truth, ks=tuple(ks))
        out.update(threshold_f1(answered(probs, True, threshold), truth))
        return out
    y_true = np.array([index[l] for l in split.labels])
    return classification_metrics(y_true, probs.argmax(axis=1), n_classes=len(labels))
