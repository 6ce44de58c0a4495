"""The ONNX graph of a fine-tuned Transformer classifier (``bert``, ``albert``, ``gpt``):
``(input_ids, attention_mask) -> probabilities``, with what a client needs to build the inputs
(the tokenizer, special tokens, framing, truncation) in the side file (:mod:`textzoo.export`)."""

from __future__ import annotations

import json

import torch.nn as nn

from ..export import OnnxGraph, Probabilities
from ..training.engine import pad_batch


class _Logits(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.net, self._forward = model.net, model._forward  # net: the graph's weights

    def forward(self, input_ids, attention_mask):
        return self._forward(input_ids, attention_mask)[0]


def transformer_graph(model) -> OnnxGraph:
    """:class:`OnnxGraph` of a :class:`textzoo.models.transformer_base.TransformerClassifier`."""

    def inputs(texts: list[str]) -> dict:
        ids, mask = pad_batch(model._encode(texts), model.special["pad"])
        return {"input_ids": ids.numpy(), "attention_mask": mask.numpy()}

    cfg, special = model.config, model.special
    return OnnxGraph(Probabilities(_Logits(model), model.multilabel), inputs, dynamic_axes={
        "input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}, "probabilities": {0: "batch"}},
        side=dict(special_tokens=dict(special), max_length=cfg.max_length, truncation=cfg.truncation,
                  head_fraction=cfg.head_fraction, tokenizer=json.loads(model.tokenizer.to_str()),
                  framing=[k for k in ("cls", "start") if k in special] + ["ids"]
                  + [k for k in ("sep", "classify") if k in special]))
