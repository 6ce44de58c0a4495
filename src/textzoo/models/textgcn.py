"""TextGCN: Yao, Mao and Luo, "Graph Convolutional Networks for Text Classification", AAAI 2019.

One heterogeneous graph holds every document (training, validation and the unlabelled test
documents: the paper's transductive setting) and every word. Document-word edges carry TF-IDF,
word-word edges positive PMI over sliding windows of 20 words (Section 3, Eq. 1 and 2). A two-layer
GCN (Eq. 3 and 4) on featureless input, X = I, is trained with cross-entropy on the labelled
documents (Eq. 4), hidden 200, dropout 0.5, Adam with learning rate 0.02, at most 200 epochs and
early stopping on the validation loss (Section 4.1; the released code's stopping rule by default).

Prediction on new documents (not in the graph) is inductive: a new document is attached to the
trained graph through its TF-IDF edges to known words (the training IDF, degrees of the trained
graph), and the trained layers run on that one extra row::

    d      = 1 + sum_w tfidf(doc, w)                  (its degree in A + I)
    a_w    = tfidf(doc, w) / sqrt(d * deg_w)          (its row of D^-1/2 (A + I) D^-1/2)
    h      = ReLU(sum_w a_w W0[w])                     (layer 1; the new node has no embedding of
                                                        its own, so its self-loop adds nothing)
    logits = (1/d) h W1 + sum_w a_w H[w] W1           (layer 2; H = trained hidden states)

The new document reads from the graph but does not change it: word degrees and word hidden states
stay those of training. Documents that are in the graph (the test documents passed to ``fit``) are
predicted transductively from their own node, exactly as in the paper.

Resuming (``fit(..., checkpoint_dir=DIR, resume=True)``, ``textzoo train --resume``): a checkpoint
holds W0, W1, Adam's state, the RNG states, the early-stopping state and the history. The graph is
not saved: it is rebuilt from the same documents and config, which gives the same graph. The hidden
layer that validation computes and the next epoch reuses is not saved either: the first epoch after
a resume recomputes it from the restored W0, which gives the same values. So a resumed run ends
with the same model as an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..data import tokenizers
from ..data.checks import warn_small_vocabulary
from ..data.corpus import Split
from ..errors import ConfigError
from ..graphs.textgcn import adjacency, build_textgcn_graph, normalize_adjacency, tfidf_rows
from ..training import EarlyStopping, EpochLoop, seed_everything
from .base import Model, State
from ..training.checkpoint import RunCheckpoints

log = logging.getLogger(__name__)


class InductiveLogits(nn.Module):
    """The inductive pass of the module docstring: TF-IDF rows ``[batch, n_words]`` to logits.

    The rows may be dense (the ONNX graph) or a sparse CSR tensor (``predict``: each row's answer is
    then the same whatever the batch, as micro-batched serving needs). With ``r = d^-1/2`` per row
    and ``c = deg_w^-1/2`` per word, ``sum_w a_w M[w] = r * (tfidf @ (c * M))``: only products with
    the TF-IDF rows, which both layouts support."""

    def __init__(self, w0_words, w1, word_hidden, word_degree):
        super().__init__()
        c = torch.rsqrt(word_degree.double())[:, None]
        self.register_buffer("ones", torch.ones(len(word_degree), 1))
        self.register_buffer("c_w0", (c * w0_words.double()).float())                          # c * W0
        self.register_buffer("c_hidden_w1", (c * (word_hidden.double() @ w1.double())).float())  # c * H W1
        self.register_buffer("w1", w1.float())

    def forward(self, tfidf: torch.Tensor) -> torch.Tensor:
        degree = 1.0 + tfidf @ self.ones                                  # d
        r = torch.rsqrt(degree)
        h = torch.relu(r * (tfidf @ self.c_w0))                            # layer 1
        return (h @ self.w1) / degree + r * (tfidf @ self.c_hidden_w1)    # layer 2


@dataclass
class TextGCNConfig:
    """TextGCN's hyper-parameters; defaults are the paper's (Section 4.1) and its code's."""

    hidden: int = 200                 # first-layer embedding size
    dropout: float = 0.5              # on the hidden layer, before the second GCN layer
    lr: float = 0.02                  # Adam
    weight_decay: float = 0.0         # L2 on the first layer (code: 0)
    epochs: int = 200                 # maximum
    early_stopping: int = 10          # window / patience in epochs
    stopping_rule: Literal["code", "patience", "none"] = "code"
    #   "code": released train.py (stop when val loss > mean of the previous 10);
    #   "patience": the paper's text (no decrease for 10 consecutive epochs).
    restore_best: bool = False        # code: the model at the stopping epoch is evaluated
    window: int = 20                  # sliding window for PMI
    remove_stopwords: bool = True     # NLTK English stop words (not for MR)
    min_count: int = 5                # drop words seen fewer times in the corpus (not for MR); not
    #   scaled on small corpora: on 300-document R8 slices 5 beat 2 and 1 (benchmarks/min_count.py)
    tokenizer: Literal["auto", "english", "unicode", "jieba", "char", "bigram"] = "auto"
    #   textzoo.data.tokenizers; auto: english (clean_str) for ASCII text, jieba for Chinese,
    #   unicode otherwise; the saved config records the choice
    stop_words: str | None = None     # file of stop words (one per line) replacing the tokenizer's
    seed: int = 0
    checkpoint_every: int = 10        # epochs between checkpoints when fit() gets checkpoint_dir
    #   (and after the last epoch); one R8 epoch takes about 0.15 s, a checkpoint about 0.07 s

    def __post_init__(self):
        if self.hidden < 1 or self.epochs < 1 or self.window < 2 or self.min_count < 1:
            raise ValueError("hidden and epochs must be >= 1, window >= 2, min_count >= 1")
        if self.checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be >= 1, got {self.checkpoint_every}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}")


