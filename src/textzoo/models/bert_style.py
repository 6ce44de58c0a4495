"""The BERT-style classifier that ``bert``, ``albert``, ``lightxml`` and ``xtransformer`` build on:
``[CLS] text [SEP]`` through an encoder, and BERT's pooled-[CLS] head (Devlin et al. 2019, Section 4.1).
Training, saving and data-parallel details: :mod:`textzoo.models.transformer_base`."""

from __future__ import annotations

import torch
import torch.nn as nn

from ..errors import ConfigError
from .transformer_base import TransformerClassifier


class PooledHead(nn.Module):
    """BERT's classifier (Devlin et al. 2019, Section 4.1 / Figure 4): pooled [CLS] -> dropout -> linear.

    ``pooling="cls"`` (the paper's): the pooled vector is the backbone's pooler (dense + tanh on the
    first token) when it has one, which BERT and ALBERT do; the all-MiniLM-L6-v2 checkpoint ships
    pooler weights (from MiniLM's pretraining: sentence-transformers trained it with mean pooling,
    so they are not tuned for sentence tasks) and they are fine-tuned with the rest. A checkpoint
    without pooler weights gets a randomly initialised pooler (logged) trained during fine-tuning; a
    backbone without any pooler gets this head's own dense + tanh.

    ``pooling="mean"`` (an option, not the paper's): the mean of the final hidden states over the
    real tokens, the read-out sentence-transformers trained all-MiniLM-L6-v2 with (Reimers and
    Gurevych 2019, Section 3); the pooler is then unused.
    """

    def __init__(self, backbone: nn.Module, n_labels: int, dropout: float, pooling: str = "cls"):
        super().__init__()
        hidden = backbone.config.hidden_size
        self.pooling = pooling
        self.own_pooler = None
        if pooling == "cls" and getattr(backbone, "pooler", None) is None:
            self.own_pooler = nn.Sequential(nn.Linear(hidden, hidden), nn.Tanh())
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden, n_labels)
        nn.init.normal_(self.classifier.weight, std=0.02)
        nn.init.zeros_(self.classifier.bias)

    def pool(self, outputs, mask: torch.Tensor) -> torch.Tensor:
        """The document vector: pooled [CLS] or the masked mean (see the class docstring)."""
        if self.pooling == "mean":
            weights = mask.unsqueeze(-1).to(outputs.last_hidden_state.dtype)
            return (outputs.last_hidden_state * weights).sum(1) / weights.sum(1).clamp(min=1)
        pooled = getattr(outputs, "pooler_output", None)
        if pooled is None or self.own_pooler is not None:
            pooled = self.own_pooler(outputs.last_hidden_state[:, 0])
        return pooled

    def forward(self, outputs, mask: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.pool(outputs, mask)))


class BertStyleClassifier(TransformerClassifier):
    """[CLS] text [SEP] -> backbone -> :class:`PooledHead` (BERT and ALBERT)."""

    def _prepare_tokenizer(self, hf_tokenizer, backbone) -> None:
        cls_id = hf_tokenizer.cls_token_id if hf_tokenizer.cls_token_id is not None else hf_tokenizer.bos_token_id
        sep_id = hf_tokenizer.sep_token_id if hf_tokenizer.sep_token_id is not None else hf_tokenizer.eos_token_id
        pad_id = hf_tokenizer.pad_token_id if hf_tokenizer.pad_token_id is not None else 0
        if cls_id is None or sep_id is None:
            raise ConfigError(f"{self.config.pretrained}: the tokenizer has no [CLS]/[SEP] (or bos/eos) token")
        self.special = {"cls": int(cls_id), "sep": int(sep_id), "pad": int(pad_id)}

    def _frame(self, ids: list[int]) -> list[int]:
        return [self.special.get("cls", 0)] + ids + [self.special.get("sep", 0)]

    def _build_head(self, backbone: nn.Module, n_labels: int) -> nn.Module:
        return PooledHead(backbone, n_labels, self.config.dropout, getattr(self.config, "pooling", "cls"))

    def _forward(self, ids, mask, lm=False):
        out = self.net.backbone(input_ids=ids, attention_mask=mask)
        return self.net.head(out, mask), None, None
