"""Readers for the user's own tables: CSV, TSV and JSONL files (one split per file)."""

from __future__ import annotations

import csv
import io
import json
import logging
from pathlib import Path
from typing import Iterable

from ..errors import DataError
from .corpus import Corpus, Split
from .inputs import align_targets, default_name
from .lines import OnEmpty, _check_on_empty, _read_bytes, _utf16_hint, check_length, check_no_nul
from .textfiles import LINE_FORMATS, read_line_format

log = logging.getLogger(__name__)

#: the formats of ``--format`` / ``format=``
FORMATS = ("csv", "tsv", "jsonl", *LINE_FORMATS)
_FORMATS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}


# --------------------------------------------------------------------------------------------
# user tables: CSV / TSV / JSONL


def _table_format(path: Path, format: str | None) -> str | None:
    """csv, tsv, jsonl, one of :data:`LINE_FORMATS`, or None for a ``.txt`` file to recognise."""
    if format is not None:
        fmt = format.lower().lstrip(".")
        fmt = {"ndjson": "jsonl", "json": "jsonl", "tab": "tsv"}.get(fmt, fmt)
        if fmt not in ("csv", "tsv", "jsonl", *LINE_FORMATS):
            raise DataError(f"unknown format {format!r}; use one of {', '.join(FORMATS)}", path)
        return fmt
    suffixes = [s.lower() for s in path.suffixes]
    for suffix in reversed(suffixes):
        if suffix in _FORMATS:
            return _FORMATS[suffix]
        if suffix == ".txt":
            return None
    raise DataError(
        f"cannot tell the format from the file name suffix {path.suffix!r}; pass --format (format=) "
        f"{', '.join(FORMATS)} (known suffixes: {', '.join(sorted(_FORMATS))}, .txt)", path
    )


def _header_names(path: Path, text_column: str) -> bool:
    """Whether the first line of ``path`` is a TAB-separated header naming ``text_column``."""
    try:
        with path.open("rb") as f:
            first = f.readline(65536).decode("utf-8-sig", errors="replace")
    except OSError:
        return False
    return text_column in (h.strip() for h in first.split("\t"))


def _csv_delimiter(text: str, text_column: str) -> str:
    """The delimiter of a CSV file: the one whose header names ``text_column`` (``,`` ``;`` TAB
    ``|``), else what :class:`csv.Sniffer` finds, else a comma."""
    first = text.split("\n", 1)[0]
    for delimiter in (",", ";", "\t", "|"):
        header = next(csv.reader([first], delimiter=delimiter), [])
        if text_column in (h.strip() for h in header):
            return delimiter
    try:
        return csv.Sniffer().sniff(text[:65536], delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def _decode_file(path: Path, data: bytes) -> str:
    check_no_nul(path, data)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        line_no = data.count(b"\n", 0, exc.start) + 1
        bad = data[exc.start:exc.end]
        raise DataError(
            f"bytes {bad!r} at column {exc.start - line_start + 1} are not valid UTF-8 "
            + (_utf16_hint(data) or "(save the file as UTF-8)"), path, line_no
        ) from None


def _header_index(path: Path, header: list[str], column: str, role: str) -> int:
    names = [h.strip() for h in header]
    if column not in names:
        raise DataError(
            f"no {role} column {column!r}; the header has columns {names}", path, 1
        )
    return names.index(column)


def _rows_tsv(path: Path, text: str) -> Iterable[tuple[int, list[str]]]:
    """TSV without quoting (the IANA / GLUE convention): fields are split on every TAB."""
    for i, line in enumerate(text.split("\n")):
        line = line.rstrip("\r")
        if line.strip():
            yield i + 1, line.split("\t")


def _rows_csv(path: Path, text: str, delimiter: str = ",") -> Iterable[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True, delimiter=delimiter)
    start = 1
    try:
        for row in reader:
            if row and any(field.strip() for field in row):
                yield start, row
            start = reader.line_num + 1
    except csv.Error as exc:
        raise DataError(f"malformed CSV: {exc}", path, start) from None


def _table_rows(path, fmt, text, text_column, label_column):
    """Yield ``(line, text, raw_label)`` for CSV / TSV rows (raw_label is None when unlabelled)."""
    rows = iter(_rows_csv(path, text, _csv_delimiter(text, text_column)) if fmt == "csv" else _rows_tsv(path, text))
    try:
        header_line, header = next(rows)
    except StopIteration:
        raise DataError("file is empty (no header line)", path) from None
    ti = _header_index(path, header, text_column, "text")
    li = None if label_column is None else _header_index(path, header, label_column, "label")
    width = len(header)
    for line, row in rows:
        if len(row) != width:
            raise DataError(
                f"expected {width} fields like the header, found {len(row)}", path, line
            )
        yield line, row[ti], None if li is None else row[li]


def _json_rows(path, text, text_column, label_column):
    for i, line in enumerate(text.split("\n")):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"malformed JSON: {exc.msg} (column {exc.colno})", path, i + 1) from None
        except ValueError as exc:  # an integer of more than 4300 digits (Python's int-to-str limit)
            raise DataError(f"malformed JSON: {exc}", path, i + 1) from None
        except RecursionError:
            raise DataError("malformed JSON: nested too deeply", path, i + 1) from None
        if not isinstance(obj, dict):
            raise DataError(f"expected a JSON object, found {type(obj).__name__}", path, i + 1)
        if text_column not in obj:
            raise DataError(f"no text field {text_column!r}; fields: {sorted(obj)}", path, i + 1)
        doc = obj[text_column]
        if not isinstance(doc, str):
            raise DataError(f"field {text_column!r} must be a string, found {type(doc).__name__}", path, i + 1)
        label = None
        if label_column is not None:
            if label_column not in obj or obj[label_column] is None:
                raise DataError(f"no label field {label_column!r}; fields: {sorted(obj)}", path, i + 1)
            label = obj[label_column]
        yield i + 1, doc, label


