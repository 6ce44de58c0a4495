"""Readers for the public corpus layouts and for the user's own CSV / TSV / JSONL files.

Every reader returns :class:`~textzoo.data.corpus.Corpus` (or :class:`Split`) objects whose
``sources`` hold ``(path, 1-based line)`` for each document, and raises :class:`DataError` naming
the file and line for bad input. Files are read in binary and split on ``b"\\n"`` only, so stray
``\\r`` bytes inside a document never create extra lines; a final newline is optional.

Empty documents: ``on_empty="error"`` (the default) raises :class:`DataError`; ``on_empty="skip"``
drops them (the label / meta line of the same document too) and logs a warning with the count.

Refused with a :class:`DataError` naming file and line: bytes that are not valid in the encoding,
NUL bytes (the sign of a binary file or of UTF-16/UTF-32 text; no public corpus has any) and
documents longer than :data:`~textzoo.data.corpus.MAX_DOCUMENT_CHARS` characters (1,000,000; the
longest document of the public corpora, in 20 Newsgroups, has 160,616).
"""

from __future__ import annotations

import csv
import io
import json
import logging
from pathlib import Path
from typing import Iterable, Literal

from ..errors import DataError
from .corpus import MAX_DOCUMENT_CHARS, Corpus, Split
from .linescan import check_line_lengths

log = logging.getLogger(__name__)

OnEmpty = Literal["error", "skip"]
_FORMATS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}


# --------------------------------------------------------------------------------------------
# low-level helpers


def _read_bytes(path: Path) -> bytes:
    try:
        check_line_lengths(path)  # streams: a 150 MB line is refused without reading it whole
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError("file not found", path) from None
    except IsADirectoryError:
        raise DataError("expected a file, found a folder", path) from None
    except OSError as exc:
        raise DataError(f"cannot read file: {exc.strerror or exc}", path) from None


def _split_lines(data: bytes) -> list[bytes]:
    """Split on ``b"\\n"`` only; a single trailing newline does not make an extra (empty) line."""
    if not data:
        return []
    lines = data.split(b"\n")
    if data.endswith(b"\n"):
        lines.pop()
    return lines


def _utf16_hint(data: bytes) -> str:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return " (the file starts with a UTF-16 byte-order mark: save it as UTF-8)"
    return ""


def check_no_nul(path: str | Path, data: bytes) -> None:
    """A :class:`DataError` naming the line and column of the first NUL byte in ``data``, if any."""
    at = data.find(b"\x00")
    if at < 0:
        return
    line_start = data.rfind(b"\n", 0, at) + 1
    raise DataError(
        f"NUL byte at column {at - line_start + 1}: a binary file, or text in UTF-16/UTF-32?"
        + (_utf16_hint(data) or " (save it as UTF-8 text)"), path, data.count(b"\n", 0, at) + 1)


def check_length(path: str | Path | None, line: int | None, text: str, what: str = "document") -> None:
    """A :class:`DataError` if ``text`` is longer than :data:`MAX_DOCUMENT_CHARS` characters."""
    if len(text) > MAX_DOCUMENT_CHARS:
        raise DataError(
            f"{what} of {len(text):,} characters is over the limit of {MAX_DOCUMENT_CHARS:,} "
            "(textzoo.data.corpus.MAX_DOCUMENT_CHARS); split or shorten it", path, line)


def _decode_error(path: Path, line_no: int, raw: bytes, encoding: str, exc: UnicodeDecodeError) -> DataError:
    bad = raw[exc.start:exc.end]
    hint = " (try encoding='latin-1')" if encoding.replace("_", "-").lower() in ("utf-8", "utf8", "utf-8-sig") else ""
    return DataError(
        f"bytes {bad!r} at column {exc.start + 1} are not valid {encoding}{hint}", path, line_no
    )


