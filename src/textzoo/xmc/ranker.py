"""Cluster-restricted one-vs-rest linear rankers (X-Transformer, Chang et al., KDD 2020, Section 3.4).

For every label l in cluster k, a linear classifier w_l is trained only on the documents that
reach cluster k: those whose *true* labels fall in k (teacher forcing) and those for which the
matcher ranks k among its top-b clusters (matcher-aware negatives). Its positives are the documents
with label l, every other document of that set is a negative. The objective is liblinear's
L2-regularised squared-hinge SVM with a bias feature (the ``-s 2 -B 1`` of X-Transformer's and
PECOS's rankers):

    min_w 0.5 ||w||^2 + C * sum_i max(0, 1 - s_il * w^T [x_i; 1])^2,   s_il = +1 / -1,

solved by liblinear's dual coordinate descent (scikit-learn's ``LinearSVC``) label by label, or
(``solver="lbfgs"``) in the primal by L-BFGS for blocks of labels of a cluster at once. Weights with |w| < ``threshold`` are
pruned to zero (X-Transformer keeps W sparse with threshold 0.01), and W is stored as one sparse
(dim + 1, n_labels) matrix.

Prediction: for each document, the labels of the b clusters it was routed to (the beam) are scored
and the label score is ``post(matcher cluster score) * post(ranker label score)``, with the
post-processor ``l3-hinge``: exp(-max(0, 1 - z)^3) (the default of X-Transformer's linear ranker
and PECOS) or ``sigmoid``. ``combine="ranker"`` keeps the beam but drops the matcher factor
(``post(ranker label score)`` alone, PECOS's ``noop`` combiner).
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize
from sklearn.exceptions import ConvergenceWarning
from sklearn.svm import LinearSVC
from tqdm.auto import tqdm

from .indexer import ClusterIndex

log = logging.getLogger(__name__)

POST_PROCESSORS = ("l3-hinge", "sigmoid")
COMBINERS = ("product", "ranker")


def post_process(z: np.ndarray, how: str) -> np.ndarray:
    """Map raw scores to (0, 1]: ``l3-hinge`` exp(-max(0, 1 - z)^3) or ``sigmoid``."""
    z = np.asarray(z, dtype=np.float64)
    if how == "l3-hinge":
        return np.exp(-np.maximum(0.0, 1.0 - z) ** 3)
    if how == "sigmoid":
        return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))
    raise ValueError(f"unknown post-processor {how!r}; choose one of {', '.join(POST_PROCESSORS)}")


def with_bias(x: sp.spmatrix) -> sp.csr_matrix:
    """[x, 1]: the bias feature of liblinear's ``-B 1``."""
    x = sp.csr_matrix(x, dtype=np.float32)
    return sp.hstack([x, np.ones((x.shape[0], 1), dtype=np.float32)], format="csr")


def _fit_block(xc: sp.csr_matrix, signs: np.ndarray, C: float, max_iter: int, tol: float) -> np.ndarray:
    """W (d, m) minimising 0.5||W||^2 + C sum max(0, 1 - S * (X W))^2 (all m columns at once)."""
    d, m = xc.shape[1], signs.shape[1]
    xt = sp.csr_matrix(xc.T)

    def fun(w_flat):
        w = w_flat.reshape(d, m)
        margin = np.maximum(0.0, 1.0 - signs * (xc @ w))
        f = 0.5 * float(np.sum(w * w)) + C * float(np.sum(margin * margin))
        g = w - 2.0 * C * (xt @ (signs * margin))
        return f, g.ravel()

    res = minimize(fun, np.zeros(d * m), jac=True, method="L-BFGS-B",
                   options={"maxiter": max_iter, "gtol": tol})
    return res.x.reshape(d, m)


def _fit_liblinear(xc: sp.csr_matrix, signs: np.ndarray, C: float, max_iter: int) -> np.ndarray:
    """w (d, 1) of one label by liblinear (dual coordinate descent on the same objective)."""
    if (signs > 0).all() or (signs < 0).all():  # one class only: the constant score +-1 via the bias
        w = np.zeros((xc.shape[1], 1))
        w[-1, 0] = float(signs[0])  # the last column of xc is the bias feature (always used)
        return w
    svc = LinearSVC(C=C, loss="squared_hinge", dual=True, fit_intercept=False, max_iter=max_iter)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        svc.fit(xc, signs)
    return svc.coef_.reshape(-1, 1)


