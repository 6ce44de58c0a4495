"""The epoch loop every neural model runs: train, validate, record, stop early, keep the best."""

from __future__ import annotations

import contextlib
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from tqdm.auto import tqdm

from .early_stopping import EarlyStopping

log = logging.getLogger(__name__)

#: callbacks ``fn(description, row)`` told of every finished epoch of every loop (observe_epochs)
_EPOCH_OBSERVERS: list[Callable[[str, dict], None]] = []


@contextlib.contextmanager
def observe_epochs(fn: Callable[[str, dict], None]) -> Iterator[None]:
    """Call ``fn(loop description, history row)`` after each epoch of any loop run in this block
    (e.g. TensorBoard logging, :mod:`textzoo.training.tensorboard`), without changing the models."""
    _EPOCH_OBSERVERS.append(fn)
    try:
        yield
    finally:
        _EPOCH_OBSERVERS.remove(fn)


#: the time budgets in force (time_budget): each a dict with its deadline and the loops it stopped
_BUDGETS: list[dict] = []


@contextlib.contextmanager
def time_budget(seconds: float | None) -> Iterator[list[dict]]:
    """Cap the epochs of every loop run in this block by wall time: a loop that is past the
    deadline (``seconds`` from now) at an epoch end stops there, as early stopping would (the
    learning-rate schedule is not shortened). Yields the list of those stops, one dict per loop
    (``description``, ``epoch``, ``epochs``). ``None``: no budget."""
    stops: list[dict] = []
    if seconds is None:
        yield stops
        return
    budget = {"deadline": time.monotonic() + float(seconds), "stops": stops}
    _BUDGETS.append(budget)
    try:
        yield stops
    finally:
        _BUDGETS.remove(budget)


