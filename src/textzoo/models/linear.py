"""TF-IDF + one-vs-rest linear classifiers: the baseline every other model should beat, as in
Lin, Chen, Chang and Lin, "Linear Classifier: An Often-Forgotten Baseline for Text Classification", ACL 2023.

What it is (that paper's LibMultiLabel baseline, the linear models of XMC work such as PECOS, and
Fan et al., "LIBLINEAR: A Library for Large Linear Classification", JMLR 2008):

* **Features**: scikit-learn's TF-IDF (:mod:`textzoo.xmc.tfidf`): lower-cased word uni- and bigrams,
  sublinear tf, smooth idf, L2-normalised rows, terms in at least ``min_df`` = 2 documents;
  ``analyzer=char_wb`` (with e.g. ``ngram_min=2 ngram_max=5``) uses character n-grams instead, for
  languages without spaces between words or for noisy text; ``tokenizer`` (``auto``: scikit-learn's
  word pattern for ASCII text, jieba for Chinese, Unicode words otherwise) makes the words.
* **Classifiers**: one binary liblinear classifier per label on [x; 1] (liblinear's ``-B 1`` bias
  feature, regularised with the weights): ``loss=squared_hinge`` (L2-regularised L2-loss SVM, dual
  coordinate descent, ``-s 1``; the default) or ``loss=logistic`` (L2-regularised logistic
  regression, ``-s 0``), cost ``C`` = 1. Single-label corpora are one-vs-rest too (the argmax of
  the label scores). Weights with |w| < ``threshold`` = 0.01 are pruned (X-Transformer's and the
  TextZoo XMC baseline's choice) and W is kept as one sparse (features + 1, labels) matrix.
* **Calibrated scores** (``calibration=platt``, default): Platt scaling, p = sigmoid(a z + b), one
  (a, b) for all labels fitted on the validation split's decision values z (on the training ones
  when there is no validation split, with a warning: those are over-confident). ``sigmoid`` takes
  p = sigmoid(z) (logistic regression's own probabilities). Multi-label runs answer the per-label
  p (``predict`` keeps those >= 0.5); single-label runs normalise them to sum to 1 (as
  scikit-learn's one-vs-rest does). The ranking of the labels is that of z in every case.

Saved as safetensors + JSON: W as its CSC arrays (``weights.indptr``, ``weights.indices``,
``weights.data``), the idf vector and (a, b) as tensors, the TF-IDF settings and vocabulary in
``tfidf.json``. ONNX export takes TF-IDF rows (``onnx_export``, :mod:`textzoo.export`).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.exceptions import ConvergenceWarning
from tqdm.auto import tqdm

from ..data.corpus import Split
from ..errors import ConfigError, ModelFileError
from ..xmc.labels import label_matrix
from ..xmc.ranker import with_bias
from ..xmc.tfidf import fit_tfidf, tfidf_from_state, tfidf_state
from .base import Model, State

log = logging.getLogger(__name__)

#: the largest dense weight matrix (features x labels) an ONNX export writes
ONNX_MAX_WEIGHTS = 50_000_000


@dataclass
class LinearConfig:
    """``linear`` settings; see the module docstring."""

    analyzer: Literal["word", "char_wb"] = "word"
    tokenizer: Literal["auto", "default", "english", "unicode", "jieba", "char", "bigram"] = "auto"
    #   words of the word analyzer (textzoo.xmc.tfidf); auto: scikit-learn's default for ASCII
    #   text, jieba for Chinese, unicode otherwise
    ngram_min: int = 1
    ngram_max: int = 2
    min_df: int = 2
    max_features: int = 200_000
    sublinear_tf: bool = True
    loss: Literal["squared_hinge", "logistic"] = "squared_hinge"
    C: float = 1.0
    threshold: float = 0.01
    max_iter: int = 1000
    calibration: Literal["platt", "sigmoid"] = "platt"
    seed: int = 0

    def __post_init__(self):
        if not 1 <= self.ngram_min <= self.ngram_max:
            raise ValueError("need 1 <= ngram_min <= ngram_max")
        if self.min_df < 1 or self.max_features < 1 or self.max_iter < 1:
            raise ValueError("min_df, max_features and max_iter must be >= 1")
        if self.C <= 0 or self.threshold < 0:
            raise ValueError("C must be > 0 and threshold >= 0")


class Linear(Model):
    """TF-IDF + one-vs-rest liblinear classifiers (see the module docstring)."""

    name = "linear"
    Config = LinearConfig

    def __init__(self, config=None, **overrides):
        super().__init__(config, **overrides)
        self.vectorizer = None
        self.weights: sp.csc_matrix | None = None     # (features + 1, labels), the last row the bias
        self.platt = np.array([1.0, 0.0])             # (a, b)

    # ---------------------------------------------------------------- training
    def _fit(self, train: Split, valid: Split | None, unlabelled: list[str], run) -> None:
        cfg = self.config
        self.vectorizer, x = fit_tfidf(train.texts, ngram_max=cfg.ngram_max, ngram_min=cfg.ngram_min,
                                       analyzer=cfg.analyzer, tokenizer=cfg.tokenizer, min_df=cfg.min_df,
                                       max_features=cfg.max_features, sublinear_tf=cfg.sublinear_tf)
        y = self._targets(train)
        self.weights = train_one_vs_rest(x, y, cfg.loss, cfg.C, cfg.threshold, cfg.max_iter, cfg.seed)
        self.info.update(features=int(x.shape[1]), weights_nnz=int(self.weights.nnz))
        if cfg.calibration == "sigmoid":
            self.platt = np.array([1.0, 0.0])
            return
        if valid is None:
            log.warning("linear: no validation split, so Platt scaling is fitted on the training scores "
                        "(over-confident); give a validation split for calibrated probabilities")
            z, yc = self._decision(x), y
        else:
            z, yc = self.decision_function(valid.texts), self._targets(valid)
        self.platt = platt_scaling(z, yc.toarray())
        self.info["platt"] = [round(float(v), 6) for v in self.platt]

    def _targets(self, split: Split) -> sp.csr_matrix:
        labels = split.labels if self.multilabel else [[label] for label in split.labels]
        return label_matrix(labels, self.labels)

    # ---------------------------------------------------------------- prediction
    def _decision(self, x: sp.spmatrix) -> np.ndarray:
        return np.asarray((with_bias(x) @ self.weights).todense(), dtype=np.float64)

    def decision_function(self, texts: list[str]) -> np.ndarray:
        """Raw scores z = [x; 1] W, (n_texts, n_labels)."""
        return self._decision(self.vectorizer.transform(list(texts)))

    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        return self._probabilities(self.decision_function(texts))

    def _probabilities(self, z: np.ndarray) -> np.ndarray:
        a, b = self.platt
        p = 1.0 / (1.0 + np.exp(-np.clip(a * z + b, -50.0, 50.0)))
        if not self.multilabel:
            p = p / p.sum(axis=1, keepdims=True)
        return p.astype(np.float32)

    # ---------------------------------------------------------------- persistence
    def _state(self) -> State:
        side, idf = tfidf_state(self.vectorizer)
        w = self.weights
        return State(tensors={"weights.indptr": torch.from_numpy(w.indptr.astype(np.int64)),
                              "weights.indices": torch.from_numpy(w.indices.astype(np.int64)),
                              "weights.data": torch.from_numpy(w.data.astype(np.float32)),
                              "tfidf.idf": torch.from_numpy(idf),
                              "platt": torch.from_numpy(np.asarray(self.platt, dtype=np.float64))},
                     extra={"tfidf": side})

    def _restore(self, state: State) -> None:
        where = state.source / "model.safetensors" if state.source else "model.safetensors"
        if "tfidf" not in state.extra:
            raise ModelFileError(f"{state.source}: lacks tfidf.json")
        for key in ("weights.indptr", "weights.indices", "weights.data", "tfidf.idf"):
            if key not in state.tensors:
                raise ModelFileError(f"{where}: lacks tensor {key!r}")
        idf = state.tensors["tfidf.idf"]
        self.vectorizer = tfidf_from_state(state.extra["tfidf"], idf.numpy(),
                                           str(state.source / "tfidf.json" if state.source else "tfidf.json"))
        self.platt = state.check_tensor("platt", (2,), torch.float64).numpy().copy()
        n_labels = len(self.labels)
        state.check_tensor("weights.indptr", (n_labels + 1,), torch.int64)
        try:
            self.weights = sp.csc_matrix((state.tensors["weights.data"].numpy(),
                                          state.tensors["weights.indices"].numpy(),
                                          state.tensors["weights.indptr"].numpy()), shape=(len(idf) + 1, n_labels))
            self.weights.check_format(full_check=True)
        except (ValueError, TypeError) as exc:
            raise ModelFileError(f"{where}: the weights are malformed ({exc})") from None
        if not np.isfinite(self.weights.data).all() or not np.isfinite(self.platt).all():
            raise ModelFileError(f"{where}: the weights hold NaN or infinite values")

    # ---------------------------------------------------------------- ONNX (textzoo.export)
    def onnx_export(self):
        """TF-IDF rows -> probabilities (:mod:`textzoo.export`); W is written dense, so runs over
        ``ONNX_MAX_WEIGHTS`` weights refuse."""
        from ..export import OnnxGraph

        dim, n_labels = self.weights.shape
        if dim * n_labels > ONNX_MAX_WEIGHTS:
            raise ConfigError(f"ONNX export of linear writes W dense: {dim - 1:,} features x {n_labels:,} labels "
                              f"is over {ONNX_MAX_WEIGHTS:,} weights; serve the run instead")
        side, idf = tfidf_state(self.vectorizer)
        module = _LinearScores(self.weights.toarray().astype(np.float32), self.platt, self.multilabel).eval()
        return OnnxGraph(module,
                         lambda texts: {"tfidf": self.vectorizer.transform(list(texts)).toarray().astype(np.float32)},
                         dynamic_axes={"tfidf": {0: "batch"}, "probabilities": {0: "batch"}},
                         side={"vocabulary": side["terms"], "idf": idf.tolist(), "tfidf": side["settings"],
                               "tfidf_rule": "scikit-learn TfidfVectorizer with these settings, this vocabulary "
                                             "and idf (lower-cased, sublinear tf if set, tf x idf, rows "
                                             "L2-normalised)"})


class _LinearScores(torch.nn.Module):
    """p = sigmoid(a (x W + w_bias) + b), normalised per row for single-label runs."""

    def __init__(self, w: np.ndarray, platt: np.ndarray, multilabel: bool):
        super().__init__()
        self.register_buffer("w", torch.from_numpy(np.ascontiguousarray(w[:-1])))
        self.register_buffer("bias", torch.from_numpy(np.ascontiguousarray(w[-1])))
        self.a, self.b, self.multilabel = float(platt[0]), float(platt[1]), multilabel

    def forward(self, tfidf: torch.Tensor) -> torch.Tensor:
        p = torch.sigmoid(self.a * (tfidf @ self.w + self.bias) + self.b)
        return p if self.multilabel else p / p.sum(dim=1, keepdim=True)


def train_one_vs_rest(x: sp.spmatrix, y: sp.spmatrix, loss: str = "squared_hinge", C: float = 1.0,
                      threshold: float = 0.01, max_iter: int = 1000, seed: int = 0,
                      progress: bool = True) -> sp.csc_matrix:
    """W (dim + 1, n_labels), sparse: one liblinear classifier per label on [x; 1] (see the module
    docstring); a label without positive (or negative) training documents gets the constant -1 (+1)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    xb = with_bias(x).astype(np.float64)  # liblinear's dtype: converted once, not once per label
    y = sp.csc_matrix(y, dtype=np.float32)
    rows, cols, vals = [], [], []
    for j in tqdm(range(y.shape[1]), desc="training linear classifiers", unit="label", disable=not progress,
                  leave=False, dynamic_ncols=True):
        signs = -np.ones(xb.shape[0])
        signs[y.indices[y.indptr[j]:y.indptr[j + 1]]] = 1.0
        if (signs > 0).all() or (signs < 0).all():
            w = np.zeros(xb.shape[1])
            w[-1] = signs[0]
        else:
            clf = (LinearSVC(C=C, loss="squared_hinge", dual=True, fit_intercept=False, max_iter=max_iter,
                             random_state=seed) if loss == "squared_hinge" else
                   LogisticRegression(C=C, solver="liblinear", fit_intercept=False, max_iter=max_iter,
                                      random_state=seed))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                clf.fit(xb, signs)
            w = clf.coef_.ravel()
        keep = np.flatnonzero(np.abs(w) >= threshold)
        keep = np.union1d(keep, [xb.shape[1] - 1])  # the bias is always kept
        rows.append(keep)
        cols.append(np.full(len(keep), j))
        vals.append(w[keep].astype(np.float32))
    return sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(xb.shape[1], y.shape[1]))


def platt_scaling(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(a, b) of Platt (1999): p = sigmoid(a z + b) fitted by maximum likelihood to the 0/1 targets
    ``y`` over all (document, label) pairs, with Platt's smoothed targets (N+ + 1) / (N+ + 2) and
    1 / (N- + 2)."""
    from scipy.optimize import minimize

    z, y = np.asarray(z, dtype=np.float64).ravel(), np.asarray(y, dtype=np.float64).ravel() > 0
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    t = np.where(y, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))

    def nll(params):
        a, b = params
        s = a * z + b
        log_p = -np.logaddexp(0.0, -s)      # log sigmoid(s)
        log_q = -np.logaddexp(0.0, s)       # log (1 - sigmoid(s))
        p = np.exp(log_p)
        value = -np.sum(t * log_p + (1 - t) * log_q)
        g = p - t
        return value, np.array([np.sum(g * z), np.sum(g)])

    res = minimize(nll, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B")
    a, b = res.x
    if not (np.isfinite(a) and np.isfinite(b)) or a <= 0:  # degenerate scores: keep the ranking
        return np.array([1.0, 0.0])
    return np.array([float(a), float(b)])