def _decode_lines(path: Path, lines: list[bytes], encoding: str) -> list[str]:
    """Decode every line; on failure name the first undecodable line."""
    try:
        return [line.decode(encoding) for line in lines]
    except UnicodeDecodeError:
        for i, line in enumerate(lines):
            try:
                line.decode(encoding)
            except UnicodeDecodeError as exc:
                raise _decode_error(path, i + 1, line, encoding, exc) from None
        raise  # pragma: no cover - unreachable


def read_lines(path: str | Path, encoding: str = "utf-8", strip: bool = True) -> list[str]:
    """The lines of a file, split on ``\\n`` only, each ``strip()``-ped in bytes as TextGCN does.

    NUL bytes and lines over :data:`MAX_DOCUMENT_CHARS` characters are refused (file and line named).
    """
    path = Path(path)
    return decode_lines(_read_bytes(path), path, encoding, strip)


def decode_lines(data: bytes, path: str | Path, encoding: str = "utf-8", strip: bool = True) -> list[str]:
    """:func:`read_lines` on bytes already read (``path`` names them in errors, e.g. ``<stdin>``)."""
    check_no_nul(path, data)
    lines = _split_lines(data)
    if strip:
        lines = [line.strip() for line in lines]
    texts = _decode_lines(Path(path), lines, encoding)
    for i, text in enumerate(texts):
        if len(text) > MAX_DOCUMENT_CHARS:
            check_length(path, i + 1, text, "line")
    return texts


def _check_on_empty(on_empty: str) -> None:
    if on_empty not in ("error", "skip"):
        raise ValueError(f"on_empty must be 'error' or 'skip', not {on_empty!r}")


def _empty_lines(path: Path, texts: list[str], on_empty: str, what: str = "document") -> set[int]:
    """0-based indices of empty texts: raise for the first one, or log and return them for skipping."""
    empty = [i for i, text in enumerate(texts) if not text or text.isspace()]
    if not empty:
        return set()
    if on_empty == "error":
        raise DataError(
            f"empty {what} (pass on_empty='skip' to drop empty documents)", path, empty[0] + 1
        )
    shown = ", ".join(str(i + 1) for i in empty[:5]) + (" ..." if len(empty) > 5 else "")
    log.warning("%s: skipping %d empty %s(s) at line(s) %s", path, len(empty), what, shown)
    return set(empty)


def _nonempty_file(path: Path, lines: list) -> None:
    if not lines:
        raise DataError("file is empty", path)


# --------------------------------------------------------------------------------------------
# TextGCN layout


def read_textgcn(
    root: str | Path,
    name: str,
    encoding: str = "utf-8",
    on_empty: OnEmpty = "error",
) -> Corpus:
    """Read TextGCN's layout: meta ``root/NAME.txt`` + raw text ``root/corpus/NAME.txt``.

    Meta lines are ``doc_name<TAB>split<TAB>label``; a document is a test document if ``'test'`` is
    in its split name, else a training document if ``'train'`` is in it (TextGCN's rule; 20NG uses
    ``20news-bydate-train``). Lines are ``strip()``-ped in bytes, then decoded with ``encoding``
    (20NG needs ``latin-1``; MR is Windows-1252). ``sources`` point into the corpus file; meta and
    corpus line numbers are equal.
    """
    _check_on_empty(on_empty)
    root = Path(root)
    meta_path = root / f"{name}.txt"
    text_path = root / "corpus" / f"{name}.txt"
    meta = read_lines(meta_path, encoding)
    texts = read_lines(text_path, encoding)
    _nonempty_file(meta_path, meta)
    if len(meta) != len(texts):
        raise DataError(
            f"{meta_path} has {len(meta)} lines but {text_path} has {len(texts)}; the meta file and "
            f"the corpus file must have one line per document in the same order",
            meta_path if len(texts) < len(meta) else text_path,  # the first line without a partner
            min(len(meta), len(texts)) + 1,
        )

    is_test: list[bool] = []
    labels: list[str] = []
    for i, line in enumerate(meta):
        fields = line.split("\t")
        if len(fields) != 3:
            raise DataError(
                f"expected 3 TAB-separated fields 'doc_name<TAB>split<TAB>label', found {len(fields)}",
                meta_path, i + 1,
            )
        split, label = fields[1], fields[2].strip()
        if "test" in split:
            is_test.append(True)
        elif "train" in split:
            is_test.append(False)
        else:
            raise DataError(
                f"unknown split {split!r}: the split name must contain 'train' or 'test'", meta_path, i + 1
            )
        if not label:
            raise DataError("empty label", meta_path, i + 1)
        labels.append(label)

    skip = _empty_lines(text_path, texts, on_empty)
    src = str(text_path)
    parts: dict[bool, tuple[list, list, list]] = {False: ([], [], []), True: ([], [], [])}
    for i, (text, label, test) in enumerate(zip(texts, labels, is_test)):
        if i in skip:
            continue
        t, y, s = parts[test]
        t.append(text)
        y.append(label)
        s.append((src, i + 1))

    train = Split(*parts[False][:2], name="train", sources=parts[False][2])
    test = Split(*parts[True][:2], name="test", sources=parts[True][2])
    if not len(train):
        raise DataError("no training documents (no split name contains 'train')", meta_path)
    known = set(train.labels)
    for j, label in enumerate(test.labels):
        if label not in known:
            raise DataError(
                f"test label {label!r} never occurs in the training documents", meta_path, test.sources[j][1]
            )
    return Corpus(name=name, train=train, test=test)


