"""`textzoo report`: a Markdown leaderboard and a bar chart from real run folders, with the papers'
numbers beside ours; peak memory recorded at training time."""

import json
import re

import numpy as np
import pytest
from matplotlib.image import imread

import textzoo
from textzoo.cli import main
from textzoo.errors import ModelFileError
from textzoo.report.leaderboard import find_runs, published_score, summarize_run, write_report


def _spread(split, n):
    """``n`` documents spread evenly over ``split`` (MR's files hold one class, then the other)."""
    step = max(1, len(split) // n)
    return split.subset(range(0, step * n, step)[:len(split)])


@pytest.fixture(scope="module")
def runs(data_dir, tmp_path_factory):
    """Three real runs: R8 and MR slices (datasets of the papers) and a user corpus (not one of them)."""
    root = tmp_path_factory.mktemp("runs")
    r8 = textzoo.load_dataset("R8", data_dir=data_dir)
    mr = textzoo.load_dataset("mr", data_dir=data_dir)
    for name, corpus, run in [("R8", r8, "r8-textgcn"), ("mr", mr, "mr-textgcn")]:
        small = textzoo.Corpus(name=name, train=_spread(corpus.train, 300), valid=_spread(corpus.valid, 50),
                               test=_spread(corpus.test, 100), labels=corpus.labels)
        model = textzoo.create("textgcn", dataset=name, epochs=10, min_count=2).fit(small)
        model.metrics = {"test": model.evaluate(small.test)}
        model.save(root / run)
    train = r8.train.head(200)
    seen = set(train.labels)  # a user corpus: validation and test labels all occur in training
    valid, test = (s.subset([i for i in range(min(n, len(s))) if s.labels[i] in seen]) for s, n in
                   ((r8.valid, 40), (r8.test, 80)))
    mine = textzoo.Corpus(name="my-news", train=train, valid=valid, test=test)
    model = textzoo.create("textgcn", epochs=10, min_count=2).fit(mine)
    model.metrics = {"test": model.evaluate(mine.test)}
    model.save(root / "my-news-textgcn")
    return root


def test_training_records_peak_memory(runs):
    for run in find_runs([runs]):
        info = json.loads((run / "config.json").read_text())["info"]
        assert info["peak_rss_scope"] in ("fit", "process")
        assert 50 < info["peak_rss_mb"] < 64_000, (run.name, info["peak_rss_mb"])
        assert info["train_seconds"] > 0


def test_published_numbers_table():
    assert published_score("textgcn", "R8") == 97.07 and published_score("textgcn", "20ng") == 86.34
    assert published_score("tensorgcn", "mr") == 77.91 and published_score("bert", "R52") == 96.4
    assert published_score("textgcn", "my-news") is None and published_score("elmo", "R8") is None
    from textzoo.models.registry import available_models, model_class

    published = [model_class(name).published for name in available_models()]
    assert all(entry["source"] and entry["accuracy"] for entry in published if entry)
    assert len([entry for entry in published if entry]) >= 3  # the figures live on the model classes


def test_report_command_writes_leaderboard_and_chart(runs, tmp_path, capsys):
    out = tmp_path / "board" / "leaderboard.md"
    assert main(["-q", "report", str(runs), "--out", str(out)]) == 0
    text = out.read_text()
    assert capsys.readouterr().out.strip() == text.strip()
    rows = [line for line in text.splitlines() if line.startswith("| textgcn")]
    assert len(rows) == 3
    cells = {row.split("|")[2].strip(): [c.strip() for c in row.split("|")[1:-1]] for row in rows}
    assert set(cells) == {"R8", "MR", "my-news"}
    for dataset, run in [("R8", "r8-textgcn"), ("MR", "mr-textgcn"), ("my-news", "my-news-textgcn")]:
        metrics = json.loads((runs / run / "metrics.json").read_text())["test"]
        info = json.loads((runs / run / "config.json").read_text())["info"]
        row = cells[dataset]
        assert row[2] == "accuracy" and row[3] == f"{100 * metrics['accuracy']:.2f}"
        assert row[8] == f"{info['peak_rss_mb']:,.0f} MB" and row[7].endswith("s")
        assert row[9] == f"`{run}`"
    assert cells["R8"][4] == "97.07" and cells["MR"][4] == "76.74" and cells["my-news"][4] == "-"
    delta = float(cells["R8"][3]) - 97.07
    assert cells["R8"][5] == f"{delta:+.2f}"
    assert "Yao et al." in text and "AAAI 2019" in text
    assert re.search(r"!\[.*\]\(leaderboard\.png\)", text)
    image = imread(out.with_suffix(".png"))
    height, width = image.shape[:2]
    assert 250 <= height <= 2500 and 500 <= width <= 2500
    rgb = np.round(image[..., :3] * 255).astype(np.uint32)
    colours = np.unique((rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2])
    assert rgb.var() > 0 and len(colours) > 10
    blue = (rgb[..., 0] == 0x1F) & (rgb[..., 1] == 0x77) & (rgb[..., 2] == 0xB4)
    orange = (rgb[..., 0] == 0xFF) & (rgb[..., 1] == 0x7F) & (rgb[..., 2] == 0x0E)
    assert blue.sum() > 500 and orange.sum() > 500  # our bars and the papers' bars are drawn


def test_rows_are_ranked_within_a_dataset(runs, tmp_path):
    second = tmp_path / "r8-again"
    model = textzoo.load(runs / "r8-textgcn")
    model.metrics = {"test": {**model.metrics["test"], "accuracy": 0.5}}
    model.save(second)
    _, _, rows = write_report([runs / "r8-textgcn", second], tmp_path / "two.md")
    text = (tmp_path / "two.md").read_text()
    assert text.index("`r8-textgcn`") < text.index("`r8-again`")  # best first
    assert summarize_run(second).score == pytest.approx(50.0)


def test_report_refuses_what_is_not_a_run(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelFileError, match="empty: neither a run folder"):
        write_report([tmp_path / "empty"], tmp_path / "r.md")
    with pytest.raises(ModelFileError, match="no such run folder"):
        write_report([tmp_path / "missing"], tmp_path / "r.md")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text("{not json")
    assert main(["-q", "report", str(bad), "--out", str(tmp_path / "r.md")]) == 2
