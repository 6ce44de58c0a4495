"""Readers for the public corpus layouts: TextGCN, XMC (AttentionXML / LightXML), GLUE TSV, TREC.

Each returns a :class:`~textzoo.data.corpus.Corpus` whose splits' ``sources`` hold
``(path, 1-based line)`` per document; bad input is a :class:`DataError` naming file and line.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError
from .corpus import Corpus, Split
from .lines import OnEmpty, _check_on_empty, _empty_lines, _nonempty_file, read_lines
from .tables import read_table


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