def _parse_label(raw, multilabel_sep: str | None, path: Path, line: int):
    """A string label, or a list of strings for multi-label rows."""
    if isinstance(raw, list):
        labels = [str(x).strip() for x in raw]
        if not all(labels):
            raise DataError("empty label in label list", path, line)
        return labels
    if isinstance(raw, dict):
        raise DataError(f"label must be a string, a number or a list, found {raw!r}", path, line)
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    raw = str(raw).strip()
    if multilabel_sep is not None:
        labels = [x.strip() for x in raw.split(multilabel_sep) if x.strip()]
        if not labels:
            raise DataError("empty label", path, line)
        return labels
    if not raw:
        raise DataError("empty label", path, line)
    return raw


def read_table(
    path: str | Path,
    text_column: str = "text",
    label_column: str | None = "label",
    format: str | None = None,
    multilabel_sep: str | None = None,
    name: str | None = None,
    on_empty: OnEmpty = "error",
) -> Split:
    """Read one split from a CSV, TSV, JSONL, LibMultiLabel, fastText or txt file (UTF-8; the format
    from the suffix unless given; a ``.txt`` file from its first line, see :mod:`.textfiles`).

    CSV is parsed with Python's ``csv`` module (quoted fields may span lines; the delimiter is
    sniffed: comma, semicolon, TAB or ``|``, the one whose header names ``text_column``); TSV is split on TABs
    with no quoting; JSONL has one object per line. ``label_column=None`` reads unlabelled text.
    A label is a string (integers are turned into strings); for multi-label data give JSON lists
    or a ``multilabel_sep`` that separates labels inside one field.
    """
    _check_on_empty(on_empty)
    path = Path(path)
    fmt = _table_format(path, format)
    if fmt is None and _header_names(path, text_column):
        fmt = "tsv"  # a .txt file whose first line is a TAB-separated header naming the text column
    if fmt is None or fmt in LINE_FORMATS:
        return read_line_format(path, fmt, labelled=label_column is not None, name=name, on_empty=on_empty)
    text = _decode_file(path, _read_bytes(path))
    old_limit = csv.field_size_limit(1 << 30)  # documents may be longer than csv's 128 KiB default
    try:
        if fmt == "jsonl":
            rows = _json_rows(path, text, text_column, label_column)
        else:
            rows = _table_rows(path, fmt, text, text_column, label_column)
        src = str(path)
        texts: list[str] = []
        labels: list = []
        sources: list[tuple[str, int]] = []
        kind = None  # "single" / "multi" of the first row, for the consistency check
        skipped = []
        for line, doc, raw in rows:
            doc = doc.strip()
            check_length(path, line, doc)
            if not doc:
                if on_empty == "error":
                    raise DataError(
                        f"empty text in column {text_column!r} (pass on_empty='skip' to drop it)", path, line
                    )
                skipped.append(line)
                continue
            if label_column is not None:
                label = _parse_label(raw, multilabel_sep, path, line)
                this = "multi" if isinstance(label, list) else "single"
                if kind is None:
                    kind = this
                elif this != kind:
                    raise DataError(
                        f"mixed single-label and multi-label rows (this row is {this}-label, the first "
                        f"row is {kind}-label)", path, line
                    )
                labels.append(label)
            texts.append(doc)
            sources.append((src, line))
    finally:
        csv.field_size_limit(old_limit)
    if skipped:
        log.warning("%s: skipped %d empty document(s) at line(s) %s", path, len(skipped),
                    ", ".join(map(str, skipped[:5])) + (" ..." if len(skipped) > 5 else ""))
    if not texts:
        raise DataError("no documents", path)
    return Split(texts, labels if label_column is not None else None, name=name or path.stem, sources=sources)


def corpus_from_files(
    train: str | Path,
    test: str | Path,
    valid: str | Path | None = None,
    *,
    name: str | None = None,
    **options,
) -> Corpus:
    """Build a :class:`Corpus` from train / test (/ valid) table files; see :func:`read_table`."""
    options.pop("name", None)
    train_split = read_table(train, name="train", **options)
    test_split = read_table(test, name="test", **options)
    valid_split = None if valid is None else read_table(valid, name="valid", **options)
    if train_split.labels is None:
        raise DataError("training data needs labels (label_column is None)", train)
    multilabel = train_split.multilabel
    test_split = align_targets(test_split, multilabel, "the training file")
    valid_split = None if valid_split is None else align_targets(valid_split, multilabel, "the training file")
    return Corpus(
        name=name or default_name(train),
        train=train_split,
        valid=valid_split,
        test=test_split,
        multilabel=multilabel,
    )
