"""Your data, your way (training side): ``fit(texts, labels)`` and DataFrames, the warnings and
refusals about the training data, XMC models on single-label data, ``textzoo train --dataset
FOLDER`` and ``--format``, and ``textzoo predict`` options anywhere, answering as ``textzoo serve``
does for the same run and text. Tiny TextGCN / LightXML configs on real corpus slices."""

from __future__ import annotations

import csv
import json
import logging
import os

import httpx
import pytest

import textzoo
from textzoo.cli import main
from textzoo.errors import DataError
from textzoo.serving import running_server

os.environ.setdefault("HF_HUB_OFFLINE", "1")
TINY_LIGHTXML = dict(max_length=32, epochs=1, batch_size=8, eval_batch_size=16, lr=1e-3, feature_layers=2,
                     hidden_dim=16, swa_warmup=1, swa_step=2)


@pytest.fixture(scope="module")
def r8(data_dir):
    return textzoo.load_dataset("R8", data_dir=data_dir, valid_fraction=0)


@pytest.fixture(scope="module")
def xmc_folder(reuters, tmp_path_factory):
    """A Reuters slice in the XMC layout, as the user's own folder."""
    folder = tmp_path_factory.mktemp("xmc") / "reuters-slice"
    folder.mkdir()
    for name, split in (("train", reuters.train.head(120)), ("test", reuters.test.head(30))):
        (folder / f"{name}_texts.txt").write_text("".join(t + "\n" for t in split.texts))
        (folder / f"{name}_labels.txt").write_text("".join(" ".join(y) + "\n" for y in split.labels))
    return folder


@pytest.fixture(scope="module")
def multilabel_run(xmc_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "ml"
    assert main(["-q", "train", "textgcn", "--dataset", str(xmc_folder), "--set", "epochs=15",
                 "--set", "min_count=1", "--out", str(out)]) == 0
    return out


def test_fit_texts_labels_predict_evaluate(r8, caplog):
    texts, labels = r8.train.texts[:200], r8.train.labels[:200]
    model = textzoo.create("textgcn", epochs=20, min_count=1)
    with caplog.at_level(logging.WARNING):
        model.fit(texts, labels)
    assert model.info["train_docs"] == 180  # 10% held out, as the CLI does
    counts = {label: labels.count(label) for label in set(labels)}
    rare = sorted(label for label, n in counts.items() if n < 2)
    if rare:
        assert any("fewer than 2 training documents" in r.getMessage() for r in caplog.records)
    assert model.predict(["oil prices rose sharply"])[0] in r8.labels
    metrics = model.evaluate(r8.test.texts[:100], r8.test.labels[:100])
    assert metrics["accuracy"] > 0.6
    assert model.evaluate(r8.test.head(100)) == metrics  # a Split scores the same
    with pytest.raises(DataError, match="has 2 labels but this run is single-label"):
        model.evaluate(["oil"], [["crude", "earn"]])
    assert model.evaluate(["oil"], [["crude"]])["accuracy"] in (0.0, 1.0)  # one-label lists are single labels


def test_dataframe_fit_and_the_warnings(r8, caplog):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"body": r8.train.texts[:60] + ["roses are red violets are blue"], "tag": r8.train.labels[:60] + ["poetry"]})
    with caplog.at_level(logging.WARNING):
        model = textzoo.create("textgcn", epochs=3, min_count=5).fit(frame, text_column="body", label_column="tag")
    messages = [r.getMessage() for r in caplog.records]
    assert any("fewer than 2 training documents ('poetry'" in m for m in messages)
    assert any("distinct words are left after cleaning (min_count=5" in m for m in messages)
    caplog.clear()
    with caplog.at_level(logging.WARNING):  # TensorGCN cleans as TextGCN does, and says so too
        textzoo.create("tensorgcn", epochs=2, min_count=5, graphs=["sequential"]).fit(
            frame, text_column="body", label_column="tag")
    assert any("tensorgcn: only" in r.getMessage() and "min_count=5" in r.getMessage() for r in caplog.records)
    assert "poetry" in model.labels  # it stayed in training: the split keeps 2 per class, or all it has
    with pytest.raises(DataError, match="one class only"):
        textzoo.create("textgcn", epochs=3).fit(r8.train.texts[:20], ["earn"] * 20)


def test_xmc_model_reads_single_labels_as_one_label_sets(r8, reuters_bert_dir, tmp_path, capsys):
    with open(tmp_path / "train.csv", "w", newline="") as handle:
        csv.writer(handle).writerows([("text", "label"), *zip(r8.train.texts[:40], r8.train.labels[:40])])
    with open(tmp_path / "test.csv", "w", newline="") as handle:
        known = set(r8.train.labels[:40])
        csv.writer(handle).writerows([("text", "label"), *[(t, y) for t, y in zip(r8.test.texts[:40], r8.test.labels[:40])
                                                          if y in known]])
    out = tmp_path / "run"
    assert main(["-q", "train", "lightxml", "--train", str(tmp_path / "train.csv"), "--test", str(tmp_path / "test.csv"),
                 "--set", f"pretrained={reuters_bert_dir}", *_sets(TINY_LIGHTXML), "--out", str(out)]) == 0
    model = textzoo.load(out)
    assert model.multilabel and set(model.labels) <= set(r8.labels) and len(model.labels) > 1
    assert "micro_f1" in json.loads((out / "metrics.json").read_text())["test"]


