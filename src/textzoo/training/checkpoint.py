"""Training checkpoints that survive a kill at any moment, written without pickles.

A checkpoint is a pair of files in a checkpoint folder (``RUN/checkpoints`` for ``textzoo train``):

    checkpoint-000012.safetensors   every tensor: model parameters, optimiser moments, torch RNG
    checkpoint-000012.json          everything else: epoch, history, early-stopping state, optimiser
                                    scalars and param_groups, Python/NumPy RNG states, ...
    latest.json                     the pointer: names the newest complete pair

Each file is written under a temporary name, flushed to disk (``fsync``) and renamed into place; the
pointer is replaced only after both files of the new pair are complete, and the previous pair is
deleted only after that. A process killed at any moment therefore leaves ``latest.json`` naming a
complete pair (the new one or the previous one). :func:`load_checkpoint` reads the pair the pointer
names, checks the safetensors file's size against the size recorded in the JSON, and returns
``(tensors, state)``.

Only safetensors and JSON are read: nothing in a checkpoint can execute code. The helpers below
turn a ``torch.optim`` state dict and the RNG states into that form and back, and
:class:`RunCheckpoints` is the one object every resumable model's training loop uses to write its
checkpoints and to resume from them (weights, keep-best snapshot, optimiser, loop state, RNGs and
the loop's own state: LR schedule, SWA average, batch order, finished stages, ...).
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from .._io import atomic_write_json, usual_permissions
from ..errors import ConfigError, ModelFileError
from ..runtime import without_runtime

log = logging.getLogger(__name__)

POINTER_FILE = "latest.json"
FORMAT = "textzoo-checkpoint-1"
_NAME = re.compile(r"checkpoint-\d{6,}")
_DIGEST = re.compile(r"[0-9a-f]{32,}")


# --------------------------------------------------------------------------------------------
# the pair of files


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    """Make renames in ``folder`` durable (best effort: not every platform can open a folder)."""
    try:
        _fsync_path(folder)
    except OSError:
        pass


def _numbers(folder: Path) -> list[int]:
    found = set()
    for path in folder.glob("checkpoint-*.*"):
        stem = path.name.split(".")[0]
        if _NAME.fullmatch(stem):
            found.add(int(stem.split("-")[1]))
    return sorted(found)


def save_checkpoint(folder: str | Path, tensors: dict[str, torch.Tensor], state: dict[str, Any],
                    keep: int = 1) -> Path:
    """Write a new checkpoint into ``folder`` and keep the ``keep`` newest.

    ``tensors`` go to safetensors (contiguous CPU copies), ``state`` to JSON (it must be
    JSON-serialisable: use :func:`to_json` for tuples). Pairs are numbered 1, 2, ... so a new pair
    never overwrites the one the pointer names. Returns the path of the new JSON file.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    existing = _numbers(folder)
    number = (existing[-1] if existing else 0) + 1
    name = f"checkpoint-{number:06d}"
    weights = folder / f"{name}.safetensors"
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        cpu = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
        save_file(cpu, tmp, metadata={"format": FORMAT})
        usual_permissions(tmp)  # after save_file, which writes a new file
        _fsync_path(Path(tmp))
        size = os.path.getsize(tmp)
        os.replace(tmp, weights)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    atomic_write_json(folder / f"{name}.json", {
        "format": FORMAT, "tensors_file": weights.name, "tensors_bytes": size, "state": state,
    })
    _fsync_dir(folder)
    atomic_write_json(folder / POINTER_FILE, {"format": FORMAT, "checkpoint": name})
    _fsync_dir(folder)
    _prune(folder, keep=max(1, keep))
    return folder / f"{name}.json"


def _prune(folder: Path, keep: int) -> None:
    """Delete all but the ``keep`` newest pairs, and temporary files of killed writes."""
    for number in _numbers(folder)[:-keep]:
        for suffix in (".json", ".safetensors"):
            (folder / f"checkpoint-{number:06d}{suffix}").unlink(missing_ok=True)
    for tmp in folder.glob(".checkpoint-*.tmp"):
        tmp.unlink(missing_ok=True)
    for tmp in folder.glob(f".{POINTER_FILE}.*.tmp"):
        tmp.unlink(missing_ok=True)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelFileError(f"{path}: missing; the checkpoint folder is incomplete") from None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, ...
        raise ModelFileError(f"{path}: not valid JSON ({exc}); the checkpoint is damaged") from None


