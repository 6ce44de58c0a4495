"""Refusing an input file at its first overlong line before the file is read whole.

The readers read a file whole into memory and parse it; a single line of 150 MB used to grow to
1.65 GB (11x: bytes, text, the CSV parser's copy, the field) before the "document too long" error.
:func:`check_line_lengths` first streams the file in 1 MiB blocks, keeping no more than one block,
and stops at the first line over :func:`max_line_bytes`, so such a file costs a few MiB.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError
from . import corpus

BLOCK = 1 << 20


def max_line_bytes() -> int:
    """The longest line that can hold a document within ``MAX_DOCUMENT_CHARS``: 12 bytes per
    character (a JSON ``\\uXXXX\\uXXXX`` escape) plus 1 MiB for the other fields."""
    return 12 * corpus.MAX_DOCUMENT_CHARS + BLOCK


def check_line_lengths(path: Path, limit: int | None = None) -> None:
    """A :class:`DataError` naming the file and line if a line of ``path`` is over ``limit`` bytes.
    Lines are split on ``b"\\n"``; a quoted CSV field may span lines, each of them under the limit."""
    limit = max(max_line_bytes() if limit is None else limit, BLOCK)  # lines inside a block are shorter
    line, length = 1, 0  # the current line's number and its bytes so far
    with open(path, "rb") as handle:
        while block := handle.read(BLOCK):
            first = block.find(b"\n")
            if first >= 0:  # the current line ends in this block, the last one starts in it
                if length + first > limit:
                    break
                line += block.count(b"\n")
                length = len(block) - block.rfind(b"\n") - 1
            else:
                length += len(block)
            if length > limit:
                break
        else:
            return
    raise DataError(f"line longer than {limit:,} bytes: no document within the limit of "
                    f"{corpus.MAX_DOCUMENT_CHARS:,} characters (textzoo.data.corpus.MAX_DOCUMENT_CHARS) "
                    "takes that many; split or shorten it", path, line)
