"""Bad input at every entry point (files, command-line options, Python API) gets one clear line:
NUL bytes, wrong encodings, over-long documents, empty corpora, labels a saved model does not know,
inconsistent split files and options out of range. The commands run in-process through
``textzoo.cli.main``, the function the ``textzoo`` script calls."""

from __future__ import annotations

import csv
import io
import json
import sys

import numpy as np
import pytest

import textzoo
from textzoo.cli import main
from textzoo.data.corpus import MAX_DOCUMENT_CHARS, Corpus, Split
from textzoo.data.readers import read_lines, read_table, read_textgcn
from textzoo.errors import ConfigError, DataError

ROWS = [("oil prices rose sharply today", "crude"), ("company profit rose dividend", "earn"),
        ("crude oil output opec", "crude"), ("quarterly net profit shares", "earn")] * 6


def _csv(path, rows, header=("text", "label")):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) >= 1
    return err[-1]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("files")
    _csv(folder / "train.csv", ROWS)
    _csv(folder / "test.csv", ROWS[:8])
    return folder


@pytest.fixture(scope="module")
def run(files, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "run"
    assert main(["-q", "train", "textgcn", "--train", str(files / "train.csv"), "--test", str(files / "test.csv"),
                 "--set", "epochs=3", "--set", "min_count=1", "--out", str(out)]) == 0
    return out


# --------------------------------------------------------------------------------------------
# files: NUL bytes, encodings, over-long documents, empty files


@pytest.mark.parametrize("name,data,line", [
    ("a.csv", b"text,label\noil,crude\nprofit\x00 rose,earn\n", 3),
    ("a.jsonl", b'{"text": "oil", "label": "crude"}\n{"text": "a\x00", "label": "earn"}\n', 2),
    ("a.tsv", b"text\tlabel\noil\x00\tcrude\n", 2),
])
def test_nul_bytes_in_a_table_name_the_line(tmp_path, name, data, line):
    (tmp_path / name).write_bytes(data)
    with pytest.raises(DataError, match="NUL byte") as info:
        read_table(tmp_path / name)
    assert info.value.line == line and info.value.path == str(tmp_path / name)


def test_nul_bytes_in_the_textgcn_layout(tmp_path):
    (tmp_path / "corpus").mkdir()
    (tmp_path / "x.txt").write_text("d1\ttrain\ta\nd2\ttest\ta\n")
    (tmp_path / "corpus" / "x.txt").write_bytes(b"fine words\nbad \x00 words\n")
    with pytest.raises(DataError, match=r"x\.txt:2: NUL byte at column 5"):
        read_textgcn(tmp_path, "x")


def test_utf16_file_is_named_as_such(tmp_path):
    path = tmp_path / "u.csv"
    path.write_bytes("text,label\noil,crude\n".encode("utf-16"))
    with pytest.raises(DataError, match="UTF-16 byte-order mark"):
        read_table(path)


def test_overlong_documents_are_refused_with_their_line(tmp_path):
    long_doc = "w" * (MAX_DOCUMENT_CHARS + 1)
    _csv(tmp_path / "long.csv", [("short one", "a"), (long_doc, "b")])
    with pytest.raises(DataError, match=r"long\.csv:3: document of 1,000,001 characters is over the limit"):
        read_table(tmp_path / "long.csv")
    (tmp_path / "lines.txt").write_text("short\n" + long_doc + "\n")
    with pytest.raises(DataError, match=r"lines\.txt:2: line of 1,000,001 characters"):
        read_lines(tmp_path / "lines.txt")
    _csv(tmp_path / "limit.csv", [("w" * MAX_DOCUMENT_CHARS, "a")])  # the limit itself is fine
    assert len(read_table(tmp_path / "limit.csv").texts[0]) == MAX_DOCUMENT_CHARS


def test_the_public_corpora_fit_the_limits(data_dir):
    twenty = textzoo.load_dataset("20NG", data_dir=data_dir, valid_fraction=0)
    assert max(len(t) for s in (twenty.train, twenty.test) for t in s.texts) < MAX_DOCUMENT_CHARS


@pytest.mark.parametrize("content,message", [
    (b"", "file is empty"),
    (b"text,label\n", "no documents"),
    (b"text,label\n  ,crude\n", r":2: empty text"),
])
def test_empty_training_files(files, tmp_path, capsys, content, message):
    (tmp_path / "train.csv").write_bytes(content)
    assert main(["-q", "train", "textgcn", "--train", str(tmp_path / "train.csv"),
                 "--test", str(files / "test.csv"), "--out", str(tmp_path / "out")]) == 2
    line = _error_line(capsys)
    assert line.startswith(f"error: {tmp_path / 'train.csv'}") and " ".join(message.split()) in line
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------------------------
# splits that do not fit together, and labels a saved model does not know


def test_inconsistent_split_files(files, tmp_path, capsys):
    args = ["-q", "train", "textgcn", "--train", str(files / "train.csv"), "--out", str(tmp_path / "o")]
    _csv(tmp_path / "other_columns.csv", [("oil", "crude")], header=("sentence", "label"))
    assert main(args + ["--test", str(tmp_path / "other_columns.csv")]) == 2
    assert "other_columns.csv:1: no text column 'text'" in _error_line(capsys)

    _csv(tmp_path / "valid.csv", [("oil", "crude"), ("wheat", "grain")])
    assert main(args + ["--test", str(files / "test.csv"), "--valid", str(tmp_path / "valid.csv")]) == 2
    assert "valid.csv:3: label 'grain'" in _error_line(capsys)

    (tmp_path / "multi.jsonl").write_text(json.dumps({"text": "oil", "label": ["crude", "earn"]}) + "\n")
    assert main(args + ["--test", str(tmp_path / "multi.jsonl")]) == 2
    assert "multi.jsonl:1: document 0 of the test data has 2 labels but the training file is single-label" in _error_line(capsys)


def test_evaluating_labels_the_model_does_not_know(run, files, tmp_path, capsys):
    _csv(tmp_path / "test.csv", ROWS[:3] + [("wheat exports grain", "grain")])
    assert main(["evaluate", str(run), "--train", str(files / "train.csv"), "--test", str(tmp_path / "test.csv")]) == 2
    line = _error_line(capsys)
    assert f"{tmp_path / 'test.csv'}:5: label 'grain'" in line and "known labels: crude, earn" in line
    model = textzoo.load(run)
    with pytest.raises(DataError, match="label 'grain'"):
        model.evaluate(Split(["wheat"], ["grain"], "test"))


# --------------------------------------------------------------------------------------------
# command-line options out of range: argparse's one-line usage error, exit status 2


@pytest.mark.parametrize("args,message", [
    (["train", "textgcn", "--dataset", "R8", "--valid-fraction", "1.5"], "--valid-fraction: must be in [0, 1)"),
    (["train", "textgcn", "--dataset", "R8", "--valid-fraction", "-0.1"], "--valid-fraction: must be in [0, 1)"),
    (["train", "textgcn", "--dataset", "R8", "--valid-fraction", "nan"], "expected a finite number"),
    (["train", "textgcn", "--dataset", "R8", "--seed", "-1"], "--seed: must be >= 0"),
    (["predict", "RUN", "oil", "--top-k", "0"], "--top-k: must be >= 1"),
    (["predict", "RUN", "oil", "--top-k", "two"], "expected a whole number"),
    (["serve", "RUN", "--port", "70000"], "--port: must be between 1 and 65535"),
    (["serve", "RUN", "--port", "0"], "--port: must be between 1 and 65535"),
    (["serve", "RUN", "--max-batch", "0"], "--max-batch: must be >= 1"),
    (["serve", "RUN", "--max-texts", "-3"], "--max-texts: must be >= 1"),
    (["serve", "RUN", "--max-chars", "1000001"], "--max-chars: must be between 1 and 1000000"),
    (["serve", "RUN", "--batch-window-ms", "-1"], "--batch-window-ms: must be >= 0"),
])
def test_options_out_of_range(capsys, args, message):
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2
    assert message in _error_line(capsys)


def test_settings_out_of_range(files, tmp_path, capsys):
    assert main(["-q", "train", "bert", "--train", str(files / "train.csv"), "--test", str(files / "test.csv"),
                 "--set", "checkpoint_steps=-1", "--out", str(tmp_path / "o")]) == 2
    assert "checkpoint_steps must be >= 0" in _error_line(capsys)


def test_validation_fraction_in_the_python_api(files):
    assert Corpus.from_files(files / "train.csv", files / "test.csv").valid is not None  # as the CLI: 10%
    corpus = Corpus.from_files(files / "train.csv", files / "test.csv", valid_fraction=0)
    with pytest.raises(ConfigError, match=r"\[0, 1\)"):
        corpus.with_validation(1.0)
    assert corpus.with_validation(0).valid is None
    tiny = Corpus(name="tiny", train=corpus.train.head(5), test=corpus.test)
    assert tiny.with_validation(0.1).valid is None  # 10% of 5 documents is none: no empty split


# --------------------------------------------------------------------------------------------
# predict: files and standard input, and the Python API


def test_predict_input_checks(run, tmp_path, capsys, monkeypatch):
    (tmp_path / "nul.txt").write_bytes(b"oil prices\nprofit \x00rose\n")
    assert main(["predict", str(run), "--input", str(tmp_path / "nul.txt")]) == 2
    assert "nul.txt:2: NUL byte at column 8" in _error_line(capsys)
    (tmp_path / "blank.txt").write_text("oil prices\n  \n")
    assert main(["predict", str(run), "--input", str(tmp_path / "blank.txt")]) == 2
    assert "blank.txt:2: empty line" in _error_line(capsys)
    (tmp_path / "empty.txt").write_bytes(b"")
    assert main(["predict", str(run), "--input", str(tmp_path / "empty.txt")]) == 2
    assert "nothing to predict" in _error_line(capsys)

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"oil prices\nprofit \xff rose\n")))
    assert main(["predict", str(run), "--input", "-"]) == 2
    assert "<stdin>:2: bytes b'\\xff' at column 8 are not valid utf-8" in _error_line(capsys)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO("oil prices\nprofit rose é\n".encode())))
    assert main(["predict", str(run), "--input", "-"]) == 0
    assert capsys.readouterr().out.split() in (["crude", "earn"], ["crude", "crude"], ["earn", "earn"], ["earn", "crude"])


