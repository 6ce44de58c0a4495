"""Loading a run folder reads only JSON and safetensors, and damaged folders get one clear error."""

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file, save_file

import textzoo
from textzoo.errors import ModelFileError


@pytest.fixture
def run(tiny_textgcn_run, tmp_path):
    """A fresh copy of the saved run to damage."""
    return shutil.copytree(tiny_textgcn_run, tmp_path / "run")


def _fails(path, *fragments):
    with pytest.raises(ModelFileError) as info:
        textzoo.load(path)
    message = str(info.value)
    assert "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_intact_run_loads(run):
    assert textzoo.load(run).predict(["crude oil prices"])[0] in textzoo.load(run).labels


@pytest.mark.parametrize("name", ["model.pkl", "weights.pt", "pytorch_model.bin", "x.pickle",
                                  "checkpoints/optimizer.pth"])
def test_pickle_files_are_refused(run, name):
    target = run / name
    target.parent.mkdir(exist_ok=True)
    target.write_bytes(b"\x80\x04\x95 not read anyway")
    _fails(run, str(target), "pickle")


def test_unknown_model_name(run):
    meta = json.loads((run / "config.json").read_text())
    meta["model"] = "evilnet"
    (run / "config.json").write_text(json.dumps(meta))
    _fails(run, str(run / "config.json"), "unknown model 'evilnet'")


@pytest.mark.parametrize("change,file,fragment", [
    (lambda m: m["config"].update(hidden=32), "model.safetensors", "'w0'"),  # config no longer fits
    (lambda m: m["labels"].append("extra"), "model.safetensors", "'w1'"),    # a label more than W1 has
    (lambda m: m["config"].update(hiden=3), "config.json", "hiden"),         # an unknown config key
    (lambda m: m["config"].update(dropout=2.0), "config.json", "dropout"),   # an invalid value
    (lambda m: m.update(labels="earn"), "config.json", "labels"),            # wrong type
    (lambda m: m.update(extra_files=["../../etc/passwd"]), "config.json", "extra_files"),  # no paths
    (lambda m: m.pop("model"), "config.json", "missing key 'model'"),
])
def test_config_that_does_not_fit(run, change, file, fragment):
    meta = json.loads((run / "config.json").read_text())
    change(meta)
    (run / "config.json").write_text(json.dumps(meta))
    _fails(run, str(run / file), fragment)


@pytest.mark.parametrize("name,make", [
    ("w1", lambda t: t[:, :-1].contiguous()),       # wrong shape
    ("w0", lambda t: t.double()),                  # wrong dtype
    ("doc_digest", lambda t: t.to(torch.int32)),   # wrong dtype
    ("idf", lambda t: t[:-1].contiguous()),        # does not match the vocabulary
])
def test_tensor_of_wrong_shape_or_dtype(run, name, make):
    tensors = load_file(str(run / "model.safetensors"))
    tensors[name] = make(tensors[name])
    save_file(tensors, str(run / "model.safetensors"))
    _fails(run, str(run / "model.safetensors"), repr(name))


def test_missing_tensor(run):
    tensors = load_file(str(run / "model.safetensors"))
    del tensors["word_hidden"]
    save_file(tensors, str(run / "model.safetensors"))
    _fails(run, "model.safetensors", "lacks tensor 'word_hidden'")


def test_vocabulary_that_does_not_fit_the_tensors(run):
    words = json.loads((run / "vocabulary.json").read_text())
    (run / "vocabulary.json").write_text(json.dumps(words[:-1]))
    _fails(run, "model.safetensors", "vocabulary")


@pytest.mark.parametrize("change,fragment", [
    (lambda words: words[:-1] + words[:1], "repeats words"),   # a word twice: two rows for one word
    (lambda words: {"words": words}, "expected a JSON list of words"),
    (lambda words: words[:-1] + [7], "expected a JSON list of words"),
])
def test_vocabulary_that_is_not_a_word_list(run, change, fragment):
    words = json.loads((run / "vocabulary.json").read_text())
    (run / "vocabulary.json").write_text(json.dumps(change(words)))
    _fails(run, str(run / "vocabulary.json"), fragment)


