"""Evaluation metrics for single-label classification and multi-label / extreme classification (XMC).

Single-label metrics wrap scikit-learn. Multi-label ranking metrics follow the definitions of the
Extreme Classification Repository (Bhatia et al., http://manikvarma.org/downloads/XC/XMLRepository.html)
and its reference implementation ``pyxclib`` and are fully vectorised (no per-document Python loop).

Multi-label inputs
------------------
``scores``
    Either a dense float array ``(n_docs, n_labels)`` of label scores (higher is better), or an
    *integer* array ``(n_docs, m)`` of predicted label indices, best first (the top-``m`` list a
    model returned). Negative entries in an index array mean "no prediction" (padding). The dtype
    decides: floating point means scores, integer means indices; pass integer-valued scores as
    floats (``scores.astype(float)``). Boolean arrays are rejected as ambiguous.
``y_true``
    Ground truth, a ``scipy.sparse`` matrix/array ``(n_docs, n_labels)``; every stored non-zero
    counts as a relevant label (a dense 0/1 array is accepted too).

Ranking, ties and short lists
    The top-``k`` of a score row is the ``k`` highest scores; equal scores are ordered by the lower
    label index first, so results are deterministic. If ``k`` exceeds the number of labels (or the
    length of an index list), the missing ranks count as misses: P@k still divides by ``k``.

Documents without any true label
    P@k and PSP@k count them (P@k = 0 for such a document; for PSP@k they add 0 to both the
    numerator and the normaliser). nDCG@k and R@k are undefined (0/0) for them, so they are
    *skipped*: the mean runs over documents with at least one true label (``nan`` if there is none).
    Note that pyxclib instead averages nDCG over all documents, counting such documents as 0.
"""

from __future__ import annotations

import warnings
from typing import Any, Iterable, Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import accuracy_score, f1_score
from sklearn.metrics import confusion_matrix as _sk_confusion_matrix

__all__ = [
    "classification_metrics",
    "per_class_f1",
    "confusion_matrix",
    "top_k_indices",
    "precision_at_k",
    "ndcg_at_k",
    "recall_at_k",
    "psp_at_k",
    "psndcg_at_k",
    "propensities",
    "multilabel_metrics",
]

# --------------------------------------------------------------------------------------------
# Single-label classification
# --------------------------------------------------------------------------------------------


def _check_label_vectors(y_true: Any, y_pred: Any, n_classes: int | None) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if y.ndim != 1:
            raise ValueError(f"{name} must be a 1-D array of class ids, got shape {y.shape}")
        if y.size == 0:
            raise ValueError("cannot compute metrics on zero documents")
        if y.dtype.kind not in "iu":
            raise ValueError(f"{name} must hold integer class ids, got dtype {y.dtype}")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has {y_true.size} entries but y_pred has {y_pred.size}")
    if n_classes is not None:
        if n_classes < 1:
            raise ValueError(f"n_classes must be >= 1, got {n_classes}")
        for name, y in (("y_true", y_true), ("y_pred", y_pred)):
            lo, hi = int(y.min()), int(y.max())
            if lo < 0 or hi >= n_classes:
                raise ValueError(f"{name} has class ids in [{lo}, {hi}], outside [0, {n_classes - 1}]")
    return y_true, y_pred


def classification_metrics(y_true: Any, y_pred: Any, n_classes: int | None = None) -> dict[str, float]:
    """Accuracy and F1 scores of single-label predictions (scikit-learn).

    - ``accuracy``    = (1/n) * sum_i [y_pred_i == y_true_i]
    - ``micro_f1``    = 2TP / (2TP + FP + FN) with counts pooled over classes; for single-label
      data every error is one FP and one FN, so micro-F1 equals accuracy.
    - ``macro_f1``    = unweighted mean over classes c of F1_c = 2TP_c / (2TP_c + FP_c + FN_c),
      over the classes that occur in ``y_true`` or ``y_pred`` (scikit-learn's default). A class
      that occurs in neither is left out rather than counted as 0, so it does not matter whether
      the test split happens to contain every class.
    - ``weighted_f1`` = sum_c support_c * F1_c / n (support = count in ``y_true``).

    ``n_classes`` only validates that every id lies in ``[0, n_classes)``.
    """
    y_true, y_pred = _check_label_vectors(y_true, y_pred, n_classes)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "micro_f1": float(f1_score(y_true, y_pred, average="micro")),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro")),
        "weighted_f1": float(f1_score(y_true, y_pred, average="weighted")),
    }