def has_checkpoint(folder: str | Path | None) -> bool:
    return folder is not None and (Path(folder) / POINTER_FILE).is_file()


def load_checkpoint(folder: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    """``(tensors, state)`` of the newest complete checkpoint in ``folder``; None if there is none."""
    folder = Path(folder)
    pointer_path = folder / POINTER_FILE
    if not pointer_path.is_file():
        return None
    pointer = _read_json(pointer_path)
    name = pointer.get("checkpoint") if isinstance(pointer, dict) else None
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ModelFileError(f"{pointer_path}: does not name a checkpoint")
    meta_path = folder / f"{name}.json"
    meta = _read_json(meta_path)
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or "state" not in meta:
        raise ModelFileError(f"{meta_path}: not a textzoo checkpoint")
    weights = folder / f"{name}.safetensors"
    if not weights.is_file():
        raise ModelFileError(f"{weights}: missing; the checkpoint folder is incomplete")
    if weights.stat().st_size != meta.get("tensors_bytes"):
        raise ModelFileError(f"{weights}: {weights.stat().st_size} bytes, expected "
                             f"{meta.get('tensors_bytes')}; the file is truncated or damaged")
    try:
        tensors = load_file(str(weights))
    except Exception as exc:  # safetensors raises its own error types
        raise ModelFileError(f"{weights}: cannot be read ({exc}); the file is damaged") from None
    return tensors, meta["state"]


def clear_checkpoints(folder: str | Path | None) -> None:
    """Delete every checkpoint file in ``folder`` (the pointer first, so no half state is left)."""
    if folder is None:
        return
    folder = Path(folder)
    if not folder.is_dir():
        return
    (folder / POINTER_FILE).unlink(missing_ok=True)
    for path in list(folder.glob("checkpoint-*.*")) + list(folder.glob(".checkpoint-*.tmp")):
        path.unlink(missing_ok=True)
    try:
        folder.rmdir()
    except OSError:
        pass


def check_same_run(folder: Path, saved: dict | None, now: dict, what: str, remedy: str) -> None:
    """Refuse a checkpoint whose fingerprint ``saved`` is not the run ``now``'s: a :class:`ConfigError`
    naming what differs ("lr: 0.003 then, 0.001 now", "the data differs", "labels differ") and ``remedy``
    (what to do)."""
    saved, now = json.loads(json.dumps(saved or {})), json.loads(json.dumps(now))  # tuples as lists

    def change(key: str, old: Any, new: Any) -> str:
        if any(isinstance(v, str) and _DIGEST.fullmatch(v) for v in (old, new)):  # "corpus_sha256", "data"
            return f"the {key.removesuffix('_sha256')} differs"
        if all(isinstance(v, (int, float, bool, type(None))) or isinstance(v, str) and len(v) <= 200
               for v in (old, new)):
            return f"{key}: {old!r} then, {new!r} now"
        return f"{key} differ"  # lists (labels, document counts)

    diffs = []
    for key in sorted(set(saved) | set(now), key=lambda k: (k != "model", k == "config", k)):
        old, new = saved.get(key), now.get(key)
        if key == "config" and isinstance(old, dict) and isinstance(new, dict):
            old, new = without_runtime(old), without_runtime(new)  # older checkpoints recorded them
            diffs += [change(k, old.get(k), new.get(k)) for k in new if old.get(k) != new.get(k)]
            diffs += [change(k, old[k], None) for k in old if k not in new]
        elif old != new:
            diffs.append(change(key, old, new))
    if diffs:
        raise ConfigError(f"{folder}: the checkpoint belongs to a different {what} ({'; '.join(diffs)}); {remedy}")


# --------------------------------------------------------------------------------------------
# JSON with tuples (param_groups hold ``betas=(0.9, 0.999)``; Python's RNG state is nested tuples)


def to_json(obj: Any) -> Any:
    """``obj`` with tuples tagged as ``{"__tuple__": [...]}`` so that :func:`from_json` restores them."""
    if isinstance(obj, tuple):
        return {"__tuple__": [to_json(x) for x in obj]}
    if isinstance(obj, list):
        return [to_json(x) for x in obj]
    if isinstance(obj, dict):
        return {str(k): to_json(v) for k, v in obj.items()}
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, torch.Tensor):
        raise TypeError("tensors belong in the safetensors file, not in the JSON state")
    return obj


