"""Exceptions that textzoo raises for problems the user can fix."""

from __future__ import annotations

from pathlib import Path


class TextzooError(Exception):
    """Base class: a problem with the user's input, files or settings (not a bug)."""


class DataError(TextzooError, ValueError):
    """Bad input data. Names the file and (1-based) line when they are known."""

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None):
        self.path = str(path) if path is not None else None
        self.line = line
        self.reason = message
        where = ""
        if self.path is not None:
            where = f"{self.path}:{line}: " if line is not None else f"{self.path}: "
        super().__init__(where + message)


class ConfigError(TextzooError, ValueError):
    """An unknown or invalid configuration key or value."""


class DownloadError(TextzooError, OSError):
    """A dataset file could not be fetched or failed its checksum."""


class ModelFileError(TextzooError, ValueError):
    """A saved run folder that cannot be loaded (missing, truncated, wrong shapes, unknown model)."""
