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


@pytest.fixture(scope="session")
def tiny_textgcn_run(data_dir, tmp_path_factory) -> Path:
    """A small saved TextGCN run on R8 (120 training documents, 3 epochs, test metrics saved), built
    once per session for the tests that load, damage (a copy of) or serve a run folder."""
    import textzoo
    from textzoo.data.corpus import Corpus

    corpus = textzoo.load_dataset("R8", data_dir=data_dir)
    small = Corpus(name="R8-tiny", train=corpus.train.head(120), valid=corpus.valid.head(20),
                   test=corpus.test.head(30), labels=corpus.labels)
    model = textzoo.create("textgcn", epochs=3, min_count=1, hidden=16).fit(small)
    model.metrics = {"test": model.evaluate(small.test)}
    return model.save(tmp_path_factory.mktemp("tiny-textgcn") / "run")
