"""Readers of the public layouts (on the real corpora) and of user tables, and their errors."""

from __future__ import annotations

import collections
import json
from pathlib import Path

import pytest

from textzoo.data import Corpus, read_glue_tsv, read_table, read_textgcn, read_trec, read_xmc
from textzoo.errors import DataError


def assert_names(exc: pytest.ExceptionInfo, path: Path, line: int | None) -> str:
    """The DataError names the file and (if given) the 1-based line, in the message and attributes."""
    err = exc.value
    message = str(err)
    assert Path(path).name in message, message
    assert err.path is not None and Path(err.path).name == Path(path).name, err.path
    if line is not None:
        assert err.line == line, (err.line, message)
        assert f"{err.path}:{line}:" in message, message
    return message


# ------------------------------------------------------------------ real corpora, TextGCN layout


def test_r8_counts_and_sources(data_dir):
    corpus = read_textgcn(data_dir / "textgcn", "R8")
    assert (len(corpus.train), len(corpus.test), len(corpus.labels)) == (5485, 2189, 8)
    assert corpus.valid is None and not corpus.multilabel
    counts = collections.Counter(corpus.train.labels) + collections.Counter(corpus.test.labels)
    assert counts["earn"] == 3923 and counts["grain"] == 51
    # sources point at the corpus file, 1-based, and the text is that line stripped
    raw = (data_dir / "textgcn" / "corpus" / "R8.txt").read_bytes().split(b"\n")
    for split in (corpus.train, corpus.test):
        for i in (0, len(split) // 2, len(split) - 1):
            path, line = split.where(i)
            assert Path(path).name == "R8.txt" and Path(path).parent.name == "corpus"
            assert split.texts[i] == raw[line - 1].strip().decode("utf-8")


def test_r52_counts(data_dir):
    corpus = read_textgcn(data_dir / "textgcn", "R52")
    assert (len(corpus.train), len(corpus.test), len(corpus.labels)) == (6532, 2568, 52)


def test_mr_crlf_is_stripped(data_dir):
    corpus = read_textgcn(data_dir / "textgcn", "mr", encoding="cp1252")
    assert (len(corpus.train), len(corpus.test), len(corpus.labels)) == (7108, 3554, 2)
    assert collections.Counter(corpus.train.labels) == {"1": 3554, "0": 3554}
    every = corpus.train.texts + corpus.test.texts
    assert not any("\r" in t or t != t.strip() for t in every)
    assert any("é" in t for t in every)  # byte 0xe9
    # MR is not UTF-8: the default encoding names the first bad line
    with pytest.raises(DataError) as exc:
        read_textgcn(data_dir / "textgcn", "mr")
    assert "latin-1" in assert_names(exc, data_dir / "textgcn" / "corpus" / "mr.txt", None)
    assert exc.value.line is not None and exc.value.line > 1


def test_20ng_has_18846_docs_despite_carriage_returns(data_dir):
    corpus = read_textgcn(data_dir / "textgcn", "20ng", encoding="latin-1")
    assert (len(corpus.train), len(corpus.test), len(corpus.labels)) == (11314, 7532, 20)
    assert len(corpus.train) + len(corpus.test) == 18846
    # 6 posts hold 180 \r bytes; TextGCN's strip() removes those at the ends of 2 of them, the
    # other 173 stay inside 4 documents (splitting on universal newlines would add lines)
    with_cr = [t for t in corpus.train.texts + corpus.test.texts if "\r" in t]
    assert len(with_cr) == 4 and sum(t.count("\r") for t in with_cr) == 173
    # 20ng.txt ends with a newline, its corpus does not: both read to 18846 lines
    assert (data_dir / "textgcn" / "20ng.txt").read_bytes().endswith(b"\n")
    assert corpus.test.where(len(corpus.test) - 1)[1] == 18846 or corpus.train.where(len(corpus.train) - 1)[1] == 18846


def test_trec_coarse_and_fine(data_dir):
    coarse = read_trec(data_dir / "extra" / "TREC")
    assert (len(coarse.train), len(coarse.test), len(coarse.labels)) == (5452, 500, 6)
    assert collections.Counter(coarse.train.labels)["ABBR"] == 86
    assert coarse.test.texts[0] == "How far is it from Denver to Aspen ?"
    assert coarse.test.labels[0] == "NUM"
    fine = read_trec(data_dir / "extra" / "TREC" / "uiuc", fine=True)
    assert len(fine.labels) == 50 and fine.test.labels[0] == "NUM:dist"


def test_sst2_glue(data_dir):
    corpus = read_glue_tsv(data_dir / "extra" / "SST-2")
    assert (len(corpus.train), len(corpus.test), corpus.labels) == (67349, 872, ["0", "1"])
    assert collections.Counter(corpus.train.labels) == {"1": 37569, "0": 29780}
    assert corpus.train.texts[0] == "hide new secretions from the parental units"
    assert corpus.train.where(0)[1] == 2  # line 1 is the header


def test_reuters_xmc(data_dir):
    corpus = read_xmc(data_dir / "xmc" / "reuters21578-modapte-all", name="reuters21578")
    assert corpus.multilabel and corpus.train.multilabel
    assert (len(corpus.train), len(corpus.test), len(corpus.labels)) == (9508, 3291, 394)
    assert corpus.train.labels[0] == ["topic:cocoa", "place:el-salvador", "place:usa", "place:uruguay"]


# ------------------------------------------------------------------ TextGCN layout errors


def write_textgcn(root: Path, meta: bytes, text: bytes, name: str = "toy") -> tuple[Path, Path]:
    (root / "corpus").mkdir(parents=True, exist_ok=True)
    (root / f"{name}.txt").write_bytes(meta)
    (root / "corpus" / f"{name}.txt").write_bytes(text)
    return root / f"{name}.txt", root / "corpus" / f"{name}.txt"


GOOD_META = b"d1\ttrain\ta\nd2\ttrain\tb\nd3\ttest\ta"
GOOD_TEXT = b"first doc\nsecond doc\nthird doc"


def test_textgcn_toy_ok_with_and_without_trailing_newline(tmp_path):
    write_textgcn(tmp_path, GOOD_META + b"\n", GOOD_TEXT.replace(b"\n", b"\r\n"))
    corpus = read_textgcn(tmp_path, "toy")
    assert corpus.train.texts == ["first doc", "second doc"] and corpus.test.texts == ["third doc"]
    assert corpus.test.where(0) == (str(tmp_path / "corpus" / "toy.txt"), 3)


def test_textgcn_line_count_mismatch(tmp_path):
    meta, text = write_textgcn(tmp_path, GOOD_META, b"first doc\nsecond doc")
    with pytest.raises(DataError) as exc:
        read_textgcn(tmp_path, "toy")
    message = assert_names(exc, meta, 3)  # meta line 3 has no document
    assert str(meta) in message and str(text) in message
    assert "3 lines" in message and "2" in message


@pytest.mark.parametrize(
    "meta, line, words",
    [
        (b"d1\ttrain\ta\nd2\ttrain\nd3\ttest\ta", 2, "3 TAB-separated fields"),
        (b"d1\ttrain\ta\nd2\ttrain\tb\tx\nd3\ttest\ta", 2, "found 4"),
        (b"d1\ttrain\ta\nd2\ttrain\tb\nd3\tvalidation\ta", 3, "unknown split"),
        (b"d1\ttrain\ta\nd2\ttrain\t\nd3\ttest\ta", 2, "found 2"),  # strip() drops the empty label
        (b"d1\ttrain\ta\nd2\ttrain\tb\nd3\ttest\tc", 3, "never occurs in the training"),
    ],
)
def test_textgcn_malformed_meta(tmp_path, meta, line, words):
    meta_path, _ = write_textgcn(tmp_path, meta, GOOD_TEXT)
    with pytest.raises(DataError) as exc:
        read_textgcn(tmp_path, "toy")
    assert words in assert_names(exc, meta_path, line)


def test_textgcn_empty_document_error_or_skip(tmp_path, caplog):
    _, text = write_textgcn(tmp_path, GOOD_META, b"first doc\n  \t \nthird doc")
    with pytest.raises(DataError) as exc:
        read_textgcn(tmp_path, "toy")
    assert "empty document" in assert_names(exc, text, 2)
    with caplog.at_level("WARNING"):
        corpus = read_textgcn(tmp_path, "toy", on_empty="skip")
    assert corpus.train.texts == ["first doc"] and corpus.train.labels == ["a"]
    assert corpus.test.where(0)[1] == 3
    assert "skipping 1 empty" in caplog.text
    with pytest.raises(ValueError):
        read_textgcn(tmp_path, "toy", on_empty="ignore")


def test_textgcn_undecodable_bytes(tmp_path):
    _, text = write_textgcn(tmp_path, GOOD_META, b"first doc\nsecond \xff doc\nthird doc")
    with pytest.raises(DataError) as exc:
        read_textgcn(tmp_path, "toy")
    assert "utf-8" in assert_names(exc, text, 2)
    assert read_textgcn(tmp_path, "toy", encoding="latin-1").train.texts[1] == "second \xff doc"


def test_textgcn_missing_file(tmp_path):
    (tmp_path / "toy.txt").write_bytes(GOOD_META)
    with pytest.raises(DataError) as exc:
        read_textgcn(tmp_path, "toy")
    assert "not found" in assert_names(exc, tmp_path / "corpus" / "toy.txt", None)


# ------------------------------------------------------------------ XMC, TREC, GLUE errors


def write_xmc(folder: Path, train_texts: str, train_labels: str, test_texts="t\n", test_labels="a\n"):
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in (("train_texts", train_texts), ("train_labels", train_labels),
                          ("test_texts", test_texts), ("test_labels", test_labels)):
        (folder / f"{name}.txt").write_text(content, encoding="utf-8")


def test_xmc_errors(tmp_path):
    write_xmc(tmp_path, "one\ntwo\nthree\n", "a b\nc\n")
    with pytest.raises(DataError) as exc:
        read_xmc(tmp_path)
    message = assert_names(exc, tmp_path / "train_texts.txt", 3)  # text line 3 has no labels
    assert "train_labels.txt" in message
    write_xmc(tmp_path, "one\ntwo\n", "a b\n \n")
    with pytest.raises(DataError) as exc:
        read_xmc(tmp_path)
    assert "no label" in assert_names(exc, tmp_path / "train_labels.txt", 2)
    write_xmc(tmp_path, "one\n\n", "a b\nc\n")
    with pytest.raises(DataError) as exc:
        read_xmc(tmp_path)
    assert_names(exc, tmp_path / "train_texts.txt", 2)
    corpus = read_xmc(tmp_path, on_empty="skip")
    assert corpus.train.labels == [["a", "b"]] and corpus.labels == ["a", "b"]


def test_trec_malformed_line(tmp_path):
    (tmp_path / "train_5500.label").write_text("NUM:dist How far ?\nLOC What city ?\n")
    (tmp_path / "TREC_10.label").write_text("NUM:dist How far ?\n")
    with pytest.raises(DataError) as exc:
        read_trec(tmp_path)
    assert "COARSE:fine" in assert_names(exc, tmp_path / "train_5500.label", 2)


def test_glue_tsv_errors(tmp_path):
    (tmp_path / "train.tsv").write_text("sentence\tlabel\ngood film \t1\nbad film\t0\n")
    (tmp_path / "dev.tsv").write_text("sentence\tlabel\nfine\t1\nodd\t0\textra\n")
    with pytest.raises(DataError) as exc:
        read_glue_tsv(tmp_path)
    assert "expected 2 fields" in assert_names(exc, tmp_path / "dev.tsv", 3)
    (tmp_path / "dev.tsv").write_text("index\tsentence\n0\tunlabelled\n")
    with pytest.raises(DataError) as exc:
        read_glue_tsv(tmp_path)
    assert "'label'" in assert_names(exc, tmp_path / "dev.tsv", 1)


# ------------------------------------------------------------------ user tables


def test_csv_with_quoted_multiline_fields(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text('id,text,label\n1,"a, quoted\nmultiline text",pos\n\n2,plain,neg\n', encoding="utf-8")
    split = read_table(path)
    assert split.texts == ["a, quoted\nmultiline text", "plain"]
    assert split.labels == ["pos", "neg"]
    assert [line for _, line in split.sources] == [2, 5]


def test_csv_errors(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("body,label\nhello,pos\n", encoding="utf-8")
    with pytest.raises(DataError) as exc:
        read_table(path)
    assert "'text'" in assert_names(exc, path, 1)
    path.write_text("text,label\nhello,pos\nworld\n", encoding="utf-8")
    with pytest.raises(DataError) as exc:
        read_table(path)
    assert_names(exc, path, 3)
    path.write_text("text,label\nhello,pos\n  ,neg\n", encoding="utf-8")
    with pytest.raises(DataError) as exc:
        read_table(path)
    assert "empty text" in assert_names(exc, path, 3)
    assert read_table(path, on_empty="skip").texts == ["hello"]
    path.write_text('text,label\nhello,pos\n"unclosed,neg\n', encoding="utf-8")
    with pytest.raises(DataError) as exc:
        read_table(path)
    assert "malformed CSV" in assert_names(exc, path, 3)
    path.write_text("text,label\nhello,pos\nworld, \n", encoding="utf-8")
    with pytest.raises(DataError) as exc:
        read_table(path)
    assert "empty label" in assert_names(exc, path, 3)


def test_non_utf8_bytes_name_the_line(tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_bytes(b"text\tlabel\nok\ta\ncaf\xe9\tb\n")
    with pytest.raises(DataError) as exc:
        read_table(path)
    assert "UTF-8" in assert_names(exc, path, 3)


def test_jsonl_and_errors(tmp_path):
    path = tmp_path / "data.jsonl"
    rows = [{"text": "a b", "label": ["x", "y"]}, {"text": "c", "label": ["y"]}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    split = read_table(path)
    assert split.multilabel and split.labels == [["x", "y"], ["y"]]
    path.write_text('{"text": "a", "label": 1}\n{"text": "b", "label": 0}\n')
    assert read_table(path).labels == ["1", "0"]
    path.write_text('{"text": "a", "label": "p"}\n{"text": "b", "label": "q"\n')
    with pytest.raises(DataError) as exc:
        read_table(path)
    assert "malformed JSON" in assert_names(exc, path, 2)
    path.write_text('{"text": "a", "label": "p"}\n{"body": "b", "label": "q"}\n')
    with pytest.raises(DataError) as exc:
        read_table(path)
    assert "'text'" in assert_names(exc, path, 2)
    path.write_text('{"text": "a", "label": "p"}\n{"text": "b", "label": ["q"]}\n')
    with pytest.raises(DataError) as exc:
        read_table(path)
    assert "mixed" in assert_names(exc, path, 2)
    path.write_text('{"text": "a", "label": "p"}\n{"text": "", "label": "q"}\n')
    with pytest.raises(DataError) as exc:
        read_table(path)
    assert "empty text" in assert_names(exc, path, 2)


def test_format_from_suffix_and_override(tmp_path):
    path = tmp_path / "data.dat"
    path.write_text("text\tlabel\nhello\ta\n")
    with pytest.raises(DataError) as exc:
        read_table(path)
    assert_names(exc, path, None)
    assert read_table(path, format="tsv").texts == ["hello"]
    path = path.rename(tmp_path / "data.txt")  # a .txt file with a TSV header naming the text column
    assert read_table(path).texts == ["hello"]
    assert read_table(path, format="tsv", label_column=None).labels is None


def test_corpus_from_files(tmp_path):
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    train.write_text("text,label\nthe cat sat,animal\nstocks fell,finance\nthe dog ran,animal\n")
    test.write_text("text,label\na bird sang,animal\nbonds rose,finance\n")
    corpus = Corpus.from_files(train=train, test=test)
    assert corpus.labels == ["animal", "finance"] and not corpus.multilabel
    assert (len(corpus.train), len(corpus.test)) == (3, 2)
    assert corpus.test.where(1) == (str(test), 3)
    # multi-label via a separator
    train.write_text("text,tags\nthe cat sat,a|b\nstocks fell,c\n")
    test.write_text("text,tags\nnew,b|c\n")
    corpus = Corpus.from_files(train=train, test=test, label_column="tags", multilabel_sep="|")
    assert corpus.multilabel and corpus.labels == ["a", "b", "c"] and corpus.test.labels == [["b", "c"]]
    # a test label never seen in training names the test file and line
    train.write_text("text,label\nthe cat sat,animal\n")
    test.write_text("text,label\nok,animal\nbonds rose,finance\n")
    with pytest.raises(DataError) as exc:
        Corpus.from_files(train=train, test=test)
    assert "finance" in assert_names(exc, test, 3)
