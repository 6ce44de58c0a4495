"""Data-parallel fine-tuning: `torchrun --nproc_per_node 2 -m textzoo train bert` (gloo on CPU) ends
with the same model as one process on the same global batches (dropout off)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import textzoo
from textzoo.cli import main as cli_main

from tiny_transformers import tiny_checkpoint

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def r8(data_dir):
    return textzoo.load_dataset("R8", data_dir=data_dir)


def test_two_processes_equal_one_on_the_same_global_batch(r8, tmp_path):
    import torch.distributed as dist

    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("torch.distributed with gloo is not available in this torch build")
    ckpt = tiny_checkpoint("bert", tmp_path / "tiny-bert", r8.train.texts[:300])
    for name, split, n in (("train.csv", r8.train, 40), ("test.csv", r8.test, 16)):
        with open(tmp_path / name, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["text", "label"])
            writer.writerows(zip(split.texts[:n], split.labels[:n]))
    sets = {"pretrained": ckpt, "max_length": 32, "batch_size": 8, "grad_accum": 2, "epochs": 2, "lr": 1e-3,
            "dropout": 0.0, "backbone_dropout": 0.0, "device": "cpu"}

    def args(out):
        a = ["-q", "train", "bert", "--train", str(tmp_path / "train.csv"), "--test", str(tmp_path / "test.csv"),
             "--out", str(out)]
        for k, v in sets.items():
            a += ["--set", f"{k}={v}"]
        return a

    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          "-m", "textzoo", *args(tmp_path / "ddp")], env=env, capture_output=True, text=True,
                         timeout=300)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    assert cli_main(args(tmp_path / "single")) == 0

    two, one = textzoo.load(tmp_path / "ddp"), textzoo.load(tmp_path / "single")
    assert two.info["world_size"] == 2 and one.info["world_size"] == 1
    a, b = two.net.state_dict(), one.net.state_dict()
    moved = 0
    start = dict(__import__("transformers").AutoModel.from_pretrained(ckpt).named_parameters())
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=2e-5, rtol=1e-4)
        name = key.removeprefix("backbone.")
        if name in start:
            moved += int(not torch.allclose(b[key], start[name]))
    assert moved > 10  # training changed the weights: the comparison is not between two copies of the start
    texts = r8.test.texts[:16]
    np.testing.assert_allclose(two.predict_proba(texts), one.predict_proba(texts), atol=1e-5)
    # both logged the global mean loss per epoch
    np.testing.assert_allclose([h["loss"] for h in two.history], [h["loss"] for h in one.history], rtol=1e-4)
