"""Readers for the line formats of neighbouring tools: one document per line, labels on the line.

- ``libmultilabel`` (LibMultiLabel): ``ID<TAB>LABELS<TAB>TEXT`` or ``LABELS<TAB>TEXT``, the labels
  separated by spaces;
- ``fasttext`` (fastText): ``__label__A __label__B TEXT``, the labels first (prefix ``__label__``);
- ``txt``: ``LABEL<TAB>TEXT``, one label (the layout of Cachopo's R8 / R52 files,
  ``textgcn/R8/train.txt``).

A file whose documents all have exactly one label is single-label; otherwise it is multi-label.
``label_column=None`` (unlabelled text, e.g. for prediction) keeps only the text. A ``.txt`` file
given without a format is recognised from its first line (``__label__``: fastText; 2 TABs:
LibMultiLabel; 1 TAB: txt). Errors name the file and line.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..errors import DataError
from .corpus import Split
from .lines import _check_on_empty, _nonempty_file, read_lines

log = logging.getLogger(__name__)

LINE_FORMATS = ("libmultilabel", "fasttext", "txt")
FASTTEXT_PREFIX = "__label__"


def sniff_line_format(path: Path, lines: list[str]) -> str:
    """The line format of a ``.txt`` file, from its first non-empty line."""
    first = next((line for line in lines if line.strip()), "")
    if first.startswith(FASTTEXT_PREFIX):
        return "fasttext"
    tabs = first.count("\t")
    if tabs == 2:
        return "libmultilabel"
    if tabs == 1:
        return "txt"
    raise DataError("cannot tell the format of this .txt file from its first line; pass --format "
                    "(format=) libmultilabel, fasttext or txt, or csv/tsv/jsonl", path, 1)


def _parse(fmt: str, line: str, path: Path, no: int) -> tuple[list[str], str]:
    if fmt == "fasttext":
        words = line.split(" ")
        labels = []
        while words and words[0].startswith(FASTTEXT_PREFIX):
            labels.append(words.pop(0)[len(FASTTEXT_PREFIX):])
        if not labels:
            raise DataError(f"expected '{FASTTEXT_PREFIX}LABEL ... TEXT', found {line[:60]!r}", path, no)
        if not all(labels):
            raise DataError(f"empty label after {FASTTEXT_PREFIX!r}", path, no)
        return labels, " ".join(words).strip()
    fields = line.split("\t")
    want = (2, 3) if fmt == "libmultilabel" else (2,)
    if len(fields) not in want:
        shape = "'ID<TAB>LABELS<TAB>TEXT' or 'LABELS<TAB>TEXT'" if fmt == "libmultilabel" else "'LABEL<TAB>TEXT'"
        raise DataError(f"expected {shape}, found {len(fields)} TAB-separated field(s)", path, no)
    labels = fields[-2].split() if fmt == "libmultilabel" else [fields[-2].strip()]
    if not labels or not all(labels):
        raise DataError("empty label", path, no)
    return labels, fields[-1].strip()


def read_line_format(path: str | Path, fmt: str | None = None, *, labelled: bool = True, name: str | None = None,
                     on_empty: str = "error", encoding: str = "utf-8") -> Split:
    """One split from a LibMultiLabel, fastText or txt file (``fmt=None``: recognised from the file)."""
    _check_on_empty(on_empty)
    path = Path(path)
    lines = read_lines(path, encoding)
    _nonempty_file(path, lines)
    fmt = fmt or sniff_line_format(path, lines)
    if fmt not in LINE_FORMATS:
        raise DataError(f"unknown line format {fmt!r}; use one of {', '.join(LINE_FORMATS)}", path)
    keep, parsed, skipped = [], [], []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        labels, text = _parse(fmt, line, path, i + 1)
        if not text:
            if on_empty == "error":
                raise DataError("empty text (pass on_empty='skip' to drop empty documents)", path, i + 1)
            skipped.append(i + 1)
            continue
        keep.append(i)
        parsed.append((labels, text))
    if skipped:
        log.warning("%s: skipped %d empty document(s) at line(s) %s", path, len(skipped),
                    ", ".join(map(str, skipped[:5])) + (" ..." if len(skipped) > 5 else ""))
    if not parsed:
        raise DataError("no documents", path)
    multilabel = any(len(labels) > 1 for labels, _ in parsed)
    targets = [labels if multilabel else labels[0] for labels, _ in parsed] if labelled else None
    return Split([text for _, text in parsed], targets, name=name or path.stem,
                 sources=[(str(path), i + 1) for i in keep])
