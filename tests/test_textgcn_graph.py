"""The vectorised TextGCN graph equals a loop-for-loop port of build_graph.py, edge for edge."""

from __future__ import annotations

import random
from math import log

import numpy as np
import pytest
import scipy.sparse as sp

from reference_textgcn import reference_textgcn_graph
from textzoo.graphs import (
    adjacency,
    build_textgcn_graph,
    normalize_adjacency,
    tfidf_rows,
    tokenize_documents,
)

# Hand-made corpus. With window 3:
#   doc0 "a b c a"   (4 > 3 words) -> windows [a b c], [b c a]
#   doc1 "b c d e f" (5 words)     -> windows [b c d], [c d e], [d e f]
#   doc2 ""          (empty)       -> one (empty) window
#   doc3 "a d"       (<= 3 words)  -> one window [a d]
#   doc4 "e e f"     (= 3 words)   -> one window [e e f]
# num_windows = 2 + 3 + 1 + 1 + 1 = 8
# #W: a 3 (2 in doc0 + doc3), b 3, c 4, d 4 (3 in doc1 + doc3), e 3 (2 in doc1 + doc4), f 2
# #W(a,b) = 2 (once in each doc0 window)         -> PMI = log((2/8) / (3*3/64)) = log(16/9)
# #W(e,f) = 1 ([d e f]) + 2 (positions (0,2), (1,2) of [e e f])
#                                                -> PMI = log((3/8) / (3*2/64)) = log(4)
# #W(d,e) = 2 ([c d e], [d e f])                 -> PMI = log((2/8) / (4*3/64)) = log(4/3)
# #W(c,d) = 2 ([b c d], [c d e])                 -> PMI = log((2/8) / (4*4/64)) = log(1) = 0: no edge
# #W(a,d) = 1 (doc3)                             -> PMI = log((1/8) / (3*4/64)) < 0: no edge
# TF-IDF (5 docs): a is in doc0 twice, df(a) = 2 -> doc0-a = 2 * log(5/2); doc4-e = 2 * log(5/2)
SMALL = ["a b c a", "b c d e f", "", "a d", "e e f"]


def _assert_same(ours: sp.spmatrix, ref: sp.spmatrix) -> None:
    """Same shape, same sparsity pattern, values within 1e-9 relative."""
    a, b = sp.csr_matrix(ours), sp.csr_matrix(ref)
    a.sort_indices()
    b.sort_indices()
    assert a.shape == b.shape
    np.testing.assert_array_equal(a.indptr, b.indptr)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_allclose(a.data, b.data, rtol=1e-9, atol=0)


def _assert_equal_to_reference(docs, window):
    g = build_textgcn_graph(docs, window=window)
    r = reference_textgcn_graph(docs, window_size=window)
    assert g.vocabulary == r["vocabulary"]
    assert g.window == window
    assert g.num_windows == r["num_windows"]
    np.testing.assert_array_equal(g.word_window_freq, r["word_window_freq"])
    np.testing.assert_allclose(g.idf, r["idf"], rtol=1e-12)
    _assert_same(g.doc_word, r["doc_word"])
    _assert_same(g.word_word, r["word_word"])
    return g


def test_small_window3_worked_by_hand():
    g = _assert_equal_to_reference(SMALL, 3)
    v = {w: i for i, w in enumerate(g.vocabulary)}
    assert g.vocabulary == ["a", "b", "c", "d", "e", "f"]
    assert g.num_windows == 8
    assert g.word_window_freq.tolist() == [3, 3, 4, 4, 3, 2]
    ww = g.word_word.toarray()
    assert ww[v["a"], v["b"]] == pytest.approx(log(16 / 9))
    assert ww[v["e"], v["f"]] == pytest.approx(log(4))
    assert ww[v["d"], v["e"]] == pytest.approx(log(4 / 3))
    assert ww[v["c"], v["d"]] == 0 and ww[v["a"], v["d"]] == 0  # PMI 0 and < 0: pruned
    dw = g.doc_word.toarray()
    assert dw[0, v["a"]] == pytest.approx(2 * log(5 / 2))
    assert dw[4, v["e"]] == pytest.approx(2 * log(5 / 2))
    assert dw[2].sum() == 0  # empty document: no edges


def test_small_window20():
    g = _assert_equal_to_reference(SMALL, 20)
    # every document is one window: #W(a) = docs holding a = 2, num_windows = 5
    assert g.num_windows == 5
    assert g.word_window_freq[0] == 2


