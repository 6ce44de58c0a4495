"""Checkpoints by Hugging Face hub name (`--set pretrained=gpt2`, `bert-base-uncased`, `albert-base-v2`,
`openai-gpt`): the names resolve through the hub cache exactly as after a download. The test fills a
hub cache folder with tiny checkpoints of those architectures (saved by the test itself) and runs
`textzoo train` offline against it, so the path that users with network take is exercised without
network; an unknown name fails with a clear error."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap

import pytest

import textzoo

from tiny_transformers import tiny_checkpoint

NAMES = {"bert-base-uncased": ("bert", "bert"), "albert-base-v2": ("albert", "albert"),
         "openai-gpt": ("gpt", "openai-gpt"), "gpt2": ("gpt", "gpt2")}


@pytest.fixture(scope="module")
def r8(data_dir):
    return textzoo.load_dataset("R8", data_dir=data_dir)


def _hub_cache(root, r8):
    """``root`` laid out as huggingface_hub's cache: models--NAME/{refs/main, snapshots/COMMIT/...}."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    for name, (_, arch) in NAMES.items():
        repo = root / ("models--" + name.replace("/", "--"))
        tiny_checkpoint(arch, repo / "snapshots" / commit, r8.train.texts[:200])
        (repo / "refs").mkdir(parents=True)
        (repo / "refs" / "main").write_text(commit)
    return root


def test_hub_names_resolve_through_the_hub_cache(r8, tmp_path):
    cache = _hub_cache(tmp_path / "hub", r8)
    train = list(zip(r8.train.texts[:24], r8.train.labels[:24]))
    seen = {label for _, label in train}
    test = [(t, label) for t, label in zip(r8.test.texts, r8.test.labels) if label in seen][:8]
    for name, rows in (("train.csv", train), ("test.csv", test)):
        with open(tmp_path / name, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["text", "label"])
            writer.writerows(rows)
    script = textwrap.dedent(f"""
        import json, sys
        import textzoo
        from textzoo.cli import main
        out = {{}}
        for name, model in {json.dumps({k: v[0] for k, v in NAMES.items()})}.items():
            run = {str(tmp_path)!r} + "/run-" + name
            rc = main(["-q", "train", model, "--train", {str(tmp_path / "train.csv")!r},
                       "--test", {str(tmp_path / "test.csv")!r}, "--out", run, "--set", "pretrained=" + name,
                       "--set", "max_length=24", "--set", "epochs=1", "--set", "batch_size=8"])
            loaded = textzoo.load(run)
            out[name] = [rc, type(loaded.net.backbone).__name__, loaded.config.pretrained]
        rc = main(["-q", "train", "bert", "--train", {str(tmp_path / "train.csv")!r},
                   "--test", {str(tmp_path / "test.csv")!r}, "--out", {str(tmp_path / "bad")!r},
                   "--set", "pretrained=no-such-user/no-such-model"])
        out["unknown"] = rc
        print("RESULT " + json.dumps(out))
    """)
    env = {**os.environ, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.split("RESULT ", 1)[1])
    assert result["bert-base-uncased"] == [0, "BertModel", "bert-base-uncased"]
    assert result["albert-base-v2"] == [0, "AlbertModel", "albert-base-v2"]
    assert result["openai-gpt"] == [0, "OpenAIGPTLMHeadModel", "openai-gpt"]
    assert result["gpt2"] == [0, "GPT2LMHeadModel", "gpt2"]
    assert result["unknown"] == 2 and "cannot load pretrained='no-such-user/no-such-model'" in proc.stderr


def test_a_missing_checkpoint_folder_is_named(r8, tmp_path):
    missing = tmp_path / "no-such-folder"
    with pytest.raises(textzoo.errors.ConfigError, match=f"pretrained='{missing}': no such folder"):
        textzoo.create("bert", pretrained=str(missing), epochs=1).fit(r8.train.head(8))
