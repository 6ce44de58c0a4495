"""`textzoo train --tensorboard DIR`: the event file, read back with TensorBoard's own reader, holds
one point per epoch equal to the run's history, and the final test metrics."""

import csv
import json

import pytest

import textzoo
from textzoo.cli import main

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")


def test_train_writes_tensorboard_scalars(data_dir, tmp_path):
    corpus = textzoo.load_dataset("R8", data_dir=data_dir)
    for name, split, n in [("train", corpus.train, 200), ("test", corpus.test, 60)]:
        with open(tmp_path / f"{name}.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "label"])
            writer.writerows(zip(split.texts[:n], split.labels[:n]))
    out, logs = tmp_path / "run", tmp_path / "tb"
    assert main(["-q", "train", "textgcn", "--train", str(tmp_path / "train.csv"), "--test",
                 str(tmp_path / "test.csv"), "--set", "epochs=6", "--set", "stopping_rule=none",
                 "--set", "min_count=2", "--out", str(out), "--tensorboard", str(logs)]) == 0
    events = list(logs.glob("events.out.tfevents.*"))
    assert len(events) == 1
    reader = event_accumulator.EventAccumulator(str(logs))
    reader.Reload()
    tags = set(reader.Tags()["scalars"])
    assert {"train/loss", "train/acc", "valid/loss", "valid/acc", "time/epoch_seconds",
            "test/accuracy", "test/macro_f1"} <= tags
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert len(history) == 6
    for tag, key in [("train/loss", "loss"), ("valid/loss", "val_loss"), ("valid/acc", "val_acc")]:
        points = reader.Scalars(tag)
        assert [p.step for p in points] == [row["epoch"] for row in history] == list(range(1, 7))
        assert [p.value for p in points] == pytest.approx([row[key] for row in history], rel=1e-6)
    metrics = json.loads((out / "metrics.json").read_text())["test"]
    (accuracy,) = reader.Scalars("test/accuracy")
    assert accuracy.value == pytest.approx(metrics["accuracy"], rel=1e-6) and accuracy.step == 6


def test_epoch_observers_are_removed_after_the_block():
    from textzoo.training.loop import _EPOCH_OBSERVERS, EpochLoop, observe_epochs

    seen = []
    loop = EpochLoop(epochs=3, train_epoch=lambda e: {"loss": 1.0 / (e + 1)}, progress=False)
    with observe_epochs(lambda description, row: seen.append((description, row["epoch"], row["loss"]))):
        loop.run()
    assert seen == [("training", 1, 1.0), ("training", 2, 0.5), ("training", 3, 1 / 3)]
    assert not _EPOCH_OBSERVERS
    EpochLoop(epochs=2, train_epoch=lambda e: {"loss": 0.0}, progress=False).run()
    assert len(seen) == 3
