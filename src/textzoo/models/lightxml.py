"""LightXML: Jiang, Wang, Sun, Chen, Zhuang and Yang, "LightXML: Transformer with Dynamic Negative
Sampling for High-Performance Extreme Multi-label Text Classification", AAAI 2021.

What the paper (Section 3) and the authors' code define, and this file implements:

* **Text representation** (Section 3.2): the ``[CLS]`` hidden states of the last 5 layers of the
  Transformer, concatenated (5 x hidden), then dropout 0.5.
* **Small label sets** (the code's path without label groups): one linear layer over all labels,
  sigmoid + binary cross-entropy.
* **Large label sets** (Sections 3.1, 3.3, 3.4): the labels are clustered (PIFA over TF-IDF +
  balanced hierarchical 2-means, :mod:`textzoo.xmc`); the **label recalling** part ("generator") is
  a linear layer over the K clusters trained with BCE on the true clusters; **dynamic negative
  sampling**: the labels of the top-``topk`` clusters by generator score are the candidates, and
  during training the true clusters are always among them (the code adds the 0/1 true-cluster
  indicator to the sigmoid scores before the top-k; here the number of candidate clusters of a
  batch is raised to its largest true-cluster count when that exceeds ``topk``, so no true cluster
  is ever dropped); the **label ranking** part ("discriminator") projects the text representation
  to a ``hidden_dim`` = 300 bottleneck and scores each candidate by the dot product with its
  label embedding (an embedding table over all labels).
  Loss = BCE(candidate label scores) + BCE(cluster scores) (Section 3.5; the generator's targets
  are the true clusters, so it needs no sampling).
  Score of a label at prediction = sigmoid(label score) * sigmoid(its cluster's score), for the
  labels of the top-``topk`` clusters (0 for the others).
* **Training**: AdamW (weight decay 0.01 off biases/LayerNorm), constant learning rate 1e-4, batch
  16, and stochastic weight averaging from epoch ``swa_warmup`` every ``swa_step`` updates
  (:mod:`textzoo.xmc.finetune`, with ``torch.optim.swa_utils``). The paper trains 20 epochs with
  maximum length 512 for the smaller data sets.
* **Ensembles** (Section 4): three encoders, scores averaged: :class:`textzoo.xmc.Ensemble`.
* **Resuming** (``fit(..., checkpoint_dir=DIR, resume=True)``, ``textzoo train lightxml --resume``):
  checkpoints every ``checkpoint_steps`` updates and at each epoch end hold the network (the label
  clusters too, so a resumed run does not cluster again), AdamW, the schedule, the SWA average, the
  RNGs and the position in the batch order; a resumed run ends with the uninterrupted run's model.

``clusters="auto"`` uses clusters when there are more than ``cluster_min_labels`` labels (the code
runs EUR-Lex, Wiki10-31K and AmazonCat-13K without groups, the 500K+ data sets with them); "on" and
"off" force either path. The backbone is any BERT-like ``transformers`` checkpoint (default: the
offline MiniLM encoder, :func:`textzoo.models.transformer_base.minilm_folder`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..data.corpus import Split
from ..errors import ModelFileError
from ..metrics import multilabel_metrics
from ..training import seed_everything
from ..xmc.finetune import finetune
from ..xmc.fusion import LinearFusion
from ..xmc.indexer import ClusterIndex, balanced_hierarchical_kmeans
from ..xmc.labels import label_matrix, pifa
from ..xmc.tfidf import fit_tfidf
from .base import Model, State
from ..training.checkpoint import RunCheckpoints
from .bert_style import BertStyleClassifier
from .transformer_base import MINILM, TransformerConfig
from .vocab_coverage import check_unknown_tokens

log = logging.getLogger(__name__)


@dataclass
class LightXMLConfig(TransformerConfig):
    """LightXML settings (paper, Section 4.2, and the authors' code); see the module docstring."""

    pretrained: str = MINILM
    max_length: int = 512
    lr: float = 1e-4
    batch_size: int = 16
    epochs: int = 20
    warmup: float = 0.0               # constant learning rate
    dropout: float = 0.5              # on the concatenated [CLS] states
    feature_layers: int = 5           # [CLS] of the last 5 layers
    clusters: Literal["auto", "on", "off"] = "auto"
    cluster_min_labels: int = 10_000  # auto: label clusters above this many labels
    cluster_size: int = 100           # at most this many labels per cluster
    tokenizer: Literal["auto", "default", "english", "unicode", "jieba", "char", "bigram"] = "auto"
    #   words of the TF-IDF features that cluster the labels (as X-Transformer's)
    topk: int = 10                    # candidate clusters (dynamic negative sampling)
    hidden_dim: int = 300             # the discriminator's bottleneck
    swa: bool = True
    swa_warmup: int = 10              # epochs before averaging starts
    swa_step: int = 200               # updates between two snapshots
    fusion: Literal["none", "linear"] = "none"  # "linear": + TF-IDF linear scores (textzoo.xmc.fusion)

    def __post_init__(self):
        super().__post_init__()
        if self.feature_layers < 1 or self.cluster_size < 1 or self.topk < 1 or self.hidden_dim < 1:
            raise ValueError("feature_layers, cluster_size, topk and hidden_dim must be >= 1")
        if self.swa_warmup < 0 or self.swa_step < 1:
            raise ValueError("swa_warmup must be >= 0 and swa_step >= 1")
        if self.restore_best or self.best_by != "val_loss":
            raise ValueError("restore_best and best_by are not used by lightxml (it keeps the last weights, "
                             "SWA-averaged, as the paper's code); drop these settings")


class LightXMLHead(nn.Module):
    """Dropout over the concatenated [CLS] states, then either one linear layer over the labels or
    generator (clusters) + discriminator (bottleneck x label embeddings)."""

    def __init__(self, feat_dim: int, n_labels: int, dropout: float, members: torch.Tensor | None, hidden_dim: int):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.clustered = members is not None
        if not self.clustered:
            self.l0 = nn.Linear(feat_dim, n_labels)
            return
        self.l0 = nn.Linear(feat_dim, members.shape[0])        # generator: cluster scores
        self.l1 = nn.Linear(feat_dim, hidden_dim)              # discriminator bottleneck
        self.embed = nn.Embedding(n_labels, hidden_dim)        # label embeddings
        nn.init.xavier_uniform_(self.embed.weight)
        self.register_buffer("members", members.long())        # (K, width) label ids, -1 padding

    def candidates(self, group_logits: torch.Tensor, k: int, true_groups: torch.Tensor | None = None):
        """Top-``k`` clusters by sigmoid score (+ the true-cluster indicator in training):
        ``(clusters (B, k), candidate labels (B, k * width), candidate cluster slot)``."""
        score = torch.sigmoid(group_logits.detach())
        if true_groups is not None:
            score = score + true_groups
        top = torch.topk(score, k=min(k, score.shape[1]), dim=1).indices
        cand = self.members[top]                                   # (B, k, width)
        slot = torch.arange(top.shape[1], device=top.device).repeat_interleave(cand.shape[2])
        return top, cand.reshape(cand.shape[0], -1), slot

    def rank(self, feats: torch.Tensor, cand: torch.Tensor) -> torch.Tensor:
        emb = self.l1(feats)                                       # (B, h)
        weights = self.embed(cand.clamp(min=0))                    # (B, C, h)
        return torch.bmm(weights, emb.unsqueeze(-1)).squeeze(-1)   # (B, C)


class LightXML(LinearFusion, BertStyleClassifier):
    """LightXML (see the module docstring)."""

    name = "lightxml"
    tasks = frozenset({"multi-label"})  # the paper's setting (extreme multi-label)
    Config = LightXMLConfig
    #: a checkpoint holds the network (label clusters included), AdamW, the schedule, the SWA
    #: average, the RNGs, the batch order and the position in it (:mod:`textzoo.xmc.finetune`)
    supports_checkpoints = True
    multilabel_only = True  # single-label data: one label per document

    def __init__(self, config=None, **overrides):
        super().__init__(config, **overrides)
        self._members: torch.Tensor | None = None

    # ---------------------------------------------------------------- structure
    def uses_clusters(self, n_labels: int) -> bool:
        mode = self.config.clusters
        return mode == "on" or (mode == "auto" and n_labels > self.config.cluster_min_labels)

    def _build_head(self, backbone: nn.Module, n_labels: int) -> nn.Module:
        members = self._members
        if members is None and self.uses_clusters(n_labels):  # restoring: the shape, filled by load
            k, width = ClusterIndex.for_size(n_labels, self.config.cluster_size)
            members = torch.zeros((k, width), dtype=torch.long)
        feat = backbone.config.hidden_size * self.config.feature_layers
        return LightXMLHead(feat, n_labels, self.config.dropout, members, self.config.hidden_dim)

    def _features(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        out = self.net.backbone(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        hs = out.hidden_states
        n = self.config.feature_layers
        if len(hs) - 1 < n:
            raise ValueError(f"feature_layers={n} but the backbone has {len(hs) - 1} layers")
        return self.net.head.dropout(torch.cat([hs[-i][:, 0] for i in range(1, n + 1)], dim=-1))

    def _forward(self, ids, mask, lm=False):  # the facade's hook: dense label scores
        return self._scores(ids, mask), None, None

    # ---------------------------------------------------------------- training
    def _fit(self, train: Split, valid: Split | None, unlabelled: list[str], run: RunCheckpoints) -> None:
        cfg = self.config
        seed_everything(cfg.seed)
        y = label_matrix(train.labels, self.labels)
        self._members = None
        if self.uses_clusters(len(self.labels)) and run.resuming:  # the clusters the run was trained on
            shape = ClusterIndex.for_size(len(self.labels), cfg.cluster_size)
            self._members = run.tensor("model.head.members", shape, torch.int64).clone()
            self.info["clusters"] = shape[0]
        elif self.uses_clusters(len(self.labels)):
            t0 = time.perf_counter()
            _, x = fit_tfidf(train.texts, tokenizer=cfg.tokenizer)
            index = balanced_hierarchical_kmeans(pifa(x, y), cfg.cluster_size, seed=cfg.seed)
            self._members = torch.from_numpy(index.members().copy())
            self.info["clusters"] = index.n_clusters
            self.info["indexing_seconds"] = round(time.perf_counter() - t0, 3)
            log.info("lightxml: %d labels in %d clusters", len(self.labels), index.n_clusters)
        device = self._setup_network()
        seqs = self._encode(train.texts)
        self.info["unk_rate"] = check_unknown_tokens(self.tokenizer, seqs, cfg.pretrained)
        y_csr = sp.csr_matrix(y)
        n_labels = len(self.labels)
        head = self.net.head
        assign = None
        if head.clustered:
            m = head.members.cpu().numpy()
            assign = np.empty(n_labels, dtype=np.int64)
            ok = m >= 0
            assign[m[ok]] = np.nonzero(ok)[0]

        def loss_fn(batch, ids, mask):
            feats = self._features(ids, mask)
            yb = y_csr[batch]
            if not head.clustered:
                target = torch.from_numpy(yb.toarray()).to(ids.device)
                return F.binary_cross_entropy_with_logits(head.l0(feats), target)
            group_logits = head.l0(feats)
            true_groups = sample_true_groups(yb, assign, head.members.shape[0]).to(ids.device)
            k = max(cfg.topk, int(true_groups.sum(1).max()))
            _, cand, _ = head.candidates(group_logits, k, true_groups)
            target = candidate_targets(yb, cand.cpu().numpy(), n_labels).to(ids.device)
            valid_c = cand >= 0
            logits = head.rank(feats, cand)
            return (F.binary_cross_entropy_with_logits(logits[valid_c], target[valid_c])
                    + F.binary_cross_entropy_with_logits(group_logits, true_groups))

        validate = None
        if valid is not None:
            y_valid = label_matrix(valid.labels, self.labels)
            valid_seqs = self._encode(valid.texts)

            def validate(epoch):
                probs = self._scores_of(valid_seqs, device)
                m = multilabel_metrics(probs, y_valid, ks=(1, 5))
                return {"val_P@1": m["P@1"], "val_P@5": m["P@5"]}

        self.history = finetune(self.net, seqs, self.special["pad"], loss_fn, cfg, device, decay=False,
                                swa=cfg.swa, swa_warmup=cfg.swa_warmup, swa_step=cfg.swa_step,
                                validate=validate, description="fine-tuning lightxml", checkpoints=run)
        self.net.to("cpu").eval()

    # ---------------------------------------------------------------- prediction
    def _scores(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Dense (B, n_labels) label probabilities (0 outside the top-k clusters)."""
        head = self.net.head
        feats = self._features(ids, mask)
        if not head.clustered:
            return torch.sigmoid(head.l0(feats))
        group_logits = head.l0(feats)
        top, cand, slot = head.candidates(group_logits, self.config.topk)
        group_p = torch.sigmoid(torch.gather(group_logits, 1, top))[:, slot]
        p = torch.sigmoid(head.rank(feats, cand)) * group_p
        out = torch.zeros((ids.shape[0], len(self.labels)), device=ids.device)
        valid_c = cand >= 0
        rows = torch.arange(ids.shape[0], device=ids.device).unsqueeze(1).expand_as(cand)
        out[rows[valid_c], cand[valid_c]] = p[valid_c]
        return out

    @torch.no_grad()
    def _scores_of(self, seqs: list[list[int]], device: torch.device) -> np.ndarray:
        self.net.eval()
        out = np.zeros((len(seqs), len(self.labels)), dtype=np.float32)
        for idx, ids, mask in self._length_sorted_batches(seqs, device):
            out[idx] = self._scores(ids, mask).float().cpu().numpy()
        return out

    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        return self._scores_of(self._encode(texts), self._prediction_device())

    onnx_export = Model.onnx_export  # refused: scores of the top clusters' candidates only
    # ---------------------------------------------------------------- persistence
    def _restore(self, state: State) -> None:
        self._members = None
        super()._restore(state)
        head = self.net.head
        if head.clustered:
            m = head.members
            flat = m[m >= 0]
            if (m < -1).any() or flat.numel() != len(self.labels) or not torch.equal(
                    torch.sort(flat).values, torch.arange(len(self.labels))):
                where = state.source / "model.safetensors" if state.source else "model.safetensors"
                raise ModelFileError(f"{where}: head.members is not a partition of the {len(self.labels)} labels")


def sample_true_groups(yb: sp.csr_matrix, assign: np.ndarray, n_clusters: int) -> torch.Tensor:
    """(B, K) 0/1: the clusters holding a true label of each document."""
    rows = np.repeat(np.arange(yb.shape[0]), np.diff(yb.indptr))
    g = torch.zeros((yb.shape[0], n_clusters))
    g[torch.from_numpy(rows), torch.from_numpy(assign[yb.indices])] = 1.0
    return g


def candidate_targets(yb: sp.csr_matrix, cand: np.ndarray, n_labels: int) -> torch.Tensor:
    """(B, C) 0/1: whether candidate label ``cand[i, c]`` is a true label of document i."""
    rows = np.repeat(np.arange(yb.shape[0]), np.diff(yb.indptr))
    true_keys = np.sort(rows.astype(np.int64) * n_labels + yb.indices)
    keys = np.arange(cand.shape[0], dtype=np.int64)[:, None] * n_labels + cand
    hit = np.isin(keys, true_keys) & (cand >= 0)
    return torch.from_numpy(hit.astype(np.float32))
