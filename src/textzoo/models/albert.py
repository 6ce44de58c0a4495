"""ALBERT: Lan, Chen, Goodman, Gimpel, Sharma and Soricut, "ALBERT: A Lite BERT for Self-supervised
Learning of Language Representations", ICLR 2020.

The backbone differs from BERT's (Section 3.1): factorised embedding parameters (a V x E embedding,
E = 128, projected to the hidden size H) and cross-layer parameter sharing (all layers share one
set of weights). Fine-tuning for classification uses BERT's head (Section 4.1 follows Devlin et al.):
pooled first token (dense + tanh) -> dropout -> linear, softmax or sigmoid per label, with BERT's
optimiser settings as defaults (the paper tunes them per task, Appendix A.4).

Any ALBERT checkpoint loads by hub name (``albert-base-v2``, needs network) or local folder, e.g. the
output of ``textzoo pretrain albert`` (n-gram masked LM + sentence-order prediction). Training,
saving and data-parallel details: :mod:`textzoo.models.transformer_base`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .bert_style import BertStyleClassifier
from .transformer_base import TransformerConfig


@dataclass
class AlbertConfig(TransformerConfig):
    """ALBERT fine-tuning; BERT's defaults (Section 4.1) on an ALBERT backbone."""

    pretrained: str = "albert-base-v2"
    pooling: Literal["cls", "mean"] = "cls"   # cls: the paper's pooled [CLS]; mean: sentence-transformers' read-out


class Albert(BertStyleClassifier):
    """Pooled first token -> dropout -> linear on an ALBERT encoder (see the module docstring)."""

    name = "albert"
    Config = AlbertConfig
    dataset_settings = {"20ng": {"truncation": "head+tail"}, "ohsumed": {"truncation": "head+tail"}}
