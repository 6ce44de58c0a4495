"""Hub names without network (HF_HUB_OFFLINE unset): a name that is not in the local hub cache fails
within 5 s with a one-line error that says to pass a local folder (no 52 s of hub retries); a cached
one loads from the cache; `textzoo models` says which models need a pretrained folder offline.

"No network" is a hub endpoint on a closed local port (``HF_ENDPOINT=http://127.0.0.1:9``), the same
on a machine with network and one without."""

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


@pytest.fixture(scope="module")
def r8(data_dir):
    return textzoo.load_dataset("R8", data_dir=data_dir)


def _offline_env(cache) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    return {**env, "HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_CACHE": str(cache), "OMP_NUM_THREADS": "1"}


def test_unreachable_hub_names_fail_fast_with_one_line(r8, tmp_path):
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--gpt2"
    tiny_checkpoint("gpt2", repo / "snapshots" / commit, r8.train.texts[:200])
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    with open(tmp_path / "train.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["text", "label"], *zip(r8.train.texts[:16], r8.train.labels[:16])])
    with open(tmp_path / "test.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["text", "label"], *zip(r8.train.texts[:16], r8.train.labels[:16])])
    script = textwrap.dedent(f"""
        import json, time
        from textzoo.cli import main
        from textzoo.models.hf_backbone import load_backbone
        out = {{}}
        for model in ("albert", "gpt", "albert", "gpt"):  # timed the second time: not the lazy imports
            t = time.perf_counter()
            rc = main(["-q", "train", model, "--train", {str(tmp_path / "train.csv")!r},
                       "--test", {str(tmp_path / "test.csv")!r},
                       "--out", {str(tmp_path)!r} + "/run-" + model, "--set", "epochs=1"])
            out[model] = [rc, time.perf_counter() - t]
        backbone, tok = load_backbone("AutoModelForCausalLM", "gpt2", "gpt")   # in the cache: loads
        out["cached"] = type(backbone).__name__
        print("RESULT " + json.dumps(out))
    """)
    proc = subprocess.run([sys.executable, "-c", script], env=_offline_env(tmp_path / "hub"), capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.split("RESULT ", 1)[1])
    for model, default in (("albert", "albert-base-v2"), ("gpt", "openai-gpt")):
        rc, seconds = result[model]
        assert rc == 2 and seconds < 5, (model, rc, seconds)
        lines = [line for line in proc.stderr.splitlines() if default in line]
        assert len(lines) == 2 and lines[0] == lines[1], proc.stderr[-3000:]
        assert "cannot be reached" in lines[0] and "pass a local folder" in lines[0]
        assert f"textzoo pretrain {model}" in lines[0]
    assert "Traceback" not in proc.stderr
    assert result["cached"] == "GPT2LMHeadModel"


def test_models_lists_what_needs_a_pretrained_folder_offline(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "textzoo", "models"], env=_offline_env(tmp_path / "empty-hub"),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    notes, model = {}, None
    for line in proc.stdout.splitlines():
        if line and not line.startswith(" "):
            model = line.split(":", 1)[0]
        elif line.startswith("  offline: "):
            notes[model] = line[len("  offline: "):]
    for name in ("albert", "gpt", "elmo"):
        assert notes[name].startswith("needs a pretrained folder"), notes
        assert f"textzoo pretrain {name}" in notes[name]
    for name in ("bert", "lightxml", "xtransformer", "textgcn", "tensorgcn"):
        assert notes[name] == "trains with its defaults", notes
