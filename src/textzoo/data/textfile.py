"""Reading a plain text file of one document per line, with errors that name the line."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from ..errors import DataError


def read_lines(source: str | Path | BinaryIO, encoding: str = "utf-8") -> list[str]:
    """Non-empty, stripped lines of a UTF-8 file (or binary stream); bad bytes name the line."""
    if hasattr(source, "read"):
        name, data = getattr(source, "name", "<stdin>"), source.read()
    else:
        name = str(source)
        try:
            data = Path(source).read_bytes()
        except FileNotFoundError:
            raise DataError("no such file", name) from None
    lines = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if b"\x00" in raw:
            raise DataError("contains a NUL byte; is this a binary file?", name, number)
        try:
            text = raw.decode(encoding).strip()
        except UnicodeDecodeError as exc:
            raise DataError(f"not valid {encoding} ({exc.reason} at byte {exc.start})", name, number) from None
        if text:
            lines.append(text)
    return lines
