"""The one validation-split rule of textzoo (``load_dataset``, ``Corpus.from_files``, ``fit(texts,
labels)`` and the CLI all use it): a seeded split stratified by label.

``int(fraction * n)`` training documents go to validation (TextGCN's size, ``val_size = int(0.1 *
train_size)``), shared out between the classes in proportion to their sizes (largest remainders
first), so each class keeps its share. A class keeps at least 2 of its documents in training (a
class with 1 or 2 documents stays there whole), so no class is lost to the validation split.
Multi-label documents are stratified by their rarest label (the one with the fewest training
documents; ties by name). Within a class the documents are drawn by a permutation seeded with ``seed``.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Sequence

import numpy as np

from ..errors import ConfigError

log = logging.getLogger(__name__)


def stratum_keys(labels: Sequence, multilabel: bool) -> list[str]:
    """The label a document is stratified by: its label, or its rarest label (multi-label)."""
    if not multilabel:
        return [str(label) for label in labels]
    counts = Counter(label for target in labels for label in target)
    return [min(target, key=lambda label: (counts[label], label)) for target in labels]


def stratified_holdout(labels: Sequence, multilabel: bool, fraction: float, seed: int = 0
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Sorted ``(train_indices, valid_indices)`` of the documents whose targets are ``labels``."""
    n = len(labels)
    n_valid = int(fraction * n)
    keys = stratum_keys(labels, multilabel)
    groups: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    names = sorted(groups)
    sizes = np.array([len(groups[k]) for k in names])
    cap = np.maximum(sizes - 2, 0)  # every class keeps 2 training documents (or all it has)
    exact = n_valid * sizes / max(n, 1)
    quota = np.minimum(np.floor(exact).astype(int), cap)
    for _ in range(n_valid - int(quota.sum())):
        spare = cap > quota
        if not spare.any():
            break
        j = int(np.argmax(np.where(spare, exact - quota, -np.inf)))
        quota[j] += 1
    rng = np.random.default_rng(seed)
    valid: list[int] = []
    for name, q in zip(names, quota):
        members = np.array(groups[name])
        valid.extend(members[rng.permutation(len(members))[:q]].tolist())
    valid_idx = np.array(sorted(valid), dtype=int)
    train_idx = np.setdiff1d(np.arange(n), valid_idx)
    return train_idx, valid_idx


def split_validation(train, fraction: float, seed: int = 0, name: str = "data"):
    """``(train, valid)`` Splits of a labelled Split by this rule; ``valid`` is None when the share
    rounds down to no document (with a warning unless ``fraction`` is 0)."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction < 1:
        raise ConfigError(f"the validation fraction must be in [0, 1), not {fraction!r}")
    n = len(train)
    if int(fraction * n) == 0:
        if fraction:
            log.warning("%s: %d training documents are too few to hold out %g of them for validation; "
                        "training without a validation split", name, n, fraction)
        return train, None
    train_idx, valid_idx = stratified_holdout(train.labels, train.multilabel, fraction, seed)
    if not len(valid_idx):
        log.warning("%s: every class is too small to give a document to the validation split; "
                    "training without one", name)
        return train, None
    return train.subset(train_idx.tolist(), name="train"), train.subset(valid_idx.tolist(), name="valid")
