"""`textzoo compare` on a tiny R8 slice given as files: three models, the leaderboard (Markdown +
PNG), resuming (finished runs kept), the per-model time budget, the default model list."""

import csv
import json

import pytest

import textzoo
from textzoo.cli import main
from textzoo.compare import default_models, split_overrides


@pytest.fixture(scope="module")
def files(data_dir, tmp_path_factory):
    r8 = textzoo.load_dataset("R8", data_dir=data_dir)
    folder = tmp_path_factory.mktemp("compare-data")
    for name, split in (("train", r8.train.head(240)), ("test", r8.test.head(80))):
        with open(folder / f"{name}.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["text", "label"])
            writer.writerows(zip(split.texts, split.labels))
    return folder


@pytest.fixture(scope="module")
def bert_dir(data_dir, tmp_path_factory):
    from tiny_transformers import tiny_checkpoint

    r8 = textzoo.load_dataset("R8", data_dir=data_dir)
    return tiny_checkpoint("bert", tmp_path_factory.mktemp("tiny-bert-r8"), r8.train.texts[:300])


def compare(files, out, *extra):
    return main(["-q", "compare", *extra, "--train", str(files / "train.csv"), "--test", str(files / "test.csv"),
                 "--out", str(out)])


def test_three_models_a_leaderboard_and_resuming(files, bert_dir, tmp_path, capsys):
    out = tmp_path / "cmp"
    models = ["linear", "textgcn", "bert", "--set", "textgcn:epochs=20", "--set", "textgcn:min_count=2",
              "--set", f"bert:pretrained={bert_dir}", "--set", "bert:epochs=1", "--set", "bert:max_length=32"]
    assert compare(files, out, *models) == 0
    captured = capsys.readouterr()
    table = (out / "leaderboard.md").read_text()
    assert captured.out.strip() == table.strip()
    rows = [line for line in table.splitlines() if line.startswith("| ") and "accuracy" in line]
    assert sorted(r.split("|")[1].strip() for r in rows) == ["bert", "linear", "textgcn"]
    assert (out / "leaderboard.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for name in ("linear", "textgcn", "bert"):
        assert f"{name}: trained" in captured.err
        metrics = json.loads((out / name / "metrics.json").read_text())
        assert 0 <= metrics["test"]["accuracy"] <= 1
    linear_acc = json.loads((out / "linear" / "metrics.json").read_text())["test"]["accuracy"]
    assert linear_acc > 0.6  # 240 training documents
    stamps = {n: (out / n / "model.safetensors").stat().st_mtime_ns for n in ("linear", "textgcn", "bert")}

    # run again: every finished run is kept, nothing trains; the table is the same
    assert compare(files, out, *models) == 0
    err = capsys.readouterr().err
    assert all(f"{n}: kept the finished run" in err for n in stamps)
    assert {n: (out / n / "model.safetensors").stat().st_mtime_ns for n in stamps} == stamps
    assert (out / "leaderboard.md").read_text() == table

    # a run that is gone (or was never finished) is trained again, the others are kept
    import shutil

    shutil.rmtree(out / "textgcn")
    assert compare(files, out, *models) == 0
    err = capsys.readouterr().err
    assert "textgcn: trained" in err and "linear: kept" in err and "bert: kept" in err
    # other settings for a model: its finished run is not replaced without --overwrite
    assert compare(files, out, *models, "--set", "linear:C=2") == 0
    err = capsys.readouterr().err
    assert "linear: failed" in err and "--overwrite" in err and "textgcn: kept" in err
    assert (out / "linear" / "model.safetensors").stat().st_mtime_ns == stamps["linear"]
    assert compare(files, out, *models, "--set", "linear:C=2", "--overwrite") == 0
    err = capsys.readouterr().err
    assert "linear: trained" in err and "textgcn: kept" in err


def test_the_time_budget_caps_epochs_and_says_so(files, tmp_path, capsys):
    out = tmp_path / "budget"
    assert compare(files, out, "linear", "textgcn", "--set", "textgcn:epochs=200", "--set", "textgcn:min_count=2",
                   "--budget", "0") == 0
    err = capsys.readouterr().err
    assert "textgcn: trained" in err and "stopped after epoch 1 of 200" in err
    info = json.loads((out / "textgcn" / "config.json").read_text())["info"]
    assert info["time_budget"]["stopped"][0]["epoch"] == 1
    assert "stopped after epoch 1 of 200" in (out / "leaderboard.md").read_text()
    assert len(json.loads((out / "linear" / "metrics.json").read_text())["test"]) > 0  # no epochs: not capped


def test_default_models_and_per_model_settings():
    single, multi = default_models(False), default_models(True)
    assert single[0] == multi[0] == "linear"
    assert "textgcn" in single and "tensorgcn" in single and "lightxml" not in single
    assert "lightxml" in multi and "xtransformer" in multi and "tensorgcn" not in multi
    assert split_overrides(["bert:epochs=1", "linear:C=2"], ["linear", "bert"]) == \
        {"linear": ["C=2"], "bert": ["epochs=1"]}
    with pytest.raises(textzoo.ConfigError, match="MODEL:KEY=VALUE"):
        split_overrides(["epochs=1"], ["linear"])


def test_a_failing_model_is_reported_and_the_others_go_on(files, tmp_path, capsys):
    out = tmp_path / "fail"
    assert compare(files, out, "linear", "bert", "--set", "bert:pretrained=/nonexistent/folder") == 0
    captured = capsys.readouterr()
    assert "bert: failed" in captured.err
    assert "| linear |" in captured.out and "bert: failed" in (out / "leaderboard.md").read_text()