def from_json(obj: Any) -> Any:
    if isinstance(obj, dict):
        if set(obj) == {"__tuple__"}:
            return tuple(from_json(x) for x in obj["__tuple__"])
        return {k: from_json(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [from_json(x) for x in obj]
    return obj


# --------------------------------------------------------------------------------------------
# optimiser state


def optimizer_state(optimizer: torch.optim.Optimizer, prefix: str = "optimizer") -> tuple[dict, dict]:
    """``optimizer.state_dict()`` split into tensors (``PREFIX.state.PARAM.KEY``) and JSON."""
    sd = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, entries in sd["state"].items():
        for key, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}.state.{pid}.{key}"] = value
            else:
                scalars.setdefault(str(pid), {})[key] = to_json(value)
    return tensors, {"param_groups": to_json(sd["param_groups"]), "scalars": scalars,
                     "tensor_params": sorted({str(pid) for pid in sd["state"]})}


def load_optimizer_state(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor],
                         state: dict, prefix: str = "optimizer") -> None:
    """Inverse of :func:`optimizer_state`."""
    per_param: dict[int, dict[str, Any]] = {int(pid): {} for pid in state.get("tensor_params", [])}
    head = f"{prefix}.state."
    for name, value in tensors.items():
        if name.startswith(head):
            pid, _, key = name[len(head):].partition(".")
            per_param.setdefault(int(pid), {})[key] = value
    for pid, entries in state.get("scalars", {}).items():
        per_param.setdefault(int(pid), {}).update(from_json(entries))
    optimizer.load_state_dict({"state": per_param, "param_groups": from_json(state["param_groups"])})


# --------------------------------------------------------------------------------------------
# random number generators


