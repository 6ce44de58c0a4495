"""Checks of training data that models share: refuse one class, warn about classes too small to learn.

As scikit-learn's classifiers do ("needs samples of at least 2 classes"), training on a single class
is refused: every prediction would be that class and every metric perfect. A single-label class
with fewer than 2 training documents is trained on, with a one-line warning.
"""

from __future__ import annotations

import logging
from collections import Counter

from ..errors import DataError
from .corpus import Split

log = logging.getLogger(__name__)


def check_training_labels(train: Split, multilabel: bool) -> None:
    """:class:`DataError` for fewer than 2 classes; a warning for classes with fewer than 2 documents."""
    counts = Counter(label for target in train.labels for label in target) if multilabel \
        else Counter(train.labels)
    if len(counts) < 2:
        path, _ = train.where(0)
        only = next(iter(counts), None)
        raise DataError(f"the training data has one class only ({only!r}): a classifier needs at least 2 "
                        "classes (scikit-learn refuses too); add documents of other classes", path)
    if multilabel:  # long tails are the rule in multi-label data
        return
    rare = sorted(label for label, n in counts.items() if n < 2)
    if rare:
        shown = ", ".join(repr(r) for r in rare[:5]) + (" ..." if len(rare) > 5 else "")
        log.warning("%d class(es) have fewer than 2 training documents (%s): the model can hardly learn "
                    "them; add documents or merge classes", len(rare), shown)


#: fewer distinct words than this after a model's cleaning is warned about
SMALL_VOCABULARY = 1000


def warn_small_vocabulary(model: str, words: int, kept_tokens: int, all_tokens: int | None, settings: str) -> None:
    """One warning line when cleaning leaves fewer than :data:`SMALL_VOCABULARY` distinct words, or
    removes more than half of the tokens (``all_tokens``: their number before the settings applied)."""
    if words < SMALL_VOCABULARY:
        log.warning("%s: only %d distinct words are left after cleaning (%s): too few for the model to learn "
                    "much; on a small corpus try --set min_count=1", model, words, settings)
    elif all_tokens and kept_tokens < 0.5 * all_tokens:
        log.warning("%s: cleaning (%s) removes %.0f%% of the tokens; try --set min_count=1 or "
                    "--set remove_stopwords=false", model, settings, 100 * (1 - kept_tokens / all_tokens))