SPMM_BLOCK = 32  # columns per sparse product on the CPU (benchmarks/spmm.py)


def sparse_mm(a: torch.Tensor, x: torch.Tensor, block: int | None = None) -> torch.Tensor:
    """``a @ x`` for a sparse CSR ``a`` and a dense ``x``, on the CPU in blocks of ``block``
    (default :data:`SPMM_BLOCK`) columns.

    Every non-zero of ``a`` reads a row of ``x``; at 200 columns (800 bytes a row, 49 MB for 20NG's
    61k nodes) those reads miss the caches, at 32 (128 bytes, 7.9 MB) far fewer do. Each output
    column is the same sum as in one product; whether it is rounded the same way depends on the
    kernel MKL picks for the width (to the bit on an AMD EPYC, up to 3e-6 on values near 10 on an
    Intel Xeon). ``benchmarks/spmm.py`` measures the speed (BENCHMARKS.md). Other devices: one product.
    """
    block = SPMM_BLOCK if block is None else block
    if x.device.type != "cpu" or x.shape[1] <= block:
        return torch.sparse.mm(a, x)
    return torch.cat([torch.sparse.mm(a, x[:, i:i + block].contiguous())
                      for i in range(0, x.shape[1], block)], dim=1)


class _SparseMatmul(torch.autograd.Function):
    """``A @ X`` for a constant sparse ``A``; the backward pass uses a precomputed ``A^T``.

    For the symmetric normalised adjacency, ``A^T`` is ``A`` itself, so no transpose is ever built.
    """

    @staticmethod
    def forward(ctx, a, a_t, x):
        ctx.a_t = a_t
        return sparse_mm(a, x)

    @staticmethod
    def backward(ctx, grad):
        return None, None, sparse_mm(ctx.a_t, grad)


def _torch_csr(m: sp.csr_matrix) -> torch.Tensor:
    m = m.tocsr().astype(np.float32)
    m.sort_indices()
    with warnings.catch_warnings():  # "sparse CSR support is in beta"
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(
            torch.from_numpy(m.indptr.astype(np.int32)), torch.from_numpy(m.indices.astype(np.int32)),
            torch.from_numpy(m.data), size=m.shape, check_invariants=False)


