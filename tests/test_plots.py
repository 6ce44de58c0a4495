"""Run plots: `textzoo train` writes them beside the metrics; each PNG loads, has a sensible size
and is not blank."""

import csv

import numpy as np
import pytest
from matplotlib.image import imread

import textzoo
from textzoo.cli import main
from textzoo.metrics import propensities
from textzoo.report import label_matrix, write_model_plots, write_run_plots

SINGLE_LABEL_PLOTS = ["learning_curves.png", "confusion_matrix.png", "per_class_f1.png"]


def check_png(path, min_side=250, max_side=2500):
    """The PNG loads, has a plausible size and shows something (more than one colour)."""
    assert path.exists(), f"{path.name} was not written"
    image = imread(path)
    height, width = image.shape[:2]
    assert min_side <= height <= max_side and min_side <= width <= max_side, (path.name, image.shape)
    rgb = np.round(image[..., :3] * 255).astype(np.uint32)
    assert rgb.var() > 0, f"{path.name} is blank"
    colours = np.unique((rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2])
    assert len(colours) > 10, f"{path.name} has almost no colours"
    return image


@pytest.fixture(scope="module")
def trained_run(data_dir, tmp_path_factory):
    """`textzoo train` on R8 slices written as the user's CSV files."""
    corpus = textzoo.load_dataset("R8", data_dir=data_dir)
    folder = tmp_path_factory.mktemp("plots")
    for name, split, n in [("train", corpus.train, 300), ("test", corpus.test, 120)]:
        with open(folder / f"{name}.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "label"])
            writer.writerows(zip(split.texts[:n], split.labels[:n]))
    out = folder / "run"
    code = main(["-q", "train", "textgcn", "--train", str(folder / "train.csv"), "--test",
                 str(folder / "test.csv"), "--set", "epochs=20", "--set", "min_count=2", "--out", str(out)])
    assert code == 0
    return out


def test_train_writes_single_label_plots(trained_run):
    assert (trained_run / "metrics.json").exists()
    for name in SINGLE_LABEL_PLOTS:
        check_png(trained_run / name)
    assert not (trained_run / "precision_at_k.png").exists()
    assert not list(trained_run.glob(".*.tmp")), "a temporary file was left behind"


def test_learning_curves_have_two_panels(trained_run):
    image = check_png(trained_run / "learning_curves.png")
    assert image.shape[1] > 1.8 * image.shape[0]  # loss and validation metric side by side


def test_confusion_matrix_grows_with_the_number_of_classes(tmp_path):
    rng = np.random.default_rng(0)
    sizes = {}
    for n in (2, 52):
        labels = [f"class-{i}" for i in range(n)]
        y_true = rng.integers(0, n, 500)
        y_pred = np.where(rng.random(500) < 0.7, y_true, rng.integers(0, n, 500))
        paths = write_run_plots(tmp_path / str(n), [], y_true=y_true, y_pred=y_pred, labels=labels)
        assert [p.name for p in paths] == ["confusion_matrix.png", "per_class_f1.png"]
        sizes[n] = check_png(tmp_path / str(n) / "confusion_matrix.png").shape
        check_png(tmp_path / str(n) / "per_class_f1.png", min_side=200)
    # 52 label names need room: at least about 20 pixels per row
    assert sizes[52][0] >= 52 * 20 and sizes[52][0] > sizes[2][0]


def test_multilabel_run_writes_precision_at_k(data_dir, tmp_path):
    corpus = textzoo.load_dataset("reuters21578", data_dir=data_dir)
    small = textzoo.Corpus(name="reuters-small", train=corpus.train.head(150), valid=corpus.valid.head(30),
                           test=corpus.test.head(60), multilabel=True)
    model = textzoo.create("textgcn", epochs=15, stopping_rule="none", min_count=2).fit(small)
    paths = write_model_plots(tmp_path, model, small.test, train=small.train)
    assert sorted(p.name for p in paths) == ["learning_curves.png", "precision_at_k.png"]
    for path in paths:
        check_png(path)


def test_precision_at_k_with_and_without_propensities(tmp_path):
    rng = np.random.default_rng(1)
    names = [f"l{i}" for i in range(30)]
    rows = [[names[j] for j in rng.choice(30, size=rng.integers(1, 4), replace=False)] for _ in range(80)]
    truth = label_matrix(rows, names)
    assert truth.shape == (80, 30) and truth.sum() == sum(len(r) for r in rows)
    scores = rng.random((80, 30)) + truth.toarray()  # better than chance
    write_run_plots(tmp_path / "a", [], scores=scores, truth=truth, propensity=propensities(truth))
    write_run_plots(tmp_path / "b", [], scores=scores, truth=truth)
    check_png(tmp_path / "a" / "precision_at_k.png")
    check_png(tmp_path / "b" / "precision_at_k.png")


def test_history_without_losses_writes_no_learning_curves(tmp_path):
    assert write_run_plots(tmp_path, [{"epoch": 1, "seconds": 0.1}]) == []
    assert write_run_plots(tmp_path, []) == []