def _sets(config: dict) -> list[str]:
    return [x for k, v in config.items() for x in ("--set", f"{k}={v}")]


def test_train_lightxml_on_an_xmc_folder(xmc_folder, reuters_bert_dir, tmp_path, capsys):
    out = tmp_path / "lx"
    assert main(["train", "lightxml", "--dataset", str(xmc_folder), "--set", f"pretrained={reuters_bert_dir}",
                 *_sets(TINY_LIGHTXML), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "test metrics (reuters-slice, 30 documents)" in printed and "micro_f1" in printed
    assert "macro_f1" in printed
    assert json.loads((out / "config.json").read_text())["info"]["dataset"] == "reuters-slice"


def test_fasttext_and_libmultilabel_files_through_the_cli(r8, reuters, tmp_path, capsys):
    for name, split in (("train", r8.train.head(150)), ("test", r8.test.head(30))):
        (tmp_path / f"{name}.ft").write_text("".join(f"__label__{y} {t}\n" for t, y in zip(split.texts, split.labels)))
    assert main(["-q", "train", "textgcn", "--train", str(tmp_path / "train.ft"), "--test", str(tmp_path / "test.ft"),
                 "--format", "fasttext", "--set", "epochs=5", "--set", "min_count=1", "--name", "r8-ft",
                 "--out", str(tmp_path / "ft")]) == 0
    assert json.loads((tmp_path / "ft" / "config.json").read_text())["info"]["dataset"] == "r8-ft"
    for name, split in (("train", reuters.train.head(100)), ("test", reuters.test.head(20))):
        (tmp_path / f"{name}_lml.txt").write_text(
            "".join(f"{i}\t{' '.join(y)}\t{t}\n" for i, (t, y) in enumerate(zip(split.texts, split.labels))))
    assert main(["-q", "train", "textgcn", "--train", str(tmp_path / "train_lml.txt"),
                 "--test", str(tmp_path / "test_lml.txt"), "--set", "epochs=5", "--set", "min_count=1",
                 "--out", str(tmp_path / "lml")]) == 0
    saved = json.loads((tmp_path / "lml" / "config.json").read_text())
    assert saved["multilabel"] and saved["info"]["dataset"] == "lml"  # named after the file, not its folder
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "ft"), "--test", str(tmp_path / "test_lml.txt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "test_lml.txt:" in err and "but this run is single-label" in err and "Traceback" not in err


def test_predict_options_anywhere_and_the_same_answers_as_the_server(multilabel_run, xmc_folder, tmp_path, capsys):
    texts = (xmc_folder / "test_texts.txt").read_text().splitlines()[:6]
    capsys.readouterr()
    assert main(["predict", str(multilabel_run), "--top-k", "2", texts[0], "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert len(first["prediction"]) == 2
    assert main(["predict", str(multilabel_run), texts[0], "--with", str(multilabel_run), "--top-k", "2", "--json"]) == 0
    _same_answer(json.loads(capsys.readouterr().out)["prediction"], first["prediction"])

    cli = {}
    for threshold in ("0.5", "0.05"):
        assert main(["predict", str(multilabel_run), *texts, "--threshold", threshold, "--json"]) == 0
        cli[threshold] = [json.loads(line)["prediction"] for line in capsys.readouterr().out.splitlines()]
        assert all(len(p) >= 1 for p in cli[threshold])  # the best label when none reaches the threshold
    assert sum(map(len, cli["0.05"])) > sum(map(len, cli["0.5"]))
    with running_server(multilabel_run, tmp_path / "server.log", startup_s=90) as server:
        with httpx.Client(base_url=server.url, timeout=30) as api:
            for threshold in ("0.5", "0.05"):
                answer = api.post("/v1/predict", json={"texts": texts, "threshold": float(threshold)}).json()
                served = [[x["label"] for x in p["labels"]] for p in answer["predictions"]]
                assert served == cli[threshold]
            answer = api.post("/v1/predict", json={"texts": texts[:1], "top_k": 2}).json()
            _same_answer(answer["predictions"][0]["labels"], first["prediction"])


def _same_answer(got: list[dict], want: list[dict]) -> None:
    assert [x["label"] for x in got] == [x["label"] for x in want]
    assert [x["score"] for x in got] == pytest.approx([x["score"] for x in want], abs=1e-6)
