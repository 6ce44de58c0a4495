"""The epoch loop every neural model runs: train, validate, record, stop early, keep the best."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from tqdm.auto import tqdm

from .early_stopping import EarlyStopping

log = logging.getLogger(__name__)


@dataclass
class EpochLoop:
    """Run ``train_epoch`` then ``validate`` for up to ``epochs`` epochs.

    ``train_epoch(epoch) -> dict`` does one epoch of updates and returns its statistics (e.g.
    ``{"loss": ...}``); ``validate(epoch) -> dict`` returns validation statistics containing
    ``monitor`` (lower is better). Each epoch's merged statistics form one history row. With
    ``keep_best`` the loop snapshots ``get_state()`` whenever the monitored value improves and
    restores it with ``set_state`` at the end.
    """

    epochs: int
    train_epoch: Callable[[int], dict]
    validate: Callable[[int], dict] | None = None
    monitor: str = "val_loss"
    stopper: EarlyStopping | None = None
    keep_best: bool = False
    get_state: Callable[[], Any] | None = None
    set_state: Callable[[Any], None] | None = None
    progress: bool = True
    description: str = "training"
    history: list[dict] = field(default_factory=list)
    stopped_epoch: int | None = None

    def run(self) -> list[dict]:
        best_state = None
        bar = tqdm(range(self.epochs), desc=self.description, unit="epoch", disable=not self.progress,
                   dynamic_ncols=True, leave=True)
        for epoch in bar:
            start = time.perf_counter()
            row: dict[str, Any] = {"epoch": epoch + 1}
            row.update(self.train_epoch(epoch))
            if self.validate is not None:
                row.update(self.validate(epoch))
            row["seconds"] = round(time.perf_counter() - start, 4)
            self.history.append(row)
            bar.set_postfix({k: f"{v:.4f}" for k, v in row.items()
                             if k not in ("epoch", "seconds") and isinstance(v, float)}, refresh=False)
            log.debug("epoch %d: %s", epoch + 1, row)
            if self.monitor not in row or self.stopper is None:
                continue
            value = row[self.monitor]
            if not math.isfinite(value):
                raise FloatingPointError(f"{self.monitor} is {value} at epoch {epoch + 1}; lower the learning rate")
            stop = self.stopper.update(value)
            if self.keep_best and self.stopper.improved_last and self.get_state is not None:
                best_state = self.get_state()
            if stop:
                self.stopped_epoch = epoch + 1
                log.info("early stopping at epoch %d (%s rule)", epoch + 1, self.stopper.rule)
                break
        bar.close()
        if self.keep_best and best_state is not None and self.set_state is not None:
            self.set_state(best_state)
            log.info("restored the best epoch (%d) by %s", self.stopper.best_epoch + 1, self.monitor)
        return self.history
