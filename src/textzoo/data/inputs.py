"""Plain Python inputs for the facade: lists of texts and labels, pandas DataFrames, Hugging Face
``datasets.Dataset`` objects (both optional: ``pip install 'textzoo[pandas]'`` / ``'textzoo[datasets]'``).

A DataFrame or Dataset is read by column names, as the CLI reads a table (``text_column="text"``,
``label_column="label"``); a Dataset's ``ClassLabel`` ids become their names. A label is a string
(numbers become strings); a list, tuple or set of labels makes a multi-label document.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Sequence

from ..errors import DataError
from .corpus import Split

_GENERIC = {"", "train", "training", "data", "dataset", "corpus", "files", "input", "inputs"}


def _kind(data: Any) -> str | None:
    module = type(data).__module__.split(".")[0]
    if module == "pandas" and hasattr(data, "columns"):
        return "pandas"
    if module == "datasets" and hasattr(data, "column_names"):
        return "datasets"
    return None


def _column(data: Any, kind: str, column: str, role: str) -> list:
    names = list(data.columns) if kind == "pandas" else list(data.column_names)
    if column not in names:
        what = "DataFrame" if kind == "pandas" else "Dataset"
        raise DataError(f"no {role} column {column!r}; the {what} has columns {names} "
                        f"(pass {role}_column=...)")
    values = data[column].tolist() if kind == "pandas" else list(data[column])
    if kind == "datasets":  # ClassLabel ids (or lists of them) become the label names
        feature = data.features[column]
        inner = getattr(feature, "feature", None)
        names_of = getattr(feature, "int2str", None) or getattr(inner, "int2str", None)
        if names_of is not None and role == "label":
            values = [names_of(v) if not isinstance(v, list) else [names_of(x) for x in v] for v in values]
    return values


def _target(value: Any, i: int, label_sep: str | None):
    if isinstance(value, (list, tuple, set, frozenset)) or type(value).__name__ == "ndarray":
        labels = [_target(v, i, None) for v in value]
        if not labels:
            raise DataError(f"document {i} has an empty list of labels")
        return sorted(labels) if isinstance(value, (set, frozenset)) else labels
    if value is None or (isinstance(value, float) and math.isnan(value)):
        raise DataError(f"document {i} has no label (None or NaN)")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    if not text:
        raise DataError(f"document {i} has an empty label")
    if label_sep is not None:
        return [x.strip() for x in text.split(label_sep) if x.strip()]
    return text


def as_split(data: Any, labels: Sequence | None = None, *, name: str = "train", text_column: str = "text",
             label_column: str | None = "label", label_sep: str | None = None, need_labels: bool = True) -> Split:
    """A :class:`Split` from a Split, a list of texts (with ``labels``), a DataFrame or a Dataset."""
    if isinstance(data, Split):
        if labels is not None:
            raise TypeError(f"{name}: labels are given twice (the Split has its own)")
        return data
    if isinstance(data, str):
        raise TypeError(f"{name}: expected a list of texts, got a single string; wrap it in a list")
    kind = _kind(data)
    if kind is not None:
        if labels is not None:
            raise TypeError(f"{name}: a {type(data).__name__} holds its labels in a column; pass "
                            f"label_column=... instead of labels")
        texts = _column(data, kind, text_column, "text")
        if label_column is not None and (need_labels or label_column in _names(data, kind)):
            labels = _column(data, kind, label_column, "label")
    else:
        try:
            texts = list(data)
        except TypeError:
            raise TypeError(f"{name}: expected texts (a list of strings, a DataFrame or a Dataset), "
                            f"got {type(data).__name__}") from None
    if labels is None:
        if need_labels:
            raise DataError(f"the {name} texts have no labels: pass labels (fit(texts, labels))")
        return Split(texts, None, name=name)
    targets = [_target(v, i, label_sep) for i, v in enumerate(labels)]
    if any(isinstance(t, list) for t in targets):
        targets = [t if isinstance(t, list) else [t] for t in targets]
    if len(targets) != len(texts):
        raise DataError(f"{len(texts)} {name} texts but {len(targets)} labels")
    return Split(texts, targets, name=name)


def _names(data: Any, kind: str) -> list[str]:
    return list(data.columns) if kind == "pandas" else list(data.column_names)


def align_targets(split: Split, multilabel: bool, what: str = "this run") -> Split:
    """``split`` with its labels in the run's kind: single labels become one-label lists for a
    multi-label run; one-label lists become single labels for a single-label run. A document with
    several labels for a single-label run is a :class:`DataError` naming its file and line."""
    if split.labels is None or not split.labels or split.multilabel == multilabel:
        return split
    if multilabel:
        return Split(split.texts, [[label] for label in split.labels], split.name, split.sources)
    for i, target in enumerate(split.labels):
        if len(target) != 1:
            path, line = split.where(i)
            raise DataError(f"document {i} of the {split.name} data has {len(target)} labels but {what} "
                            "is single-label: give one label per document, or train a multi-label run "
                            "(multi-label training data; lightxml, xtransformer)", path, line)
    return Split(split.texts, [target[0] for target in split.labels], split.name, split.sources)


def default_name(train_file: str | Path) -> str:
    """A run's dataset name from its training file: the stem without a ``train`` part
    (``reviews_train.csv``, ``train-reviews.csv`` -> ``reviews``), else the folder's name, else ``corpus``."""
    path = Path(train_file).resolve()
    stem = re.sub(r"(^|[._-])(train|training)$|^(train|training)[._-]", "", path.stem, flags=re.IGNORECASE)
    for candidate in (stem, path.parent.name, path.parent.parent.name):
        if candidate.lower() not in _GENERIC:
            return candidate
    return "corpus"
