"""Metrics against hand-worked values, edge cases, and plain-loop references on random data."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from textzoo import metrics as M
from textzoo.metrics import (
    classification_metrics,
    confusion_matrix,
    multilabel_metrics,
    ndcg_at_k,
    per_class_f1,
    precision_at_k,
    propensities,
    psndcg_at_k,
    psp_at_k,
    recall_at_k,
    top_k_indices,
)

L2 = math.log2(3)  # discounts 1/log2(rank + 1): rank 1 -> 1, rank 2 -> 1/log2(3), rank 3 -> 1/2

# ---------------------------------------------------------------------------------------------
# Single label
# ---------------------------------------------------------------------------------------------

Y_TRUE = [0, 0, 1, 1, 2]
Y_PRED = [0, 1, 1, 1, 0]
# doc:        0  1  2  3  4
# correct:    y  n  y  y  n   -> accuracy = 3/5
# class 0: TP=1 (doc0) FP=1 (doc4) FN=1 (doc1) -> F1 = 2/(2+1+1) = 0.5
# class 1: TP=2 (doc2,3) FP=1 (doc1) FN=0      -> F1 = 4/(4+1)   = 0.8
# class 2: TP=0 FP=0 FN=1 (doc4)               -> F1 = 0
# macro = (0.5 + 0.8 + 0)/3 = 1.3/3; weighted (supports 2, 2, 1) = (1.0 + 1.6 + 0)/5 = 0.52


def test_classification_metrics_by_hand():
    m = classification_metrics(Y_TRUE, Y_PRED)
    assert m["accuracy"] == pytest.approx(0.6)
    assert m["micro_f1"] == pytest.approx(0.6)  # single label: micro-F1 == accuracy
    assert m["macro_f1"] == pytest.approx(1.3 / 3)
    assert m["weighted_f1"] == pytest.approx(0.52)
    assert all(isinstance(v, float) for v in m.values())


def test_per_class_f1_and_confusion_by_hand():
    np.testing.assert_allclose(per_class_f1(Y_TRUE, Y_PRED), [0.5, 0.8, 0.0])
    # rows = true class, columns = predicted class
    np.testing.assert_array_equal(confusion_matrix(Y_TRUE, Y_PRED), [[1, 1, 0], [0, 2, 0], [1, 0, 0]])


def test_macro_f1_is_over_labels_present_in_true_or_pred():
    # classes 1, 3, 4 appear nowhere: left out of the macro mean, so a perfect run scores 1.0
    assert classification_metrics([0, 0, 2], [0, 0, 2], n_classes=5)["macro_f1"] == pytest.approx(1.0)
    # per_class_f1 with n_classes lists every class; absent ones (0/0) get 0
    np.testing.assert_allclose(per_class_f1([0, 0, 2], [0, 0, 2], n_classes=5), [1, 0, 1, 0, 0])
    assert confusion_matrix([0, 0, 2], [0, 0, 2], n_classes=5).shape == (5, 5)
    # a class only predicted does count: class 0 TP=1 FN=1 -> 2/3, class 1 TP=0 FP=1 -> 0; mean 1/3
    assert classification_metrics([0, 0], [0, 1])["macro_f1"] == pytest.approx(1 / 3)


def test_classification_input_errors():
    with pytest.raises(ValueError, match="entries"):
        classification_metrics([0, 1], [0])
    with pytest.raises(ValueError, match="outside"):
        classification_metrics([0, 3], [0, 1], n_classes=3)
    with pytest.raises(ValueError, match="integer"):
        classification_metrics([0.5, 1.0], [0, 1])
    with pytest.raises(ValueError, match="zero documents"):
        classification_metrics([], [])


# ---------------------------------------------------------------------------------------------
# Multi label: one tiny example worked by hand
# ---------------------------------------------------------------------------------------------

# 3 documents, 5 labels. doc0 has labels {0, 2}, doc1 has {1}, doc2 has none.
Y = sp.csr_matrix(np.array([[1, 0, 1, 0, 0], [0, 1, 0, 0, 0], [0, 0, 0, 0, 0]]))
S = np.array(
    [
        [0.9, 0.8, 0.7, 0.1, 0.0],  # ranking 0,1,2,3,4 -> relevance 1,0,1,0,0
        [0.1, 0.2, 0.9, 0.8, 0.0],  # ranking 2,3,1,0,4 -> relevance 0,0,1,0,0
        [0.5, 0.4, 0.3, 0.2, 0.1],  # no true label     -> relevance 0,0,0,0,0
    ]
)
P = np.array([0.5, 0.25, 1.0, 1.0, 1.0])  # propensities -> inverse weights w = 2, 4, 1, 1, 1


def test_precision_by_hand():
    # P@1 = (1 + 0 + 0)/3; P@3 = (2/3 + 1/3 + 0)/3 = 1/3; P@5 = (2/5 + 1/5 + 0)/3 = 0.2
    # (the label-less doc2 counts, as 0)
    assert precision_at_k(S, Y, 1) == pytest.approx(1 / 3)
    assert precision_at_k(S, Y, 3) == pytest.approx(1 / 3)
    assert precision_at_k(S, Y, 5) == pytest.approx(0.2)


def test_ndcg_by_hand():
    # nDCG@1: doc0 1/1, doc1 0/1; doc2 skipped -> 0.5
    assert ndcg_at_k(S, Y, 1) == pytest.approx(0.5)
    # nDCG@3: doc0 DCG = 1/log2(2) + 1/log2(4) = 1.5, IDCG@min(3,2) = 1 + 1/log2(3) -> 1.5/(1 + 1/log2 3)
    #         doc1 DCG = 1/log2(4) = 0.5, IDCG@1 = 1 -> 0.5
    doc0 = 1.5 / (1 + 1 / L2)  # = 0.91972
    assert ndcg_at_k(S, Y, 3) == pytest.approx((doc0 + 0.5) / 2)  # = 0.70986
    assert ndcg_at_k(S, Y, 5) == pytest.approx((doc0 + 0.5) / 2)  # no further hits


def test_recall_by_hand():
    # R@1: doc0 1/2, doc1 0/1 -> 0.25; R@3: doc0 2/2, doc1 1/1 -> 1 (doc2 skipped)
    assert recall_at_k(S, Y, 1) == pytest.approx(0.25)
    assert recall_at_k(S, Y, 3) == pytest.approx(1.0)


def test_psp_and_psndcg_by_hand():
    # PSP@1: predicted gain = doc0 label0 (w=2) + doc1 label2 (miss) = 2;
    #        best: doc0 max(w0=2, w2=1) = 2, doc1 w1 = 4 -> 6;  2/6 = 1/3 (the 1/k cancels)
    assert psp_at_k(S, Y, P, 1) == pytest.approx(1 / 3)
    # PSP@3: gain = doc0 (2 + 1) + doc1 (4) = 7; best = 3 + 4 = 7 -> 1.0
    assert psp_at_k(S, Y, P, 3) == pytest.approx(1.0)
    # PSnDCG@3 = sum_i PSDCG_i/IDCG_i / sum_i PSDCG*_i/IDCG_i
    #   doc0: PSDCG = 2/1 + 1/log2(4) = 2.5, PSDCG* = 2/1 + 1/log2(3), IDCG = 1 + 1/log2(3)
    #   doc1: PSDCG = 4/log2(4) = 2,         PSDCG* = 4/1,              IDCG = 1
    idcg0 = 1 + 1 / L2
    expected = (2.5 / idcg0 + 2) / ((2 + 1 / L2) / idcg0 + 4)  # = 3.53287 / 5.61315 = 0.62939
    assert psndcg_at_k(S, Y, P, 3) == pytest.approx(expected)
    # PSnDCG@1: (2/1 + 0) / (2/1 + 4/1) = 1/3
    assert psndcg_at_k(S, Y, P, 1) == pytest.approx(1 / 3)


def test_multilabel_metrics_dict_by_hand():
    m = multilabel_metrics(S, Y, ks=(1, 3), propensity=P, threshold=0.5)
    assert m["P@1"] == pytest.approx(1 / 3) and m["P@3"] == pytest.approx(1 / 3)
    assert m["nDCG@1"] == pytest.approx(0.5)
    assert m["R@3"] == pytest.approx(1.0)
    assert m["PSP@1"] == pytest.approx(1 / 3) and m["PSP@3"] == pytest.approx(1.0)
    assert "PSnDCG@3" in m
    # threshold 0.5 predicts doc0 {0,1,2}, doc1 {2,3}, doc2 {0}: TP = 2 (doc0: 0, 2), FP = 4, FN = 1
    # micro-F1 = 2*2 / (2*2 + 4 + 1) = 4/9
    assert m["micro_f1"] == pytest.approx(4 / 9)
    assert set(multilabel_metrics(S, Y, ks=(2,))) == {"P@2", "nDCG@2", "R@2"}


def test_propensities_by_hand():
    # N = 4 training docs; label 0 in 4 docs, label 1 in 1, label 2 in none; A = 0.55, B = 1.5
    # C = (ln 4 - 1) * 2.5^0.55 = 0.386294 * 1.655314 = 0.639438
    # p0 = 1/(1 + C * 5.5^-0.55) = 1/(1 + 0.639438 * 0.391565) = 0.79976
    # p1 = 1/(1 + C * 2.5^-0.55) = 1/(1 + 0.639438 * 0.604116) = 0.72135
    # p2 = 1/(1 + C * 1.5^-0.55) = 1/(1 + 0.639438 * 0.800111) = 0.66155
    train = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 0], [1, 0, 0], [1, 0, 0]]))
    np.testing.assert_allclose(propensities(train), [0.79976, 0.72135, 0.66155], atol=1e-5)
    # rarer label -> smaller propensity -> larger weight 1/p
    p = propensities(train, A=0.6, B=2.6)
    assert p[0] > p[1] > p[2]
    with pytest.raises(ValueError):
        propensities(sp.csr_matrix(np.ones((1, 3))))


# ---------------------------------------------------------------------------------------------
# Edge cases
# ---------------------------------------------------------------------------------------------


def test_ties_break_towards_lower_label_index():
    s = np.array([[0.5, 0.5, 0.5, 0.1], [0.1, 0.9, 0.5, 0.5]])
    np.testing.assert_array_equal(top_k_indices(s, 2), [[0, 1], [1, 2]])
    np.testing.assert_array_equal(top_k_indices(s, 3), [[0, 1, 2], [1, 2, 3]])
    y = sp.csr_matrix(np.array([[0, 1, 1, 0], [0, 0, 0, 1]]))
    # doc0 top-1 = label 0 (miss); doc1 top-1 = label 1 (miss); top-2: doc0 {0,1} 1 hit, doc1 {1,2} 0
    assert precision_at_k(s, y, 1) == 0.0
    assert precision_at_k(s, y, 2) == pytest.approx((1 / 2 + 0) / 2)
    assert precision_at_k(s, y, 3) == pytest.approx((2 / 3 + 1 / 3) / 2)  # doc1 top-3 = 1,2,3


def test_k_larger_than_label_count():
    # 3 labels, k = 5: ranks 4 and 5 do not exist and count as misses
    y = sp.csr_matrix(np.array([[1, 1, 0]]))
    s = np.array([[0.9, 0.8, 0.1]])
    assert top_k_indices(s, 5).shape == (1, 3)
    assert precision_at_k(s, y, 5) == pytest.approx(2 / 5)
    assert ndcg_at_k(s, y, 5) == pytest.approx(1.0)  # (1 + 1/log2 3) / IDCG@min(5, 2)
    assert recall_at_k(s, y, 5) == pytest.approx(1.0)
    assert psp_at_k(s, y, np.ones(3), 5) == pytest.approx(1.0)


def test_documents_without_labels():
    y = sp.csr_matrix((2, 3))  # nobody has a label
    s = np.random.default_rng(0).random((2, 3))
    assert precision_at_k(s, y, 1) == 0.0
    assert math.isnan(ndcg_at_k(s, y, 1))
    assert math.isnan(recall_at_k(s, y, 1))
    assert math.isnan(psp_at_k(s, y, np.ones(3), 1))


def test_index_input_matches_scores_and_padding():
    idx = top_k_indices(S, 3)
    np.testing.assert_array_equal(idx, [[0, 1, 2], [2, 3, 1], [0, 1, 2]])
    for k in (1, 2, 3):
        assert precision_at_k(idx, Y, k) == precision_at_k(S, Y, k)
        assert ndcg_at_k(idx, Y, k) == ndcg_at_k(S, Y, k)
    # -1 = no prediction; fewer columns than k also count as misses
    short = np.array([[2, -1], [1, -1], [-1, -1]])
    # P@2 = (1/2 + 1/2 + 0)/3
    assert precision_at_k(short, Y, 2) == pytest.approx(1 / 3)
    assert precision_at_k(short, Y, 5) == pytest.approx((1 / 5 + 1 / 5) / 3)


def test_dense_ground_truth_and_explicit_zeros():
    dense = Y.toarray()
    assert precision_at_k(S, dense, 3) == precision_at_k(S, Y, 3)
    y = sp.csr_matrix((np.array([1.0, 0.0]), np.array([0, 1]), np.array([0, 2])), shape=(1, 3))
    assert y.nnz == 2  # label 1 is stored as an explicit 0: not relevant
    assert precision_at_k(np.array([[0.1, 0.9, 0.0]]), y, 1) == 0.0


def test_input_errors():
    with pytest.raises(ValueError, match="columns"):
        precision_at_k(S[:, :4], Y, 1)
    with pytest.raises(ValueError, match="shape"):
        precision_at_k(S[:2], Y, 1)
    with pytest.raises(ValueError, match="repeats"):
        precision_at_k(np.array([[1, 1], [0, 1], [0, 2]]), Y, 2)
    with pytest.raises(ValueError, match="out of range"):
        precision_at_k(np.array([[7], [0], [0]]), Y, 1)
    with pytest.raises(ValueError, match="boolean"):
        precision_at_k(S > 0.5, Y, 1)
    with pytest.raises(ValueError, match="NaN"):
        precision_at_k(np.where(S > 0.85, np.nan, S), Y, 1)
    with pytest.raises(ValueError, match="positive integer"):
        precision_at_k(S, Y, 0)
    with pytest.raises(ValueError, match="one entry per label"):
        psp_at_k(S, Y, np.ones(4), 1)
    with pytest.raises(ValueError, match="> 0"):
        psp_at_k(S, Y, np.zeros(5), 1)
    with pytest.raises(TypeError):
        precision_at_k(sp.csr_matrix(S), Y, 1)


# ---------------------------------------------------------------------------------------------
# Plain-loop reference on random data
# ---------------------------------------------------------------------------------------------


def _ref_rank(row: np.ndarray, k: int) -> list[int]:
    return sorted(range(len(row)), key=lambda l: (-row[l], l))[:k]


def _ref_metrics(scores, y_dense, k, p):
    n, n_labels = y_dense.shape
    w = 1.0 / p
    disc = [1 / math.log2(r + 2) for r in range(k)]
    prec, ndcgs, recs = [], [], []
    ps_num = ps_den = psn_num = psn_den = 0.0
    for i in range(n):
        top = _ref_rank(scores[i], k)
        truth = [l for l in range(n_labels) if y_dense[i, l]]
        hits = [1.0 if y_dense[i, l] else 0.0 for l in top]
        prec.append(sum(hits) / k)
        best = sorted((w[l] for l in truth), reverse=True)[:k]
        ps_num += sum(h * w[l] for h, l in zip(hits, top))
        ps_den += sum(best)
        if truth:
            dcg = sum(h * d for h, d in zip(hits, disc))
            idcg = sum(disc[: min(k, len(truth))])
            ndcgs.append(dcg / idcg)
            recs.append(sum(hits) / len(truth))
            psn_num += sum(h * w[l] * d for h, l, d in zip(hits, top, disc)) / idcg
            psn_den += sum(b * d for b, d in zip(best, disc)) / idcg
    return {
        f"P@{k}": sum(prec) / n,
        f"nDCG@{k}": sum(ndcgs) / len(ndcgs),
        f"R@{k}": sum(recs) / len(recs),
        f"PSP@{k}": ps_num / ps_den,
        f"PSnDCG@{k}": psn_num / psn_den,
    }


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_plain_loops_on_random_data(seed, monkeypatch):
    rng = np.random.default_rng(seed)
    n, n_labels = 40, 12
    y_dense = (rng.random((n, n_labels)) < 0.2).astype(int)
    y_dense[:3] = 0  # some documents without labels
    scores = rng.integers(0, 6, size=(n, n_labels)) / 5.0  # coarse values: many ties
    train = sp.csr_matrix((rng.random((200, n_labels)) < rng.random(n_labels)).astype(int))
    p = propensities(train)
    monkeypatch.setattr(M, "_CHUNK_ELEMENTS", 50)  # force several row blocks in top_k_indices
    ks = (1, 2, 3, 5, 15)
    got = multilabel_metrics(scores, sp.csr_matrix(y_dense), ks=ks, propensity=p)
    for k in ks:
        for name, value in _ref_metrics(scores, y_dense, k, p).items():
            assert got[name] == pytest.approx(value, rel=1e-12), name
    # the single-metric functions agree with the dict
    assert precision_at_k(scores, y_dense, 3) == pytest.approx(got["P@3"])
    assert psndcg_at_k(scores, y_dense, p, 5) == pytest.approx(got["PSnDCG@5"])
    # top-k with argpartition equals a full stable sort
    full = np.argsort(-scores, axis=1, kind="stable")
    np.testing.assert_array_equal(top_k_indices(scores, 4), full[:, :4])


def test_threshold_micro_f1_matches_sklearn():
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(5)
    y = (rng.random((30, 8)) < 0.3).astype(int)
    s = rng.random((30, 8))
    got = multilabel_metrics(s, sp.csr_matrix(y), ks=(1,), threshold=0.5)["micro_f1"]
    assert got == pytest.approx(f1_score(y, (s >= 0.5).astype(int), average="micro"))
