"""The name registry: ``"textgcn"`` -> the model class."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:
    from .base import Model

# name -> "module:Class", imported on first use so that `textzoo --help` stays fast and a model's
# heavy dependencies load only when that model is used.
_MODELS: dict[str, str] = {
    "elmo": "textzoo.models.elmo:ELMo",
    "textgcn": "textzoo.models.textgcn:TextGCN",
    "tensorgcn": "textzoo.models.tensorgcn:TensorGCN",
    "bert": "textzoo.models.bert:Bert",
    "albert": "textzoo.models.albert:Albert",
    "gpt": "textzoo.models.gpt:GPT",
    "lightxml": "textzoo.models.lightxml:LightXML",
    "xtransformer": "textzoo.models.xtransformer:XTransformer",
    "linear": "textzoo.models.linear:Linear",
}


def available_models() -> list[str]:
    """Registered model names."""
    return sorted(_MODELS)


def model_class(name: str) -> type["Model"]:
    """The class registered under ``name`` (case-insensitive)."""
    key = name.lower()
    if key not in _MODELS:
        raise ConfigError(f"unknown model {name!r}; available: {', '.join(available_models())}")
    module, _, attr = _MODELS[key].partition(":")
    return getattr(importlib.import_module(module), attr)


def create(name: str, config=None, *, dataset: str | None = None, **overrides) -> "Model":
    """A new, untrained model: ``create("textgcn", hidden=200)``.

    ``dataset`` applies the model's per-dataset settings from its paper (for instance TextGCN keeps
    stop words in MR), before ``config`` and ``overrides``.
    """
    cls = model_class(name)
    return cls.from_settings(config=config, dataset=dataset, overrides=overrides)
