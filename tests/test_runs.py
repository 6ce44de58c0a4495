"""The run layer: one train call for the CLI and Python (same folder, metrics and plots), finished
runs kept unless --overwrite, what a killed save leaves cleaned; runtime settings apart from the
hyper-parameters (a run whose config.json says device=cuda predicts, evaluates, serves and resumes
on the CPU); one-line errors for wrong config types and unusable devices."""

import csv
import json
import os
import shutil
from pathlib import Path

import httpx
import numpy as np
import pytest

import textzoo
from textzoo.cli import main
from textzoo.data.corpus import Corpus
from textzoo.errors import ConfigError, ModelFileError
from textzoo.runtime import RUNTIME_KEYS
from textzoo.serving import running_server
from textzoo.training.checkpoint import POINTER_FILE

from tiny_transformers import tiny_checkpoint

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SETTINGS = {"epochs": 15, "min_count": 2}
SETS = ["--set", "epochs=15", "--set", "min_count=2"]


@pytest.fixture(scope="module")
def r8(data_dir):
    return textzoo.load_dataset("R8", data_dir=data_dir)


@pytest.fixture(scope="module")
def files(r8, tmp_path_factory):
    folder = tmp_path_factory.mktemp("files")
    for name, split, n in [("train", r8.train, 200), ("test", r8.test, 80)]:
        with open(folder / f"{name}.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "label"])
            writer.writerows(zip(split.texts[:n], split.labels[:n]))
    return folder


def _corpus(files):
    return Corpus.from_files(train=files / "train.csv", test=files / "test.csv").with_validation(0.1, 0)


def _cli_args(files, out, *extra):
    return ["-q", "train", "textgcn", "--train", str(files / "train.csv"), "--test", str(files / "test.csv"),
            *SETS, "--out", str(out), *extra]


def _cli_train(files, out, *extra):
    return main(_cli_args(files, out, *extra))


@pytest.fixture(scope="module")
def cli_run(files, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    assert _cli_train(files, out) == 0
    return out


def test_python_train_writes_the_same_folder_as_the_cli(cli_run, files, tmp_path):
    result = textzoo.train("textgcn", _corpus(files), tmp_path / "run", overrides=SETTINGS)
    assert result.out == tmp_path / "run" and not result.already_finished
    names = sorted(p.name for p in cli_run.iterdir())
    assert sorted(p.name for p in result.out.iterdir()) == names
    assert {"config.json", "metrics.json", "history.jsonl", "model.safetensors"} <= set(names)
    assert any(name.endswith(".png") for name in names)
    cli_metrics = json.loads((cli_run / "metrics.json").read_text())
    assert result.metrics["test"] == cli_metrics["test"] and result.metrics["valid"] == cli_metrics["valid"]
    cli_meta, meta = (json.loads((run / "config.json").read_text()) for run in (cli_run, result.out))
    assert meta["config"] == cli_meta["config"] and meta["info"]["fingerprint"] == cli_meta["info"]["fingerprint"]


def test_a_finished_run_is_replaced_only_with_overwrite(cli_run, files, tmp_path, capsys):
    out = tmp_path / "run"
    shutil.copytree(cli_run, out)
    before = (out / "metrics.json").read_text()
    capsys.readouterr()
    assert _cli_train(files, out, "--set", "hidden=16") == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].startswith(f"error: {out} holds a finished textgcn run (test accuracy ")
    assert "--overwrite" in err and "Traceback" not in err
    assert (out / "metrics.json").read_text() == before
    with pytest.raises(ConfigError, match="overwrite"):
        textzoo.train("textgcn", _corpus(files), out, overrides={**SETTINGS, "hidden": 16})
    # --resume: the finished run of these settings is reported, one of other settings kept
    assert _cli_train(files, out, "--resume") == 0
    assert "already holds the finished run" in capsys.readouterr().out
    assert _cli_train(files, out, "--resume", "--set", "hidden=16") == 2
    assert "with other data or settings" in capsys.readouterr().err
    assert (out / "metrics.json").read_text() == before
    assert _cli_train(files, out, "--set", "hidden=16", "--overwrite") == 0
    assert json.loads((out / "config.json").read_text())["config"]["hidden"] == 16


def test_a_save_killed_after_its_swap_is_cleaned_and_plots_come_before_the_swap(cli_run, files, tmp_path,
                                                                                 monkeypatch):
    out, leftover = tmp_path / "run", tmp_path / ".run.previous"
    shutil.copytree(cli_run, out)
    shutil.copytree(cli_run, leftover)  # killed between the swap and the backup's deletion
    assert textzoo.train("textgcn", _corpus(files), out, overrides=SETTINGS, resume=True).already_finished
    assert not leftover.exists() and out.is_dir()

    real_replace, swapped = os.replace, {}

    def replace(src, dst):
        if str(src).endswith(".saving"):  # the moment the new folder becomes the run
            swapped.update(plots=sorted(p.name for p in Path(src).glob("*.png")),
                           metrics=(Path(src) / "metrics.json").is_file())
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    textzoo.train("textgcn", _corpus(files), out, overrides={**SETTINGS, "hidden": 8}, overwrite=True)
    assert swapped["metrics"] and swapped["plots"]
    assert swapped["plots"] == sorted(p.name for p in out.glob("*.png"))


# --------------------------------------------------------------------------------------------
# runtime settings


BERT = {"max_length": 32, "epochs": 1, "batch_size": 8, "lr": 1e-3}


@pytest.fixture(scope="module")
def bert(r8, tmp_path_factory):
    """A tiny bert run, its config.json then given the runtime keys a GPU run saved before they
    were kept apart (device=cuda, ...)."""
    tiny = tiny_checkpoint("bert", tmp_path_factory.mktemp("tiny"), r8.train.texts[:200])
    corpus = Corpus(name="r8-slice", train=r8.train.head(48), valid=r8.valid.head(16), test=r8.test.head(24),
                    labels=r8.labels)
    out = tmp_path_factory.mktemp("bert") / "run"
    result = textzoo.train("bert", corpus, out, overrides={"pretrained": str(tiny), **BERT}, eval_batch_size=8)
    meta = json.loads((out / "config.json").read_text())
    assert not RUNTIME_KEYS & set(meta["config"])  # runtime settings are not saved
    meta["config"].update(device="cuda", eval_batch_size=7, compile=True, checkpoint_steps=3)
    (out / "config.json").write_text(json.dumps(meta))
    return corpus, tiny, out, result


def test_a_cuda_run_predicts_and_evaluates_on_the_cpu(bert, capsys):
    corpus, _, out, result = bert
    model = textzoo.load(out)
    assert model.config.device == "auto" and model.config.compile is False  # old runtime keys ignored
    assert textzoo.load(out, device="cpu").config.device == "cpu"
    texts = corpus.test.texts[:5]
    np.testing.assert_allclose(model.predict_proba(texts), result.model.predict_proba(texts), atol=1e-6)
    assert model.evaluate(corpus.test) == pytest.approx(result.metrics["test"])
    for extra in ([], ["--device", "cpu"]):
        capsys.readouterr()
        assert main(["-q", "predict", str(out), *texts, *extra]) == 0
        assert capsys.readouterr().out.split("\n")[:5] == model.predict(texts)


def test_a_cuda_run_serves_on_the_cpu(bert, tmp_path):
    corpus, _, out, _ = bert
    texts = corpus.test.texts[:4]
    expected = [[label for label, _ in row] for row in textzoo.load(out).predict(texts, top_k=2)]
    with running_server(out, tmp_path / "server.log", startup_s=90) as server:  # no --device: auto
        answer = httpx.post(server.url + "/v1/predict", json={"texts": texts, "top_k": 2}, timeout=60)
        card = httpx.get(server.url + "/v1/model", timeout=60).json()
    assert answer.status_code == 200, answer.text
    assert [[x["label"] for x in p["labels"]] for p in answer.json()["predictions"]] == expected
    assert card["config"]["device"] == "auto"


def test_a_checkpoint_written_with_device_cuda_resumes_on_the_cpu(bert, tmp_path):
    corpus, tiny, _, _ = bert
    folder = tmp_path / "checkpoints"
    settings = {"pretrained": str(tiny), **BERT, "checkpoint_steps": 2}
    reference = textzoo.create("bert", **settings).fit(corpus.train, corpus.valid, checkpoint_dir=folder)
    pointer = json.loads((folder / POINTER_FILE).read_text())
    state_file = folder / f"{pointer['checkpoint']}.json"
    state = json.loads(state_file.read_text())
    state["state"]["fingerprint"]["config"].update(device="cuda", eval_batch_size=7)  # as written before
    state_file.write_text(json.dumps(state))
    resumed = textzoo.create("bert", **{**settings, "checkpoint_steps": 5}).fit(corpus.train, corpus.valid,
                                                                       checkpoint_dir=folder, resume=True)
    texts = corpus.test.texts[:5]
    np.testing.assert_allclose(resumed.predict_proba(texts), reference.predict_proba(texts), atol=1e-6)
    with pytest.raises(ConfigError, match="max_length: 32 then, 24 now"):
        textzoo.create("bert", **{**settings, "max_length": 24}).fit(corpus.train, corpus.valid,
                                                                     checkpoint_dir=folder, resume=True)


# --------------------------------------------------------------------------------------------
# one-line errors


def test_wrong_types_and_unusable_devices_are_one_line_errors(cli_run, bert, files, tmp_path, capsys):
    bert_args = ["-q", "train", "bert", "--train", str(files / "train.csv"), "--test", str(files / "test.csv"),
                 "--set", f"pretrained={bert[1]}", "--out", str(tmp_path / "b")]
    cases = [(_cli_args(files, tmp_path / "x", "--set", "epochs=abc"), "error: --set: epochs: expected int, got 'abc' (str)"),
             (_cli_args(files, tmp_path / "x", "--device", "cuda"), "error: model 'textgcn' computes on the CPU only"),
             ([*bert_args, "--set", "device=cuda:99"], "error: device 'cuda:99': this machine has"),
             ([*bert_args, "--device", "tpu"], "error: device 'tpu' is not a torch device name")]
    for args, start in cases:
        capsys.readouterr()
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.strip().splitlines()[-1].startswith(start), err
        assert "Traceback" not in err
    run = tmp_path / "tampered"
    shutil.copytree(cli_run, run)
    meta = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**meta, "multilabel": "false"}))
    with pytest.raises(ModelFileError, match="'multilabel' must be true or false"):
        textzoo.load(run)
    (run / "config.json").write_text(json.dumps({**meta, "config": {**meta["config"], "hidden": "200"}}))
    assert textzoo.load(run).config.hidden == 200  # lax: a number as text
    (run / "config.json").write_text(json.dumps({**meta, "config": {**meta["config"], "hidden": "many"}}))
    with pytest.raises(ModelFileError, match=r"config.json: hidden: expected int, got 'many'"):
        textzoo.load(run)
