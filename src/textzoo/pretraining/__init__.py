"""Pretraining backbones from scratch (`textzoo pretrain MODEL`).

Each entry maps a model name to ``"module:function"``; the function is called as
``pretrain(corpus=PATH, out=DIR, config_file=PATH|None, overrides=dict) -> Path`` and writes a
folder that the model's ``pretrained`` setting accepts. A pretrainer that can continue an
interrupted run also takes ``resume: bool`` (``textzoo pretrain --resume``; see
:mod:`textzoo.pretraining.runs`); every built-in one does.
"""

from __future__ import annotations

import importlib
from typing import Callable

from ..errors import ConfigError

_PRETRAINERS: dict[str, str] = {
    "elmo": "textzoo.pretraining.elmo:pretrain",
    "bert": "textzoo.pretraining.transformers_lm:pretrain_bert",
    "albert": "textzoo.pretraining.transformers_lm:pretrain_albert",
    "gpt": "textzoo.pretraining.transformers_lm:pretrain_gpt",
}


def register_pretrainer(name: str, target: str) -> None:
    """Register ``"package.module:function"`` as the pretrainer of model ``name``."""
    _PRETRAINERS[name.lower()] = target


def pretrainer(name: str) -> Callable:
    """The pretraining function of model ``name``."""
    key = name.lower()
    if key not in _PRETRAINERS:
        known = ", ".join(sorted(_PRETRAINERS)) or "none yet"
        raise ConfigError(f"no pretraining for {name!r}; models with pretraining: {known}")
    module, _, attr = _PRETRAINERS[key].partition(":")
    return getattr(importlib.import_module(module), attr)