def rng_state(prefix: str = "rng") -> tuple[dict, dict]:
    """Python ``random``, NumPy's global generator and torch's CPU (and CUDA) generators."""
    tensors = {f"{prefix}.torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"{prefix}.cuda.{i}"] = s
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return tensors, {"python": to_json(random.getstate()),
                     "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)]}


def set_rng_state(tensors: dict[str, torch.Tensor], state: dict, prefix: str = "rng") -> None:
    """Inverse of :func:`rng_state`."""
    random.setstate(from_json(state["python"]))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(tensors[f"{prefix}.torch"])
    cuda = [tensors[k] for k in sorted(t for t in tensors if t.startswith(f"{prefix}.cuda."))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)


# --------------------------------------------------------------------------------------------
# the checkpoints of one fit


class RunCheckpoints:
    """What a model's training loop calls to checkpoint one ``fit`` and to resume it.

    ``Model._open_checkpoint`` builds it: ``folder`` is None when the fit writes no checkpoints
    (then :meth:`write` does nothing and :meth:`callback` is None); ``found`` is the ``(tensors,
    state)`` pair to resume from, or None. A checkpoint holds

        model.NAME     ``weights``: the live tensors the loop trains, by name (parameters, buffers)
        best.NAME      the loop's keep-best snapshot (a dict with the same names) when it has one
        optimizer.*    the optimiser (moments; its param_groups and step counts go to the JSON)
        rng.*          Python's, NumPy's and torch's global RNG states
        ...            the loop's own ``tensors`` (an SWA average, a finished stage's results)

    and, in the JSON, the run's fingerprint, the :class:`~textzoo.training.EpochLoop` state
    (completed epochs, history, early stopping), ``resumed_at`` and the loop's ``extra`` state
    (its LR schedule, batch-order generator, position inside an epoch, ...).

    :meth:`keep` names state that every later checkpoint of the run carries (the results of a
    finished stage), so that a multi-stage fit writes one pair per checkpoint and skips, when
    resumed, the stages its checkpoint records as done.
    """

    def __init__(self, folder: Path | None, fingerprint: dict, found: tuple[dict, dict] | None,
                 info: dict):
        self.folder = folder
        self.fingerprint = fingerprint
        self.found = found
        self.info = info                  # the model's ``info`` (``resumed_at`` is recorded there)
        self._kept_extra: dict[str, Any] = {}
        self._kept_tensors: dict[str, torch.Tensor] = {}

    @property
    def enabled(self) -> bool:
        """Whether checkpoints are written."""
        return self.folder is not None

    @property
    def resuming(self) -> bool:
        """Whether this fit continues from a checkpoint."""
        return self.found is not None

    @property
    def extra(self) -> dict:
        """The ``extra`` JSON state of the checkpoint to resume from (tuples restored); {} if none."""
        return from_json(self.found[1].get("extra", {})) if self.found is not None else {}

    def keep(self, extra: dict | None = None, tensors: dict[str, torch.Tensor] | None = None) -> None:
        """Add ``extra`` (JSON) and ``tensors`` to every checkpoint written from now on."""
        self._kept_extra.update(extra or {})
        self._kept_tensors.update(tensors or {})

    def tensor(self, name: str, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        """Tensor ``name`` of the checkpoint to resume from, if it has this shape and dtype."""
        tensors = self.found[0] if self.found is not None else {}
        if name not in tensors:
            raise ModelFileError(f"{self.folder}: the checkpoint lacks tensor {name!r}; it does not "
                                 "fit this model")
        t = tensors[name]
        if t.dtype != dtype or tuple(t.shape) != tuple(shape):
            raise ModelFileError(f"{self.folder}: the checkpoint's tensor {name!r} is {t.dtype} "
                                 f"{tuple(t.shape)}, expected {dtype} {tuple(shape)}; it does not fit this model")
        return t

    # ---------------------------------------------------------------------------- writing
    def write(self, loop=None, weights: dict[str, torch.Tensor] | None = None,
              optimizer: torch.optim.Optimizer | None = None, extra: dict | None = None,
              tensors: dict[str, torch.Tensor] | None = None) -> None:
        """Save a checkpoint (see the class docstring); nothing when checkpoints are off.
        ``loop`` is None for a checkpoint between two stages of a fit."""
        if self.folder is None:
            return
        # copies: weights tied to others (GPT's LM head) share storage, which safetensors refuses
        out = {f"model.{k}": v.detach().to("cpu", copy=True) for k, v in (weights or {}).items()}
        best = getattr(loop, "best_state", None)
        if best is not None:
            if not isinstance(best, dict):
                raise TypeError("a checkpointed loop's keep-best snapshot must be a dict of tensors")
            out.update({f"best.{k}": v for k, v in best.items()})
        out.update(self._kept_tensors)
        out.update({k: v.detach().to("cpu", copy=True) for k, v in (tensors or {}).items()})
        state = {"fingerprint": self.fingerprint, "loop": None if loop is None else loop.state_dict(),
                 "resumed_at": to_json(list(self.info.get("resumed_at", []))),
                 "extra": to_json({**self._kept_extra, **(extra or {})})}
        if optimizer is not None:
            opt_tensors, state["optimizer"] = optimizer_state(optimizer)
            out.update(opt_tensors)
        rng_tensors, state["rng"] = rng_state()
        out.update(rng_tensors)
        save_checkpoint(self.folder, out, state)

    def callback(self, weights, optimizer: torch.optim.Optimizer | None = None, extra=None):
        """An :class:`~textzoo.training.EpochLoop` ``checkpoint`` callback writing ``weights`` (a
        dict of live tensors, or a function returning one), ``optimizer`` and ``extra()``; None
        when checkpoints are off."""
        if self.folder is None:
            return None

        def checkpoint(loop) -> None:
            self.write(loop, weights() if callable(weights) else weights, optimizer,
                       extra() if extra is not None else None)

        return checkpoint

    # ---------------------------------------------------------------------------- resuming
    def restore(self, loop=None, weights: dict[str, torch.Tensor] | None = None,
                optimizer: torch.optim.Optimizer | None = None) -> dict:
        """Put the checkpoint back: copy its weights into ``weights`` (checked against their shapes
        and dtypes), set the loop's keep-best snapshot, the loop state and the optimiser, and, last,
        the global RNG states. Returns its ``extra`` state (the caller restores what it holds: LR
        schedule, batch-order generator, ... none of which may draw from the global RNGs)."""
        if self.found is None:
            raise RuntimeError("no checkpoint to resume from")
        tensors, state = self.found
        weights = weights or {}
        values = {k: self.tensor(f"model.{k}", tuple(v.shape), v.dtype) for k, v in weights.items()}
        best = None
        if loop is not None and (state.get("loop") or {}).get("has_best_state"):
            best = {k: self.tensor(f"best.{k}", tuple(v.shape), v.dtype).clone() for k, v in weights.items()}
        try:
            with torch.no_grad():
                for k, v in weights.items():
                    v.copy_(values[k])
            if loop is not None:
                loop.load_state_dict(state["loop"])
                loop.best_state = best
            if optimizer is not None:
                load_optimizer_state(optimizer, tensors, state["optimizer"])
            self.info["resumed_at"] = list(from_json(state.get("resumed_at", []))) + [
                loop.epoch if loop is not None else None]
            set_rng_state(tensors, state["rng"])
        except (KeyError, ValueError, TypeError, RuntimeError) as exc:
            raise ModelFileError(f"{self.folder}: the checkpoint cannot be restored ({exc})") from None
        log.info("resuming from the checkpoint in %s%s", self.folder,
                 f" after epoch {loop.epoch}" if loop is not None else "")
        return self.extra


class BatchPosition:
    """Where a training loop that checkpoints between two updates stands in its batch order.

    Each epoch's batches are drawn from ``rng``. A checkpoint taken inside an epoch records the
    generator's state at that epoch's start, the updates done and the loop's running sums; a
    resumed run redraws the same batches and skips those updates. Used by the Transformer
    classifiers' loop and the XMC fine-tuning loop.
    """

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self._epoch_start: dict | None = None
        self._resume: dict = {}

    def start_epoch(self, epoch: int, **sums) -> tuple[int, dict]:
        """Call right before drawing ``epoch``'s batches. Returns ``(first update, sums)``: 0 and
        the given starting ``sums``, or, when resuming inside this epoch, the checkpoint's."""
        self._epoch_start = self.rng.bit_generator.state
        resume, self._resume = self._resume, {}
        if resume.get("epoch") != epoch:
            return 0, sums
        return int(resume["step"]), {k: resume[k] for k in sums}

    def at(self, epoch: int, step: int, **sums) -> dict:
        """The position after ``step`` updates of ``epoch``, for a checkpoint between two updates."""
        return {"epoch": epoch, "step": step, "batch_rng": self._epoch_start, **sums}

    def state(self, position: dict | None) -> dict:
        """JSON for a checkpoint: the batch generator's state and ``position`` (None at an epoch's end)."""
        return {"batch_rng": position["batch_rng"] if position else self.rng.bit_generator.state,
                "position": position}

    def restore(self, state: dict, loop, info: dict) -> None:
        """Put back what :meth:`state` wrote; the next :meth:`start_epoch` skips the updates done.
        Records ``[completed epochs, updates done in the next one]`` as ``info["resumed_at"][-1]``."""
        self.rng.bit_generator.state = state["batch_rng"]
        position = state.get("position")
        self._resume = dict(position or {})
        info["resumed_at"][-1] = [loop.epoch, int(position["step"]) if position else 0]
        if position is not None:
            log.info("resuming inside epoch %d after update %d", loop.epoch + 1, position["step"])
