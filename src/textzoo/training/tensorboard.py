"""Optional TensorBoard logging of training (``textzoo train --tensorboard DIR``).

Every epoch row of every :class:`~textzoo.training.loop.EpochLoop` run inside
:func:`tensorboard_logging` becomes scalars at step = epoch number: ``train/<key>`` for training
statistics (``train/loss``, ...), ``valid/<key>`` for validation ones (``val_loss`` is written as
``valid/loss``, ``val_accuracy`` as ``valid/accuracy``) and ``time/epoch_seconds``. A model that
runs several loops (e.g. pretraining then fine-tuning) gets one scalar group per loop description
after the first. :meth:`TensorBoardLog.add_metrics` writes the final test metrics (``test/<key>``).

Needs the optional ``tensorboard`` package (``pip install 'textzoo[tensorboard]'``); the writer is
``torch.utils.tensorboard.SummaryWriter``. View with ``tensorboard --logdir DIR``.
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Iterator

from ..errors import ConfigError
from .loop import observe_epochs


class TensorBoardLog:
    """Writes epoch rows and final metrics as TensorBoard scalars (see the module docstring)."""

    def __init__(self, log_dir: str | Path):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # torch raises it when the tensorboard package is missing
            raise ConfigError("--tensorboard needs the tensorboard package: pip install 'textzoo[tensorboard]'") from None
        self.log_dir = Path(log_dir)
        self.writer = SummaryWriter(log_dir=str(self.log_dir))
        self._loops: list[str] = []
        self.last_step = 0

    def epoch(self, description: str, row: dict) -> None:
        if description not in self._loops:
            self._loops.append(description)
        prefix = "" if self._loops.index(description) == 0 else f"{description}/"
        step = int(row.get("epoch", self.last_step + 1))
        self.last_step = step
        for key, value in row.items():
            if key == "epoch" or not _is_number(value):
                continue
            if key == "seconds":
                tag = "time/epoch_seconds"
            elif key.startswith("val_"):
                tag = f"valid/{key[4:]}"
            else:
                tag = f"train/{key[6:] if key.startswith('train_') else key}"
            self.writer.add_scalar(prefix + tag, float(value), global_step=step)
        self.writer.flush()

    def add_metrics(self, split: str, metrics: dict) -> None:
        """Final metrics of ``split`` (``test/accuracy``, ...) at the last epoch's step."""
        for key, value in metrics.items():
            if _is_number(value):
                self.writer.add_scalar(f"{split}/{key}", float(value), global_step=self.last_step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


@contextlib.contextmanager
def tensorboard_logging(log_dir: str | Path) -> Iterator[TensorBoardLog]:
    """Log every training loop run in this block to TensorBoard event files in ``log_dir``."""
    tb = TensorBoardLog(log_dir)
    try:
        with observe_epochs(tb.epoch):
            yield tb
    finally:
        tb.close()


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
