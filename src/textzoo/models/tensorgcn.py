"""TensorGCN: Liu, You, Zhang, Wu, Lv, "Tensor Graph Convolutional Networks for Text
Classification", AAAI 2020.

A text graph tensor (Section "Text graph tensor construction") of three graphs over the same nodes
(every document, then every word), all sharing TextGCN's TF-IDF document-word edges and differing
in their word-word edges:

* ``sequential``: positive PMI over windows of 20 words, TextGCN's graph (:mod:`textzoo.graphs.textgcn`);
* ``syntactic``: ``#dependency links / #sentence co-occurrences`` from a spaCy parse, Eq. 4
  (:mod:`textzoo.graphs.syntactic`); English only (``tokenizer=english``): no Chinese or other
  spaCy pipeline installs offline from PyPI (``zh-core-web-sm`` there is a placeholder), so for
  other tokenizers the graph is left out with a one-line notice;
* ``semantic``: ``#related / #document co-occurrences`` where two words are related when the cosine
  of their hidden states in an LSTM trained on the task exceeds 0.05, Eq. 3
  (:mod:`textzoo.graphs.semantic`).

Each graph gets TextGCN's renormalised adjacency ``Â_k = D^-1/2 (A_k + I) D^-1/2``
(``adjacency="normalized"``). The released code propagates over the raw symmetric ``A_k`` instead:
no self-loops, no normalisation (``adjacency="raw"``; THUMLP/TensorGCN ``TGCN_2layers/utils.py``
``preprocess_adj_mix`` returns ``adj`` unchanged, its ``adj + sp.eye`` unused; the PyTorch release
uses ``GCNConv(add_self_loops=False, normalize=False)``).

Graph tensor learning (Section "Graph tensor learning"), two layers on featureless input (X = I):

* intra-graph propagation, one GCN per graph with its own weights (Eq. 5)::

      H_k^(l+1/2) = σ(Â_k H_k^(l) W_k^(l))

* inter-graph propagation (Eq. 6-7): the paper builds, for every node j, a "virtual graph" whose
  nodes are the copies of j in the r graphs, fully connected (self-loops included); its normalised
  adjacency is the r x r matrix of 1/r. A GCN step on it with a weight shared by all virtual
  graphs gives, for every graph k::

      H_k^(l+1)[j] = σ((1/r) Σ_g H_g^(l+1/2)[j] W_inter^(l))           (``inter_graph="virtual"``)

  The authors' released code (``GraphConvolution_mix1.atten``) does instead, in every layer, with a
  square weight per graph and leaky ReLU (slope 0.2)::

      H_k^(l+1) = leaky_relu(Σ_{g != k} H_g^(l+1/2) W_gg^(l))             (``inter_graph="code"``)

* ``inter_weight=false`` (an option; the paper's learned weights are the default) fixes the
  inter-graph weights to the identity: ``"virtual"`` becomes the parameter-free mean of a node's
  copies, ``"code"`` the sum of the other graphs' features. Measured on R52 (``BENCHMARKS.md``,
  ``benchmarks/tensorgcn_mixing.py``): with two copies of the *same* sequential graph the learned
  weights cost 5.5-7 points of test accuracy against one copy (TextGCN), and fixed ones none.

* our options for an inter-graph step that cannot hurt (``inter_step=gated``, ``inter_init=identity``)
  and for the graphs' pooling, loss and stopping (``graph_pooling``, ``graph_loss``,
  ``graph_stopping``): :mod:`textzoo.models.tensorgcn_inter`.

* with a single graph (``graphs=sequential`` etc., the ablation) there is nothing to propagate
  across: the model is a plain two-layer GCN on that graph, whichever ``inter_graph`` is set.

* output: mean-pooling of the r graphs' document representations, then softmax; cross-entropy on
  the labelled documents. With ``"virtual"`` the last layer is intra-graph only (an inter-graph step
  there would apply σ to the logits and make the r graphs' outputs equal before pooling); with
  ``"code"`` both layers mix, as in the released code.

Hyper-parameters (:class:`TensorGCNConfig`) follow the released ``train.py`` (hidden 200, at most
1000 epochs, window 20) and TextGCN's protocol for what the TensorGCN paper takes from it (dropout
0.5, early stopping on the validation loss, window 10).

The defaults are ``recipe=independent``, not the paper's model: ``inter_graph=none graph_loss=each
graph_stopping=each graph_pooling=validated lr=0.02`` (TextGCN's lr), the r graphs' GCNs trained
side by side, each stopped by TextGCN's rule on its own validation loss, their logits pooled with
the graph weights the validation split prefers. Every inter-graph step we measured (BENCHMARKS.md)
lost to our TextGCN; this model is within 0.1 of it on MR, R8 and R52 over seeds 0-2 (docs/notes/
2026-12-06-tensorgcn-independent.md). ``recipe=paper`` is the paper's model with the released
train.py's Adam lr 0.002 (:data:`PAPER`).

``recipe=`` sets a protocol in one go (:data:`RECIPES`; settings given beside it win): ``code-2021``
is ``train.py`` at THUMLP/TensorGCN 169d471 (Feb 2021, the first release, below); ``code-2022`` at
88f9e43 (Aug 2022, the latest), whose ``train.py`` is 8ab2b01's (June 2021, the commit with the
authors' MR graphs and checkpoint, their issue #2) with dropout 0.9 for 0.8: lr 2e-4,
dropout 0.9 on the featureless input and the hidden layer (TF 1.x ``keep_prob = 1 - dropout``),
L2 1e-6, 1000 epochs (``early_stopping=2000`` never fires), the weights of the lowest validation
loss among epochs after 900 (``best_after=901``), and ``build_graph_tgcn.py``'s window 7. The code
evaluates the validation split every epoch; nothing reads it before epoch 901, so ``validate=auto``
skips it there (the same model; ``validate=every`` for the whole curve).

The released TensorFlow code (THUMLP/TensorGCN, ``TGCN_2layers``) differs from that protocol, and
each difference is an option here:

* ``train.py``: dropout 0.2, L2 5e-6 on the first layer's weights (intra and mixing),
  ``early_stopping=1000`` (never fires within 1000 epochs), the weights of the best validation
  *accuracy* are saved (``acc_valid[-1] >= max_acc``) and tested: ``dropout=0.2 weight_decay=5e-6
  stopping_rule=none restore_best=true best_by=val_acc`` (we keep the first epoch of a tie, the code
  the last);
* ``layers.py`` ``GraphConvolution_mix1._call``: the first layer takes X = I as a sparse input and
  applies ``sparse_dropout`` to it at the same rate, one mask per graph: node dropout on the input
  embeddings (``input_dropout``, :func:`_node_dropout`; from 0.75 the product is taken over the kept
  columns of Â only, :class:`DroppedInput`); TextGCN's released layer is featureless and has none;
* ``utils.py``: raw adjacency (above, ``adjacency="raw"``);
* ``build_graph_tgcn.py``: the syntactic and semantic graphs keep the sequential graph's positive-PMI
  edge set and replace a pair's PMI by its relation count divided by the largest count when the
  pair is related (min-max with the minimum fixed at 0), otherwise keep the PMI: three variants of
  the PMI graph. ``word_edges="sequential"`` builds that edge set and fallback with the paper's
  weights (:func:`on_sequential_support`); the count / max-count weights are not offered. The later
  PyTorch release (THUMLP/TensorGCN_pytorch ``build_graph.py``) uses related pairs only, weight
  ``(count - min) / (max - min)``. Neither is the paper's Eq. 3-4 ratio, which is the default.

``inter_graph="code" adjacency=raw input_dropout=0.2 dropout=0.2 weight_decay=5e-6
stopping_rule=none restore_best=true best_by=val_acc word_edges=sequential`` is the released
TensorFlow code's model, protocol and edge sets (with the paper's relation weights).

Everything not specific to TensorGCN is TextGCN's (:mod:`textzoo.models.textgcn`): cleaning, the
graph builder, the sparse product, transductive training on all documents, the run folder, resuming
(a checkpoint holds every weight, Adam's state, the RNG states and the loop; the graphs are rebuilt,
from the cache for the parse and the semantic relations), and inductive prediction. A new document is attached to every graph through its TF-IDF edges to known
words (training IDF, degrees of each trained graph) and the trained layers run on that one row::

    d      = 1 + Σ_w tfidf(doc, w);    a_kw = tfidf(doc, w) / sqrt(d * deg_k(w))
                                   (adjacency="raw": a_kw = tfidf(doc, w), no 1/d self term)
    h_k    = σ(Σ_w a_kw W0_k[w])                         (intra, layer 1)
    h'_k   = inter-graph step on (h_1 .. h_r)             (as in training)
    z_k    = (1/d) h'_k W1_k + Σ_w a_kw H'_k[w] W1_k      (intra, layer 2; H' = trained word states)
    logits = mean_k z_k                                  (after the last inter step for "code")
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from ..data import tokenizers
from ..data.corpus import Split
from ..errors import ConfigError
from ..graphs.semantic import LSTMSettings, semantic_graph
from ..graphs.syntactic import parse_corpus, syntactic_graph
from ..graphs.textgcn import adjacency, build_textgcn_graph, normalize_adjacency, tfidf_rows
from ..training import EarlyStopping, EpochLoop, StoppingPerMember, seed_everything
from ..training.memory import rusage_peak_mb
from .base import Model, State
from ..training.checkpoint import RunCheckpoints
from .tensorgcn_config import GRAPHS, PAPER, RECIPES, TensorGCNConfig  # noqa: F401 - re-exported
from .tensorgcn_inter import (DroppedInput, _leaky, _node_dropout, _Weights, choose_pooling, first_layer,  # noqa: F401
                              graph_logits, last_layer, on_sequential_support, validated_pooling)
from .textgcn import TextGCN, _digest, _glorot, _SparseMatmul, _torch_csr

__all__ = ["TensorGCN", "TensorGCNConfig", "on_sequential_support"]

log = logging.getLogger(__name__)


class TensorGCN(TextGCN):
    """TensorGCN over the text graph tensor (see the module docstring)."""

    name = "tensorgcn"
    published = {"source": "Liu et al., Tensor Graph Convolutional Networks for Text Classification, AAAI 2020, "
                           "Table 2", "accuracy": {"r8": 98.04, "r52": 95.05, "mr": 77.91, "20ng": 87.74}}
    tasks = frozenset({"single-label"})
    Config = TensorGCNConfig
    recipes = RECIPES
    saved_defaults = dict(RECIPES["paper"], recipe="paper")  # runs saved before the defaults became recipe=independent
    transductive = True
    #: MR: the paper's; zh-reviews: sentiment, and the Chinese stop words hold 不, 没有, 很, 好
    dataset_settings = {"mr": {"remove_stopwords": False, "min_count": 1}, "zh-reviews": {"remove_stopwords": False}}
    supports_checkpoints = True   # as TextGCN: every weight, Adam, RNGs, loop; graphs are rebuilt

    # ------------------------------------------------------------------------------ layers
    @property
    def _mixing(self) -> str:
        """The inter-graph step: the config's, or "none" for a single graph (ablation), which is
        then a plain two-layer GCN (TextGCN's model on that graph)."""
        return self.config.inter_graph if len(self.config.graphs) > 1 else "none"

    @property
    def _learned_mixing(self) -> str:
        """Which inter-graph weights the model trains and saves: the step's, or "none" when there is
        no step or ``inter_weight=false`` fixes them to the identity."""
        return self._mixing if self.config.inter_weight else "none"

    @property
    def _gated(self) -> bool:
        """Whether the inter-graph steps have learned gates (``inter_step=gated``, several graphs)."""
        return self.config.inter_step == "gated" and self._mixing != "none"

    @property
    def _pooled(self) -> bool:
        """Whether the graphs' logits are pooled with weights of their own (learned, residual or
        validated), saved as ``graph_pooling``; several graphs only."""
        return self.config.graph_pooling != "mean" and len(self.config.graphs) > 1

    def _first(self, intra: list[torch.Tensor], w: _Weights) -> list[torch.Tensor]:
        return first_layer(intra, w, self._mixing)

    def _last(self, z: list[torch.Tensor], w: _Weights) -> torch.Tensor:
        return last_layer(z, w, self._mixing)

    # ------------------------------------------------------------------------------ graphs
    def _build_graphs(self, texts: list[str], n_train: int, train_targets: np.ndarray):
        cfg: TensorGCNConfig = self.config
        stages: dict[str, float] = {}
        memory: dict[str, float] = {}
        timings: dict = {}  # filled by parse_corpus and semantic_graph (detail and cache hits)
        start = time.perf_counter()
        cleaned = self._clean(texts)
        graph = build_textgcn_graph(cleaned, window=cfg.window, progress=True)
        if not graph.vocabulary:
            raise ConfigError(self._no_words())
        self._warn_small_vocabulary(texts, cleaned, len(graph.vocabulary))
        stages["clean+sequential"] = time.perf_counter() - start
        memory["clean+sequential"] = rusage_peak_mb()
        index = {w: i for i, w in enumerate(graph.vocabulary)}
        word_word: dict[str, sp.csr_matrix] = {"sequential": graph.word_word}
        if "syntactic" in cfg.graphs:
            t = time.perf_counter()
            parsed = parse_corpus(texts, parser=cfg.parser, n_process=cfg.parse_processes or None,
                                  cache=cfg.cache, timings=timings)
            stages["parse"] = time.perf_counter() - t
            memory["parse"] = rusage_peak_mb()
            memory["parse_worker_processes"] = rusage_peak_mb(children=True)
            t = time.perf_counter()
            word_word["syntactic"] = syntactic_graph(parsed, index)
            del parsed
            stages["syntactic_graph"] = time.perf_counter() - t
            memory["syntactic_graph"] = rusage_peak_mb()
        if "semantic" in cfg.graphs:
            t = time.perf_counter()
            docs = [np.fromiter(map(index.__getitem__, d.split()), dtype=np.int64) for d in cleaned]
            settings = LSTMSettings(embedding=cfg.lstm_embedding, hidden=cfg.lstm_hidden,
                                    epochs=cfg.lstm_epochs, lr=cfg.lstm_lr, max_length=cfg.lstm_max_length,
                                    threshold=cfg.semantic_threshold, seed=cfg.seed)
            word_word["semantic"] = semantic_graph(
                docs, np.arange(n_train), train_targets, len(index), len(self.labels), settings,
                cache=cfg.cache, vocabulary=graph.vocabulary, timings=timings)
            stages["lstm+relations"] = time.perf_counter() - t
            memory["lstm+relations"] = rusage_peak_mb()
        if cfg.word_edges == "sequential":
            word_word = {k: on_sequential_support(graph.word_word, v) for k, v in word_word.items()}
        t = time.perf_counter()
        adjs, a_hats = [], []
        for name in cfg.graphs:
            a = adjacency(replace(graph, word_word=word_word[name]))
            adjs.append(a)
            a_hats.append(normalize_adjacency(a) if cfg.adjacency == "normalized" else a.astype(np.float32))
        stages["normalise"] = time.perf_counter() - t
        memory["normalise"] = rusage_peak_mb()
        self.info["stage_seconds"] = {k: round(v, 3) for k, v in stages.items()}
        self.info["stage_peak_rss_mb"] = memory
        self.info["cache_hits"] = {k[:-len("_cached")]: v for k, v in timings.items() if k.endswith("_cached")}
        self.info["stage_detail_seconds"] = {k: round(v, 3) for k, v in timings.items() if k.endswith("_s")}
        self.info["graph_seconds"] = round(time.perf_counter() - start, 3)
        self.info["graph_nodes"] = int(a_hats[0].shape[0])
        self.info["graph_edges"] = {name: int(a.nnz) for name, a in zip(cfg.graphs, adjs)}
        log.info("graph tensor: %s in %.1f s", ", ".join(f"{n} {a.nnz} edges" for n, a in zip(cfg.graphs, adjs)),
                 self.info["graph_seconds"])
        return graph, adjs, a_hats

    # ------------------------------------------------------------------------------ training
    def _choose_tokenizer(self, texts: list[str]) -> None:
        """Resolve ``tokenizer=auto`` (saved in config.json). The syntactic graph needs a spaCy
        parser of the text's language: only English's installs offline from PyPI (no Chinese
        pipeline does), so with any tokenizer but ``english`` it is left out, with a notice."""
        cfg: TensorGCNConfig = self.config
        cfg.tokenizer = tokenizers.resolve(cfg.tokenizer, texts)
        if cfg.tokenizer != "english" and "syntactic" in cfg.graphs:
            if cfg.graphs == ("syntactic",):
                raise ConfigError(f"the syntactic graph needs English text (tokenizer={cfg.tokenizer}); "
                                  "set graphs=sequential,semantic")
            cfg.graphs = tuple(g for g in cfg.graphs if g != "syntactic")
            log.warning("TensorGCN: no spaCy parser for tokenizer=%s text, so the syntactic graph is left "
                        "out (graphs=%s); set graphs=sequential,semantic to silence this",
                        cfg.tokenizer, ",".join(cfg.graphs))

    def _fit(self, train: Split, valid: Split | None, unlabelled: list[str], run: RunCheckpoints) -> None:
        cfg: TensorGCNConfig = self.config
        if self.multilabel:
            raise ConfigError("tensorgcn handles single-label data only (the paper's setting)")
        texts = train.texts + (valid.texts if valid is not None else []) + unlabelled
        n_train, n_valid = len(train), 0 if valid is None else len(valid)
        n_docs = len(texts)
        self._choose_tokenizer(texts)
        targets = self._targets(train, valid)
        graph, adjs, a_hats = self._build_graphs(texts, n_train, targets[:n_train].numpy())

        seed_everything(cfg.seed)
        generator = torch.Generator().manual_seed(cfg.seed)
        r, n_nodes, n_classes = len(cfg.graphs), a_hats[0].shape[0], len(self.labels)
        a_all = [_torch_csr(a) for a in a_hats]
        a_docs = [_torch_csr(a[:n_docs]) for a in a_hats]
        a_docs_t = [_torch_csr(a[:n_docs].T.tocsr()) for a in a_hats]
        param = torch.nn.Parameter
        w = _Weights(w0=[param(_glorot(n_nodes, cfg.hidden, generator)) for _ in range(r)],
                     w1=[param(_glorot(cfg.hidden, n_classes, generator)) for _ in range(r)],
                     pooling=cfg.graph_pooling)
        w.identity = cfg.inter_init == "identity"

        def mixing_weight(n: int) -> torch.nn.Parameter:  # W, or dW of I + dW (from 0)
            return param(torch.zeros(n, n) if w.identity else _glorot(n, n, generator))

        if self._learned_mixing == "virtual":
            w.inter = [mixing_weight(cfg.hidden)]
        elif self._learned_mixing == "code":
            w.mix0 = [mixing_weight(cfg.hidden) for _ in range(r)]
            w.mix1 = [mixing_weight(n_classes) for _ in range(r)]
        if self._gated:
            w.gate = [param(torch.zeros(2))]
        if self._pooled and cfg.graph_pooling != "validated":  # validated: chosen after training
            w.fusion = [param(torch.zeros(r - 1 if cfg.graph_pooling == "residual" else r))]
        optimizer = torch.optim.Adam(w.all(), lr=cfg.lr)
        weights = {f"w.{i}": p for i, p in enumerate(w.all())}
        train_idx = torch.arange(n_train)
        valid_idx = torch.arange(n_train, n_train + n_valid)

        dropped = [DroppedInput(a) for a in a_all] if cfg.input_dropout >= DroppedInput.FROM_RATE else []

        def hidden(training: bool = False) -> list[torch.Tensor]:
            if training and dropped:  # node dropout on X = I (_node_dropout), on the kept columns
                return self._first([d(w0, cfg.input_dropout) for d, w0 in zip(dropped, w.w0)], w)
            w0s = [_node_dropout(w0, cfg.input_dropout) for w0 in w.w0] if training else w.w0
            return self._first([_SparseMatmul.apply(a, a, w0) for a, w0 in zip(a_all, w0s)], w)

        def doc_logits(h: list[torch.Tensor], training: bool) -> list[torch.Tensor]:
            """Each graph's document logits (pooled by ``w.pool``)."""
            z = [_SparseMatmul.apply(a, a_t, F.dropout(x, cfg.dropout, training=training) @ w1)
                 for a, a_t, x, w1 in zip(a_docs, a_docs_t, h, w.w1)]
            return graph_logits(z, w, self._mixing)

        each = StoppingPerMember(cfg.stopping_rule, cfg.early_stopping, r) if cfg.stops_each_graph else None
        graphs_on = each.active if each is not None else lambda: [True] * r  # graph_stopping=each: frozen ones off

        def loss_of(zs: list[torch.Tensor], pooled: torch.Tensor, idx: torch.Tensor, on: list[bool]) -> torch.Tensor:
            """graph_loss: the pooled logits' cross-entropy, or the mean of the graphs' own (those ``on``)."""
            if cfg.graph_loss == "each":
                return torch.stack([self._loss(z[idx], targets[idx]) for z, k in zip(zs, on) if k]).mean()
            return self._loss(pooled[idx], targets[idx])

        cache: dict[str, list | None] = {"h": None}

        def train_epoch(epoch: int) -> dict:
            if cfg.input_dropout:
                h = hidden(training=True)
            else:
                h = cache["h"] if cache["h"] is not None else hidden()
            cache["h"] = None
            zs = doc_logits(h, training=True)
            out = w.pool(zs)
            loss = loss_of(zs, out, train_idx, graphs_on())
            if cfg.weight_decay:
                decayed = [w0 for w0, k in zip(w.w0, graphs_on()) if k] + w.mix0
                loss = loss + cfg.weight_decay * 0.5 * sum((w0 ** 2).sum() for w0 in decayed)
            if cfg.inter_decay and w.mixing():
                loss = loss + cfg.inter_decay * 0.5 * sum((m ** 2).sum() for m in w.mixing())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            return {"loss": loss.item(), "acc": self._accuracy(out[train_idx].detach(), targets[train_idx])}

        def validate(epoch: int) -> dict:
            # computed with the updated weights; reused as the next epoch's forward pass (TextGCN)
            if cfg.input_dropout:
                with torch.no_grad():
                    h = hidden()
            else:
                h = hidden()
                cache["h"] = h
            with torch.no_grad():
                zs = doc_logits([x.detach() for x in h], training=False)
                pooled = w.pool(zs)
                out = pooled[valid_idx]
                losses = [self._loss(z[valid_idx], targets[valid_idx]) for z in zs]  # each graph's own
                row = {"val_loss": float(torch.stack(losses).mean() if cfg.graph_loss == "each" else
                                         self._loss(out, targets[valid_idx])),  # as loss_of
                       "val_acc": self._accuracy(out, targets[valid_idx])}
                if each is not None:  # each graph's own monitored value, as TextGCN's loop watches it
                    own = losses if cfg.best_by == "val_loss" else [
                        1.0 - self._accuracy(z[valid_idx], targets[valid_idx]) for z in zs]
                    each.observe([float(v) for v in own], epoch + 1)
                    row["graphs_training"] = sum(each.active())
                if cfg.best_by == "val_acc":  # what keep-best (and the stopping rule) watch
                    row["val_error"] = 1.0 - row["val_acc"]
                return row

        loop = EpochLoop(
            epochs=cfg.epochs, train_epoch=train_epoch, validate=validate if n_valid else None,
            monitor="val_error" if cfg.best_by == "val_acc" else "val_loss",
            stopper=(each or EarlyStopping(cfg.stopping_rule, cfg.early_stopping)) if n_valid else None,
            keep_best=cfg.restore_best, best_after=cfg.best_after, validate_from=cfg.validate_from,
            get_state=lambda: {k: p.detach().clone() for k, p in weights.items()},
            set_state=lambda s: [p.data.copy_(s[k]) for k, p in weights.items()],
            description="TensorGCN",
            checkpoint=run.callback(weights, optimizer),
            checkpoint_every=cfg.checkpoint_every,
        )
        if run.resuming:  # the first epoch after it recomputes the hidden layer (TextGCN)
            run.restore(loop, weights, optimizer)  # RNG states last
        t = time.perf_counter()
        self.history = loop.run()
        self.info["epochs_run"] = len(self.history)
        if each is not None:
            self.info["graph_stopped_at"] = dict(zip(cfg.graphs, each.stopped_at))
        self.info.setdefault("stage_seconds", {})["train"] = round(time.perf_counter() - t, 3)
        self.info.setdefault("stage_peak_rss_mb", {})["train"] = rusage_peak_mb()

        with torch.no_grad():
            h = hidden()
            zs = doc_logits(h, training=False)
            if self._pooled and cfg.graph_pooling == "validated":
                w.fusion = [choose_pooling(cfg.graphs, [z[valid_idx] for z in zs], targets[valid_idx], self.info)]
            logits = w.pool(zs)
        tensors: dict[str, torch.Tensor] = {}
        for k, name in enumerate(cfg.graphs):
            degrees = np.asarray(adjs[k].sum(axis=1)).ravel() + 1.0
            tensors[f"w0.{name}"] = w.w0[k].detach()[n_docs:].clone()
            tensors[f"w1.{name}"] = w.w1[k].detach()
            tensors[f"word_hidden.{name}"] = h[k][n_docs:].clone()
            tensors[f"word_degree.{name}"] = torch.from_numpy(degrees[n_docs:].astype(np.float32))
            if w.mix0:
                tensors[f"mix0.{name}"] = w.mix0[k].detach()
                tensors[f"mix1.{name}"] = w.mix1[k].detach()
        if w.inter:
            tensors["w_inter"] = w.inter[0].detach()
        if w.gate:
            tensors["gate"] = w.gate[0].detach().clone()
        if w.fusion:
            tensors["graph_pooling"] = w.fusion[0].detach().clone()
        self._set_trained(
            idf=torch.from_numpy(graph.idf.astype(np.float32)), doc_proba=self._proba(logits),
            vocabulary=list(graph.vocabulary),
            doc_digest=torch.from_numpy(np.frombuffer(b"".join(_digest(t) for t in texts),
                                                      dtype=np.uint8).reshape(n_docs, 16).copy()),
            **tensors)

    # ------------------------------------------------------------------------------ prediction
    def _saved_weights(self) -> _Weights:
        t, g = self._tensors, self.config.graphs
        w = _Weights(w0=[t[f"w0.{n}"] for n in g], w1=[t[f"w1.{n}"] for n in g],
                     identity=self.config.inter_init == "identity", gate=[t["gate"]] if self._gated else [],
                     fusion=[t["graph_pooling"]] if self._pooled else [], pooling=self.config.graph_pooling)
        if self._learned_mixing == "virtual":
            w.inter = [t["w_inter"]]
        elif self._learned_mixing == "code":
            w.mix0 = [t[f"mix0.{n}"] for n in g]
            w.mix1 = [t[f"mix1.{n}"] for n in g]
        return w

    def predict_proba_inductive(self, texts: list[str]) -> np.ndarray:
        """Probabilities for documents placed in the trained graphs as new nodes (module docstring)."""
        self._require_fitted()
        t = self._tensors
        w = self._saved_weights()
        cleaned = self._clean_new(texts)
        x = tfidf_rows(cleaned, self._word_index, t["idf"].numpy().astype(np.float64))
        if self.config.adjacency == "raw":  # the row of A itself: no self-loop, no scaling
            self_weight = torch.zeros(len(texts), 1)
            a_new = [_torch_csr(x.tocsr())] * len(self.config.graphs)
        else:
            degree = 1.0 + np.asarray(x.sum(axis=1)).ravel()
            scale_rows = sp.diags(1.0 / np.sqrt(degree))
            self_weight = torch.from_numpy((1.0 / degree).astype(np.float32))[:, None]
            a_new = []
            for name in self.config.graphs:
                scale_cols = sp.diags(1.0 / np.sqrt(t[f"word_degree.{name}"].numpy().astype(np.float64)))
                a_new.append(_torch_csr((scale_rows @ x @ scale_cols).tocsr()))
        with torch.no_grad():
            h = self._first([torch.sparse.mm(a, w0) for a, w0 in zip(a_new, w.w0)], w)
            z = [self_weight * (hk @ w1) + torch.sparse.mm(a, t[f"word_hidden.{name}"] @ w1)
                 for a, hk, w1, name in zip(a_new, h, w.w1, self.config.graphs)]
            return self._proba(self._last(z, w)).numpy()

    onnx_export = Model.onnx_export  # refused: the inductive pass mixes several graphs
    # ------------------------------------------------------------------------------ persistence
    def _restore(self, state: State) -> None:
        """Check every tensor against the config, the labels and the vocabulary, then use them."""
        from ..errors import ModelFileError

        vocabulary = state.check_words()
        cfg: TensorGCNConfig = self.config
        n_words, n_labels, hidden = len(vocabulary), len(self.labels), cfg.hidden
        digest = state.tensors.get("doc_digest")
        n_docs = int(digest.shape[0]) if digest is not None and digest.dim() == 2 else 0
        f32 = torch.float32
        shapes = {"idf": (n_words,), "doc_proba": (n_docs, n_labels)}
        for name in cfg.graphs:
            shapes.update({f"w0.{name}": (n_words, hidden), f"w1.{name}": (hidden, n_labels),
                           f"word_hidden.{name}": (n_words, hidden), f"word_degree.{name}": (n_words,)})
            if self._learned_mixing == "code":
                shapes.update({f"mix0.{name}": (hidden, hidden), f"mix1.{name}": (n_labels, n_labels)})
        if self._learned_mixing == "virtual":
            shapes["w_inter"] = (hidden, hidden)
        if self._gated:
            shapes["gate"] = (2,)
        if self._pooled:
            shapes["graph_pooling"] = (len(cfg.graphs) - (cfg.graph_pooling == "residual"),)
        tensors = {key: state.check_tensor(key, shape, f32) for key, shape in shapes.items()}
        tensors["doc_digest"] = state.check_tensor("doc_digest", (n_docs, 16), torch.uint8)
        for name in cfg.graphs:
            if not bool((tensors[f"word_degree.{name}"] > 0).all()):
                raise ModelFileError(f"{state.source or ''} model.safetensors: word_degree.{name} must be positive")
        self._set_trained(vocabulary=list(vocabulary), **tensors)
