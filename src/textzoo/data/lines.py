"""Reading text files line by line, safely: the low-level helpers every reader shares.

Files are read in binary and split on ``b"\\n"`` only, so stray ``\\r`` bytes inside a document never
create extra lines; a final newline is optional. NUL bytes, undecodable bytes and documents over
:data:`~textzoo.data.corpus.MAX_DOCUMENT_CHARS` characters are refused with a :class:`DataError`
naming the file and line. ``on_empty`` ("error" or "skip") says what happens to empty documents.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

from ..errors import DataError
from .linescan import check_line_lengths
from .corpus import MAX_DOCUMENT_CHARS

log = logging.getLogger(__name__)

OnEmpty = Literal["error", "skip"]


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
