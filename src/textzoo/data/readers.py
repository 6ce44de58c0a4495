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

# The readers live in one module per format family; this module gathers them under their old names.
from .layouts import read_glue_tsv, read_textgcn, read_trec, read_xmc  # noqa: F401
from .lines import (  # noqa: F401
    OnEmpty, check_length, check_no_nul, decode_lines, read_lines,
)
from .tables import FORMATS, corpus_from_files, read_table  # noqa: F401
from .textfiles import read_line_format  # noqa: F401

__all__ = [
    "FORMATS", "OnEmpty", "check_length", "check_no_nul", "corpus_from_files", "decode_lines", "read_glue_tsv",
    "read_line_format", "read_lines", "read_table", "read_textgcn", "read_trec", "read_xmc",
]