@pytest.mark.parametrize("name", ["model.safetensors", "config.json", "vocabulary.json", "metrics.json",
                                  "history.jsonl"])
def test_truncated_files(run, name):
    data = (run / name).read_bytes()
    (run / name).write_bytes(data[: len(data) // 2 - 1])
    _fails(run, str(run / name))


def test_missing_files(run):
    os.remove(run / "vocabulary.json")
    _fails(run, str(run / "vocabulary.json"), "missing")
    os.remove(run / "model.safetensors")
    _fails(run, str(run / "model.safetensors"), "missing")


def test_not_a_run_folder(tmp_path):
    _fails(tmp_path / "nothing", "no such run folder")
    (tmp_path / "config.json").write_text("[1, 2]")
    _fails(tmp_path, "expected a JSON object")


def test_command_line_reports_one_line(run):
    (run / "model.pkl").write_bytes(b"\x80\x04")
    proc = subprocess.run([sys.executable, "-m", "textzoo", "predict", str(run), "some text"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
    assert "model.pkl" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


@pytest.fixture
def alarm():
    """Fail a test that would hang (a blocking open or read) after 10 s instead of waiting forever."""
    import signal

    def hung(*_):
        raise TimeoutError("loading the run hung")

    old = signal.signal(signal.SIGALRM, hung)
    signal.alarm(10)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


@pytest.mark.parametrize("name", ["config.json", "vocabulary.json", "metrics.json", "history.jsonl",
                                  "model.safetensors"])
@pytest.mark.parametrize("kind", ["fifo", "/dev/zero"])
def test_files_that_are_not_regular_files_are_refused_at_once(run, name, kind, alarm):
    import time

    os.remove(run / name)
    if kind == "fifo":
        os.mkfifo(run / name)  # no writer: a blocking open would wait forever
    else:
        os.symlink("/dev/zero", run / name)  # endless zeros: an unbounded read exhausts memory
    start = time.monotonic()
    _fails(run, str(run / name), "FIFO" if kind == "fifo" else "character device", "not a regular file")
    assert time.monotonic() - start < 5


def test_fifo_config_is_refused_by_the_command_line(run):
    os.remove(run / "config.json")
    os.mkfifo(run / "config.json")
    proc = subprocess.run([sys.executable, "-m", "textzoo", "predict", str(run), "some text"],
                          capture_output=True, text=True, timeout=60)  # hung forever before
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "config.json: is a FIFO" in proc.stderr


def test_a_symlink_to_a_regular_file_is_read(run):
    os.replace(run / "vocabulary.json", run / "words.data")
    os.symlink("words.data", run / "vocabulary.json")
    assert textzoo.load(run).predict(["crude oil prices"])


def test_files_over_their_size_limit_are_refused_before_reading(run, alarm):
    from textzoo.runfiles import LIMITS

    with open(run / "config.json", "ab") as handle:  # sparse: no disk space, no read
        handle.truncate(LIMITS["config.json"] + 1)
    _fails(run, str(run / "config.json"), "over the limit of")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("name", ["w1", "idf", "doc_proba"])
def test_non_finite_weights_are_refused(run, name, value):
    tensors = load_file(str(run / "model.safetensors"))
    tensors[name].view(-1)[0] = value
    save_file(tensors, str(run / "model.safetensors"))
    _fails(run, str(run / "model.safetensors"), repr(name), "NaN or infinite")


def test_an_unexpected_tensor_is_refused(run):
    tensors = load_file(str(run / "model.safetensors"))
    tensors["backdoor"] = torch.zeros(3)
    save_file(tensors, str(run / "model.safetensors"))
    _fails(run, str(run / "model.safetensors"), "unexpected tensors ['backdoor']")
