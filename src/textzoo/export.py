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
  is :func:`textzoo.data.tokenizers.clean_new_documents` (TextGCN's cleaning with the run's
  ``tokenizer`` and ``remove_stopwords`` in the side file; out-of-vocabulary words are dropped);
* output ``probabilities`` float32 ``[batch, n_labels]``.

It covers documents that are *not* nodes of the trained graph; the documents that are (the test
documents given to ``fit``, the paper's transductive setting) keep their stored predictions in the
run folder.

``linear`` exports TF-IDF rows in, probabilities out (see :mod:`textzoo.models.linear`).

:func:`onnx_inputs` computes the inputs from raw texts exactly as described, for a loaded run.
Each model that can be exported says how in its own ``onnx_export()`` (an :class:`OnnxGraph`); the
others (``elmo``, ``tensorgcn``, ``lightxml``, ``xtransformer``: their scores need steps outside
a fixed-shape graph, such as a beam over label clusters) refuse in one line naming those that can.
The export uses torch's TorchScript-based ONNX exporter (opset 17) and checks the file with
``onnx.checker``. Needs ``pip install 'textzoo[export]'`` (onnx; onnxruntime to run it).
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn as nn

from ._io import atomic_write_json
from .errors import ConfigError

log = logging.getLogger(__name__)

OPSET = 17
FORMATS = ("onnx",)


@dataclass
class OnnxGraph:
    """What a model's ``onnx_export()`` returns: the module to trace and how to feed it.

    ``module`` maps the named ``inputs(texts)`` (numpy arrays, in this order) to ``probabilities``
    ``[batch, n_labels]``; ``dynamic_axes`` names the variable axes of inputs and output; ``side``
    is what the JSON side file adds to the common keys (tokenizer, vocabulary, ...)."""

    module: nn.Module
    inputs: Callable[[list[str]], dict[str, np.ndarray]]
    dynamic_axes: dict[str, dict[int, str]]
    side: dict = field(default_factory=dict)


class Probabilities(nn.Module):
    """``logits(*inputs)`` to probabilities: softmax, or a sigmoid per label for multi-label runs."""

    def __init__(self, logits: nn.Module, multilabel: bool):
        super().__init__()
        self.logits, self.multilabel = logits, multilabel

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        z = self.logits(*inputs).float()
        return torch.sigmoid(z) if self.multilabel else torch.softmax(z, dim=1)


def exportable_models() -> list[str]:
    """Registered models whose class provides its own ``onnx_export``."""
    from .models.base import Model
    from .models.registry import available_models, model_class

    return [n for n in available_models() if model_class(n).onnx_export is not Model.onnx_export]


def refusal(model) -> ConfigError:
    """The one-line error of a model that cannot be exported."""
    return ConfigError(f"ONNX export supports {', '.join(exportable_models())} runs, not {model.name!r}: "
                       "its scores need steps outside a fixed-shape graph")


def onnx_inputs(model, texts: Sequence[str]) -> dict[str, np.ndarray]:
    """The ONNX graph's inputs for ``texts``, computed as the module docstring describes."""
    return model.onnx_export().inputs(list(texts))


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
    spec = model.onnx_export()  # a ConfigError naming the exportable models for the others
    module = spec.module.eval()
    out = Path(out) if out is not None else run_dir.with_name(run_dir.name + ".onnx")
    out.parent.mkdir(parents=True, exist_ok=True)
    examples = list(texts or ["oil prices rose sharply after the opec meeting", "wheat exports fell"])
    inputs = spec.inputs(examples)
    names = list(inputs)
    side = {"model": model.name, "labels": list(model.labels), "multilabel": model.multilabel,
            "run": str(run_dir), "textzoo_version": textzoo.__version__, "opset": OPSET,
            "inputs": {n: [spec.dynamic_axes.get(n, {}).get(d, int(s)) for d, s in enumerate(inputs[n].shape)]
                       + [str(inputs[n].dtype)] for n in names},
            "outputs": {"probabilities": ["batch", len(model.labels)]}, **spec.side}
    args = tuple(torch.from_numpy(inputs[n]) for n in names)
    tmp = out.with_name(f".{out.name}.tmp")
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer warnings
        torch.onnx.export(module, args, str(tmp), dynamo=False, input_names=names, output_names=["probabilities"],
                          dynamic_axes=spec.dynamic_axes, opset_version=OPSET, do_constant_folding=True)
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
