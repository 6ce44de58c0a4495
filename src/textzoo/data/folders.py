"""``load_dataset(PATH)`` / ``textzoo train --dataset PATH``: a folder in a layout the project knows,
recognised from its files.

- XMC (AttentionXML / LightXML): ``train_texts.txt``, ``train_labels.txt``, ``test_texts.txt``, ``test_labels.txt``;
- TextGCN: ``NAME.txt`` (meta) and ``corpus/NAME.txt``; a folder holding several corpora is named by
  its meta file (``PATH/R8.txt``);
- TREC (UIUC): ``train_5500.label`` and ``TREC_10.label`` (or in ``uiuc/``);
- files per split: ``train.EXT`` and ``test.EXT`` (``valid.EXT`` or ``dev.EXT`` for validation),
  EXT one of csv, tsv, jsonl, txt (the formats of :func:`textzoo.data.readers.read_table`);
- GLUE TSV (SST-2): ``train.tsv`` and ``dev.tsv`` without a labelled ``test.tsv`` (dev is the test split).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import DataError
from .corpus import Corpus
from .layouts import read_glue_tsv, read_textgcn, read_trec, read_xmc
from .tables import corpus_from_files

_SUFFIXES = (".csv", ".tsv", ".jsonl", ".ndjson", ".json", ".txt")
_LAYOUTS = ("train_texts.txt + train_labels.txt (XMC), NAME.txt + corpus/NAME.txt (TextGCN), "
            "train_5500.label (TREC), train.EXT + test.EXT (csv, tsv, jsonl, txt) or train.tsv + dev.tsv (GLUE)")


def _split_file(folder: Path, *stems: str) -> Path | None:
    for stem in stems:
        for suffix in _SUFFIXES:
            if (folder / f"{stem}{suffix}").is_file():
                return folder / f"{stem}{suffix}"
    return None


def _textgcn_names(folder: Path) -> list[str]:
    corpus = folder / "corpus"
    if not corpus.is_dir():
        return []
    return sorted(p.stem for p in corpus.glob("*.txt")
                  if not p.name.endswith(".clean.txt") and (folder / p.name).is_file())


def _encoding(name: str, encoding: str) -> str:
    """A TextGCN corpus named like a named dataset (mr, 20ng) is read in that dataset's encoding."""
    from .registry import DATASETS

    spec = DATASETS.get(name.lower())
    return spec.encoding if encoding == "utf-8" and spec is not None and spec.layout == "textgcn" else encoding


def _labelled(path: Path, label_column: str | None) -> bool:
    first = path.read_text(encoding="utf-8", errors="replace").split("\n", 1)[0]
    return label_column is not None and label_column in first.split("\t")


def read_folder(path: str | Path, *, name: str | None = None, format: str | None = None,
                text_column: str = "text", label_column: str = "label", multilabel_sep: str | None = None,
                on_empty: str = "error", encoding: str = "utf-8") -> Corpus:
    """The corpus in ``path`` (a folder, or a TextGCN meta file), in the layout its files show."""
    path = Path(path)
    if path.is_file():
        if (path.parent / "corpus" / path.name).is_file():
            return read_textgcn(path.parent, path.stem, encoding=_encoding(path.stem, encoding), on_empty=on_empty)
        raise DataError("a single file has no test split: pass --train FILE --test FILE, or a folder "
                        f"in a known layout ({_LAYOUTS})", path)
    if not path.is_dir():
        raise DataError("no such folder or file", path)
    if (path / "train_texts.txt").is_file() or (path / "train_labels.txt").is_file():
        return read_xmc(path, name=name, encoding=encoding, on_empty=on_empty)
    if (path / "train_5500.label").is_file() or (path / "uiuc" / "train_5500.label").is_file():
        corpus = read_trec(path, encoding=encoding)
        corpus.name = name or corpus.name
        return corpus
    names = _textgcn_names(path)
    if len(names) == 1:
        corpus = read_textgcn(path, names[0], encoding=_encoding(names[0], encoding), on_empty=on_empty)
        corpus.name = name or corpus.name
        return corpus
    if len(names) > 1:
        raise DataError(f"the folder holds {len(names)} TextGCN corpora ({', '.join(names)}): name one by "
                        f"its meta file, e.g. --dataset {path / names[0]}.txt", path)
    train, test = _split_file(path, "train"), _split_file(path, "test")
    options: dict[str, Any] = dict(format=format, text_column=text_column, label_column=label_column,
                                   multilabel_sep=multilabel_sep, on_empty=on_empty)
    glue = (path / "train.tsv").is_file() and (path / "dev.tsv").is_file()
    if glue and (test is None or (test.suffix == ".tsv" and not _labelled(test, label_column))):
        return read_glue_tsv(path, name=name or path.name, on_empty=on_empty,
                             **({"text_column": text_column} if text_column != "text" else {}),
                             **({"label_column": label_column} if label_column else {}))
    if train is not None and test is not None:
        valid = _split_file(path, "valid", "dev", "validation")
        return corpus_from_files(train, test, valid, name=name or path.name, **options)
    raise DataError(f"no known layout in this folder; expected {_LAYOUTS}", path)
