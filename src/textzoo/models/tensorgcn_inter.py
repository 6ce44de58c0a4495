"""TensorGCN's inter-graph propagation (Liu et al., AAAI 2020, Section "Graph Tensor Learning",
Eq. 5-7) and the released code's variants, split from :mod:`textzoo.models.tensorgcn`.

``mixing`` is the step between the two layers: ``virtual`` (the paper's virtual graphs: the copies
of a node in the r graphs fully connected, one shared weight), ``code`` (the released code: each
graph receives the sum of the others' features through a weight per graph) or ``none`` (one graph,
a plain two-layer GCN).

Our options, not the paper's (issue: TensorGCN lost to TextGCN through its learned inter-graph
weights). The safe step: ``inter_step=gated`` makes each step ``H_k' = H_k + g (mix(H)_k - H_k)`` with a learned scalar gate g per layer that starts at 0
(training starts from r independent GCNs whose logits are averaged, and the mixing has to earn
its weight), and ``inter_init=identity`` makes every mixing weight ``I + dW`` with dW starting at 0
(``inter_decay``: L2 on dW). ``inter_step=plain inter_init=glorot`` is the paper's and the code's.
``graph_pooling=learned`` pools the graphs' logits with weights softmax(a), a learned from 0
(the paper's mean at the start), so a weak graph can be given less say; ``graph_pooling=residual``
takes the first graph's logits plus ``a_k`` times each other graph's, a_k learned from 0: with
``inter_step=gated`` training starts from TextGCN's model on the sequential graph, and the other
graphs and the mixing enter only as far as the loss pays for them.
The ensemble (``recipe=independent``, the defaults, with ``inter_graph=none``):
``graph_loss=each`` trains every graph's GCN as a classifier by itself (the mean of the graphs'
own cross-entropies instead of the pooled logits'), and ``graph_pooling=validated`` then pools
the graphs' logits with the convex weights (a grid of step 0.1) that give the best validation
accuracy, ties to the lower validation loss; one graph alone and the mean are among the
candidates, so the validation split decides how much the syntactic and semantic graphs count.
``graph_stopping=each`` (with those two and ``inter_graph=none``) applies the stopping rule to each
graph's own validation loss and freezes a graph when its rule fires, so each GCN stops where
TextGCN's loop would stop it (:class:`~textzoo.training.StoppingPerMember`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F


log = logging.getLogger(__name__)


def _leaky(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2)  # TensorFlow's tf.nn.leaky_relu default, as in the released code


def on_sequential_support(pmi: sp.spmatrix, relation: sp.spmatrix) -> sp.csr_matrix:
    """Word-word weights on the positive-PMI pairs only, as the released TensorFlow code builds its
    syntactic and semantic graphs (``build_graph_tgcn.py``): a related pair keeps its relation
    weight, an unrelated one its PMI; pairs outside the PMI graph are dropped. (The code's relation
    weight is ``count / max count``; here it is the paper's ratio, Eq. 3-4.)"""
    pmi = sp.csr_matrix(pmi, dtype=np.float64)
    support = pmi.copy()
    support.data[:] = 1.0
    related = sp.csr_matrix(relation, dtype=np.float64).multiply(support).tocsr()
    related.eliminate_zeros()
    mark = related.copy()
    mark.data[:] = 1.0
    out = (pmi - pmi.multiply(mark) + related).tocsr()
    out.eliminate_zeros()
    out.sort_indices()
    return out


def _node_dropout(w0: torch.Tensor, rate: float) -> torch.Tensor:
    """Dropout on the featureless input X = I of a first layer ``Â X W0``: dropping X's entry
    (j, j) zeroes row j of ``X W0 = W0`` (node j's input embedding), the others scaled by
    1 / keep. The released code's ``sparse_dropout`` on X, one mask per graph and epoch."""
    if not rate:
        return w0
    keep = 1.0 - rate
    return w0 * ((torch.rand(w0.shape[0], 1) < keep).to(w0.dtype) / keep)


class DroppedInput:
    """``Â (X W0)`` with the node dropout of :func:`_node_dropout` on X = I, computed on the kept
    columns of ``Â`` only: the dropped rows of ``X W0`` are zero, so their non-zeros of ``Â`` add
    nothing. At the released code's rate 0.9 (``recipe=code-2022``) that is a tenth of the
    non-zeros forward and backward. Same mask draw as :func:`_node_dropout`, the same sums.
    Used from ``FROM_RATE``: below it selecting the columns costs more than it saves (MR, 2 threads:
    0.5x at 0.2, 0.7x at 0.5, 1.1x at 0.7, 1.8x at 0.8, 3.8x at 0.9;
    ``python benchmarks/spmm.py --datasets mr R8 --threads 2 --input-dropout 0.2 0.5 0.9``)."""

    FROM_RATE = 0.75

    def __init__(self, a: torch.Tensor):
        self.shape = a.shape
        self.cols = a.col_indices().long()
        self.vals = a.values()
        self.rows = torch.repeat_interleave(torch.arange(a.shape[0], dtype=torch.int32), a.crow_indices().diff())

    def __call__(self, w0: torch.Tensor, rate: float) -> torch.Tensor:
        keep = 1.0 - rate
        mask = (torch.rand(w0.shape[0], 1) < keep).squeeze(1)
        kept = mask.nonzero().squeeze(1)
        on = mask[self.cols].nonzero().squeeze(1)
        rows, old_cols, vals = (t.index_select(0, on) for t in (self.rows, self.cols, self.vals))
        renumber = torch.zeros(w0.shape[0], dtype=torch.int32)
        renumber[kept] = torch.arange(len(kept), dtype=torch.int32)
        cols = renumber[old_cols]
        sub = _csr(rows, cols, vals, (self.shape[0], len(kept)))
        order = torch.argsort(cols, stable=True)
        sub_t = _csr(cols[order], rows[order], vals[order], (len(kept), self.shape[0]))
        return _KeptProduct.apply(sub, sub_t, w0[kept] * (torch.ones(1, 1) / keep))


class _KeptProduct(torch.autograd.Function):
    """``sub @ x`` with the backward ``sub^T @ grad``, each one ``torch.sparse.mm``: on these
    column subsets the blocked :func:`~textzoo.models.textgcn.sparse_mm` is 5-8 times slower
    (``python benchmarks/spmm.py --input-dropout 0.9``)."""

    @staticmethod
    def forward(ctx, sub, sub_t, x):
        ctx.sub_t = sub_t
        return torch.sparse.mm(sub, x)

    @staticmethod
    def backward(ctx, grad):
        return None, None, torch.sparse.mm(ctx.sub_t, grad)


def _csr(rows: torch.Tensor, cols: torch.Tensor, vals: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """A CSR tensor from non-zeros sorted by row (int32 indices)."""
    crow = torch.zeros(shape[0] + 1, dtype=torch.int32)
    crow[1:] = torch.cumsum(torch.bincount(rows, minlength=shape[0]), 0)
    return torch.sparse_csr_tensor(crow, cols.to(torch.int32), vals, size=shape, check_invariants=False)


@dataclass
class _Weights:
    """Every trained weight: per graph ``w0`` (nodes x h), ``w1`` (h x C); the inter-graph weights."""

    w0: list[torch.Tensor]
    w1: list[torch.Tensor]
    inter: list[torch.Tensor] = field(default_factory=list)  # virtual: [W_inter (h x h)]
    mix0: list[torch.Tensor] = field(default_factory=list)   # code: per graph h x h
    mix1: list[torch.Tensor] = field(default_factory=list)   # code: per graph C x C
    gate: list[torch.Tensor] = field(default_factory=list)   # gated: [g of each layer (2,)]
    fusion: list[torch.Tensor] = field(default_factory=list)  # pooling weights: [a (r,) or (r - 1,)]
    identity: bool = False                                    # inter/mix weights are dW of I + dW
    pooling: str = "mean"                                     # graph_pooling: how ``fusion`` is used

    def all(self) -> list[torch.Tensor]:
        return self.w0 + self.w1 + self.inter + self.mix0 + self.mix1 + self.gate + self.fusion

    def pool(self, z: list[torch.Tensor]) -> torch.Tensor:
        """The graphs' logits pooled: their mean; ``Σ_k softmax(a)_k z_k`` (``learned``: r weights a,
        from 0, the mean at the start); ``z_1 + Σ_{k>1} a_k z_k`` (``residual``: r - 1 weights a,
        from 0, the first graph's GCN alone at the start); or ``Σ_k a_k z_k`` (``validated``: convex
        weights chosen on the validation split after training, :func:`validated_pooling`)."""
        if not self.fusion:
            return torch.stack(z).mean(0)
        a = self.fusion[0]
        if self.pooling == "residual":
            return z[0] + torch.einsum("k,knc->nc", a, torch.stack(z[1:]))
        weights = torch.softmax(a, 0) if self.pooling == "learned" else a
        return torch.einsum("k,knc->nc", weights, torch.stack(z))

    def mixing(self) -> list[torch.Tensor]:
        """The inter-graph weights (W, or dW with ``identity``)."""
        return self.inter + self.mix0 + self.mix1

    def times(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """``x W`` for a mixing weight (``x (I + dW)`` with ``identity``)."""
        return x + x @ m if self.identity else x @ m

    def gated(self, h: list[torch.Tensor], mixed: list[torch.Tensor], layer: int) -> list[torch.Tensor]:
        """``h + g (mixed - h)`` per graph with the layer's gate, or ``mixed`` without gates."""
        if not self.gate:
            return mixed
        g = self.gate[0][layer]
        return [x + g * (m - x) for x, m in zip(h, mixed)]


def first_layer(intra: list[torch.Tensor], w: _Weights, mixing: str) -> list[torch.Tensor]:
    """Layer-1 activation and inter-graph step on the per-graph ``Â_k W0_k`` products."""
    if mixing == "none":
        return [torch.relu(x) for x in intra]
    if mixing == "virtual":
        h = [torch.relu(x) for x in intra]
        mixed = torch.stack(h).mean(0)
        if w.inter:  # inter_weight=false: W_inter = I, and σ(mean of σ(.)) is the mean itself
            mixed = torch.relu(w.times(mixed, w.inter[0]))
        return w.gated(h, [mixed] * len(h), 0)
    h = [_leaky(x) for x in intra]
    return w.gated(h, _code_mix(h, w.mix0, w), 0)


def _code_mix(h: list[torch.Tensor], weights: list[torch.Tensor], w: _Weights) -> list[torch.Tensor]:
    """The released code's step: graph k gets leaky_relu of the sum of the others' ``H_g W_g``."""
    s = [w.times(x, m) for x, m in zip(h, weights)] if weights else h
    total = torch.stack(s).sum(0)
    return [_leaky(total - x) for x in s]


def graph_logits(z: list[torch.Tensor], w: _Weights, mixing: str) -> list[torch.Tensor]:
    """Second-layer outputs per graph -> each graph's logits (before pooling)."""
    if mixing in ("virtual", "none"):
        return z
    return w.gated(z, _code_mix([_leaky(x) for x in z], w.mix1, w), 1)


def last_layer(z: list[torch.Tensor], w: _Weights, mixing: str) -> torch.Tensor:
    """Second-layer outputs per graph -> pooled logits."""
    return w.pool(graph_logits(z, w, mixing))


def validated_pooling(z: list[torch.Tensor], targets: torch.Tensor, step: float = 0.1
                      ) -> tuple[torch.Tensor, float]:
    """Convex weights a (a_k in multiples of ``step``, summing to 1) for the graphs' validation
    logits ``z`` that give the highest accuracy of ``Σ_k a_k z_k``, ties broken by the lower
    cross-entropy; returns the weights and that accuracy. One graph alone (with ``graph_loss=each``
    and ``inter_graph=none``, the sequential graph's GCN is TextGCN's model up to when training
    stops) is among the candidates, as is the mean."""
    n = round(1 / step)
    stacked = torch.stack(z)
    best, best_key = None, None
    for parts in _compositions(n, len(z)):
        a = torch.tensor(parts, dtype=stacked.dtype) / n
        logits = torch.einsum("k,knc->nc", a, stacked)
        key = (int((logits.argmax(1) == targets).sum()), -float(F.cross_entropy(logits, targets)))
        if best_key is None or key > best_key:
            best, best_key = a, key
    return best, best_key[0] / max(len(targets), 1)


def choose_pooling(graphs: tuple[str, ...], z_valid: list[torch.Tensor], y_valid: torch.Tensor,
                   info: dict) -> torch.Tensor:
    """``graph_pooling=validated``: the convex weights of the graphs' logits that the validation
    split prefers (:func:`validated_pooling`, recorded in ``info["graph_pooling"]``); the mean
    without a validation split."""
    if not len(y_valid):
        log.warning("tensorgcn: graph_pooling=validated without a validation split: the graphs' mean")
        return torch.full((len(z_valid),), 1.0 / len(z_valid))
    weights, acc = validated_pooling(z_valid, y_valid)
    chosen = {g: round(a, 4) for g, a in zip(graphs, weights.tolist())}
    info["graph_pooling"] = {"weights": chosen, "val_acc": round(acc, 6)}
    log.info("tensorgcn: graph weights chosen on the validation split: %s (accuracy %.4f)",
             ", ".join(f"{g} {a:.1f}" for g, a in chosen.items()), acc)
    return weights


def _compositions(n: int, k: int):
    """Every way to write n as an ordered sum of k non-negative integers."""
    if k == 1:
        yield (n,)
        return
    for first in range(n, -1, -1):
        for rest in _compositions(n - first, k - 1):
            yield (first,) + rest
