"""Runtime settings: where and how a run computes, apart from what it learns.

The keys in :data:`RUNTIME_KEYS` live in the models' config dataclasses (the training code reads
them there) but are not hyper-parameters: they are not written to ``config.json``, not part of the
fingerprint that decides whether two runs are the same (:mod:`textzoo.runs.identity`), and a run
folder that still holds them (written before this rule) loads with the defaults. They are given
anew to ``train``, ``predict``, ``evaluate``, ``serve`` and ``--resume`` (``--device`` on each, see
``docs/design.md``). :func:`resolve_device` is the one rule that turns a ``device`` setting into a
torch device, for training and prediction alike.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from .errors import ConfigError

#: config keys that say where and how to compute, never what is learnt
RUNTIME_KEYS = frozenset({"device", "eval_batch_size", "compile", "checkpoint_every", "checkpoint_steps",
                          "parse_processes", "cache"})


def resolve_device(setting: str):
    """The torch device of a ``device`` setting: ``auto`` is the GPU when PyTorch has one (the
    LOCAL_RANK-th under torchrun), else the CPU; any other value is a torch device name (``cpu``,
    ``cuda``, ``cuda:1``). A name torch does not know, or CUDA on a machine without it, is a
    one-line :class:`ConfigError`."""
    import torch

    if setting == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        return torch.device("cpu")
    try:
        device = torch.device(setting)
    except (RuntimeError, ValueError, TypeError):
        raise ConfigError(f"device {setting!r} is not a torch device name (auto, cpu, cuda, cuda:1, ...)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {setting!r}: this machine has no CUDA GPU that PyTorch can use; "
                          "use --device cpu (or auto)")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ConfigError(f"device {setting!r}: this machine has {torch.cuda.device_count()} CUDA GPU(s)")
    return device


def hyper_parameters(config) -> dict[str, Any]:
    """``config`` as plain data without its runtime settings: what ``config.json`` records."""
    from .config import config_to_dict

    return {k: v for k, v in config_to_dict(config).items() if k not in RUNTIME_KEYS}


def without_runtime(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` (a saved config) without runtime keys: old run folders recorded them."""
    return {k: v for k, v in values.items() if k not in RUNTIME_KEYS}


def apply_runtime(model, **settings) -> None:
    """Give ``model`` these runtime settings (``None`` values are left as they are).

    A key that is not a runtime setting is a :class:`ConfigError`; so is ``device`` other than the
    CPU for a model that computes on the CPU only, and a device this machine lacks."""
    settings = {k: v for k, v in settings.items() if v is not None}
    unknown = sorted(set(settings) - RUNTIME_KEYS)
    if unknown:
        raise ConfigError(f"not runtime settings: {', '.join(unknown)} (runtime settings: "
                          f"{', '.join(sorted(RUNTIME_KEYS))})")
    fields = {f.name for f in dataclasses.fields(model.config)}
    device = settings.pop("device", None)
    if device is not None:
        if "device" not in fields and str(device) not in ("cpu", "auto"):
            raise ConfigError(f"model {model.name!r} computes on the CPU only; leave out the device option "
                              "(or give cpu)")
        resolve_device(str(device))  # a one-line error for a device this machine lacks
        if "device" in fields:
            settings["device"] = str(device)
    settings = {k: v for k, v in settings.items() if k in fields}
    if settings:
        from .config import config_from_dict, config_to_dict

        model.config = config_from_dict(type(model.config), {**config_to_dict(model.config), **settings},
                                        "runtime settings")
    if "device" in fields:  # also one given as a hyper-parameter (--set device=...)
        resolve_device(str(model.config.device))
