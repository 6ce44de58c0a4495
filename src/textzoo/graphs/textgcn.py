"""TextGCN's heterogeneous document-word graph (Yao, Mao, Luo, AAAI 2019, Section "Method",
"Text Graph Convolutional Networks", Eq. 1 (edge weights) and Eq. 2 (PMI)), vectorised.

Reproduces ``build_graph.py`` of ``yao8839836/text_gcn``, edge for edge:

* doc-word edges: TF-IDF, ``count(word in doc) * log(n_docs / n_docs_containing_word)`` over all
  documents (train and test);
* word-word edges: PMI over sliding windows of ``window`` (20) words; a document of at most
  ``window`` words is one window (an empty one too), a longer one gives ``len - window + 1``
  windows; ``#W(i)`` counts windows holding word ``i``, ``#W(i, j)`` counts, in every window,
  the ordered position pairs holding ``i`` and ``j`` (``i != j``); only ``PMI > 0`` is kept.

How the loops are vectorised (no Python loop over windows, pairs or tokens):

* ``#W(i)``: with occurrences of a word in a document sorted by position, the occurrence at ``p``
  (previous one at ``p'``) is the first occurrence in windows ``s`` with
  ``max(0, p-W+1, p'+1) <= s <= min(p, n_windows-1)``; summing those counts per word gives ``#W``.
* ``#W(i, j)``: a position pair ``(p, p+d)`` lies in
  ``min(p, n_windows-1) - max(0, p+d-W+1) + 1`` windows (1 for a document of at most ``W`` words).
  For each offset ``d = 1 .. W-1`` all such pairs are formed at once, weighted by that number,
  reduced into a sparse matrix over unordered word pairs (counted once, mirrored at the end).

Node order for :func:`adjacency` is documents first, then words. The vocabulary is sorted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain, repeat

import numpy as np
import scipy.sparse as sp

__all__ = [
    "TextGCNGraph",
    "build_textgcn_graph",
    "tokenize_documents",
    "adjacency",
    "normalize_adjacency",
    "tfidf_rows",
]

logger = logging.getLogger(__name__)


@dataclass
class TextGCNGraph:
    """The two blocks of TextGCN's graph.

    ``doc_word`` (n_docs x V) holds TF-IDF weights, with an entry for every word occurring in a
    document (a word in every document has idf 0 and is kept as an explicit 0, as in the original);
    ``word_word`` (V x V) holds positive PMI, symmetric, zero diagonal; ``idf`` is ``log(n_docs /
    df)`` per word (float64). ``word_window_freq`` (``#W(i)``) and ``num_windows`` are kept for
    inspection.
    """

    vocabulary: list[str]
    doc_word: sp.csr_matrix
    word_word: sp.csr_matrix
    idf: np.ndarray
    window: int
    word_window_freq: np.ndarray | None = field(default=None, repr=False)
    num_windows: int = 0

    @property
    def n_docs(self) -> int:
        return self.doc_word.shape[0]

    @property
    def n_words(self) -> int:
        return len(self.vocabulary)


def tokenize_documents(docs: Sequence[str]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Whitespace-split documents into ``(sorted vocabulary, flat int32 word ids, int64 lengths)``."""
    lengths = np.zeros(len(docs), dtype=np.int64)
    words: set[str] = set()
    for k, doc in enumerate(docs):  # one pass per document; split() and set.update run in C
        toks = doc.split()
        lengths[k] = len(toks)
        words.update(toks)
    vocabulary = sorted(words)
    index = {w: i for i, w in enumerate(vocabulary)}
    n_tokens = int(lengths.sum())
    ids = np.fromiter(
        map(index.__getitem__, chain.from_iterable(map(str.split, docs))),
        dtype=np.int32,
        count=n_tokens,
    )
    return vocabulary, ids, lengths


def _doc_word_counts(ids: np.ndarray, lengths: np.ndarray, n_words: int) -> sp.csr_matrix:
    """(n_docs x V) term counts, canonical CSR (sorted indices, no duplicates)."""
    n_docs = len(lengths)
    doc_of = np.repeat(np.arange(n_docs, dtype=np.int32), lengths)
    counts = sp.csr_matrix(
        (np.ones(len(ids), dtype=np.float64), (doc_of, ids)), shape=(n_docs, n_words)
    )
    counts.sum_duplicates()
    return counts


def _word_window_freq(
    ids: np.ndarray, pos: np.ndarray, doc_of: np.ndarray, nwin_tok: np.ndarray,
    n_words: int, window: int,
) -> np.ndarray:
    """``#W(i)``: number of windows holding word ``i`` (``word_window_freq`` of build_graph.py)."""
    if len(ids) == 0:
        return np.zeros(n_words, dtype=np.int64)
    key = doc_of.astype(np.int64) * n_words + ids
    order = np.argsort(key, kind="stable")  # by (doc, word), then position
    key = key[order]
    p = pos[order]
    same = np.zeros(len(key), dtype=bool)
    same[1:] = key[1:] == key[:-1]
    del key
    lo = np.maximum(p - (window - 1), 0)
    prev_next = np.zeros_like(p)
    prev_next[1:] = p[:-1] + 1
    lo = np.where(same, np.maximum(lo, prev_next), lo)
    hi = np.minimum(p, nwin_tok[order] - 1)
    first_in = np.maximum(hi - lo + 1, 0)
    freq = np.bincount(ids[order], weights=first_in, minlength=n_words)
    return np.rint(freq).astype(np.int64)


def _pair_counts(
    ids: np.ndarray, pos: np.ndarray, rem: np.ndarray, nwin_tok: np.ndarray,
    n_words: int, window: int, progress: bool = False,
) -> sp.csr_matrix:
    """Upper-triangular (V x V) ``#W(i, j)`` over unordered pairs ``i < j`` (float64 counts).

    ``rem[t]`` = number of tokens after token ``t`` in its document.
    """
    acc = sp.csr_matrix((n_words, n_words), dtype=np.float64)
    max_d = min(window - 1, int(rem.max()) if len(rem) else 0)
    idx = np.flatnonzero(rem >= 1)
    offsets: Iterable[int] = range(1, max_d + 1)
    if progress:
        from tqdm.auto import tqdm

        offsets = tqdm(offsets, desc="word pairs (offset)", leave=False)
    for d in offsets:
        if d > 1:
            idx = idx[rem[idx] >= d]
        a = ids[idx]
        b = ids[idx + d]
        keep = a != b
        a, b = a[keep], b[keep]
        p = pos[idx[keep]]
        # windows holding positions p and p+d: s in [max(0, p+d-W+1), min(p, n_windows-1)]
        w = np.minimum(p, nwin_tok[idx[keep]] - 1) - np.maximum(p + (d - window + 1), 0) + 1
        lo = np.minimum(a, b)
        hi = np.maximum(a, b)
        del a, b, p, keep
        step = sp.csr_matrix((w.astype(np.float64), (lo, hi)), shape=(n_words, n_words))
        del w, lo, hi
        step.sum_duplicates()
        acc = acc + step
        del step
    return acc


def _positive_pmi(
    counts: sp.csr_matrix, freq: np.ndarray, num_windows: int
) -> sp.csr_matrix:
    """PMI of each counted pair (Eq. 2), computed with the same float operations as
    build_graph.py; pairs with ``PMI <= 0`` dropped. Input/output upper-triangular CSR."""
    n = counts.shape[0]
    rows = np.repeat(np.arange(n, dtype=np.int32), np.diff(counts.indptr))
    cols = counts.indices
    f = freq.astype(np.float64)
    nw = float(num_windows)
    nw2 = float(num_windows * num_windows)  # Python int product, exact, as in the original
    pmi = np.log((counts.data / nw) / (f[rows] * f[cols] / nw2))
    keep = pmi > 0
    out = sp.csr_matrix((pmi[keep], (rows[keep], cols[keep])), shape=counts.shape)
    out.sum_duplicates()
    return out


def build_textgcn_graph(
    docs: Sequence[str], window: int = 20, progress: bool = False
) -> TextGCNGraph:
    """Build TextGCN's doc-word TF-IDF and word-word PMI blocks (build_graph.py), vectorised.

    ``docs`` are cleaned documents (:func:`textzoo.data.cleaning.clean_documents`), words separated
    by whitespace, all splits together (the graph is transductive). Document order is kept.
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    t0 = time.perf_counter()
    vocabulary, ids, lengths = tokenize_documents(docs)
    n_docs, n_words, n_tok = len(docs), len(vocabulary), len(ids)
    t1 = time.perf_counter()

    # -- doc-word TF-IDF ------------------------------------------------------------------------
    doc_word = _doc_word_counts(ids, lengths, n_words)
    df = np.bincount(doc_word.indices, minlength=n_words)
    with np.errstate(divide="ignore"):
        idf = np.log(n_docs / df.astype(np.float64)) if n_words else np.zeros(0)
    doc_word.data = doc_word.data * idf[doc_word.indices]
    t2 = time.perf_counter()

    # -- windows ------------------------------------------------------------------------------
    nwin_doc = np.maximum(lengths - window + 1, 1)
    num_windows = int(nwin_doc.sum())
    doc_of = np.repeat(np.arange(n_docs, dtype=np.int32), lengths)
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1])) if n_docs else np.zeros(0, np.int64)
    pos = (np.arange(n_tok, dtype=np.int64) - np.repeat(starts, lengths)).astype(np.int32)
    rem = (np.repeat(lengths, lengths) - 1 - pos).astype(np.int32)
    nwin_tok = np.repeat(nwin_doc, lengths).astype(np.int32)
    freq = _word_window_freq(ids, pos, doc_of, nwin_tok, n_words, window)
    del doc_of
    t3 = time.perf_counter()

    # -- word-word PMI ------------------------------------------------------------------------
    upper = _pair_counts(ids, pos, rem, nwin_tok, n_words, window, progress)
    del pos, rem, nwin_tok, ids
    t4 = time.perf_counter()
    n_pairs = upper.nnz
    upper = _positive_pmi(upper, freq, num_windows)
    word_word = (upper + upper.T).tocsr()
    word_word.sort_indices()
    t5 = time.perf_counter()
    logger.info(
        "TextGCN graph: %d docs, %d words, %d tokens, %d windows; doc-word %d, word pairs %d "
        "(%d with PMI > 0); tokenise %.1fs, tf-idf %.1fs, #W(i) %.1fs, #W(i,j) %.1fs, pmi %.1fs",
        n_docs, n_words, n_tok, num_windows, doc_word.nnz, n_pairs, upper.nnz,
        t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4,
    )
    return TextGCNGraph(
        vocabulary=vocabulary,
        doc_word=doc_word,
        word_word=word_word,
        idf=idf,
        window=window,
        word_window_freq=freq,
        num_windows=num_windows,
    )


def adjacency(graph: TextGCNGraph) -> sp.csr_matrix:
    """Full symmetric adjacency A ((n_docs + V) square; documents first, then words): doc-word
    TF-IDF in both directions, word-word PMI, no self-loops. (build_graph.py stores doc->word only;
    TextGCN's ``utils.load_corpus`` symmetrises it to the same matrix.)"""
    dw = sp.csr_matrix(graph.doc_word, dtype=np.float64)
    ww = sp.csr_matrix(graph.word_word, dtype=np.float64)
    n_docs = dw.shape[0]
    # hstack of CSR blocks and vstack of CSR rows take scipy's fast paths (no COO round trip)
    top = sp.hstack([sp.csr_matrix((n_docs, n_docs), dtype=np.float64), dw], format="csr")
    bottom = sp.hstack([dw.T.tocsr(), ww], format="csr")
    a = sp.vstack([top, bottom], format="csr")
    a.sort_indices()
    return a


def normalize_adjacency(adj: sp.spmatrix) -> sp.csr_matrix:
    """Renormalised adjacency of Kipf & Welling, used by TextGCN (``utils.preprocess_adj``):
    ``D^-1/2 (A + I) D^-1/2`` with ``D`` the row sums of ``A + I``; float32 CSR."""
    n = adj.shape[0]
    a_hat = sp.csr_matrix(adj, dtype=np.float64) + sp.identity(n, dtype=np.float64, format="csr")
    a_hat = sp.csr_matrix(a_hat)
    a_hat.sum_duplicates()
    deg = np.asarray(a_hat.sum(axis=1)).ravel()
    with np.errstate(divide="ignore"):
        d = np.where(deg > 0, deg ** -0.5, 0.0)
    data = a_hat.data  # a fresh array owned by a_hat: scale in place
    data *= d[a_hat.indices]
    data *= np.repeat(d, np.diff(a_hat.indptr))
    return sp.csr_matrix((data.astype(np.float32), a_hat.indices, a_hat.indptr), shape=(n, n))


def tfidf_rows(
    docs: Sequence[str], vocabulary: Sequence[str] | Mapping[str, int], idf: np.ndarray
) -> sp.csr_matrix:
    """TF-IDF rows of new (cleaned) documents against a training vocabulary: ``count * idf``
    with the training ``idf``; out-of-vocabulary words are dropped. For documents of the training
    corpus this equals their ``doc_word`` rows (inductive prediction uses it for unseen text)."""
    index = vocabulary if isinstance(vocabulary, Mapping) else {w: i for i, w in enumerate(vocabulary)}
    n_words = len(idf)
    token_lists = [d.split() for d in docs]
    lengths = np.fromiter(map(len, token_lists), dtype=np.int64, count=len(token_lists))
    ids = np.fromiter(
        map(index.get, chain.from_iterable(token_lists), repeat(-1)),
        dtype=np.int64,
        count=int(lengths.sum()),
    )
    doc_of = np.repeat(np.arange(len(docs), dtype=np.int64), lengths)
    known = ids >= 0
    counts = sp.csr_matrix(
        (np.ones(int(known.sum()), dtype=np.float64), (doc_of[known], ids[known])),
        shape=(len(docs), n_words),
    )
    counts.sum_duplicates()
    counts.data = counts.data * np.asarray(idf, dtype=np.float64)[counts.indices]
    return counts