def _class_range(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int | None) -> np.ndarray:
    if n_classes is None:
        if min(int(y_true.min()), int(y_pred.min())) < 0:
            raise ValueError("class ids must be >= 0 (or pass n_classes)")
        n_classes = max(int(y_true.max()), int(y_pred.max())) + 1
    return np.arange(n_classes)


def per_class_f1(y_true: Any, y_pred: Any, n_classes: int | None = None) -> np.ndarray:
    """F1_c = 2TP_c / (2TP_c + FP_c + FN_c) for c = 0 .. n_classes-1 (scikit-learn).

    Entry ``c`` belongs to class id ``c``; ``n_classes`` defaults to max id + 1. A class that
    occurs in neither ``y_true`` nor ``y_pred`` (0/0) gets 0.0.
    """
    y_true, y_pred = _check_label_vectors(y_true, y_pred, n_classes)
    labels = _class_range(y_true, y_pred, n_classes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        return np.asarray(f1_score(y_true, y_pred, labels=labels, average=None, zero_division=0.0), dtype=float)


def confusion_matrix(y_true: Any, y_pred: Any, n_classes: int | None = None) -> np.ndarray:
    """``C[i, j]`` = number of documents of true class ``i`` predicted as class ``j`` (scikit-learn).

    Shape ``(n_classes, n_classes)``, rows and columns indexed by class id; ``n_classes``
    defaults to max id + 1.
    """
    y_true, y_pred = _check_label_vectors(y_true, y_pred, n_classes)
    labels = _class_range(y_true, y_pred, n_classes)
    return _sk_confusion_matrix(y_true, y_pred, labels=labels)


# --------------------------------------------------------------------------------------------
# Multi-label / XMC: inputs and ranking
# --------------------------------------------------------------------------------------------

_CHUNK_ELEMENTS = 1 << 23  # rows are processed in blocks of about this many score entries


def _check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return int(k)


def _as_label_matrix(y_true: Any) -> sp.csr_array:
    """Canonical binary CSR: sorted, unique column indices, explicit zeros dropped, data = 1."""
    if sp.issparse(y_true):
        y = sp.csr_array(y_true, copy=True)
    else:
        arr = np.asarray(y_true)
        if arr.ndim != 2:
            raise ValueError(f"y_true must be a 2-D (n_docs, n_labels) matrix, got shape {arr.shape}")
        y = sp.csr_array(arr)
    if y.ndim != 2 or y.shape[1] == 0:
        raise ValueError(f"y_true must be 2-D with at least one label column, got shape {y.shape}")
    y.sum_duplicates()
    y.eliminate_zeros()
    y.data = np.ones_like(y.data, dtype=np.float64)
    return y


def top_k_indices(scores: Any, k: int) -> np.ndarray:
    """Label indices of the ``k`` highest scores of each row, best first.

    Uses ``np.argpartition``-style selection (O(n_labels) per row) and sorts only the ``k``
    winners. Ties are broken towards the lower label index. Returns shape
    ``(n_docs, min(k, n_labels))``.
    """
    k = _check_k(k)
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise ValueError(f"scores must be 2-D (n_docs, n_labels), got shape {scores.shape}")
    if scores.dtype.kind not in "iuf":
        raise ValueError(f"scores must be numeric, got dtype {scores.dtype}")
    if scores.dtype.kind == "f" and np.isnan(scores).any():
        raise ValueError("scores contain NaN")
    n, n_labels = scores.shape
    kk = min(k, n_labels)
    out = np.empty((n, kk), dtype=np.intp)
    if n == 0 or kk == 0:
        return out
    rows_per_chunk = max(1, _CHUNK_ELEMENTS // n_labels)
    for start in range(0, n, rows_per_chunk):
        block = scores[start : start + rows_per_chunk]
        if kk < n_labels:
            # t = k-th largest score of the row; take every score > t, then the lowest-index
            # entries equal to t until the row has exactly k.
            t = np.partition(block, n_labels - kk, axis=1)[:, n_labels - kk][:, None]
            take = block >= t
            if np.any(take.sum(axis=1) != kk):  # ties at the k-th score: keep the lowest indices
                above = block > t
                at = block == t
                need = kk - above.sum(axis=1, dtype=np.int64)
                take = above | (at & (np.cumsum(at, axis=1, dtype=np.int64) <= need[:, None]))
            idx = np.nonzero(take)[1].reshape(-1, kk)  # row-major, so ascending per row
        else:
            idx = np.broadcast_to(np.arange(n_labels), block.shape)
        vals = np.take_along_axis(block, idx, axis=1)
        order = np.argsort(-vals.astype(np.float64), axis=1, kind="stable")  # stable: ties by index
        out[start : start + len(block)] = np.take_along_axis(idx, order, axis=1)
    return out


def _ranked(scores: Any, y: sp.csr_array, k: int) -> np.ndarray:
    """Predicted label indices ``(n_docs, k)``, best first, padded with -1."""
    if sp.issparse(scores):
        raise TypeError("sparse score matrices are not supported; pass dense scores or top-k indices")
    arr = np.asarray(scores)
    n_docs, n_labels = y.shape
    if arr.ndim != 2 or arr.shape[0] != n_docs:
        raise ValueError(f"scores must have shape ({n_docs}, ...) to match y_true, got {arr.shape}")
    if arr.dtype.kind == "b":
        raise ValueError("boolean scores are ambiguous: pass float scores or integer label indices")
    if arr.dtype.kind == "f":
        if arr.shape[1] != n_labels:
            raise ValueError(f"scores have {arr.shape[1]} columns but y_true has {n_labels} labels")
        idx = top_k_indices(arr, k)
    elif arr.dtype.kind in "iu":
        idx = arr[:, :k].astype(np.intp)
        idx = np.where(idx < 0, -1, idx)
        if idx.size and idx.max() >= n_labels:
            raise ValueError(f"predicted label index {idx.max()} is out of range for {n_labels} labels")
        srt = np.sort(idx, axis=1)
        if np.any((srt[:, 1:] == srt[:, :-1]) & (srt[:, 1:] >= 0)):
            raise ValueError("a row of predicted label indices repeats a label")
    else:
        raise ValueError(f"scores must be float scores or integer label indices, got dtype {arr.dtype}")
    if idx.shape[1] < k:
        idx = np.hstack([idx, np.full((n_docs, k - idx.shape[1]), -1, dtype=np.intp)])
    return idx


def _relevance(idx: np.ndarray, y: sp.csr_array) -> np.ndarray:
    """``rel[i, j] = y[i, idx[i, j]]`` as bool; padding (-1) is never relevant."""
    n_docs, n_labels = y.shape
    rows = np.repeat(np.arange(n_docs, dtype=np.int64), np.diff(y.indptr))
    keys = rows * n_labels + y.indices.astype(np.int64)  # sorted: CSR is canonical
    query = np.arange(n_docs, dtype=np.int64)[:, None] * n_labels + idx.astype(np.int64)
    if len(keys) == 0:
        return np.zeros(idx.shape, dtype=bool)
    pos = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
    return (keys[pos] == query) & (idx >= 0)


def _discounts(k: int) -> np.ndarray:
    """1 / log2(rank + 1) for rank = 1..k."""
    return 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))


