"""TF-IDF document features of the XMC models and of ``linear``, saved without pickle.

The features are scikit-learn's ``TfidfVectorizer`` (lower-cased word uni- and bigrams, sublinear tf,
smooth idf, L2-normalised rows; the usual TF-IDF input of XMC linear models such as the X.trn.npz
files of X-Transformer and PECOS); ``analyzer="char_wb"`` with ``ngram_min``/``ngram_max`` gives
character n-grams inside word boundaries instead. A fitted vectoriser is saved as its settings and
vocabulary (JSON) plus its idf vector (a tensor) and rebuilt from them exactly.

``tokenizer`` (word analyzer): ``default`` is scikit-learn's word pattern (the above; ``auto``'s
choice for ASCII text), or a tokenizer of :mod:`textzoo.data.tokenizers` (``jieba``, ``char``,
``unicode``, ``english``) whose tokens make the n-grams; saves without the setting read ``default``.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from ..data.tokenizers import TOKENIZERS, resolve, tokenize_text
from ..errors import ModelFileError

DEFAULTS = {"ngram_max": 2, "min_df": 2, "max_features": 200_000, "sublinear_tf": True}
#: settings added later: a saved state without them gets these values
OPTIONAL = {"analyzer": "word", "ngram_min": 1, "tokenizer": "default"}


def make_vectorizer(ngram_max: int = 2, min_df: int = 2, max_features: int | None = 200_000,
                    sublinear_tf: bool = True, vocabulary=None, analyzer: str = "word",
                    ngram_min: int = 1, tokenizer: str = "default") -> TfidfVectorizer:
    words = {} if tokenizer == "default" or analyzer != "word" else {
        "tokenizer": partial(tokenize_text, name=tokenizer), "token_pattern": None, "lowercase": False}
    return TfidfVectorizer(**{"lowercase": True, **words}, analyzer=analyzer, ngram_range=(ngram_min, ngram_max),
                           min_df=min_df if vocabulary is None else 1,
                           max_features=max_features if vocabulary is None else None,
                           sublinear_tf=sublinear_tf, smooth_idf=True, norm="l2", dtype=np.float32,
                           vocabulary=vocabulary)


def fit_tfidf(texts: list[str], tokenizer: str = "default", **settings) -> tuple[TfidfVectorizer, sp.csr_matrix]:
    """Fit on ``texts``; returns the vectoriser and the (n_docs, n_features) CSR features.
    ``tokenizer=auto`` is resolved on ``texts`` (``default`` for ASCII text)."""
    opts = {**DEFAULTS, **settings, "tokenizer": resolve(tokenizer, texts, english="default")}
    vec = make_vectorizer(**opts)
    try:
        x = vec.fit_transform(texts)
    except ValueError as exc:  # empty vocabulary
        raise ValueError(f"TF-IDF features: {exc}; the training texts are too few or too short "
                         f"for min_df={opts['min_df']}") from None
    vec.textzoo_settings = opts
    return vec, sp.csr_matrix(x, dtype=np.float32)


def tfidf_state(vec: TfidfVectorizer) -> tuple[dict[str, Any], np.ndarray]:
    """``(json_side, idf)`` for saving; the vocabulary is listed in column order."""
    vocab = vec.vocabulary_
    terms = [None] * len(vocab)
    for term, j in vocab.items():
        terms[j] = term
    return {"settings": dict(vec.textzoo_settings), "terms": terms}, np.asarray(vec.idf_, dtype=np.float32)


def tfidf_from_state(side: dict, idf: np.ndarray, where: str = "tfidf.json") -> TfidfVectorizer:
    """Rebuild a fitted vectoriser from :func:`tfidf_state`'s output."""
    try:
        settings = {k: side["settings"][k] for k in DEFAULTS}
        settings.update({k: side["settings"].get(k, v) for k, v in OPTIONAL.items()})
        settings["tokenizer"] = str(settings["tokenizer"])
        terms = list(side["terms"])
    except (KeyError, TypeError) as exc:
        raise ModelFileError(f"{where}: malformed TF-IDF state ({exc})") from None
    if settings["analyzer"] not in ("word", "char_wb", "char"):
        raise ModelFileError(f"{where}: unknown TF-IDF analyzer {settings['analyzer']!r}")
    if settings["tokenizer"] not in ("default", "whitespace") + TOKENIZERS[1:]:
        raise ModelFileError(f"{where}: unknown TF-IDF tokenizer {settings['tokenizer']!r}")
    if len(terms) != len(idf) or not all(isinstance(t, str) for t in terms) or len(set(terms)) != len(terms):
        raise ModelFileError(f"{where}: the vocabulary ({len(terms)} terms) does not match the idf vector ({len(idf)})")
    vec = make_vectorizer(**{**settings, "vocabulary": {t: j for j, t in enumerate(terms)}})
    vec.idf_ = np.asarray(idf, dtype=np.float64)
    vec.textzoo_settings = settings
    return vec
