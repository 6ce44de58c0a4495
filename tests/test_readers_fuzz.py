"""Property-based tests: whatever bytes the readers are given, they return a valid corpus or raise
:class:`textzoo.errors.DataError` (never another exception), and a DataError names the file."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from textzoo.data import Corpus, Split, read_glue_tsv, read_table, read_textgcn, read_trec, read_xmc
from textzoo.data.readers import corpus_from_files, read_lines
from textzoo.errors import DataError

FUZZ = settings(max_examples=50, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Files are built from lines that are mostly well-formed for the format at hand (so that many
# examples parse and the later checks run too), mixed with lines of format-relevant pieces and
# arbitrary text, and sometimes spliced with arbitrary bytes; plus files of arbitrary bytes.
_PIECES = ["\t", ",", '"', "'", "\r", "\\", " ", "{", "}", "[", "]", ":", "null", "true", "1", "2.5",
           "-", "train", "test", "label", "text", "sentence", "doc", "ABBR:abb", "DESC:def", "earn",
           "acq", '{"text": "a b", "label": "x"}', '"text"', '"label"', "\x00", "\ufeff", "é", "\u2028",
           "\U0001f600"]
_token = st.one_of(st.sampled_from(_PIECES), st.text(max_size=6))
_junk_line = st.lists(_token, max_size=8).map("".join)
_printable = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp", "Zs")), min_size=1, max_size=5)
_word = st.one_of(st.sampled_from(["oil", "price", "wheat", "the", "é", "x", "1", "\x00", "\u2028"]), _printable)
_words = st.lists(_word, min_size=1, max_size=5).map(" ".join)
_good_label = st.sampled_from(["earn", "acq", "crude", "0", "1", "a|b"])
_label = st.one_of(_good_label, _printable, st.sampled_from(["", " ", "a,b", "a\tb"]), st.text(max_size=4))


def _file(good_line, odd_line=_junk_line):
    """File bytes: well-formed lines (``good_line``), sometimes with one ``odd_line`` among them,
    CRLF line ends, spliced arbitrary bytes, or arbitrary bytes alone."""
    good = st.lists(good_line, min_size=0, max_size=8)
    one_odd = st.tuples(good, st.one_of(odd_line, _junk_line), st.integers(0, 8)).map(
        lambda t: t[0][: t[2]] + [t[1]] + t[0][t[2]:])
    lines = st.one_of(good, good, one_odd)
    text = st.tuples(lines, st.sampled_from(["\n", "\n", "\r\n"]), st.booleans()).map(
        lambda t: (t[1].join(t[0]) + (t[1] if t[2] else "")).encode("utf-8", "surrogatepass"))
    spliced = st.tuples(text, st.binary(min_size=1, max_size=8), st.integers(0, 300)).map(
        lambda t: t[0][: t[2]] + t[1] + t[0][t[2]:])
    return st.one_of(text, text, text, spliced, st.binary(max_size=200))


def _tabbed(*parts):
    return st.tuples(*parts).map("\t".join)


FILE = _file(_junk_line)
WORDS_FILE = _file(_words, st.sampled_from(["", " ", "\t"]))
META_FILE = _file(
    _tabbed(_word, st.sampled_from(["train", "test", "20news-bydate-train"]), _good_label),
    _tabbed(_word, st.sampled_from(["", "dev", "training"]), _label))
LABELS_LINE = st.lists(_good_label, min_size=1, max_size=3).map(" ".join)
LABELS_FILE = _file(LABELS_LINE, st.sampled_from(["", " "]))
TREC_FILE = _file(
    st.builds(lambda c, f, q: f"{c}:{f} {q}", st.sampled_from(["ABBR", "DESC", "NUM"]),
              st.sampled_from(["abb", "def"]), _words),
    st.builds(lambda c, f, q: f"{c}:{f} {q}", st.sampled_from(["", "X"]), st.sampled_from(["", "x"]), _junk_line))


def _rows(sep: str):
    text = st.one_of(_words, st.builds(lambda w: f'"{w}"', _words))
    label = _good_label if sep != "," else st.one_of(_good_label, st.just('"a,b"'))
    odd = st.lists(st.one_of(text, _label, _junk_line), max_size=3).map(sep.join)
    return _file(st.tuples(text, label).map(sep.join), odd)


_json_value = st.one_of(_words, _label, st.integers(), st.floats(allow_nan=True), st.booleans(), st.none(),
                        st.lists(_label, max_size=3), st.dictionaries(_label, _label, max_size=2))
_good_json = st.fixed_dictionaries({"text": _words, "label": st.one_of(
    _good_label, st.integers(0, 3), st.lists(_good_label, min_size=1, max_size=3))}).map(json.dumps)
_odd_json = st.one_of(
    st.fixed_dictionaries({"text": _json_value, "label": _json_value}),
    st.dictionaries(st.sampled_from(["text", "label", "other"]), _json_value, max_size=3),
    _json_value).map(json.dumps)
# lines the json module itself rejects with other exceptions than JSONDecodeError (found by this
# test: ValueError for integers of more than 4300 digits, RecursionError for deep nesting)
_hostile_json = st.sampled_from(['{"text": "a", "label": ' + "7" * 5000 + "}", "[" * 100_000,
                                 '{"text": "a", "label": ' + "[" * 50_000])
TABLE_FILES = {"csv": _rows(","), "tsv": _rows("\t"),
               "jsonl": _file(_good_json, st.one_of(_odd_json, _odd_json, _hostile_json))}


def _write(folder: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _check_split(split: Split, labelled: bool = True) -> None:
    assert isinstance(split, Split) and len(split) > 0
    assert all(isinstance(t, str) and t.strip() for t in split.texts)
    if labelled:
        assert split.labels is not None and len(split.labels) == len(split.texts)
    assert split.sources is not None and len(split.sources) == len(split.texts)


def _check_corpus(corpus: Corpus) -> None:
    assert isinstance(corpus, Corpus)
    _check_split(corpus.train)
    assert corpus.labels and all(isinstance(label, str) and label for label in corpus.labels)


def _only_data_errors(read, files: dict[str, bytes], check=_check_corpus) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        _write(folder, files)
        try:
            result = read(folder)
        except DataError as exc:
            assert exc.path is None or Path(exc.path).parent.is_relative_to(folder), str(exc)
            assert "\n" not in str(exc).split(": ", 1)[0]  # the location prefix is one line
            return
        check(result)


@FUZZ
@given(meta=st.one_of(META_FILE, FILE), text=st.one_of(WORDS_FILE, FILE))
def test_textgcn_layout(meta, text):
    _only_data_errors(lambda d: read_textgcn(d, "X"), {"X.txt": meta, "corpus/X.txt": text})


@FUZZ
@given(meta=META_FILE, n_extra=st.sampled_from([0, 0, 0, -1, 1]))
def test_textgcn_layout_with_matching_line_counts(meta, n_extra):
    lines = meta.split(b"\n")
    texts = b"\n".join(b"doc %d words" % i for i in range(max(0, len(lines) + n_extra)))
    _only_data_errors(lambda d: read_textgcn(d, "X"), {"X.txt": meta, "corpus/X.txt": texts})


def _labels_for(data, texts: bytes) -> bytes:
    """A labels file: usually one line of labels per line of ``texts``, sometimes any labels file."""
    n = len(texts.split(b"\n")) + data.draw(st.sampled_from([0, 0, 0, 0, -1, 1]))
    matching = st.lists(LABELS_LINE, min_size=max(n, 0), max_size=max(n, 0)).map(
        lambda lines: "\n".join(lines).encode("utf-8"))
    return data.draw(st.one_of(matching, matching, matching, LABELS_FILE))


@FUZZ
@given(data=st.data())
def test_xmc_layout(data):
    train_texts, test_texts = data.draw(WORDS_FILE), data.draw(WORDS_FILE)
    _only_data_errors(read_xmc, {
        "train_texts.txt": train_texts, "train_labels.txt": _labels_for(data, train_texts),
        "test_texts.txt": test_texts, "test_labels.txt": _labels_for(data, test_texts)})


@FUZZ
@given(train=TABLE_FILES["tsv"], dev=TABLE_FILES["tsv"], header=st.sampled_from([True, True, True, False]))
def test_glue_tsv(train, dev, header):
    head = b"sentence\tlabel\n" if header else b"sentence\n"
    _only_data_errors(read_glue_tsv, {"train.tsv": head + train, "dev.tsv": head + dev})


@FUZZ
@given(train=TREC_FILE, test=TREC_FILE, fine=st.booleans())
def test_trec(train, test, fine):
    _only_data_errors(lambda d: read_trec(d, fine=fine),
                      {"uiuc/train_5500.label": train, "uiuc/TREC_10.label": test})


@FUZZ
@given(data=st.data(), fmt=st.sampled_from(["csv", "tsv", "jsonl"]), header=st.sampled_from([True, True, True, False]),
       multilabel=st.sampled_from([None, "|", ","]), on_empty=st.sampled_from(["error", "skip"]))
def test_table(data, fmt, header, multilabel, on_empty):
    data = data.draw(TABLE_FILES[fmt])
    sep = {"csv": b",", "tsv": b"\t", "jsonl": b""}[fmt]
    head = b"text" + sep + b"label\n" if header and fmt != "jsonl" else b""
    if fmt != "jsonl" and not header:  # a header naming other columns
        head = b"body" + sep + b"label\n"
    _only_data_errors(
        lambda d: read_table(d / f"data.{fmt}", multilabel_sep=multilabel, on_empty=on_empty),
        {f"data.{fmt}": head + data}, check=_check_split)


@FUZZ
@given(data=st.data(), fmt=st.sampled_from(["csv", "jsonl"]))
def test_corpus_from_files(data, fmt):
    train, test = data.draw(TABLE_FILES[fmt]), data.draw(TABLE_FILES[fmt])
    head = b"text,label\n" if fmt == "csv" else b""
    train, test = head + train, head + test
    _only_data_errors(
        lambda d: corpus_from_files(d / f"train.{fmt}", d / f"test.{fmt}").with_validation(0.2, 0),
        {f"train.{fmt}": train, f"test.{fmt}": test})


@FUZZ
@given(data=st.one_of(FILE, WORDS_FILE))
def test_read_lines(data):
    _only_data_errors(lambda d: read_lines(d / "in.txt"), {"in.txt": data},
                      check=lambda lines: all(isinstance(line, str) for line in lines))


@pytest.mark.parametrize("line", ['{"text": "a", "label": ' + "7" * 5000 + "}", "[" * 100_000,
                                  '{"text": "a", "label": ' + "[" * 50_000])
def test_json_lines_that_the_json_module_rejects_with_other_errors(tmp_path, line):
    path = tmp_path / "data.jsonl"
    path.write_text('{"text": "fine", "label": "x"}\n' + line + "\n")
    with pytest.raises(DataError, match=r"data.jsonl:2: malformed JSON"):
        read_table(path)
