"""The training machinery shared by the neural models: seeding, early stopping, the epoch loop."""

from .early_stopping import EarlyStopping, StoppingPerMember
from .loop import EpochLoop
from .seed import seed_everything

__all__ = ["EarlyStopping", "EpochLoop", "StoppingPerMember", "seed_everything"]