@dataclass
class EpochLoop:
    """Run ``train_epoch`` then ``validate`` for up to ``epochs`` epochs.

    ``train_epoch(epoch) -> dict`` does one epoch of updates and returns its statistics (e.g.
    ``{"loss": ...}``); ``validate(epoch) -> dict`` returns validation statistics containing
    ``monitor`` (lower is better). Each epoch's merged statistics form one history row. With
    ``keep_best`` the loop snapshots ``get_state()`` whenever the monitored value improves and
    restores it with ``set_state`` at the end.

    Checkpoints and resuming: ``checkpoint(loop)`` is called after every ``checkpoint_every``-th
    epoch, after the epoch at which early stopping fires and after the last epoch. It saves the
    model's own state together with :meth:`state_dict` (completed epochs, history, stopper state)
    and :attr:`best_state` (the ``keep_best`` snapshot, whose form the model knows). To resume,
    build the loop as before, call :meth:`load_state_dict` (and set :attr:`best_state`) and
    :meth:`run`: it continues with the epoch after the checkpointed one, or goes straight to the end
    if that checkpoint was taken when training had already stopped.
    """

    epochs: int
    train_epoch: Callable[[int], dict]
    validate: Callable[[int], dict] | None = None
    monitor: str = "val_loss"
    stopper: EarlyStopping | None = None
    keep_best: bool = False
    #: ``keep_best`` looks only at epochs after this one (1-based): the lowest monitored value among
    #: them is kept (TensorGCN's released train.py saves the lowest validation loss after epoch 900)
    best_after: int = 0
    #: the first epoch (1-based) that ``validate`` runs after; earlier rows hold training statistics
    #: only (for runs where nothing reads them: no stopping rule, ``keep_best`` after ``best_after``)
    validate_from: int = 1
    get_state: Callable[[], Any] | None = None
    set_state: Callable[[Any], None] | None = None
    progress: bool = True
    description: str = "training"
    checkpoint: Callable[["EpochLoop"], None] | None = None
    checkpoint_every: int = 1
    history: list[dict] = field(default_factory=list)
    stopped_epoch: int | None = None
    #: completed epochs (the next epoch to run, 0-based)
    epoch: int = 0
    #: the ``keep_best`` snapshot (whatever ``get_state`` returns)
    best_state: Any = None
    #: with ``best_after``: the monitored value and epoch (1-based) of ``best_state``
    best_value: float | None = None
    best_epoch: int | None = None

    def state_dict(self) -> dict:
        """JSON-serialisable loop state for a checkpoint (``best_state`` is saved by the model)."""
        return {"epoch": self.epoch, "history": [dict(row) for row in self.history],
                "stopped_epoch": self.stopped_epoch,
                "stopper": None if self.stopper is None else self.stopper.state_dict(),
                "has_best_state": self.best_state is not None,
                "best_value": self.best_value, "best_epoch": self.best_epoch}

    def load_state_dict(self, state: dict) -> None:
        self.epoch = int(state["epoch"])
        self.history = [dict(row) for row in state["history"]]
        self.stopped_epoch = state.get("stopped_epoch")
        self.best_value, self.best_epoch = state.get("best_value"), state.get("best_epoch")
        if self.stopper is not None and state.get("stopper") is not None:
            self.stopper.load_state_dict(state["stopper"])
        if len(self.history) != self.epoch or self.epoch > self.epochs:
            raise ValueError(f"inconsistent loop state: {len(self.history)} history rows for "
                             f"{self.epoch} completed epochs of {self.epochs}")

    def run(self) -> list[dict]:
        if self.checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be >= 1, got {self.checkpoint_every}")
        first = self.epochs if self.stopped_epoch is not None else self.epoch
        if first:
            log.info("resuming after epoch %d of %d", self.epoch, self.epochs)
        bar = tqdm(range(first, self.epochs), desc=self.description, unit="epoch",
                   disable=not self.progress, dynamic_ncols=True, leave=True,
                   initial=first, total=self.epochs)
        for epoch in bar:
            start = time.perf_counter()
            row: dict[str, Any] = {"epoch": epoch + 1}
            row.update(self.train_epoch(epoch))
            if self.validate is not None and epoch + 1 >= self.validate_from:
                row.update(self.validate(epoch))
            row["seconds"] = round(time.perf_counter() - start, 4)
            self.history.append(row)
            self.epoch = epoch + 1
            for observer in list(_EPOCH_OBSERVERS):
                observer(self.description, row)
            bar.set_postfix({k: f"{v:.4f}" for k, v in row.items()
                             if k not in ("epoch", "seconds") and isinstance(v, float)}, refresh=False)
            log.debug("epoch %d: %s", epoch + 1, row)
            stop = False
            if self.monitor in row and self.stopper is not None:
                value = row[self.monitor]
                if not math.isfinite(value):
                    raise FloatingPointError(f"{self.monitor} is {value} at epoch {epoch + 1}; lower the learning rate")
                stop = self.stopper.update(value)
                if self.keep_best and self.get_state is not None and self._improved(value):
                    self.best_state = self.get_state()
                if stop:
                    self.stopped_epoch = epoch + 1
            budget = None if stop or self.epoch >= self.epochs else next(
                (b for b in _BUDGETS if time.monotonic() >= b["deadline"]), None)
            if budget is not None:
                stop, self.stopped_epoch = True, epoch + 1
                budget["stops"].append({"description": self.description, "epoch": self.epoch, "epochs": self.epochs})
                log.warning("%s: the time budget is spent: stopped after epoch %d of %d",
                            self.description, self.epoch, self.epochs)
            if self.checkpoint is not None and (
                    stop or self.epoch % self.checkpoint_every == 0 or self.epoch == self.epochs):
                self.checkpoint(self)
            if stop:
                if budget is None:
                    log.info("early stopping at epoch %d (%s rule)", epoch + 1, self.stopper.rule)
                break
        bar.close()
        if self.keep_best and self.best_state is not None and self.set_state is not None:
            self.set_state(self.best_state)
            best = self.best_epoch if self.best_after else self.stopper.best_epoch + 1
            log.info("restored the best epoch (%d) by %s", best, self.monitor)
        return self.history

    def _improved(self, value: float) -> bool:
        """Whether this epoch's ``value`` is the one ``keep_best`` keeps so far."""
        if not self.best_after:
            return self.stopper.improved_last
        if self.epoch <= self.best_after or (self.best_value is not None and value >= self.best_value):
            return False
        self.best_value, self.best_epoch = float(value), self.epoch
        return True
