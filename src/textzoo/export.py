"""``textzoo export RUN_DIR --format onnx``: a saved run as an ONNX graph, runnable with onnxruntime.

Two kinds of run export, each with everything outside the graph (tokenisation, TF-IDF) described in
a JSON side file ``FILE.json`` written next to ``FILE.onnx``:

**Transformers** (``bert``, ``albert``, ``gpt``): the fine-tuned backbone and head, from token ids to
probabilities.

* inputs ``input_ids`` int64 ``[batch, seq]`` and ``attention_mask`` int64 ``[batch, seq]`` (1 for
  tokens, 0 for padding; padding on the right with ``special_tokens.pad``);
* output ``probabilities`` float32 ``[batch, n_labels]`` (softmax; sigmoid per label for multi-label
  runs), columns in the order of ``labels``.

The ids are those of the run's tokenizer (``tokenizer`` in the side file, a ``tokenizers`` JSON):
encode the text without special tokens, cut it to ``max_length`` minus the special tokens by
``truncation`` (see :func:`textzoo.models.transformer_base.truncate`) and frame it: BERT and ALBERT
``[cls] ids [sep]``, GPT ``<start> ids <classify>`` (``framing`` in the side file).

**TextGCN's inductive predictor**: a new document attached to the trained graph through its TF-IDF
edges (:mod:`textzoo.models.textgcn`, module docstring), from TF-IDF weights to probabilities.

* input ``tfidf`` float32 ``[batch, n_words]``: for word ``j`` of ``vocabulary`` (side file), the
  count of ``j`` in the cleaned document times ``idf[j]`` (side file); 0 for absent words. Cleaning
  is :func:`textzoo.data.cleaning.clean_new_documents` (TextGCN's cleaning, ``remove_stopwords`` in
  the side file; out-of-vocabulary words are dropped);
* output ``probabilities`` float32 ``[batch, n_labels]``.

It covers documents that are *not* nodes of the trained graph; the documents that are (the test
documents given to ``fit``, the paper's transductive setting) keep their stored predictions in the
run folder.

**Models with their own export** (``linear``: TF-IDF rows in, probabilities out): the model's
``onnx_module()``, ``onnx_inputs(texts)`` and ``onnx_side()`` give the graph, its inputs and the
side file's description of them (see :mod:`textzoo.models.linear`).

:func:`onnx_inputs` computes the inputs from raw texts exactly as described, for a loaded run.
The export uses torch's TorchScript-based ONNX exporter (opset 17) and checks the file with
``onnx.checker``. Needs ``pip install 'textzoo[export]'`` (onnx; onnxruntime to run it).
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn as nn

from ._io import atomic_write_json
from .errors import ConfigError

log = logging.getLogger(__name__)

OPSET = 17
FORMATS = ("onnx",)


class _TransformerScores(nn.Module):
    """``(input_ids, attention_mask) -> probabilities`` through a fitted Transformer classifier."""

    def __init__(self, model):
        super().__init__()
        self.net = model.net            # registered: its parameters become the graph's weights
        self._model = [model]           # a list: not a submodule
        self.multilabel = model.multilabel

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        logits, _, _ = self._model[0]._forward(input_ids, attention_mask)
        logits = logits.float()
        return torch.sigmoid(logits) if self.multilabel else torch.softmax(logits, dim=1)


class _TextGCNInductive(nn.Module):
    """TextGCN's inductive prediction from TF-IDF rows (the equations of textgcn.py's docstring)."""

    def __init__(self, model):
        super().__init__()
        t = model._tensors
        n_words = len(model.vocabulary)
        w1 = t["w1"].float()
        self.register_buffer("w0", t["w0"][t["w0"].shape[0] - n_words:].float().clone())
        self.register_buffer("w1", w1.clone())
        self.register_buffer("hidden_w1", (t["word_hidden"].float() @ w1).contiguous())
        self.register_buffer("inv_sqrt_word_degree", torch.rsqrt(t["word_degree"].double()).float())
        self.multilabel = model.multilabel

    def forward(self, tfidf: torch.Tensor) -> torch.Tensor:
        degree = 1.0 + tfidf.sum(dim=1, keepdim=True)                       # d
        a = tfidf * torch.rsqrt(degree) * self.inv_sqrt_word_degree         # a_w
        h = torch.relu(a @ self.w0)                                         # layer 1
        logits = (h @ self.w1) / degree + a @ self.hidden_w1                # layer 2
        return torch.sigmoid(logits) if self.multilabel else torch.softmax(logits, dim=1)


def _kind(model) -> str:
    from .models.textgcn import TextGCN
    from .models.transformer_base import TransformerClassifier

    if isinstance(model, TransformerClassifier):
        return "transformer"
    if isinstance(model, TextGCN):
        return "textgcn"
    if hasattr(model, "onnx_module"):
        return "own"
    raise ConfigError(f"ONNX export supports bert, albert, gpt and textgcn runs and linear ones, not {model.name!r}")


def onnx_inputs(model, texts: Sequence[str]) -> dict[str, np.ndarray]:
    """The ONNX graph's inputs for ``texts``, computed as the module docstring describes."""
    texts = list(texts)
    if _kind(model) == "own":
        return model.onnx_inputs(texts)
    if _kind(model) == "transformer":
        from .models.transformer_base import pad_batch

        ids, mask = pad_batch(model._encode(texts), model.special["pad"])
        return {"input_ids": ids.numpy(), "attention_mask": mask.numpy()}
    from .data.cleaning import clean_new_documents
    from .graphs.textgcn import tfidf_rows

    cleaned = clean_new_documents(texts, model._word_index, model.config.remove_stopwords)
    x = tfidf_rows(cleaned, model._word_index, model._tensors["idf"].numpy().astype(np.float64))
    return {"tfidf": x.toarray().astype(np.float32)}