def _best_weights(y: sp.csr_array, weights: np.ndarray, k: int) -> np.ndarray:
    """``(n_docs, k)``: each document's true-label weights, largest first, zero-padded."""
    n_docs = y.shape[0]
    counts = np.diff(y.indptr)
    rows = np.repeat(np.arange(n_docs), counts)
    w = weights[y.indices]
    order = np.lexsort((-w, rows))  # by row, then by weight descending
    rank = np.arange(len(order)) - y.indptr[rows[order]]
    keep = rank < k
    best = np.zeros((n_docs, k), dtype=np.float64)
    best[rows[order][keep], rank[keep]] = w[order][keep]
    return best


def _inverse_propensity(propensity: Any, n_labels: int) -> np.ndarray:
    p = np.asarray(propensity, dtype=np.float64).ravel()
    if p.shape != (n_labels,):
        raise ValueError(f"propensity must have one entry per label ({n_labels}), got shape {p.shape}")
    if not np.all(np.isfinite(p) & (p > 0)):
        raise ValueError("propensities must be finite and > 0")
    return 1.0 / p


def _mean_or_nan(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else float("nan")


# --------------------------------------------------------------------------------------------
# Multi-label / XMC metrics
# --------------------------------------------------------------------------------------------


def _p_at(rel: np.ndarray, k: int) -> float:
    return float(rel[:, :k].sum(axis=1).mean() / k) if rel.shape[0] else float("nan")


def _ndcg_at(rel: np.ndarray, n_true: np.ndarray, k: int) -> float:
    disc = _discounts(k)
    dcg = rel[:, :k] @ disc
    idcg_table = np.concatenate([[0.0], np.cumsum(disc)])
    idcg = idcg_table[np.minimum(n_true, k)]
    has = n_true > 0
    return _mean_or_nan(dcg[has] / idcg[has])


def _recall_at(rel: np.ndarray, n_true: np.ndarray, k: int) -> float:
    has = n_true > 0
    return _mean_or_nan(rel[has, :k].sum(axis=1) / n_true[has])


def _psp_at(gain: np.ndarray, best: np.ndarray, k: int) -> float:
    den = best[:, :k].sum()
    return float(gain[:, :k].sum() / den) if den > 0 else float("nan")


def _psndcg_at(gain: np.ndarray, best: np.ndarray, n_true: np.ndarray, k: int) -> float:
    disc = _discounts(k)
    idcg = np.concatenate([[0.0], np.cumsum(disc)])[np.minimum(n_true, k)]
    scale = np.divide(1.0, idcg, out=np.zeros_like(idcg), where=idcg > 0)
    num = (gain[:, :k] @ disc * scale).sum()
    den = (best[:, :k] @ disc * scale).sum()
    return float(num / den) if den > 0 else float("nan")


def precision_at_k(scores: Any, y_true: Any, k: int = 5) -> float:
    """P@k = (1/n) sum_i (1/k) sum_{l in top_k(i)} y_il, over all documents."""
    k = _check_k(k)
    y = _as_label_matrix(y_true)
    return _p_at(_relevance(_ranked(scores, y, k), y), k)


def ndcg_at_k(scores: Any, y_true: Any, k: int = 5) -> float:
    """nDCG@k = DCG@k / IDCG@min(k, |y_i|), averaged over documents with >= 1 true label.

    DCG@k = sum_{r=1..k} y_{i, l_r} / log2(r + 1), where l_r is the label ranked r;
    IDCG@m = sum_{r=1..m} 1 / log2(r + 1) (the DCG of a perfect ranking).
    """
    k = _check_k(k)
    y = _as_label_matrix(y_true)
    n_true = np.diff(y.indptr)
    return _ndcg_at(_relevance(_ranked(scores, y, k), y), n_true, k)


def recall_at_k(scores: Any, y_true: Any, k: int = 5) -> float:
    """R@k = |top_k(i) ∩ y_i| / |y_i|, averaged over documents with >= 1 true label."""
    k = _check_k(k)
    y = _as_label_matrix(y_true)
    n_true = np.diff(y.indptr)
    return _recall_at(_relevance(_ranked(scores, y, k), y), n_true, k)


def propensities(train_labels: Any, A: float = 0.55, B: float = 1.5) -> np.ndarray:
    """Label propensities of Jain, Prabhu & Varma (KDD 2016), from the training label matrix.

    p_l = 1 / (1 + C * (N_l + B)^(-A)) = 1 / (1 + C * exp(-A * ln(N_l + B))),
    C = (ln N - 1) * (B + 1)^A, N = number of training documents, N_l = training documents with
    label l. Paper defaults A = 0.55, B = 1.5 (the repository uses A = 0.5, B = 0.4 for
    Wikipedia-500K and A = 0.6, B = 2.6 for Amazon-670K / Amazon-3M). Returns p (not 1/p).
    """
    y = _as_label_matrix(train_labels)
    n_docs = y.shape[0]
    if n_docs < 2:
        raise ValueError("propensities need at least 2 training documents")
    n_l = np.bincount(y.indices, minlength=y.shape[1]).astype(np.float64)
    c = (np.log(n_docs) - 1.0) * (B + 1.0) ** A
    inv = 1.0 + c * np.exp(-A * np.log(n_l + B))
    if not np.all(np.isfinite(inv) & (inv > 0)):
        raise ValueError(f"propensity formula is not positive for N={n_docs}, A={A}, B={B}")
    return 1.0 / inv


def psp_at_k(scores: Any, y_true: Any, propensity: Any, k: int = 5) -> float:
    """Propensity-scored precision, normalised by the best achievable value (pyxclib / XMC repo).

    PSP@k = [sum_i sum_{l in top_k(i)} y_il / p_l] / [sum_i max_{|S|<=k} sum_{l in S} y_il / p_l]

    i.e. the raw PSP (1/n) sum_i (1/k) sum_{l in top_k(i)} y_il / p_l divided by the same quantity
    for the ideal ranking, which puts each document's true labels with the smallest propensity
    first. The ratio is taken of corpus totals (not averaged per document), so 1.0 is perfect.
    """
    k = _check_k(k)
    y = _as_label_matrix(y_true)
    w = _inverse_propensity(propensity, y.shape[1])
    idx = _ranked(scores, y, k)
    gain = _relevance(idx, y) * w[np.maximum(idx, 0)]
    return _psp_at(gain, _best_weights(y, w, k), k)


def psndcg_at_k(scores: Any, y_true: Any, propensity: Any, k: int = 5) -> float:
    """Propensity-scored nDCG, normalised by the best achievable value as in pyxclib.

    PSnDCG@k = [sum_i PSDCG_i / IDCG_i] / [sum_i PSDCG*_i / IDCG_i], where
    PSDCG_i = sum_{r=1..k} y_{i,l_r} / (p_{l_r} log2(r + 1)), PSDCG*_i is the same for the ideal
    ranking (true labels by ascending propensity) and IDCG_i = IDCG@min(k, |y_i|) as in nDCG@k.
    """
    k = _check_k(k)
    y = _as_label_matrix(y_true)
    w = _inverse_propensity(propensity, y.shape[1])
    idx = _ranked(scores, y, k)
    gain = _relevance(idx, y) * w[np.maximum(idx, 0)]
    return _psndcg_at(gain, _best_weights(y, w, k), np.diff(y.indptr), k)


def multilabel_metrics(
    scores: Any,
    y_true: Any,
    ks: Sequence[int] | Iterable[int] = (1, 3, 5),
    propensity: Any = None,
    threshold: float | None = None,
) -> dict[str, float]:
    """All ranking metrics at each k in ``ks``, from one top-k selection.

    Keys: ``P@k``, ``nDCG@k``, ``R@k``; with ``propensity`` (p_l per label, see
    :func:`propensities`) also ``PSP@k`` and ``PSnDCG@k``. With ``threshold`` (dense scores only)
    also ``micro_f1`` of the predictions ``scores >= threshold``:
    micro-F1 = 2TP / (2TP + FP + FN), counts pooled over all documents and labels.
    """
    ks = [_check_k(k) for k in ks]
    if not ks:
        raise ValueError("ks must name at least one k")
    y = _as_label_matrix(y_true)
    kmax = max(ks)
    idx = _ranked(scores, y, kmax)
    rel = _relevance(idx, y)
    n_true = np.diff(y.indptr)
    out: dict[str, float] = {}
    for k in ks:
        out[f"P@{k}"] = _p_at(rel, k)
    for k in ks:
        out[f"nDCG@{k}"] = _ndcg_at(rel, n_true, k)
    for k in ks:
        out[f"R@{k}"] = _recall_at(rel, n_true, k)
    if propensity is not None:
        w = _inverse_propensity(propensity, y.shape[1])
        gain = rel * w[np.maximum(idx, 0)]
        best = _best_weights(y, w, kmax)
        for k in ks:
            out[f"PSP@{k}"] = _psp_at(gain, best, k)
        for k in ks:
            out[f"PSnDCG@{k}"] = _psndcg_at(gain, best, n_true, k)
    if threshold is not None:
        arr = np.asarray(scores)
        if arr.dtype.kind != "f" or arr.shape != y.shape:
            raise ValueError("threshold needs dense float scores of shape (n_docs, n_labels)")
        pred = sp.csr_array(arr >= threshold, dtype=np.float64)
        tp = float(pred.multiply(y).sum())
        fp = float(pred.sum()) - tp
        fn = float(y.sum()) - tp
        out["micro_f1"] = 2 * tp / (2 * tp + fp + fn) if (tp + fp + fn) > 0 else 0.0
    return out
