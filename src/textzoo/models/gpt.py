"""GPT: Radford, Narasimhan, Salimans and Sutskever, "Improving Language Understanding by Generative
Pre-Training", OpenAI 2018.

Fine-tuning for classification (Section 3.2 and 3.3, Figure 1): the input is
``<start> text <classify>`` with the two special tokens added to the vocabulary (their embeddings
are new rows, learnt during fine-tuning); the final hidden state at the ``<classify>`` token goes
through dropout and a linear layer W_y. The auxiliary language-modelling objective is kept during
fine-tuning (Section 3.2, Eq. 5): L3 = L2 (classification) + lambda * L1 (LM, next-token
cross-entropy over the input), lambda = 0.5 (``lm_weight``). Defaults from Section 4.1: lr 6.25e-5,
batch 32, 3 epochs, linear warm-up over 0.2% of the training then linear decay, dropout 0.1 on the
classifier, weight decay 0.01 (w = 0.01 on non-bias weights). Multi-label corpora get one sigmoid
per label (binary cross-entropy) on the same hidden state.

Any causal LM checkpoint with an LM head loads (``openai-gpt``, ``gpt2`` by hub name with network,
or a local folder such as the output of ``textzoo pretrain gpt``, or the original release's
``model/`` folder, converted once by :mod:`textzoo.models.gpt_release`). The max length (not given by the
paper for classification; its context is 512) defaults to BERT's 128 for CPU budgets. Training,
saving and data-parallel details: :mod:`textzoo.models.transformer_base`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import ConfigError
from .transformer_base import TransformerClassifier, TransformerConfig

START, CLASSIFY = "<start>", "<classify>"


@dataclass
class GPTConfig(TransformerConfig):
    """GPT fine-tuning (Section 4.1)."""

    pretrained: str = "openai-gpt"
    lr: float = 6.25e-5
    warmup: float = 0.002
    lm_weight: float = 0.5            # lambda of L3 = L2 + lambda * L1 (Eq. 5); 0 disables the LM loss

    def __post_init__(self):
        super().__post_init__()
        if self.lm_weight < 0:
            raise ValueError(f"lm_weight must be >= 0, got {self.lm_weight}")


class ClassifyTokenHead(nn.Module):
    """W_y on the final hidden state at the ``<classify>`` token (Section 3.2), after dropout."""

    def __init__(self, hidden: int, n_labels: int, dropout: float):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden, n_labels)
        nn.init.normal_(self.classifier.weight, std=0.02)
        nn.init.zeros_(self.classifier.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(hidden))


class GPT(TransformerClassifier):
    """Causal Transformer with the classify-token head and the auxiliary LM loss (module docstring)."""

    name = "gpt"
    Config = GPTConfig
    auto_class = "AutoModelForCausalLM"
    lm_weight_field = "lm_weight"
    dataset_settings = {"20ng": {"truncation": "head+tail"}, "ohsumed": {"truncation": "head+tail"}}

    @staticmethod
    def _dropout_kwargs(p: float) -> dict:
        return {"resid_pdrop": p, "embd_pdrop": p, "attn_pdrop": p}

    def _prepare_tokenizer(self, hf_tokenizer, backbone) -> None:
        hf_tokenizer.add_tokens([START, CLASSIFY], special_tokens=True)
        if backbone.get_input_embeddings().num_embeddings < len(hf_tokenizer):
            backbone.resize_token_embeddings(len(hf_tokenizer))
        start, classify = (hf_tokenizer.convert_tokens_to_ids(t) for t in (START, CLASSIFY))
        if backbone.get_output_embeddings() is None:
            raise ConfigError(f"{self.config.pretrained}: the checkpoint has no LM head (needed for the LM loss)")
        pad = hf_tokenizer.pad_token_id
        # padding is masked out everywhere; any id does
        self.special = {"start": int(start), "classify": int(classify), "pad": int(classify if pad is None else pad)}

    def _frame(self, ids: list[int]) -> list[int]:
        return [self.special.get("start", 0)] + ids + [self.special.get("classify", 0)]

    def _build_head(self, backbone: nn.Module, n_labels: int) -> nn.Module:
        hidden = getattr(backbone.config, "n_embd", None) or backbone.config.hidden_size
        return ClassifyTokenHead(hidden, n_labels, self.config.dropout)

    def _forward(self, ids, mask, lm=False):
        backbone = self.net.backbone
        hidden = backbone.base_model(input_ids=ids, attention_mask=mask).last_hidden_state
        last = mask.sum(dim=1) - 1                          # position of <classify> (right padding)
        logits = self.net.head(hidden[torch.arange(ids.shape[0], device=ids.device), last])
        if not lm:
            return logits, None, None
        lm_logits = backbone.get_output_embeddings()(hidden[:, :-1]).float()
        target = ids[:, 1:].masked_fill(mask[:, 1:] == 0, -100)   # next token, padding ignored
        lm_sum = F.cross_entropy(lm_logits.reshape(-1, lm_logits.shape[-1]), target.reshape(-1),
                                 ignore_index=-100, reduction="sum")
        return logits, lm_sum, int((target != -100).sum())