def _glorot(rows: int, cols: int, generator: torch.Generator) -> torch.Tensor:
    """Glorot/Xavier uniform initialisation, as the GCN code's ``glorot``."""
    bound = math.sqrt(6.0 / (rows + cols))
    return (torch.rand(rows, cols, generator=generator) * 2 - 1) * bound


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class TextGCN(Model):
    """Two-layer GCN over the TextGCN document-word graph (see the module docstring)."""

    name = "textgcn"
    published = {"source": "Yao et al., Graph Convolutional Networks for Text Classification, AAAI 2019, Table 2",
                 "accuracy": {"r8": 97.07, "r52": 93.56, "mr": 76.74, "20ng": 86.34}}
    Config = TextGCNConfig
    transductive = True
    #: MR: the paper's; zh-reviews: sentiment, and the Chinese stop words hold 不, 没有, 很, 好
    dataset_settings = {"mr": {"remove_stopwords": False, "min_count": 1}, "zh-reviews": {"remove_stopwords": False}}
    supports_checkpoints = True

    # ------------------------------------------------------------------------------ training
    def _fit(self, train: Split, valid: Split | None, unlabelled: list[str], run: RunCheckpoints) -> None:
        cfg: TextGCNConfig = self.config
        seed_everything(cfg.seed)
        generator = torch.Generator().manual_seed(cfg.seed)
        texts = train.texts + (valid.texts if valid is not None else []) + unlabelled
        n_train, n_valid = len(train), 0 if valid is None else len(valid)
        n_docs = len(texts)
        cfg.tokenizer = tokenizers.resolve(cfg.tokenizer, texts)  # auto's choice, saved in config.json

        start = time.perf_counter()
        cleaned = self._clean(texts)
        graph = build_textgcn_graph(cleaned, window=cfg.window, progress=True)
        a = adjacency(graph)
        a_hat = normalize_adjacency(a)
        vocab_size = len(graph.vocabulary)
        if vocab_size == 0:
            raise ConfigError(self._no_words())
        self._warn_small_vocabulary(texts, cleaned, vocab_size)
        self.info["graph_seconds"] = round(time.perf_counter() - start, 3)
        self.info["graph_nodes"] = int(a_hat.shape[0])
        self.info["graph_edges"] = int(a.nnz)
        log.info("graph: %d documents, %d words, %d edges in %.1f s", n_docs, vocab_size, a.nnz,
                 self.info["graph_seconds"])

        a_all = _torch_csr(a_hat)
        a_docs_np = a_hat[:n_docs]
        a_docs, a_docs_t = _torch_csr(a_docs_np), _torch_csr(a_docs_np.T.tocsr())
        del a_docs_np

        n_classes = len(self.labels)
        w0 = torch.nn.Parameter(_glorot(a_hat.shape[0], cfg.hidden, generator))
        w1 = torch.nn.Parameter(_glorot(cfg.hidden, n_classes, generator))
        optimizer = torch.optim.Adam([w0, w1], lr=cfg.lr)
        targets = self._targets(train, valid)
        train_idx = torch.arange(n_train)
        valid_idx = torch.arange(n_train, n_train + n_valid)

        def hidden():
            return torch.relu(_SparseMatmul.apply(a_all, a_all, w0))

        def doc_logits(h, training: bool):
            h = F.dropout(h, cfg.dropout, training=training)
            return _SparseMatmul.apply(a_docs, a_docs_t, h @ w1)

        cache: dict[str, torch.Tensor | None] = {"h": None}

        def train_epoch(epoch: int) -> dict:
            h = cache["h"] if cache["h"] is not None else hidden()
            cache["h"] = None
            out = doc_logits(h, training=True)
            loss = self._loss(out[train_idx], targets[train_idx])
            if cfg.weight_decay:
                loss = loss + cfg.weight_decay * 0.5 * (w0 ** 2).sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            return {"loss": loss.item(), "acc": self._accuracy(out[train_idx].detach(), targets[train_idx])}

        def validate(epoch: int) -> dict:
            # The released code validates after the update; the hidden layer computed here with the
            # new weights is also the next epoch's training forward pass, so it is computed once.
            h = hidden()
            cache["h"] = h
            with torch.no_grad():
                out = doc_logits(h.detach(), training=False)[valid_idx]
                return {"val_loss": float(self._loss(out, targets[valid_idx])),
                        "val_acc": self._accuracy(out, targets[valid_idx])}

        loop = EpochLoop(
            epochs=cfg.epochs, train_epoch=train_epoch, validate=validate if n_valid else None,
            stopper=EarlyStopping(cfg.stopping_rule, cfg.early_stopping) if n_valid else None,
            keep_best=cfg.restore_best,
            get_state=lambda: {"w0": w0.detach().clone(), "w1": w1.detach().clone()},
            set_state=lambda s: (w0.data.copy_(s["w0"]), w1.data.copy_(s["w1"])),
            description="TextGCN",
            checkpoint=run.callback({"w0": w0, "w1": w1}, optimizer),
            checkpoint_every=cfg.checkpoint_every,
        )
        if run.resuming:
            run.restore(loop, {"w0": w0, "w1": w1}, optimizer)  # RNG states last
        self.history = loop.run()
        self.info["epochs_run"] = len(self.history)

        with torch.no_grad():
            h = torch.relu(sparse_mm(a_all, w0))
            logits = sparse_mm(a_docs, h @ w1)
        degrees = np.asarray(a.sum(axis=1)).ravel() + 1.0
        self._set_trained(
            w0=w0.detach(), w1=w1.detach(), word_hidden=h[n_docs:].clone(),
            word_degree=torch.from_numpy(degrees[n_docs:].astype(np.float32)),
            idf=torch.from_numpy(graph.idf.astype(np.float32)),
            doc_proba=self._proba(logits), vocabulary=list(graph.vocabulary),
            doc_digest=torch.from_numpy(np.frombuffer(b"".join(_digest(t) for t in texts),
                                                      dtype=np.uint8).reshape(n_docs, 16).copy()),
        )

    def _clean(self, texts: list[str]) -> list[str]:
        """TextGCN's cleaning (``remove_words.py``) with the config's tokenizer."""
        cfg = self.config
        return tokenizers.clean_documents(texts, cfg.tokenizer, cfg.remove_stopwords, cfg.min_count,
                                          cfg.stop_words)

    def _clean_new(self, texts: list[str]) -> list[str]:
        """Unseen texts cleaned as the training texts were (runs saved before ``tokenizer``
        existed read ``auto`` here: they were cleaned with ``english``)."""
        cfg = self.config
        return tokenizers.clean_new_documents(texts, self._word_index, self._tokenizer_name(),
                                              cfg.remove_stopwords, cfg.stop_words)

    def _warn_small_vocabulary(self, texts: list[str], cleaned: list[str], vocab_size: int) -> None:
        """One warning when cleaning leaves a tiny vocabulary or drops most tokens (small corpora)."""
        cfg = self.config
        kept = sum(len(doc.split()) for doc in cleaned)
        every = sum(map(len, tokenizers.tokenize(texts, cfg.tokenizer))) if len(texts) <= 5000 else None
        warn_small_vocabulary(self.name, vocab_size, kept, every,
                              f"min_count={cfg.min_count}, remove_stopwords={str(cfg.remove_stopwords).lower()}")

    def _tokenizer_name(self) -> str:
        """The tokenizer the run was trained with (``auto`` in runs saved before the setting: english)."""
        return "english" if self.config.tokenizer == "auto" else self.config.tokenizer

    def _no_words(self) -> str:
        return (f"the cleaned training documents contain no words (tokenizer={self.config.tokenizer}); "
                "lower min_count, set remove_stopwords=false, or pick another tokenizer "
                "(auto, english, unicode, jieba, char)")

    def _targets(self, train: Split, valid: Split | None) -> torch.Tensor:
        splits = [train] + ([valid] if valid is not None else [])
        index = {label: i for i, label in enumerate(self.labels)}
        if not self.multilabel:
            return torch.tensor([index[l] for s in splits for l in s.labels], dtype=torch.long)
        rows = [row for s in splits for row in s.labels]
        y = torch.zeros(len(rows), len(self.labels))
        for i, row in enumerate(rows):
            y[i, [index[l] for l in row]] = 1.0
        return y

    def _loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.multilabel:  # summed over labels, averaged over documents
            return F.binary_cross_entropy_with_logits(logits, target, reduction="sum") / max(len(target), 1)
        return F.cross_entropy(logits, target)

    def _accuracy(self, logits: torch.Tensor, target: torch.Tensor) -> float:
        if self.multilabel:  # precision@1
            top = logits.argmax(dim=1)
            return float(target[torch.arange(len(top)), top].mean())
        return float((logits.argmax(dim=1) == target).float().mean())

    def _proba(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits) if self.multilabel else torch.softmax(logits, dim=1)

    # ------------------------------------------------------------------------------ prediction
    def _set_trained(self, **tensors) -> None:
        self.vocabulary: list[str] = tensors.pop("vocabulary")
        self._word_index = {word: i for i, word in enumerate(self.vocabulary)}
        self._tensors = tensors
        digests = tensors["doc_digest"].numpy()
        # later nodes win: unlabelled (test) documents come last, so a test text maps to its own node
        self._doc_row = {digests[i].tobytes(): i for i in range(len(digests))}

    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        rows = [self._doc_row.get(_digest(t), -1) for t in texts]
        known = np.array([r >= 0 for r in rows])
        out = np.empty((len(texts), len(self.labels)), dtype=np.float32)
        if known.any():
            out[known] = self._tensors["doc_proba"][[r for r in rows if r >= 0]].numpy()
        if (~known).any():
            out[~known] = self.predict_proba_inductive([t for t, k in zip(texts, known) if not k])
        return out

    def predict_proba_inductive(self, texts: list[str]) -> np.ndarray:
        """Probabilities for documents placed in the trained graph as new nodes (module docstring)."""
        self._require_fitted()
        x = self._tfidf(texts).astype(np.float32)
        with torch.no_grad():
            return self._proba(self._inductive_logits()(_torch_csr(x))).numpy()

    def _tfidf(self, texts: list[str]) -> sp.csr_matrix:
        """TF-IDF rows of new documents over the vocabulary (counts of cleaned words times idf)."""
        cleaned = self._clean_new(texts)  # the run's tokenizer and stop words
        return tfidf_rows(cleaned, self._word_index, self._tensors["idf"].numpy().astype(np.float64)).tocsr()

    def _inductive_logits(self) -> "InductiveLogits":
        t = self._tensors
        return InductiveLogits(t["w0"][t["w0"].shape[0] - len(self.vocabulary):], t["w1"], t["word_hidden"],
                               t["word_degree"]).eval()

    def onnx_export(self):
        """TF-IDF rows of new documents to probabilities: the inductive pass (:mod:`textzoo.export`)."""
        from ..export import OnnxGraph, Probabilities

        return OnnxGraph(Probabilities(self._inductive_logits(), self.multilabel),
                         lambda texts: {"tfidf": self._tfidf(texts).toarray().astype(np.float32)},
                         dynamic_axes={"tfidf": {0: "batch"}, "probabilities": {0: "batch"}},
                         side=dict(vocabulary=list(self.vocabulary), idf=self._tensors["idf"].tolist(),
                                   remove_stopwords=bool(self.config.remove_stopwords),
                                   tokenizer=self._tokenizer_name()))

    # ------------------------------------------------------------------------------ persistence
    def _state(self) -> State:
        return State(tensors=dict(self._tensors), extra={"vocabulary": self.vocabulary})

    def _restore(self, state: State) -> None:
        """Check every tensor against the config, the labels and the vocabulary, then use them."""
        from ..errors import ModelFileError

        vocabulary = state.check_words()
        n_words, n_labels, hidden = len(vocabulary), len(self.labels), self.config.hidden
        digest = state.tensors.get("doc_digest")
        n_docs = int(digest.shape[0]) if digest is not None and digest.dim() == 2 else 0
        f32 = torch.float32
        tensors = {
            "w0": state.check_tensor("w0", (n_docs + n_words, hidden), f32),
            "w1": state.check_tensor("w1", (hidden, n_labels), f32),
            "word_hidden": state.check_tensor("word_hidden", (n_words, hidden), f32),
            "word_degree": state.check_tensor("word_degree", (n_words,), f32),
            "idf": state.check_tensor("idf", (n_words,), f32),
            "doc_proba": state.check_tensor("doc_proba", (n_docs, n_labels), f32),
            "doc_digest": state.check_tensor("doc_digest", (n_docs, 16), torch.uint8),
        }
        if not bool((tensors["word_degree"] > 0).all()):
            raise ModelFileError(f"{state.source / 'model.safetensors' if state.source else 'model.safetensors'}: "
                                 "word_degree must be positive")
        self._set_trained(vocabulary=list(vocabulary), **tensors)
