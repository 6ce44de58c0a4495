"""XMC pieces: PIFA, balanced hierarchical 2-means, cluster rankers, metrics worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from textzoo.errors import DataError
from textzoo.metrics import multilabel_metrics, precision_at_k, propensities, psp_at_k, recall_at_k
from textzoo.xmc import ClusterIndex, average_scores, balanced_hierarchical_kmeans, label_matrix, pifa
from textzoo.xmc.indexer import tree_depth
from textzoo.xmc.ranker import beam_scores, post_process, to_dense, train_rankers


def planted(n_groups=8, per=50, dim=64, noise=0.1, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(n_groups, dim))
    x = np.repeat(centers, per, axis=0) + noise * rng.normal(size=(n_groups * per, dim))
    return x, np.repeat(np.arange(n_groups), per)


@pytest.mark.parametrize("n_labels,size", [(1000, 100), (1001, 100), (394, 100), (100, 100), (7, 2), (1, 100)])
def test_clusters_are_balanced_and_at_most_n(n_labels, size):
    x = sp.random(n_labels, 300, density=0.05, format="csr", random_state=1)
    index = balanced_hierarchical_kmeans(x, size, seed=0)
    sizes = index.sizes()
    assert index.n_clusters == 2 ** tree_depth(n_labels, size) == len(sizes)
    assert sizes.sum() == n_labels and sizes.max() <= size and sizes.max() - sizes.min() <= 1
    assert index.n_clusters == 1 or sizes.max() > size // 2  # no deeper than needed
    members = index.members()
    assert sorted(members[members >= 0].tolist()) == list(range(n_labels))
    assert (index.matrix().sum(axis=1) == 1).all()


def test_clustering_is_deterministic_and_seeded():
    x = sp.random(2000, 500, density=0.02, format="csr", random_state=3)
    a = balanced_hierarchical_kmeans(x, 100, seed=7).assign
    b = balanced_hierarchical_kmeans(x, 100, seed=7).assign
    c = balanced_hierarchical_kmeans(x, 100, seed=8).assign
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)  # the seed draws the initial centroids


@pytest.mark.parametrize("sparse", [False, True])
def test_planted_groups_are_recovered(sparse):
    x, truth = planted()
    index = balanced_hierarchical_kmeans(sp.csr_matrix(x) if sparse else x, 50, seed=1)
    assert index.n_clusters == 8
    # every planted group lands in exactly one cluster, and the clusters are all different
    clusters = [set(index.assign[truth == g]) for g in range(8)]
    assert all(len(c) == 1 for c in clusters) and len(set.union(*clusters)) == 8


def test_dense_and_sparse_paths_agree():
    x, _ = planted(n_groups=4, per=60, dim=32, noise=0.5, seed=4)
    a = balanced_hierarchical_kmeans(x, 30, seed=2).assign
    b = balanced_hierarchical_kmeans(sp.csr_matrix(x), 30, seed=2).assign
    assert np.array_equal(a, b)


def test_pifa_by_hand():
    # 3 documents, 2 features, 3 labels; label 2 has no document
    x = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 4.0]])
    y = sp.csr_matrix(np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0]]))
    # label 0: (1,0)+(0,2) = (1,2) -> /sqrt(5); label 1: (0,2)+(3,4) = (3,6) -> /sqrt(45)
    want = np.array([[1 / math.sqrt(5), 2 / math.sqrt(5)], [3 / math.sqrt(45), 6 / math.sqrt(45)], [0, 0]])
    np.testing.assert_allclose(pifa(x, y), want, rtol=1e-6)
    np.testing.assert_allclose(pifa(sp.csr_matrix(x), y).toarray(), want, rtol=1e-6)


def test_label_matrix_names_the_document():
    y = label_matrix([["a", "b"], ["c"], []], ["a", "b", "c"])
    assert y.toarray().tolist() == [[1, 1, 0], [0, 0, 1], [0, 0, 0]]
    with pytest.raises(DataError, match="document 1 has label 'z'"):
        label_matrix([["a"], ["z"]], ["a", "b"])


def test_metrics_by_hand():
    # doc 0: true {0, 2}; ranking 2 > 1 > 0 > 3   doc 1: true {3}; ranking 0 > 1 > 2 > 3
    scores = np.array([[0.2, 0.5, 0.9, 0.1], [0.9, 0.8, 0.7, 0.6]])
    y = sp.csr_matrix(np.array([[1, 0, 1, 0], [0, 0, 0, 1]]))
    assert precision_at_k(scores, y, 1) == pytest.approx((1 + 0) / 2)
    assert precision_at_k(scores, y, 3) == pytest.approx((2 / 3 + 0) / 2)
    # R@3: doc 0 finds 2 of 2, doc 1 finds 0 of 1; R@4: doc 1 finds its label at rank 4
    assert recall_at_k(scores, y, 3) == pytest.approx((1 + 0) / 2)
    assert recall_at_k(scores, y, 4) == pytest.approx((1 + 1) / 2)
    m = multilabel_metrics(scores, y, ks=(1, 3))
    # nDCG@3 doc 0: (1/log2(2) + 1/log2(4)) / (1 + 1/log2(3)); doc 1: 0
    ndcg0 = (1 + 0.5) / (1 + 1 / math.log2(3))
    assert m["nDCG@3"] == pytest.approx(ndcg0 / 2)
    assert m["R@1"] == pytest.approx((0.5 + 0) / 2)
    # PSP@1 with propensities p = (0.5, 1, 0.25, 1): gain doc 0 = 1/0.25 = 4, ideal doc 0 = 4,
    # ideal doc 1 = 1/1 = 1 -> (4 + 0) / (4 + 1)
    p = np.array([0.5, 1.0, 0.25, 1.0])
    assert psp_at_k(scores, y, p, 1) == pytest.approx(4 / 5)


def test_propensities_formula():
    y = sp.csr_matrix(np.array([[1, 0], [1, 0], [1, 1], [0, 0]]))
    n, a, b = 4, 0.55, 1.5
    c = (math.log(n) - 1) * (b + 1) ** a
    want = [1 / (1 + c * (3 + b) ** -a), 1 / (1 + c * (1 + b) ** -a)]
    np.testing.assert_allclose(propensities(y), want)


def test_rankers_separate_a_learnable_problem_and_beam_restricts():
    rng = np.random.default_rng(0)
    n_docs, n_labels, dim = 400, 8, 40
    # label l fires on feature l (plus noise features): linearly separable
    y = sp.csr_matrix((rng.random((n_docs, n_labels)) < 0.25).astype(np.float32))
    x = sp.csr_matrix(np.hstack([y.toarray() * 1.0, 0.3 * rng.random((n_docs, dim - n_labels))]))
    index = ClusterIndex(assign=np.repeat([0, 1], 4), n_clusters=2)
    everything = sp.csr_matrix(np.ones((n_docs, 2)))
    w = train_rankers(x, y, index, everything, progress=False)
    assert w.shape == (dim + 1, n_labels)
    beam = np.tile([0, 1], (n_docs, 1))
    labels, scores = beam_scores(x, w, index, beam, np.full((n_docs, 2), 5.0))
    dense = to_dense(labels, scores, n_labels)
    assert ((dense >= 0.5) == (y.toarray() > 0)).mean() > 0.97
    # a beam holding only cluster 0 never scores the labels of cluster 1
    labels, scores = beam_scores(x, w, index, np.zeros((n_docs, 1), dtype=np.int64), np.full((n_docs, 1), 5.0))
    assert set(np.unique(labels)) <= {0, 1, 2, 3}
    assert np.all(to_dense(labels, scores, n_labels)[:, 4:] == 0)


def test_post_processors():
    np.testing.assert_allclose(post_process(np.array([1.0, 2.0, 0.0]), "l3-hinge"), [1.0, 1.0, math.exp(-1)])
    np.testing.assert_allclose(post_process(np.array([0.0]), "sigmoid"), [0.5])
    with pytest.raises(ValueError, match="unknown post-processor"):
        post_process(np.zeros(1), "nope")


def test_combiners_by_hand():
    # two labels in two clusters, one feature; w = (2, -1) and no bias: ranker scores z = 2x and -x
    index = ClusterIndex(assign=np.array([0, 1]), n_clusters=2)
    w = sp.csc_matrix(np.array([[2.0, -1.0], [0.0, 0.0]]))
    x = sp.csr_matrix(np.array([[0.25]]))
    beam, matcher = np.array([[0, 1]]), np.array([[0.0, 1.0]])
    # product: post(matcher) * post(ranker); l3-hinge: exp(-max(0, 1 - z)^3)
    l3 = lambda z: math.exp(-max(0.0, 1.0 - z) ** 3)  # noqa: E731
    labels, scores = beam_scores(x, w, index, beam, matcher)
    dense = to_dense(labels, scores, 2)[0]
    np.testing.assert_allclose(dense, [l3(0.0) * l3(0.5), l3(1.0) * l3(-0.25)], rtol=1e-6)
    # ranker: the beam selects, the matcher's score no longer weighs
    labels, scores = beam_scores(x, w, index, beam, matcher, combine="ranker")
    np.testing.assert_allclose(to_dense(labels, scores, 2)[0], [l3(0.5), l3(-0.25)], rtol=1e-6)
    labels, scores = beam_scores(x, w, index, beam[:, :1], matcher[:, :1], combine="ranker")
    np.testing.assert_allclose(to_dense(labels, scores, 2)[0], [l3(0.5), 0.0], rtol=1e-6)
    with pytest.raises(ValueError, match="unknown combiner"):
        beam_scores(x, w, index, beam, matcher, combine="sum")


def test_average_scores():
    np.testing.assert_allclose(average_scores([np.ones((2, 3)), np.zeros((2, 3))]), np.full((2, 3), 0.5))
    with pytest.raises(ValueError, match="disagree"):
        average_scores([np.ones((2, 3)), np.ones((3, 2))])
