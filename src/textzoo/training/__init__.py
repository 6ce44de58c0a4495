"""The training machinery shared by the neural models: seeding, early stopping, the epoch loop."""

from .early_stopping import EarlyStopping
from .loop import EpochLoop
from .seed import seed_everything

__all__ = ["EarlyStopping", "EpochLoop", "seed_everything"]
