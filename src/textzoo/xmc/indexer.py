"""Semantic label indexing by balanced hierarchical spherical 2-means.

X-Transformer (Chang et al., KDD 2020), Section 3.2, and PECOS (Yu et al., JMLR 2022, Section 4.1)
partition the labels into K clusters by recursively splitting every node of a binary tree with a
*balanced* spherical 2-means on the label embeddings (PIFA, see :mod:`.labels`):

1. rows are L2-normalised; each node starts from two of its labels drawn at random (seeded) as
   centroids c0, c1;
2. assignment: the labels of a node are sorted by s_l = <v_l, c0> - <v_l, c1> (cosine to c0 minus
   cosine to c1, ties by label index) and the first ceil(n/2) go to child 0, the rest to child 1, so
   the two children differ in size by at most one;
3. update: c_j = normalize(sum of the labels of child j) (spherical k-means);
4. repeat 2-3 until no label changes side or ``max_iter`` iterations.

Every node of a level is split at once: the tree is complete, with depth
d = ceil(log2(L / N)) for L labels and cluster size N, so it has K = 2^d leaf clusters whose sizes
differ by at most one and are at most N. Each iteration of a level is a handful of vectorised
operations over all labels of the level (a sparse indicator product for the centroids, a segmented
sort for the balanced assignment); Python loops only run over levels and iterations, never labels.
For sparse embeddings every centroid of a level is kept on the (node, column) pairs its members
use, so an iteration is a few ``bincount``s over the stored entries: O(nnz) time and memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import normalize


@dataclass
class ClusterIndex:
    """Labels -> clusters. ``assign[l]`` is the cluster of label l, in ``[0, n_clusters)``."""

    assign: np.ndarray
    n_clusters: int
    _members: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def n_labels(self) -> int:
        return int(self.assign.shape[0])

    def sizes(self) -> np.ndarray:
        return np.bincount(self.assign, minlength=self.n_clusters)

    def matrix(self) -> sp.csr_matrix:
        """C (n_labels, n_clusters), C[l, k] = 1 iff label l is in cluster k."""
        L = self.n_labels
        return sp.csr_matrix((np.ones(L, dtype=np.float32), (np.arange(L), self.assign)), shape=(L, self.n_clusters))

    def members(self) -> np.ndarray:
        """(n_clusters, max size) label ids per cluster, ascending, padded with -1; computed once
        (every prediction call reads it), returned read-only."""
        if self._members is None:
            self._members = self._member_table()
        return self._members

    def _member_table(self) -> np.ndarray:
        order = np.argsort(self.assign, kind="stable")
        sizes = self.sizes()
        width = int(sizes.max()) if sizes.size else 0
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        pos = np.arange(self.n_labels) - np.repeat(starts, sizes)
        table = np.full((self.n_clusters, width), -1, dtype=np.int64)
        table[self.assign[order], pos] = order
        table.flags.writeable = False
        return table

    @staticmethod
    def for_size(n_labels: int, max_cluster_size: int) -> tuple[int, int]:
        """``(n_clusters, largest cluster)`` of the complete tree for this many labels."""
        depth = tree_depth(n_labels, max_cluster_size)
        k = 2 ** depth
        return k, -(-n_labels // k)


def tree_depth(n_labels: int, max_cluster_size: int) -> int:
    """d = ceil(log2(L / N)) (0 when L <= N): the depth at which every cluster holds <= N labels."""
    if max_cluster_size < 1:
        raise ValueError(f"max_cluster_size must be >= 1, got {max_cluster_size}")
    if n_labels <= max_cluster_size:
        return 0
    d = max(0, math.ceil(math.log2(n_labels / max_cluster_size)))
    while -(-n_labels // 2 ** d) > max_cluster_size:  # guard against float rounding of log2
        d += 1
    return d


def _dense_level(x, node, n_nodes, first, second, half, starts, max_iter):
    """One level of balanced spherical 2-means on dense rows: the child (0/1) of every label."""
    L = x.shape[0]
    cdiff = x[first] - x[second]
    label_ids = np.arange(L)
    child = None
    for _ in range(max_iter):
        s = np.empty(L, dtype=np.float64)
        step = max(1, (1 << 22) // max(1, x.shape[1]))
        for i in range(0, L, step):  # row blocks bound the memory of the gather
            s[i:i + step] = np.einsum("ij,ij->i", x[i:i + step], cdiff[node[i:i + step]])
        new = _balanced_split(s, node, half, starts, label_ids)
        if child is not None and np.array_equal(new, child):
            break
        child = new
        m = sp.csr_matrix((np.ones(L), (2 * node + child, label_ids)), shape=(2 * n_nodes, L))
        c = normalize(np.asarray(m @ x), norm="l2", axis=1)
        cdiff = c[0::2] - c[1::2]
    return child


def _sparse_level(x, node, n_nodes, first, second, half, starts, max_iter):
    """The same for CSR rows. A centroid of a node only has entries at the (node, column) pairs of
    its members, so every vector lives on the level's unique keys node * dim + column: sums,
    norms and dot products are ``bincount``s over the stored entries, O(nnz) per iteration."""
    L, dim = x.shape
    rows = np.repeat(np.arange(L, dtype=np.int64), np.diff(x.indptr))
    keys = node[rows] * dim + x.indices
    perm = np.argsort(keys, kind="stable")  # entries in key order: the bincounts below stream
    keys, rows, data = keys[perm], rows[perm], x.data[perm]
    new_key = np.concatenate([[True], keys[1:] != keys[:-1]])
    inv = np.cumsum(new_key) - 1
    uniq = keys[new_key]
    u_node = uniq // dim
    n_u = len(uniq)
    node_of_entry = node[rows]
    c0 = np.bincount(inv, weights=data * (rows == first[node_of_entry]), minlength=n_u)
    c1 = np.bincount(inv, weights=data * (rows == second[node_of_entry]), minlength=n_u)
    cdiff = c0 - c1
    label_ids = np.arange(L)
    child = None
    for _ in range(max_iter):
        s = np.bincount(rows, weights=data * cdiff[inv], minlength=L)
        new = _balanced_split(s, node, half, starts, label_ids)
        if child is not None and np.array_equal(new, child):
            break
        child = new
        right = child[rows].astype(bool)
        sums = [np.bincount(inv, weights=np.where(right, 0.0, data), minlength=n_u),
                np.bincount(inv, weights=np.where(right, data, 0.0), minlength=n_u)]
        for j in (0, 1):
            norm = np.sqrt(np.bincount(u_node, weights=sums[j] ** 2, minlength=n_nodes))
            sums[j] = sums[j] / np.where(norm > 0, norm, 1.0)[u_node]
        cdiff = sums[0] - sums[1]
    return child


def _balanced_split(s, node, half, starts, label_ids):
    """Child 0 gets the ceil(n/2) labels of each node with the largest s (ties: lower label id)."""
    L = len(s)
    order = np.lexsort((label_ids, -s, node))  # by node, then s descending, then label id
    rank = np.arange(L) - starts[node[order]]
    child = np.empty(L, dtype=np.int64)
    child[order] = (rank >= half[node[order]]).astype(np.int64)
    return child


def balanced_hierarchical_kmeans(x, max_cluster_size: int = 100, seed: int = 0, max_iter: int = 20) -> ClusterIndex:
    """Cluster the rows of ``x`` (label embeddings, (n_labels, dim), sparse or dense) into
    2^d balanced clusters of at most ``max_cluster_size`` labels (see the module docstring).

    Deterministic for a given ``seed``.
    """
    if max_iter < 1:
        raise ValueError(f"max_iter must be >= 1, got {max_iter}")
    L = x.shape[0]
    if L == 0:
        raise ValueError("cannot index zero labels")
    if sp.issparse(x):
        x = normalize(sp.csr_matrix(x, dtype=np.float64), norm="l2", axis=1)
        x.sort_indices()
    else:
        x = normalize(np.asarray(x, dtype=np.float64), norm="l2", axis=1)
    depth = tree_depth(L, max_cluster_size)
    rng = np.random.default_rng(seed)
    node = np.zeros(L, dtype=np.int64)
    level_fn = _sparse_level if sp.issparse(x) else _dense_level
    for level in range(depth):
        n_nodes = 2 ** level
        sizes = np.bincount(node, minlength=n_nodes)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        by_node = np.argsort(node, kind="stable")
        # two distinct random members of each node as the initial centroids
        a = np.floor(rng.random(n_nodes) * sizes).astype(np.int64)
        b = (a + 1 + np.floor(rng.random(n_nodes) * (sizes - 1)).astype(np.int64)) % sizes
        first, second = by_node[starts + a], by_node[starts + b]
        half = (sizes + 1) // 2  # child 0 takes ceil(n/2)
        child = level_fn(x, node, n_nodes, first, second, half, starts, max_iter)
        node = 2 * node + child
    return ClusterIndex(assign=node, n_clusters=2 ** depth)