@pytest.mark.parametrize("window", [1, 2, 4, 5])
def test_small_other_windows(window):
    _assert_equal_to_reference(SMALL, window)


def test_random_corpora_against_reference():
    rng = random.Random(1)
    for _ in range(40):
        letters = "abcdefghij"[: rng.randint(1, 10)]
        docs = [" ".join(rng.choice(letters) for _ in range(rng.randint(0, 35)))
                for _ in range(rng.randint(1, 7))]
        _assert_equal_to_reference(docs, rng.randint(1, 12))


@pytest.fixture(scope="module")
def r8_head(data_dir):
    text = (data_dir / "textgcn" / "corpus" / "R8.clean.txt").read_bytes().decode("latin-1")
    return text.split("\n")[:300]


@pytest.mark.parametrize("window", [20, 5])
def test_r8_head_against_reference(r8_head, window):
    _assert_equal_to_reference(r8_head, window)


def test_empty_corpus_and_all_empty_docs():
    g = build_textgcn_graph(["", "  "])
    assert g.vocabulary == [] and g.doc_word.shape == (2, 0) and g.word_word.shape == (0, 0)
    assert g.num_windows == 2
    assert adjacency(g).shape == (2, 2)


def test_word_word_symmetric_zero_diagonal(r8_head):
    g = build_textgcn_graph(r8_head)
    ww = g.word_word
    assert ww.dtype == np.float64 and ww.shape == (len(g.vocabulary),) * 2
    assert abs(ww - ww.T).max() == 0
    assert not ww.diagonal().any()
    assert (ww.data > 0).all()
    assert ww.indices.dtype == np.int32
    assert g.idf.dtype == np.float64 and g.idf.shape == (len(g.vocabulary),)


def test_adjacency_layout_and_symmetry(r8_head):
    g = build_textgcn_graph(r8_head)
    n, v = len(r8_head), len(g.vocabulary)
    a = adjacency(g)
    assert a.shape == (n + v, n + v) and a.format == "csr"
    assert abs(a - a.T).max() == 0
    assert not a.diagonal().any()
    assert a[:n, :n].nnz == 0
    _assert_same(a[:n, n:], g.doc_word)
    _assert_same(a[n:, :n], g.doc_word.T)
    _assert_same(a[n:, n:], g.word_word)


def test_normalize_adjacency_equals_dense_on_small():
    g = build_textgcn_graph(SMALL, window=3)
    a = adjacency(g)
    dense = a.toarray() + np.eye(a.shape[0])
    d = 1 / np.sqrt(dense.sum(axis=1))
    expected = d[:, None] * dense * d[None, :]
    got = normalize_adjacency(a)
    assert got.dtype == np.float32 and got.format == "csr"
    np.testing.assert_allclose(got.toarray(), expected, rtol=1e-6, atol=1e-7)
    # the empty document is an isolated node: only its self-loop, weight 1
    assert got[2, 2] == pytest.approx(1.0) and got[2].nnz == 1


def test_normalize_adjacency_rows(r8_head):
    a = adjacency(build_textgcn_graph(r8_head))
    a_norm = normalize_adjacency(a)
    deg = np.asarray(a.sum(axis=1)).ravel() + 1
    # D^-1/2 (A+I) D^-1/2 maps sqrt(deg) to sqrt(deg), row by row
    np.testing.assert_allclose(a_norm @ np.sqrt(deg), np.sqrt(deg), rtol=1e-5)
    assert abs(a_norm - a_norm.T).max() < 1e-6
    np.testing.assert_allclose(a_norm.diagonal(), 1 / deg, rtol=1e-6)


def test_tfidf_rows_reproduce_training_rows(r8_head):
    g = build_textgcn_graph(r8_head)
    _assert_same(tfidf_rows(r8_head, g.vocabulary, g.idf), g.doc_word)
    rows = tfidf_rows(["a unknownword a", "", "zzz"], ["a", "b"], np.array([0.5, 2.0]))
    assert rows.shape == (3, 2)
    assert rows.toarray().tolist() == [[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]]


def test_tokenize_documents():
    vocab, ids, lengths = tokenize_documents(["b a", "", "a  c a"])
    assert vocab == ["a", "b", "c"]
    assert ids.tolist() == [1, 0, 0, 2, 0] and ids.dtype == np.int32
    assert lengths.tolist() == [2, 0, 3]
