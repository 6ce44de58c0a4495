"""Label matrices and label representations for semantic label indexing.

X-Transformer (Chang et al., KDD 2020), Section 3.2 "Semantic label indexing", represents a label by

* **PIFA** (Positive Instance Feature Aggregation): v_l = u_l / ||u_l||, u_l = sum_{i: y_il = 1} phi(x_i),
  the L2-normalised sum of the feature vectors of the label's positive training documents, where
  phi is the TF-IDF vector ("PIFA-tfidf") or a neural document embedding ("PIFA-neural");
* **label text embeddings** ("text-emb"): the embedding of the label's own text, when labels have text.

All functions are one sparse matrix product (Y^T X) plus a row normalisation: no loop over labels.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from ..errors import DataError


def label_matrix(label_lists: Sequence[Sequence[str]], labels: Sequence[str]) -> sp.csr_matrix:
    """Binary CSR matrix Y (n_docs, n_labels), Y[i, l] = 1 iff document i has label ``labels[l]``.

    A label outside ``labels`` is a :class:`DataError` naming the document.
    """
    index = {label: j for j, label in enumerate(labels)}
    counts = np.fromiter((len(t) for t in label_lists), dtype=np.int64, count=len(label_lists))
    flat = [l for t in label_lists for l in t]
    try:
        cols = np.fromiter((index[l] for l in flat), dtype=np.int64, count=len(flat))
    except KeyError as exc:
        row = next(i for i, t in enumerate(label_lists) if exc.args[0] in t)
        raise DataError(f"document {row} has label {exc.args[0]!r}, which is not in the label vocabulary") from None
    rows = np.repeat(np.arange(len(label_lists)), counts)
    y = sp.csr_matrix((np.ones(len(cols), dtype=np.float32), (rows, cols)), shape=(len(label_lists), len(labels)))
    y.sum_duplicates()
    y.data[:] = 1.0
    return y


def pifa(x, y) -> sp.csr_matrix | np.ndarray:
    """PIFA label embeddings: row l = normalize(sum of the rows of ``x`` whose document has label l).

    ``x``: (n_docs, dim) document features, sparse (TF-IDF, gives "PIFA-tfidf") or dense (neural
    embeddings, gives "PIFA-neural"); ``y``: (n_docs, n_labels) binary label matrix. Returns
    (n_labels, dim), sparse CSR for sparse ``x`` and a float32 array for dense ``x``. A label without
    positive documents gets the zero vector.
    """
    y = sp.csr_matrix(y, dtype=np.float32)
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"x has {x.shape[0]} documents but y has {y.shape[0]}")
    if sp.issparse(x):
        x = sp.csr_matrix(x, dtype=np.float32)
        x.sort_indices()
        out = sp.csr_matrix(y.T @ x)
        out.sort_indices()
        return normalize(out, norm="l2", axis=1, copy=False)
    x = np.asarray(x, dtype=np.float32)
    return normalize(np.asarray(y.T @ x, dtype=np.float32), norm="l2", axis=1, copy=False)


def label_text_embeddings(names: Sequence[str], encode: Callable[[list[str]], object]) -> sp.csr_matrix | np.ndarray:
    """Row-normalised embeddings of the label texts ("text-emb" of X-Transformer, Section 3.2).

    ``encode`` maps a list of texts to a (n, dim) matrix (sparse or dense): a fitted TF-IDF
    vectoriser's ``transform`` or a neural encoder. Label names such as ``topic:crude`` are used as
    written; pass cleaned names if the prefixes should not count.
    """
    emb = encode([str(n) for n in names])
    if sp.issparse(emb):
        return normalize(sp.csr_matrix(emb, dtype=np.float32), norm="l2", axis=1)
    return normalize(np.asarray(emb, dtype=np.float32), norm="l2", axis=1)
