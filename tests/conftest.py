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


@pytest.fixture(scope="session")
def reuters(data_dir):
    """Reuters-21578 (394 labels) in the XMC layout."""
    import textzoo

    return textzoo.load_dataset("reuters21578", data_dir=data_dir)


@pytest.fixture(scope="session")
def reuters_bert_dir(reuters, tmp_path_factory):
    """A tiny BERT checkpoint whose WordPiece vocabulary is trained on 300 Reuters training texts
    (built once per session; the LightXML and X-Transformer tests fine-tune copies of it)."""
    from tiny_transformers import tiny_checkpoint

    return tiny_checkpoint("bert", tmp_path_factory.mktemp("tiny-bert-reuters"), reuters.train.texts[:300])
