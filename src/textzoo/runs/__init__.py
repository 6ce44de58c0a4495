"""The run layer: a run's life from settings to a finished run folder.

- :mod:`.identity`: "is this the same run?" (the one fingerprint);
- :mod:`.folder`: the folder's names, recovery of a killed save, the finished-run check;
- :mod:`.lifecycle`: :func:`train`, one call for the CLI and the Python API (fit with checkpoints,
  the torchrun rank-0 guard, evaluation, ``metrics.json``, the plots, the atomic save).
"""

from .lifecycle import TrainResult, train

__all__ = ["train", "TrainResult"]
