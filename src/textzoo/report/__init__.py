"""Reports of trained runs: PNG plots written beside a run's metrics (see :mod:`.plots`)."""

from .plots import (
    CONFUSION_MATRIX,
    LEARNING_CURVES,
    PER_CLASS_F1,
    PRECISION_AT_K,
    label_matrix,
    write_model_plots,
    write_run_plots,
)

__all__ = [
    "write_run_plots", "write_model_plots", "label_matrix",
    "LEARNING_CURVES", "CONFUSION_MATRIX", "PER_CLASS_F1", "PRECISION_AT_K",
]
