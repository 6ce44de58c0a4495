"""X-Transformer: Chang, Yu, Zhong, Yang and Dhillon, "Taming Pretrained Transformers for Extreme
Multi-label Text Classification", KDD 2020.

The three stages of the paper (Section 3, Figure 1), each on :mod:`textzoo.xmc`:

1. **Semantic label indexing** (Section 3.2): label representations -- ``pifa-tfidf`` (default),
   ``pifa-neural`` (PIFA over the pretrained encoder's mean-pooled document embeddings) or
   ``text-emb`` (TF-IDF of the label text) -- clustered by balanced hierarchical spherical 2-means
   into K clusters of at most ``cluster_size`` = 100 labels.
2. **Deep neural matching** (Section 3.3): a Transformer fine-tuned to predict each document's
   relevant clusters (a cluster is relevant if it holds one of the document's labels): pooled
   ``[CLS]`` -> dropout -> linear over the K clusters, with the squared hinge loss
   sum_k max(0, 1 - s_k z_k)^2, s_k = +1 / -1 (the paper's choice; ``loss="bce"`` is the option),
   maximum length 128.
3. **Ranking** (Section 3.4): one linear one-vs-rest classifier per label (L2-regularised squared
   hinge, :mod:`textzoo.xmc.ranker`) on the features [TF-IDF ; fine-tuned Transformer embedding],
   trained on the documents of the label's cluster: those whose true labels fall in it (teacher
   forcing negatives, "TFN") and those the fine-tuned matcher puts in its top-b clusters
   (matcher-aware negatives, "MAN"); ``negatives="tfn"`` drops the latter.

Prediction: the matcher's top-``beam_size`` clusters of each document; each of their labels scores
post(matcher cluster score) * post(ranker label score), post = ``l3-hinge`` (exp(-max(0, 1-z)^3));
labels outside the beam score 0. ``combine="ranker"`` (an option; the product is the paper's and
PECOS's default) scores the beam's labels by post(ranker label score) alone.

Ensembles (Section 4.3): models over different label representations and encoders, scores averaged:
:class:`textzoo.xmc.Ensemble`.

Resuming (``fit(..., checkpoint_dir=DIR, resume=True)``, ``textzoo train xtransformer --resume``):
a checkpoint is written after each stage and, inside the matcher's fine-tuning, every
``checkpoint_steps`` updates and at each epoch end (:mod:`textzoo.xmc.finetune`: weights, AdamW,
schedule, RNGs, batch order and position). Each records the last finished stage and its results
(the cluster assignment; the fine-tuned matcher and its history; the ranker weights), so a resumed
run skips the finished stages (the TF-IDF features and the tokenisation are recomputed: they are
deterministic) and ends with the uninterrupted run's model.

The run folder adds to the Transformer's files: the label -> cluster assignment, the sparse ranker
weights (CSC arrays) and the TF-IDF idf vector in ``model.safetensors``, and the TF-IDF vocabulary
and settings in ``tfidf.json``.
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
from sklearn.preprocessing import normalize

from ..data.corpus import Split
from ..errors import ModelFileError
from ..training import seed_everything
from ..xmc.finetune import finetune
from ..xmc.fusion import LinearFusion
from ..xmc.indexer import ClusterIndex, balanced_hierarchical_kmeans
from ..xmc.labels import label_matrix, label_text_embeddings, pifa
from ..xmc.ranker import beam_scores, to_dense, train_rankers
from ..xmc.tfidf import fit_tfidf, tfidf_from_state, tfidf_state
from .base import Model, State
from ..training.checkpoint import RunCheckpoints
from .bert_style import BertStyleClassifier, PooledHead
from .transformer_base import MINILM, TransformerConfig
from .vocab_coverage import check_unknown_tokens

log = logging.getLogger(__name__)

_EXTRA_TENSORS = ("xmc.assign", "ranker.indptr", "ranker.indices", "ranker.data", "tfidf.idf")
#: the stages a checkpoint can record as the last one finished (None: none yet)
_STAGES = (None, "indexer", "matcher", "ranker")


def _ranker_tensors(w: sp.csc_matrix) -> dict[str, torch.Tensor]:
    """The sparse ranker weights as the CSC arrays that run folders and checkpoints store."""
    return {"ranker.indptr": torch.from_numpy(w.indptr.astype(np.int64)),
            "ranker.indices": torch.from_numpy(w.indices.astype(np.int64)),
            "ranker.data": torch.from_numpy(w.data.astype(np.float32))}


def _ranker_from_tensors(tensors, shape: tuple[int, int]) -> sp.csc_matrix:
    """The inverse of :func:`_ranker_tensors`, checked: ValueError (or KeyError) when malformed."""
    w = sp.csc_matrix((np.asarray(tensors["ranker.data"]), np.asarray(tensors["ranker.indices"]),
                       np.asarray(tensors["ranker.indptr"])), shape=shape)
    w.check_format(full_check=True)
    return w


@dataclass
class XTransformerConfig(TransformerConfig):
    """X-Transformer settings (paper, Sections 3-4); see the module docstring."""

    pretrained: str = MINILM
    max_length: int = 128
    label_representation: Literal["pifa-tfidf", "pifa-neural", "text-emb"] = "pifa-tfidf"
    cluster_size: int = 100
    index_max_iter: int = 20
    loss: Literal["squared_hinge", "bce"] = "squared_hinge"
    beam_size: int = 10
    negatives: Literal["tfn+man", "tfn"] = "tfn+man"
    ranker_features: Literal["tfidf+embedding", "tfidf"] = "tfidf+embedding"
    ranker_C: float = 1.0
    ranker_threshold: float = 0.01
    ranker_max_iter: int = 1000      # liblinear's iteration cap
    ranker_solver: Literal["liblinear", "lbfgs"] = "liblinear"
    post: Literal["l3-hinge", "sigmoid"] = "l3-hinge"
    combine: Literal["product", "ranker"] = "product"
    tfidf_ngram_max: int = 2
    tfidf_min_df: int = 2
    tfidf_max_features: int = 200_000
    tokenizer: Literal["auto", "default", "english", "unicode", "jieba", "char", "bigram"] = "auto"
    #   words of the TF-IDF features (textzoo.xmc.tfidf); auto: scikit-learn's default for ASCII
    #   text, jieba for Chinese, unicode otherwise
    fusion: Literal["none", "linear"] = "none"  # "linear": + TF-IDF linear scores (textzoo.xmc.fusion)

    def __post_init__(self):
        super().__post_init__()
        if self.cluster_size < 1 or self.beam_size < 1 or self.index_max_iter < 1 or self.ranker_max_iter < 1:
            raise ValueError("cluster_size, beam_size, index_max_iter and ranker_max_iter must be >= 1")
        if self.ranker_C <= 0 or self.ranker_threshold < 0:
            raise ValueError("ranker_C must be > 0 and ranker_threshold >= 0")
        if self.restore_best or self.best_by != "val_loss":
            raise ValueError("restore_best and best_by are not used by xtransformer (its matcher keeps the last "
                             "epoch's weights, as the paper); drop these settings")


class XTransformer(LinearFusion, BertStyleClassifier):
    """X-Transformer (see the module docstring)."""

    name = "xtransformer"
    tasks = frozenset({"multi-label"})  # the paper's setting (extreme multi-label)
    Config = XTransformerConfig
    #: checkpoints after each stage and inside the matcher's fine-tuning (see the module docstring)
    supports_checkpoints = True
    multilabel_only = True  # single-label data: one label per document

    def __init__(self, config=None, **overrides):
        super().__init__(config, **overrides)
        self.index: ClusterIndex | None = None
        self.ranker: sp.csc_matrix | None = None
        self.vectorizer = None

    # ---------------------------------------------------------------- structure
    def _n_clusters(self, n_labels: int) -> int:
        return ClusterIndex.for_size(n_labels, self.config.cluster_size)[0]

    def _build_head(self, backbone: nn.Module, n_labels: int) -> nn.Module:
        return PooledHead(backbone, self._n_clusters(n_labels), self.config.dropout)

    def _pooled(self, ids, mask) -> torch.Tensor:
        return self.net.head.pool(self.net.backbone(input_ids=ids, attention_mask=mask), mask)

    def _forward(self, ids, mask, lm=False):  # matcher logits over the clusters
        return self.net.head.classifier(self.net.head.dropout(self._pooled(ids, mask))), None, None

    def _matcher_loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.config.loss == "bce":
            return F.binary_cross_entropy_with_logits(logits, target)
        signs = 2.0 * target - 1.0
        return torch.clamp(1.0 - signs * logits, min=0.0).pow(2).mean()

    # ---------------------------------------------------------------- training
    def _fit(self, train: Split, valid: Split | None, unlabelled: list[str], run: RunCheckpoints) -> None:
        cfg = self.config
        # the last stage the checkpoint to resume from finished: None, indexer, matcher or ranker
        done = run.extra.get("stage") if run.resuming else None
        if done not in _STAGES:
            raise ModelFileError(f"{run.folder}: the checkpoint names an unknown stage {done!r}")
        seed_everything(cfg.seed)
        n_labels = len(self.labels)
        y = label_matrix(train.labels, self.labels)
        t0 = time.perf_counter()
        self.vectorizer, x = fit_tfidf(train.texts, ngram_max=cfg.tfidf_ngram_max, min_df=cfg.tfidf_min_df,
                                       max_features=cfg.tfidf_max_features, tokenizer=cfg.tokenizer)
        device = self._setup_network()
        seqs = self._encode(train.texts)
        self.info["unk_rate"] = check_unknown_tokens(self.tokenizer, seqs, cfg.pretrained)
        weights = self.net.state_dict()  # live tensors, as checkpointed

        # 1. semantic label indexing
        if done is None:
            if cfg.label_representation == "pifa-tfidf":
                z = pifa(x, y)
            elif cfg.label_representation == "pifa-neural":
                z = pifa(self._mean_embeddings(seqs, device), y)
            else:
                z = label_text_embeddings(self.labels, self.vectorizer.transform)
            self.index = balanced_hierarchical_kmeans(z, cfg.cluster_size, seed=cfg.seed, max_iter=cfg.index_max_iter)
            self.info["indexing_seconds"] = round(time.perf_counter() - t0, 3)
            run.keep(extra={"stage": "indexer"},
                     tensors={"xmc.assign": torch.from_numpy(self.index.assign.astype(np.int64))})
            run.write()  # the index and the RNG states (the weights are still the seeded start)
        else:
            k = self._n_clusters(n_labels)
            assign = run.tensor("xmc.assign", (n_labels,), torch.int64).numpy().copy()
            if assign.min() < 0 or assign.max() >= k:
                raise ModelFileError(f"{run.folder}: the checkpoint's xmc.assign is not a map to {k} clusters")
            self.index = ClusterIndex(assign=assign, n_clusters=k)
            run.keep(extra={"stage": "indexer"}, tensors={"xmc.assign": torch.from_numpy(assign)})
        self.info["clusters"] = self.index.n_clusters
        log.info("xtransformer: %d labels in %d clusters", n_labels, self.index.n_clusters)

        # 2. the matcher, fine-tuned on the cluster targets
        y_cl = sp.csr_matrix((y @ self.index.matrix()) > 0, dtype=np.float32)
        if done in (None, "indexer"):
            if done == "indexer" and "finetune" not in run.extra:
                run.restore()  # the RNG states after indexing: fine-tuning starts from them
                self.info["resumed_at"][-1] = "indexer"
            t0 = time.perf_counter()

            def loss_fn(batch, ids, mask):
                logits, _, _ = self._forward(ids, mask)
                return self._matcher_loss(logits.float(), torch.from_numpy(y_cl[batch].toarray()).to(ids.device))

            self.history = finetune(self.net, seqs, self.special["pad"], loss_fn, cfg, device,
                                    description="fine-tuning the xtransformer matcher", checkpoints=run)
            self.info["matcher_seconds"] = round(time.perf_counter() - t0, 3)
            run.keep(extra={"stage": "matcher", "history": self.history})
            run.write(weights=weights)  # the fine-tuned matcher (no optimiser: its training is over)
        else:
            self.history = [dict(row) for row in run.extra["history"]]
            run.keep(extra={"stage": done, "history": self.history})
            if done == "matcher":
                run.restore(weights=weights)
                self.info["resumed_at"][-1] = "matcher"
            else:
                self._restore_ranker(run, weights)
                self.info["resumed_at"][-1] = "ranker"
                self.net.to("cpu").eval()
                return

        # 3. the ranker on the matcher's top-b clusters and the true clusters
        t0 = time.perf_counter()
        logits, emb = self._matcher_outputs(seqs, device, progress="encoding the training documents")
        doc_clusters = y_cl
        if cfg.negatives == "tfn+man":
            doc_clusters = doc_clusters.maximum(self._top_clusters_matrix(logits))
        self.ranker = train_rankers(self._ranker_features(x, emb), y, self.index, doc_clusters, C=cfg.ranker_C,
                                    threshold=cfg.ranker_threshold, max_iter=cfg.ranker_max_iter,
                                    solver=cfg.ranker_solver)
        self.info["ranker_seconds"] = round(time.perf_counter() - t0, 3)
        run.keep(extra={"stage": "ranker", "ranker_shape": list(self.ranker.shape)},
                 tensors=_ranker_tensors(self.ranker))
        run.write(weights=weights)  # everything: a resumed run only reads it back
        self.net.to("cpu").eval()

    def _restore_ranker(self, run, weights: dict) -> None:
        """The matcher and the ranker of a checkpoint written after the ranker stage."""
        run.restore(weights=weights)
        try:
            shape = tuple(int(n) for n in run.extra["ranker_shape"])
            self.ranker = _ranker_from_tensors(run.found[0], shape)
        except (KeyError, ValueError, TypeError) as exc:
            raise ModelFileError(f"{run.folder}: the checkpoint's ranker cannot be restored ({exc})") from None

    def _top_clusters_matrix(self, logits: np.ndarray) -> sp.csr_matrix:
        beam = self._beam(logits)[0]
        n, b = beam.shape
        return sp.csr_matrix((np.ones(n * b, dtype=np.float32), (np.repeat(np.arange(n), b), beam.ravel())),
                             shape=(n, self.index.n_clusters))

    def _beam(self, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        b = min(self.config.beam_size, logits.shape[1])
        top = np.argpartition(-logits, b - 1, axis=1)[:, :b] if b < logits.shape[1] else \
            np.tile(np.arange(logits.shape[1]), (logits.shape[0], 1))
        return top, np.take_along_axis(logits, top, axis=1)

    def _ranker_features(self, x: sp.csr_matrix, emb: np.ndarray) -> sp.csr_matrix:
        if self.config.ranker_features == "tfidf":
            return x
        return sp.hstack([x, sp.csr_matrix(normalize(emb))], format="csr")

    @torch.no_grad()
    def _matcher_outputs(self, seqs: list[list[int]], device: torch.device,
                         progress: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Cluster logits (n, K) and pooled embeddings (n, hidden) of the fine-tuned matcher
        (a progress bar titled ``progress`` when given)."""
        self.net.eval()
        k = self.net.head.classifier.out_features
        logits = np.zeros((len(seqs), k), dtype=np.float32)
        emb = np.zeros((len(seqs), self.net.head.classifier.in_features), dtype=np.float32)
        for idx, ids, mask in self._length_sorted_batches(seqs, device, progress):
            pooled = self._pooled(ids, mask)
            emb[idx] = pooled.float().cpu().numpy()
            logits[idx] = self.net.head.classifier(pooled).float().cpu().numpy()
        return logits, emb

    @torch.no_grad()
    def _mean_embeddings(self, seqs: list[list[int]], device: torch.device) -> np.ndarray:
        """Mean-pooled last hidden states of the (not yet fine-tuned) encoder, for PIFA-neural."""
        self.net.eval()
        out = np.zeros((len(seqs), self.net.backbone.config.hidden_size), dtype=np.float32)
        for idx, ids, mask in self._length_sorted_batches(seqs, device, "embedding the documents for PIFA-neural"):
            h = self.net.backbone(input_ids=ids, attention_mask=mask).last_hidden_state
            m = mask.unsqueeze(-1).float()
            out[idx] = ((h * m).sum(1) / m.sum(1).clamp(min=1)).float().cpu().numpy()
        return out

    # ---------------------------------------------------------------- prediction
    def beam_inputs(self, texts: list[str]) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
        """``(ranker features, beam, beam's matcher logits)`` of the texts: one matcher pass, from
        which :func:`textzoo.xmc.ranker.beam_scores` scores the beam under any post/combine."""
        self._require_fitted()
        logits, emb = self._matcher_outputs(self._encode(list(texts)), self._prediction_device())
        x = self._ranker_features(self.vectorizer.transform(list(texts)), emb)
        return (x, *self._beam(logits))

    def predict_top(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(labels, scores)`` of each text's beam, both (n, b * largest cluster); -1 pads labels."""
        x, beam, beam_logits = self.beam_inputs(texts)
        return beam_scores(x, self.ranker, self.index, beam, beam_logits, self.config.post, self.config.combine)

    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        labels, scores = self.predict_top(texts)
        return to_dense(labels, scores, len(self.labels))

    onnx_export = Model.onnx_export  # refused: scores from a beam over clusters and a ranker
    # ---------------------------------------------------------------- persistence
    def _state(self) -> State:
        state = super()._state()
        side, idf = tfidf_state(self.vectorizer)
        state.tensors.update({"xmc.assign": torch.from_numpy(self.index.assign.astype(np.int64)),
                              **_ranker_tensors(self.ranker), "tfidf.idf": torch.from_numpy(idf)})
        state.extra["tfidf"] = side
        return state

    def _restore(self, state: State) -> None:
        where = (state.source / "model.safetensors") if state.source else "model.safetensors"
        n_labels = len(self.labels)
        for key in _EXTRA_TENSORS:
            if key not in state.tensors:
                raise ModelFileError(f"{where}: lacks tensor {key!r}")
        if "tfidf" not in state.extra:
            raise ModelFileError(f"{state.source}: lacks tfidf.json")
        extra = {k: state.tensors[k].numpy() for k in _EXTRA_TENSORS}
        super()._restore(State(tensors={k: v for k, v in state.tensors.items() if k not in _EXTRA_TENSORS},
                               extra=state.extra, source=state.source))
        k = self._n_clusters(n_labels)
        assign = extra["xmc.assign"]
        if assign.shape != (n_labels,) or assign.min() < 0 or assign.max() >= k:
            raise ModelFileError(f"{where}: xmc.assign must map {n_labels} labels to clusters 0..{k - 1}")
        self.index = ClusterIndex(assign=assign.astype(np.int64), n_clusters=k)
        self.vectorizer = tfidf_from_state(state.extra["tfidf"], extra["tfidf.idf"],
                                           str((state.source or "") and state.source / "tfidf.json"))
        dim = len(extra["tfidf.idf"]) + (0 if self.config.ranker_features == "tfidf" else
                                         self.net.head.classifier.in_features) + 1
        try:
            self.ranker = _ranker_from_tensors(extra, (dim, n_labels))
        except ValueError as exc:
            raise ModelFileError(f"{where}: the ranker weights are malformed ({exc})") from None
