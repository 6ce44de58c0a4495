"""Shared fixtures. Tests read the real corpora from the data directory (``TEXTZOO_DATA``),
which ``make test`` points at ``../shared/data``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = Path(os.environ.get("TEXTZOO_DATA", REPO.parent / "shared" / "data"))
    assert (path / "textgcn" / "R8.txt").exists(), f"shared data not found at {path}; set TEXTZOO_DATA"
    return path