def train_rankers(x: sp.spmatrix, y: sp.spmatrix, index: ClusterIndex, doc_clusters: sp.spmatrix,
                  C: float = 1.0, threshold: float = 0.01, max_iter: int = 1000, tol: float = 1e-4,
                  progress: bool = True, block_floats: int = 1_000_000,
                  solver: str = "liblinear") -> sp.csc_matrix:
    """W (dim + 1, n_labels), sparse: the rankers of every label (see the module docstring).

    ``x`` (n_docs, dim) features; ``y`` (n_docs, n_labels) binary labels; ``doc_clusters``
    (n_docs, n_clusters) binary: the clusters each document trains (true clusters and the matcher's
    top-b clusters). ``solver``: ``liblinear`` (scikit-learn's LinearSVC, liblinear's dual
    coordinate descent, one label at a time; ``max_iter`` is its iteration cap) or ``lbfgs`` (the
    labels of a cluster together in blocks of at most ``block_floats`` weights, bounding the memory
    of L-BFGS at about 200 bytes per weight; slower on large TF-IDF vocabularies).
    """
    if solver not in ("liblinear", "lbfgs"):
        raise ValueError(f"unknown ranker solver {solver!r}; choose liblinear or lbfgs")
    xb = with_bias(x)
    y = sp.csc_matrix(y, dtype=np.float32)
    dc = sp.csc_matrix(doc_clusters)
    if dc.shape != (xb.shape[0], index.n_clusters):
        raise ValueError(f"doc_clusters has shape {dc.shape}, expected {(xb.shape[0], index.n_clusters)}")
    members = index.members()
    rows, cols, vals = [], [], []
    for k in tqdm(range(index.n_clusters), desc="training rankers", unit="cluster", disable=not progress,
                  leave=False, dynamic_ncols=True):
        docs = dc.indices[dc.indptr[k]:dc.indptr[k + 1]]
        labels = members[k][members[k] >= 0]
        if len(docs) == 0 or len(labels) == 0:
            continue
        xk = xb[docs]
        used = np.unique(xk.indices)
        xc = sp.csr_matrix(xk[:, used])
        yk = y[:, labels][docs].toarray()
        # lbfgs: labels in blocks of at most block_floats weights (L-BFGS keeps ~25 copies of a
        # block); liblinear: one label at a time
        step = max(1, block_floats // max(1, len(used))) if solver == "lbfgs" else 1
        for j in range(0, len(labels), step):
            signs = 2.0 * yk[:, j:j + step] - 1.0
            if solver == "lbfgs":
                w = _fit_block(xc, signs, C, max_iter, tol)
            else:
                w = _fit_liblinear(xc, signs[:, 0], C, max_iter)
            r, c = np.nonzero(np.abs(w) >= threshold)
            rows.append(used[r])
            cols.append(labels[j:j + step][c])
            vals.append(w[r, c].astype(np.float32))
    if rows:
        rows, cols, vals = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    else:
        rows = cols = np.zeros(0, dtype=np.int64)
        vals = np.zeros(0, dtype=np.float32)
    return sp.csc_matrix((vals, (rows, cols)), shape=(xb.shape[1], index.n_labels))


def beam_scores(x: sp.spmatrix, w: sp.csc_matrix, index: ClusterIndex, beam: np.ndarray,
                beam_scores_: np.ndarray, post: str = "l3-hinge",
                combine: str = "product") -> tuple[np.ndarray, np.ndarray]:
    """Score the labels of each document's beam clusters.

    ``beam`` (n_docs, b) cluster ids (from the matcher's top-b), ``beam_scores_`` their raw matcher
    scores. Returns ``(labels, scores)``, both (n_docs, b * largest cluster): label ids (-1 for
    padding) and ``post(matcher) * post(ranker)`` (0 for padding); with ``combine="ranker"`` the
    beam only selects the labels and the score is ``post(ranker)`` (PECOS's ``noop`` combiner).
    """
    if combine not in COMBINERS:
        raise ValueError(f"unknown combiner {combine!r}; choose one of {', '.join(COMBINERS)}")
    xb = with_bias(x)
    n, b = beam.shape
    members = index.members()
    width = members.shape[1]
    labels = np.full((n, b * width), -1, dtype=np.int64)
    scores = np.zeros((n, b * width), dtype=np.float32)
    cluster_post = post_process(beam_scores_, post) if combine == "product" else \
        np.ones(beam_scores_.shape, dtype=np.float64)
    flat = beam.ravel()
    order = np.argsort(flat, kind="stable")
    bounds = np.flatnonzero(np.diff(flat[order])) + 1
    for group in np.split(order, bounds):       # one sparse product per cluster in use
        if len(group) == 0:
            continue
        k = int(flat[group[0]])
        docs, slot = group // b, group % b
        lab = members[k][members[k] >= 0]
        z = (xb[docs] @ w[:, lab]).toarray() if len(lab) else np.zeros((len(docs), 0))
        cols = slot[:, None] * width + np.arange(len(lab))[None, :]
        labels[docs[:, None], cols] = lab[None, :]
        scores[docs[:, None], cols] = post_process(z, post) * cluster_post[docs, slot][:, None]
    return labels, scores


def to_dense(labels: np.ndarray, scores: np.ndarray, n_labels: int) -> np.ndarray:
    """(n_docs, n_labels) dense scores from :func:`beam_scores`' output (0 outside the beam)."""
    out = np.zeros((labels.shape[0], n_labels), dtype=np.float32)
    rows = np.repeat(np.arange(labels.shape[0]), labels.shape[1]).reshape(labels.shape)
    ok = labels >= 0
    out[rows[ok], labels[ok]] = scores[ok]
    return out