def export_onnx(run_dir: str | Path, out: str | Path | None = None, texts: Sequence[str] | None = None) -> Path:
    """Export the run in ``run_dir`` to ``out`` (default ``RUN_DIR.onnx`` beside the folder) and its
    side file ``out + .json``; returns ``out``. ``texts`` (optional) are used as tracing examples."""
    import textzoo

    try:
        import onnx
    except ImportError:
        raise ConfigError("ONNX export needs the onnx package: pip install 'textzoo[export]'") from None
    run_dir = Path(run_dir)
    model = textzoo.load(run_dir)
    kind = _kind(model)
    out = Path(out) if out is not None else run_dir.with_name(run_dir.name + ".onnx")
    out.parent.mkdir(parents=True, exist_ok=True)
    examples = list(texts or ["oil prices rose sharply after the opec meeting", "wheat exports fell"])
    inputs = onnx_inputs(model, examples)
    side = {"model": model.name, "labels": list(model.labels), "multilabel": model.multilabel,
            "run": str(run_dir), "textzoo_version": textzoo.__version__, "opset": OPSET,
            "inputs": {}, "outputs": {"probabilities": ["batch", len(model.labels)]}}
    if kind == "transformer":
        module = _TransformerScores(model).eval()
        dynamic = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                   "probabilities": {0: "batch"}}
        side["inputs"] = {"input_ids": ["batch", "seq", "int64"], "attention_mask": ["batch", "seq", "int64"]}
        side.update(special_tokens=dict(model.special), max_length=model.config.max_length,
                    truncation=model.config.truncation, head_fraction=model.config.head_fraction,
                    framing=[k for k in ("cls", "start") if k in model.special] + ["ids"]
                    + [k for k in ("sep", "classify") if k in model.special],
                    tokenizer=json.loads(model.tokenizer.to_str()))
    elif kind == "own":
        module = model.onnx_module()
        dynamic = {**{name: {0: "batch"} for name in inputs}, "probabilities": {0: "batch"}}
        side.update(model.onnx_side())
    else:
        module = _TextGCNInductive(model).eval()
        dynamic = {"tfidf": {0: "batch"}, "probabilities": {0: "batch"}}
        side["inputs"] = {"tfidf": ["batch", len(model.vocabulary), "float32"]}
        side.update(vocabulary=list(model.vocabulary), idf=model._tensors["idf"].tolist(),
                    remove_stopwords=bool(model.config.remove_stopwords))
    names = list(inputs)
    args = tuple(torch.from_numpy(inputs[n]) for n in names)
    tmp = out.with_name(f".{out.name}.tmp")
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer warnings
        torch.onnx.export(module, args, str(tmp), dynamo=False, input_names=names, output_names=["probabilities"],
                          dynamic_axes=dynamic, opset_version=OPSET, do_constant_folding=True)
    graph = onnx.load(str(tmp))
    onnx.checker.check_model(graph)
    for key, value in {"textzoo.model": model.name, "textzoo.labels": json.dumps(list(model.labels)),
                       "textzoo.multilabel": json.dumps(model.multilabel),
                       "textzoo.side_file": out.name + ".json"}.items():
        entry = graph.metadata_props.add()
        entry.key, entry.value = key, value
    graph.doc_string = (__doc__ or "").split("\n\n")[0]
    onnx.save(graph, str(tmp))
    tmp.replace(out)
    atomic_write_json(out.with_name(out.name + ".json"), side)
    log.info("exported the %s run %s to %s", model.name, run_dir, out)
    return out