# --------------------------------------------------------------------------------------------
# XMC (AttentionXML / LightXML) layout


def _read_xmc_split(folder: Path, split: str, encoding: str, on_empty: str) -> Split:
    text_path = folder / f"{split}_texts.txt"
    label_path = folder / f"{split}_labels.txt"
    texts = read_lines(text_path, encoding)
    label_lines = read_lines(label_path, encoding)
    _nonempty_file(text_path, texts)
    if len(texts) != len(label_lines):
        raise DataError(
            f"{text_path} has {len(texts)} lines but {label_path} has {len(label_lines)}",
            text_path if len(label_lines) < len(texts) else label_path,  # the first line without a partner
            min(len(texts), len(label_lines)) + 1,
        )
    skip = _empty_lines(text_path, texts, on_empty)
    src = str(text_path)
    out_t, out_y, out_s = [], [], []
    for i, (text, line) in enumerate(zip(texts, label_lines)):
        if i in skip:
            continue
        labels = line.split()
        if not labels:
            raise DataError("document has no label", label_path, i + 1)
        out_t.append(text)
        out_y.append(labels)
        out_s.append((src, i + 1))
    return Split(out_t, out_y, name=split, sources=out_s)


def read_xmc(
    folder: str | Path, name: str | None = None, encoding: str = "utf-8", on_empty: OnEmpty = "error"
) -> Corpus:
    """Read the AttentionXML layout: ``{train,test}_texts.txt`` + ``{train,test}_labels.txt``.

    One document per line; its labels are space-separated on the same line of the labels file.
    Returns a multi-label corpus whose vocabulary is every label of either split.
    """
    _check_on_empty(on_empty)
    folder = Path(folder)
    train = _read_xmc_split(folder, "train", encoding, on_empty)
    test = _read_xmc_split(folder, "test", encoding, on_empty)
    return Corpus(name=name or folder.name, train=train, test=test, multilabel=True)


# --------------------------------------------------------------------------------------------
# GLUE TSV and TREC


def read_glue_tsv(
    folder: str | Path,
    name: str | None = None,
    text_column: str = "sentence",
    label_column: str = "label",
    on_empty: OnEmpty = "error",
) -> Corpus:
    """Read a GLUE single-sentence task folder (SST-2): ``train.tsv`` as train, ``dev.tsv`` as test.

    GLUE's ``test.tsv`` has no labels (scores come from the GLUE server), so the labelled dev set
    serves as the test split, as papers that report SST-2 dev accuracy do.
    """
    folder = Path(folder)
    opts = dict(text_column=text_column, label_column=label_column, format="tsv", on_empty=on_empty)
    train = read_table(folder / "train.tsv", name="train", **opts)
    test = read_table(folder / "dev.tsv", name="test", **opts)
    return Corpus(name=name or folder.name, train=train, test=test)


