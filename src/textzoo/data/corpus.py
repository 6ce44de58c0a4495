"""The in-memory corpus: documents, targets, splits and the label vocabulary."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from ..errors import DataError

log = logging.getLogger(__name__)

Label = str
Target = "str | list[str]"

#: The longest document (in characters) that the readers and the models' Python API accept; longer
#: ones are refused with a :class:`DataError` naming them. The longest document of the public
#: corpora (20 Newsgroups) has 160,616 characters; the HTTP server's own default limit is lower.
MAX_DOCUMENT_CHARS = 1_000_000


@dataclass
class Split:
    """One split of a corpus.

    ``labels`` holds one label per document for single-label corpora, a list of labels per document
    for multi-label corpora, or is ``None`` for unlabelled text. ``sources`` optionally holds, per
    document, ``(path, line)`` of where it was read, so later checks can name the file and line.
    """

    texts: list[str]
    labels: list | None = None
    name: str = "split"
    sources: list[tuple[str, int]] | None = None

    def __post_init__(self) -> None:
        if self.labels is not None and len(self.labels) != len(self.texts):
            raise DataError(
                f"split {self.name!r} has {len(self.texts)} texts but {len(self.labels)} labels"
            )

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def multilabel(self) -> bool:
        return bool(self.labels) and isinstance(self.labels[0], (list, tuple))

    def subset(self, indices: Sequence[int], name: str | None = None) -> "Split":
        idx = list(indices)
        return Split(
            texts=[self.texts[i] for i in idx],
            labels=None if self.labels is None else [self.labels[i] for i in idx],
            name=name or self.name,
            sources=None if self.sources is None else [self.sources[i] for i in idx],
        )

    def head(self, n: int) -> "Split":
        """The first ``n`` documents (for quick tests and demos)."""
        return self.subset(range(min(n, len(self))))

    def where(self, index: int) -> tuple[str | None, int | None]:
        """``(path, line)`` of document ``index`` if known."""
        if self.sources is None:
            return None, None
        return self.sources[index]

    def __repr__(self) -> str:  # the dataclass default would print every document
        kind = "unlabelled" if self.labels is None else ("multi-label" if self.multilabel else "single-label")
        return f"Split(name={self.name!r}, documents={len(self)}, {kind})"


@dataclass
class Corpus:
    """A labelled corpus with train / valid / test splits and a label vocabulary.

    ``labels`` is the label vocabulary in a fixed order (index = class id). For single-label corpora
    it holds the training labels, and a test label outside it is an error. For multi-label corpora it
    holds every label seen in any split (as the XMC literature does); labels never seen in training
    are simply never predicted.
    """

    name: str
    train: Split
    test: Split
    valid: Split | None = None
    labels: list[str] = field(default_factory=list)
    multilabel: bool = False

    def __post_init__(self) -> None:
        if not self.labels:
            self.labels = infer_label_vocabulary(self.train, self.test, self.valid, self.multilabel)
        check_labels_known(self.labels, self.multilabel, self.train, self.valid, self.test)

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={len(v)}" for k, v in self.splits.items())
        return (f"Corpus(name={self.name!r}, {counts}, labels={len(self.labels)}, "
                f"multilabel={self.multilabel})")

    @classmethod
    def from_files(
        cls,
        train: "str | Path",
        test: "str | Path",
        valid: "str | Path | None" = None,
        *,
        name: str | None = None,
        valid_fraction: float = 0.1,
        seed: int = 0,
        **options,
    ) -> "Corpus":
        """A corpus from the user's files (see :func:`textzoo.data.readers.read_table`), with the
        validation split of :meth:`with_validation` unless ``valid`` is given (``valid_fraction=0``:
        none), as ``load_dataset`` and ``textzoo train --train ... --test ...`` draw it.

        ``options`` go to ``read_table`` (``text_column``, ``label_column``, ``format``: csv, tsv,
        jsonl, libmultilabel, fasttext or txt, ``multilabel_sep``, ``on_empty``). The corpus is
        multi-label if the training labels are lists.
        """
        from .readers import corpus_from_files

        return corpus_from_files(train, test, valid, name=name, **options).with_validation(valid_fraction, seed)

    @property
    def splits(self) -> dict[str, Split]:
        out = {"train": self.train}
        if self.valid is not None:
            out["valid"] = self.valid
        out["test"] = self.test
        return out

    def with_validation(self, fraction: float = 0.1, seed: int = 0) -> "Corpus":
        """Move ``int(fraction * len(train))`` training documents to ``valid``, stratified by label.

        The rule of :mod:`textzoo.data.splitting` (TextGCN's size, each class in proportion, every
        class keeping at least 2 training documents), seeded so it is reproducible. Returns a new
        corpus; an existing validation split is kept as it is. When that share rounds down to no
        document (``fraction=0``, or a very small training set) there is no validation split.
        """
        from ..errors import ConfigError
        from .splitting import split_validation

        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction < 1:
            raise ConfigError(f"the validation fraction must be in [0, 1), not {fraction!r}")
        if self.valid is not None:
            return self
        train, valid = split_validation(self.train, fraction, seed, self.name)
        if valid is None:
            return self
        return Corpus(
            name=self.name,
            train=train,
            valid=valid,
            test=self.test,
            labels=list(self.labels),
            multilabel=self.multilabel,
        )

    def summary(self) -> dict:
        return {
            "name": self.name,
            "train": len(self.train),
            "valid": 0 if self.valid is None else len(self.valid),
            "test": len(self.test),
            "labels": len(self.labels),
            "multilabel": self.multilabel,
        }


def infer_label_vocabulary(train: Split, test: Split | None, valid: Split | None, multilabel: bool) -> list[str]:
    """Sorted label names: training labels (single-label) or labels of every split (multi-label)."""
    splits = [train] if not multilabel else [s for s in (train, valid, test) if s is not None]
    names: set[str] = set()
    for split in splits:
        if split.labels is None:
            continue
        if multilabel:
            for labels in split.labels:
                names.update(labels)
        else:
            names.update(split.labels)
    return sorted(names)


def check_labels_known(vocab: Sequence[str], multilabel: bool, *splits: Split | None) -> None:
    """Raise :class:`DataError` naming file and line for the first label outside ``vocab``."""
    known = set(vocab)
    for split in splits:
        if split is None or split.labels is None:
            continue
        for i, target in enumerate(split.labels):
            for label in (target if multilabel else [target]):
                if label not in known:
                    path, line = split.where(i)
                    raise DataError(
                        f"label {label!r} (document {i} of split {split.name!r}) was not seen in "
                        f"training; known labels: {', '.join(sorted(known)[:20])}"
                        + (" ..." if len(known) > 20 else ""),
                        path,
                        line,
                    )