def test_python_api_refuses_non_strings_and_overlong_texts(run):
    model = textzoo.load(run)
    with pytest.raises(DataError, match="input text 1 has 1,000,001 characters"):
        model.predict_proba(["oil", "x" * (MAX_DOCUMENT_CHARS + 1)])
    with pytest.raises(DataError, match="input text 0 is bytes, not str"):
        model.predict_proba([b"oil"])
    with pytest.raises(TypeError, match="single string"):
        model.predict_proba("oil")
    assert model.predict_proba([]).shape == (0, 2)
    assert np.isfinite(model.predict_proba(["", "   ", "\x00"])).all()  # characters are characters
    with pytest.raises(DataError, match="train split is empty"):
        textzoo.create("textgcn").fit(Split([], [], "train"))


def test_pretraining_corpus_errors_name_the_line(tmp_path, capsys):
    (tmp_path / "corpus.txt").write_bytes(b"a first document\nsecond \x00 document\n")
    assert main(["pretrain", "bert", "--corpus", str(tmp_path / "corpus.txt"), "--out", str(tmp_path / "o")]) == 2
    assert "corpus.txt:2: NUL byte at column 8" in _error_line(capsys)
    (tmp_path / "corpus.txt").write_bytes(b"a first document\nsecond \xff document\n")
    assert main(["pretrain", "bert", "--corpus", str(tmp_path / "corpus.txt"), "--out", str(tmp_path / "o")]) == 2
    assert "corpus.txt:2: bytes b'\\xff' at column 8" in _error_line(capsys)