def _trec_files(folder: Path) -> tuple[Path, Path]:
    for base in (folder / "uiuc", folder):
        if (base / "train_5500.label").exists():
            return base / "train_5500.label", base / "TREC_10.label"
    return folder / "uiuc" / "train_5500.label", folder / "uiuc" / "TREC_10.label"


def _read_trec_file(path: Path, fine: bool, encoding: str, name: str) -> Split:
    lines = read_lines(path, encoding)
    _nonempty_file(path, lines)
    src = str(path)
    texts, labels, sources = [], [], []
    for i, line in enumerate(lines):
        tag, _, question = line.partition(" ")
        coarse, colon, fine_label = tag.partition(":")
        if not colon or not coarse or not fine_label:
            raise DataError(f"expected 'COARSE:fine question', found {line[:60]!r}", path, i + 1)
        question = question.strip()
        if not question:
            raise DataError("empty question", path, i + 1)
        texts.append(question)
        labels.append(tag if fine else coarse)
        sources.append((src, i + 1))
    return Split(texts, labels, name=name, sources=sources)


def read_trec(folder: str | Path, fine: bool = False, encoding: str = "utf-8") -> Corpus:
    """Read TREC question classification in the UIUC layout (``uiuc/train_5500.label``,
    ``uiuc/TREC_10.label``; lines ``COARSE:fine question``).

    Labels are the 6 coarse classes, or the 50 ``COARSE:fine`` classes with ``fine=True``. The
    public copies are plain ASCII. ``folder`` may also be the folder holding the two files.
    """
    train_path, test_path = _trec_files(Path(folder))
    train = _read_trec_file(train_path, fine, encoding, "train")
    test = _read_trec_file(test_path, fine, encoding, "test")
    return Corpus(name="TREC-50" if fine else "TREC", train=train, test=test)


# --------------------------------------------------------------------------------------------
# user tables: CSV / TSV / JSONL


def _table_format(path: Path, format: str | None) -> str:
    if format is not None:
        fmt = format.lower().lstrip(".")
        fmt = {"ndjson": "jsonl", "json": "jsonl", "tab": "tsv"}.get(fmt, fmt)
        if fmt not in ("csv", "tsv", "jsonl"):
            raise DataError(f"unknown format {format!r}; use 'csv', 'tsv' or 'jsonl'", path)
        return fmt
    suffixes = [s.lower() for s in path.suffixes]
    for suffix in reversed(suffixes):
        if suffix in _FORMATS:
            return _FORMATS[suffix]
    raise DataError(
        f"cannot tell the format from the file name suffix {path.suffix!r}; pass format='csv', "
        f"'tsv' or 'jsonl' (known suffixes: {', '.join(sorted(_FORMATS))})", path
    )


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


def _rows_csv(path: Path, text: str) -> Iterable[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
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
    rows = iter(_rows_csv(path, text) if fmt == "csv" else _rows_tsv(path, text))
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
    """Read one split from a CSV, TSV or JSONL file (UTF-8; format from the suffix unless given).

    CSV is parsed with Python's ``csv`` module (quoted fields may span lines); TSV is split on TABs
    with no quoting; JSONL has one object per line. ``label_column=None`` reads unlabelled text.
    A label is a string (integers are turned into strings); for multi-label data give JSON lists
    or a ``multilabel_sep`` that separates labels inside one field.
    """
    _check_on_empty(on_empty)
    path = Path(path)
    fmt = _table_format(path, format)
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
    for split in (test_split, valid_split):
        if split is not None and split.labels is not None and split.multilabel != multilabel:
            path, _ = split.where(0)
            raise DataError(
                f"the training file is {'multi' if multilabel else 'single'}-label but this file is not",
                path,
            )
    return Corpus(
        name=name or Path(train).resolve().parent.name or "corpus",
        train=train_split,
        valid=valid_split,
        test=test_split,
        multilabel=multilabel,
    )
