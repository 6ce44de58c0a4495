"""The ``textzoo`` command, run as a real subprocess."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import textzoo

TEXTZOO = [sys.executable, "-m", "textzoo"]


def run(args, data_dir, check=True, **kw):
    env = {**os.environ, "TEXTZOO_DATA": str(data_dir)}
    proc = subprocess.run(TEXTZOO + args, capture_output=True, text=True, env=env, timeout=600, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"textzoo {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def user_files(data_dir, tmp_path_factory):
    """R8 slices written as the user's own CSV files."""
    corpus = textzoo.load_dataset("R8", data_dir=data_dir)
    folder = tmp_path_factory.mktemp("user")
    for name, split, n in [("train", corpus.train, 500), ("test", corpus.test, 150)]:
        with open(folder / f"{name}.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["body", "topic"])
            writer.writerows(zip(split.texts[:n], split.labels[:n]))
    return folder


@pytest.fixture(scope="module")
def trained_run(user_files, data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "r8-user"
    proc = run(["train", "textgcn", "--train", str(user_files / "train.csv"), "--test",
                str(user_files / "test.csv"), "--text-column", "body", "--label-column", "topic",
                "--set", "epochs=40", "--set", "min_count=2", "--out", str(out)], data_dir)
    return out, proc


def test_train_writes_a_complete_run(trained_run):
    out, proc = trained_run
    assert "accuracy" in proc.stdout and "macro_f1" in proc.stdout
    for name in ["config.json", "model.safetensors", "metrics.json", "history.jsonl", "vocabulary.json"]:
        assert (out / name).exists(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] > 0.7
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert history[0]["epoch"] == 1 and "val_loss" in history[0]
    config = json.loads((out / "config.json").read_text())
    assert config["config"]["epochs"] == 40


def test_evaluate_reproduces_training_metrics(trained_run, user_files, data_dir):
    out, _ = trained_run
    proc = run(["evaluate", str(out), "--train", str(user_files / "train.csv"), "--test",
                str(user_files / "test.csv"), "--text-column", "body", "--label-column", "topic",
                "--json"], data_dir)
    metrics = json.loads(proc.stdout)
    saved = json.loads((out / "metrics.json").read_text())["test"]
    assert metrics["accuracy"] == pytest.approx(saved["accuracy"])
    # a saved run needs no training file: the test file alone gives the same metrics
    alone = run(["evaluate", str(out), "--test", str(user_files / "test.csv"), "--text-column", "body",
                 "--label-column", "topic", "--json"], data_dir)
    assert json.loads(alone.stdout) == pytest.approx(metrics)


def test_evaluate_several_runs_scores_their_average(trained_run, user_files, data_dir, tmp_path):
    from textzoo.models.base import split_metrics

    first, _ = trained_run
    second = tmp_path / "r8-user-seed1"
    files = ["--train", str(user_files / "train.csv"), "--test", str(user_files / "test.csv"),
             "--text-column", "body", "--label-column", "topic"]
    run(["train", "textgcn", *files, "--set", "epochs=40", "--set", "min_count=2", "--seed", "1",
         "--out", str(second)], data_dir)  # another model seed and validation split
    both_orders = [json.loads(run(["evaluate", str(a), str(b), *files, "--json"], data_dir).stdout)
                   for a, b in ((first, second), (second, first))]  # not just the first or the last member
    with open(user_files / "test.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    models = [textzoo.load(first), textzoo.load(second)]
    texts = [r["body"] for r in rows]
    average = (models[0].predict_proba(texts) + models[1].predict_proba(texts)) / 2
    split = textzoo.Split(texts=texts, labels=[r["topic"] for r in rows], name="test")
    expected = split_metrics(average, split, models[0].labels, False)
    singles = [json.loads(run(["evaluate", str(r), *files, "--json"], data_dir).stdout) for r in (first, second)]
    assert singles[0] != singles[1]  # the members disagree, so using one of them alone would show
    for metrics in both_orders:
        assert metrics == pytest.approx(expected)
    text = run(["evaluate", str(first), str(second), *files], data_dir).stdout
    assert "ensemble of 2 runs (textgcn, textgcn; score average)" in text
    # predict --with: the same ensemble's answers, best labels and their mean scores
    lines = run(["predict", str(first), *texts[:20], "--with", str(second), "--top-k", "2", "--json"],
                data_dir).stdout.splitlines()
    for line, row in zip(lines, average[:20]):
        best = np.argsort(-row, kind="stable")[:2]
        answer = json.loads(line)["prediction"]
        assert [x["label"] for x in answer] == [models[0].labels[j] for j in best]
        assert [x["score"] for x in answer] == pytest.approx(row[best].tolist(), abs=1e-6)
    assert len(lines) == 20


def test_predict_texts_and_file(trained_run, data_dir, tmp_path):
    out, _ = trained_run
    proc = run(["predict", str(out), "crude oil prices opec barrels", "--top-k", "2", "--json"], data_dir)
    row = json.loads(proc.stdout.splitlines()[0])
    assert row["prediction"][0]["label"] == "crude" and len(row["prediction"]) == 2
    infile = tmp_path / "in.txt"
    infile.write_text("net profit shares dividend\nwheat grain tonnes\n")
    proc = run(["predict", str(out), "--input", str(infile)], data_dir)
    assert len(proc.stdout.splitlines()) == 2


def test_predict_bad_input_file_names_the_line(trained_run, data_dir, tmp_path):
    out, _ = trained_run
    infile = tmp_path / "bad.txt"
    infile.write_bytes(b"fine line\n\xff\xfe broken\n")
    proc = run(["predict", str(out), "--input", str(infile)], data_dir, check=False)
    assert proc.returncode == 2
    assert f"{infile}:2:" in proc.stderr and "Traceback" not in proc.stderr
    # an empty line is refused, not skipped: skipping would shift later answers against their lines
    infile.write_text("net profit shares dividend\n\nwheat grain tonnes\n")
    proc = run(["predict", str(out), "--input", str(infile)], data_dir, check=False)
    assert proc.returncode == 2 and f"{infile}:2: empty line" in proc.stderr and not proc.stdout


def test_datasets_lists_the_named_corpora(data_dir):
    proc = run(["datasets"], data_dir)
    for name in ["R8", "R52", "mr", "20ng", "ohsumed", "SST-2", "TREC", "reuters21578"]:
        assert name in proc.stdout


def test_models_lists_each_model_with_its_paper_and_defaults(data_dir):
    lines = run(["models"], data_dir).stdout.splitlines()
    for name in textzoo.available_models():
        title = next(line for line in lines if line.startswith(f"{name}: "))
        assert title.rstrip().endswith(("2018.", "2019.", "2020.", "2021.", "2023.")), title  # the whole citation
        assert lines[lines.index(title) + 1].startswith("  defaults: ")
    assert any("ALBERT: A Lite BERT for Self-supervised Learning of Language Representations" in line for line in lines)


def test_help_explains_each_command(data_dir):
    assert "train" in run(["--help"], data_dir).stdout
    text = run(["train", "--help"], data_dir).stdout
    assert "--set" in text and "--dataset" in text and "--out" in text


def test_unknown_model_and_dataset_are_clear_errors(data_dir, tmp_path):
    proc = run(["train", "nosuchmodel", "--dataset", "R8"], data_dir, check=False)
    assert proc.returncode == 2 and "unknown model" in proc.stderr and "textgcn" in proc.stderr
    proc = run(["train", "textgcn", "--dataset", "nosuch", "--out", str(tmp_path / "x")], data_dir, check=False)
    assert proc.returncode == 2 and "R8" in proc.stderr and "Traceback" not in proc.stderr
    proc = run(["train", "textgcn", "--dataset", "R8", "--set", "hiden=3"], data_dir, check=False)
    assert proc.returncode == 2 and "hidden" in proc.stderr
