"""Interrupted training resumes to the same model; a save killed half-way loses nothing.

The SIGKILL tests run the real ``textzoo`` command in subprocesses and kill them at random moments
drawn from a seeded RNG, so a failure replays with the same kill schedule (up to machine speed).
"""

import csv
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import textzoo
from textzoo.data.corpus import Corpus
from textzoo.errors import ConfigError
from textzoo.models.base import recover_run_folder
from textzoo.training import EarlyStopping, EpochLoop
from textzoo.training import checkpoint as ckpt

TEXTZOO = [sys.executable, "-m", "textzoo"]


# --------------------------------------------------------------------------------------------
# the loop and the checkpoint files (no model)


def _toy_loop(epochs, values, log, **kw):
    values = list(values)

    def train_epoch(epoch):
        log.append(epoch)
        return {"loss": float(epoch)}

    return EpochLoop(epochs=epochs, train_epoch=train_epoch,
                     validate=lambda e: {"val_loss": values[e]}, stopper=EarlyStopping("patience", 2),
                     progress=False, **kw)


def test_loop_checkpoints_and_resumes_where_it_stopped():
    values = [5.0, 4.0, 3.0, 3.5, 3.6, 3.7, 1.0]
    saved, ran = [], []
    loop = _toy_loop(7, values, ran, checkpoint=lambda l: saved.append(json.loads(json.dumps(l.state_dict()))),
                     checkpoint_every=2)
    history = loop.run()
    assert loop.stopped_epoch == 5 and [s["epoch"] for s in saved] == [2, 4, 5]  # every 2nd + the stop
    # resume after epoch 2: runs epochs 3..5 (0-based 2..4) and stops at the same epoch
    again, ran2 = [], []
    resumed = _toy_loop(7, values, ran2, checkpoint=lambda l: again.append(l.epoch), checkpoint_every=2)
    resumed.load_state_dict(saved[0])
    assert resumed.run() == history and ran2 == [2, 3, 4] and resumed.stopped_epoch == 5
    # resume from the checkpoint taken at the stop: nothing left to run
    ran3 = []
    done = _toy_loop(7, values, ran3)
    done.load_state_dict(saved[-1])
    assert done.run() == history and ran3 == []


def test_checkpoint_pair_round_trip_and_pruning(tmp_path):
    opt_param = torch.nn.Parameter(torch.ones(3, 2))
    optimizer = torch.optim.Adam([opt_param], lr=0.1, betas=(0.8, 0.9))
    opt_param.grad = torch.full((3, 2), 0.5)
    optimizer.step()
    o_tensors, o_state = ckpt.optimizer_state(optimizer)
    r_tensors, r_state = ckpt.rng_state()
    expected_draw = torch.rand(4)
    for i in range(3):
        ckpt.save_checkpoint(tmp_path, {"w": torch.full((2,), float(i)), **o_tensors, **r_tensors},
                             {"i": i, "optimizer": o_state, "rng": r_state})
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "checkpoint-000003.json", "checkpoint-000003.safetensors", "latest.json"]
    tensors, state = ckpt.load_checkpoint(tmp_path)
    assert state["i"] == 2 and tensors["w"].tolist() == [2.0, 2.0]
    fresh = torch.optim.Adam([torch.nn.Parameter(torch.ones(3, 2))], lr=0.1)
    ckpt.load_optimizer_state(fresh, tensors, state["optimizer"])
    assert fresh.param_groups[0]["betas"] == (0.8, 0.9)
    assert torch.equal(fresh.state_dict()["state"][0]["exp_avg"], optimizer.state_dict()["state"][0]["exp_avg"])
    ckpt.set_rng_state(tensors, state["rng"])
    assert torch.equal(torch.rand(4), expected_draw)
    ckpt.clear_checkpoints(tmp_path)
    assert ckpt.load_checkpoint(tmp_path) is None


def test_checkpoint_killed_before_the_pointer_keeps_the_previous_one(tmp_path, monkeypatch):
    ckpt.save_checkpoint(tmp_path, {"w": torch.zeros(2)}, {"n": 1})
    real = ckpt.atomic_write_json

    def dies_at_the_pointer(path, obj):
        if Path(path).name == ckpt.POINTER_FILE:
            raise KeyboardInterrupt  # the process dies here
        real(path, obj)

    monkeypatch.setattr(ckpt, "atomic_write_json", dies_at_the_pointer)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save_checkpoint(tmp_path, {"w": torch.ones(2)}, {"n": 2})
    assert ckpt.load_checkpoint(tmp_path)[1] == {"n": 1}
    monkeypatch.setattr(ckpt, "atomic_write_json", real)
    ckpt.save_checkpoint(tmp_path, {"w": torch.ones(2)}, {"n": 3})  # the orphan pair is pruned
    assert ckpt.load_checkpoint(tmp_path)[1] == {"n": 3}
    assert len(list(tmp_path.glob("checkpoint-*"))) == 2


# --------------------------------------------------------------------------------------------
# TextGCN through the Python API: an exception stands in for the kill


@pytest.fixture(scope="module")
def tiny_r8(data_dir):
    corpus = textzoo.load_dataset("R8", data_dir=data_dir)
    return Corpus(name="R8-tiny", train=corpus.train.head(250), valid=corpus.valid.head(40),
                  test=corpus.test.head(60), labels=corpus.labels)


class _Killed(Exception):
    pass


@pytest.mark.parametrize("rule,restore_best", [("code", True), ("patience", False)])
def test_python_resume_matches_uninterrupted_run(tiny_r8, tmp_path, monkeypatch, rule, restore_best):
    settings = dict(epochs=30, min_count=2, seed=3, stopping_rule=rule, early_stopping=4,
                    restore_best=restore_best, lr=0.05)
    reference = textzoo.create("textgcn", **settings).fit(tiny_r8)
    real_save = ckpt.save_checkpoint
    calls = {"n": 0}

    def save_then_die(*args, **kw):
        real_save(*args, **kw)
        calls["n"] += 1
        if calls["n"] % 2 == 0:  # every second checkpoint: several resumes however early it stops
            raise _Killed

    monkeypatch.setattr(ckpt, "save_checkpoint", save_then_die)
    folder = tmp_path / "ck"
    resumes = 0
    while True:
        model = textzoo.create("textgcn", **settings, checkpoint_every=2)
        try:
            model.fit(tiny_r8, checkpoint_dir=folder, resume=resumes > 0)
            break
        except _Killed:
            resumes += 1
    assert resumes >= 2, "the run was never interrupted"
    assert model.info["resumed_at"][0] > 0
    assert [_strip(r) for r in model.history] == [_strip(r) for r in reference.history]
    for name, tensor in reference._tensors.items():
        torch.testing.assert_close(model._tensors[name], tensor, rtol=0, atol=1e-6)
    assert model.evaluate(tiny_r8.test) == reference.evaluate(tiny_r8.test)


def test_resume_with_other_settings_is_refused(tiny_r8, tmp_path):
    folder = tmp_path / "ck"
    textzoo.create("textgcn", epochs=3, min_count=2).fit(tiny_r8, checkpoint_dir=folder)
    with pytest.raises(ConfigError, match=r"hidden: 200 then, 16 now"):
        textzoo.create("textgcn", epochs=3, min_count=2, hidden=16).fit(tiny_r8, checkpoint_dir=folder, resume=True)
    other = Corpus(name="x", train=tiny_r8.train.head(200), valid=tiny_r8.valid, test=tiny_r8.test,
                   labels=tiny_r8.labels)
    with pytest.raises(ConfigError, match="the data differs; documents differ"):
        textzoo.create("textgcn", epochs=3, min_count=2).fit(other, checkpoint_dir=folder, resume=True)
    with pytest.raises(ConfigError, match="checkpoint_dir"):
        textzoo.create("textgcn").fit(tiny_r8, resume=True)


def _strip(row):
    return {k: v for k, v in row.items() if k != "seconds"}


# --------------------------------------------------------------------------------------------
# SIGKILL at random moments, through the command line


@pytest.fixture(scope="module")
def r8_files(data_dir, tmp_path_factory):
    corpus = textzoo.load_dataset("R8", data_dir=data_dir)
    folder = tmp_path_factory.mktemp("r8files")
    for name, split, n in [("train", corpus.train, 400), ("test", corpus.test, 150)]:
        with open(folder / f"{name}.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "label"])
            writer.writerows(zip(split.texts[:n], split.labels[:n]))
    return folder


def _train_args(files, out, *extra):
    return TEXTZOO + ["-q", "train", "textgcn", "--train", str(files / "train.csv"), "--test",
                      str(files / "test.csv"), "--seed", "5", "--set", "epochs=40", "--set", "min_count=2",
                      "--set", "stopping_rule=none", "--out", str(out), *extra]


def _start(args, data_dir):
    env = {**os.environ, "TEXTZOO_DATA": str(data_dir)}
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _pointer(folder: Path):
    try:
        return (folder / "checkpoints" / ckpt.POINTER_FILE).read_text()
    except OSError:
        return None


def test_sigkill_at_random_moments_then_resume_gives_the_same_model(r8_files, data_dir, tmp_path):
    rng = random.Random(8)
    reference = tmp_path / "reference"
    start = time.perf_counter()
    proc = _start(_train_args(r8_files, reference), data_dir)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    total = time.perf_counter() - start
    train_seconds = sum(row["seconds"] for row in map(json.loads, (reference / "history.jsonl").read_text().splitlines()))

    out = tmp_path / "interrupted"
    kills, epochs_seen = 0, []
    for round_ in range(7):
        every = rng.choice([1, 2, 5, 10])  # checkpoint_every may change between resumptions
        proc = _start(_train_args(r8_files, out, "--resume", "--set", f"checkpoint_every={every}"), data_dir)
        began = time.perf_counter()
        if round_ < 2:
            # wait for this process's first checkpoint (training is under way), then a random moment
            # within the training time that is left, so the kill lands mid-training or mid-checkpoint
            before = _pointer(out)
            while proc.poll() is None and _pointer(out) == before and time.perf_counter() - began < 120:
                time.sleep(0.005)
            left = train_seconds * (1 - _checkpoint_epoch(out) / 40)
            time.sleep(rng.uniform(0, 0.6 * max(left, 0.05)))
        else:
            time.sleep(rng.uniform(0, total))  # anywhere in a whole run: start-up, training or saving
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            if _pointer(out):
                epochs_seen.append(_checkpoint_epoch(out))
                assert ckpt.load_checkpoint(out / "checkpoints") is not None
        else:
            proc.communicate()
        if kills >= 3:
            break
    assert kills >= 3, f"only {kills} kills landed"
    assert epochs_seen and max(epochs_seen) > 0, "no kill landed after a checkpoint"
    proc = _start(_train_args(r8_files, out, "--resume"), data_dir)
    stdout, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert "accuracy" in stdout

    expected, got = load_file(str(reference / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert expected.keys() == got.keys()
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=0, atol=1e-6)
    metrics = json.loads((out / "metrics.json").read_text())
    ref_metrics = json.loads((reference / "metrics.json").read_text())
    assert metrics["test"] == ref_metrics["test"] and metrics["valid"] == ref_metrics["valid"]
    rows = [_strip(json.loads(line)) for line in (out / "history.jsonl").read_text().splitlines()]
    assert rows == [_strip(json.loads(line)) for line in (reference / "history.jsonl").read_text().splitlines()]
    texts = ["crude oil prices opec", "net profit dividend shares", "wheat tonnes exports"]
    np.testing.assert_allclose(textzoo.load(out).predict_proba(texts),
                               textzoo.load(reference).predict_proba(texts), rtol=0, atol=1e-6)
    assert not (out / "checkpoints").exists()  # the finished run replaced the folder whole


def _checkpoint_epoch(out: Path) -> int:
    """Completed epochs in the newest checkpoint (0 if none), read while the writer may be running."""
    for _ in range(100):
        try:
            pointer = json.loads((out / "checkpoints" / ckpt.POINTER_FILE).read_text())
            meta = json.loads((out / "checkpoints" / f"{pointer['checkpoint']}.json").read_text())
            return meta["state"]["loop"]["epoch"]
        except FileNotFoundError:
            if _pointer(out) is None:
                return 0
        except (OSError, ValueError):  # replaced or pruned between the two reads
            pass
        time.sleep(0.01)
    return 0


# --------------------------------------------------------------------------------------------
# killing a save


SAVER = textwrap.dedent("""
    import sys, textzoo
    model = textzoo.load(sys.argv[1])
    i = 0
    while True:
        model.metrics = {"version": i}
        model.save(sys.argv[2])
        print(i, flush=True)
        i += 1
""")


@pytest.fixture(scope="module")
def saved_run(tiny_r8, tmp_path_factory):
    model = textzoo.create("textgcn", epochs=5, min_count=1).fit(tiny_r8)
    return model.save(tmp_path_factory.mktemp("src") / "run")


def test_sigkill_while_saving_leaves_a_loadable_run(saved_run, tmp_path):
    rng = random.Random(11)
    target = tmp_path / "run"
    original = textzoo.load(saved_run)
    texts = ["crude oil", "profit"]
    versions = []
    for _ in range(4):
        proc = subprocess.Popen([sys.executable, "-c", SAVER, str(saved_run), str(target)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        first = proc.stdout.readline()  # one complete save, then kill during later ones
        assert first.strip().isdigit(), proc.stderr.read()
        time.sleep(rng.uniform(0.0, 0.4))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()
        loaded = textzoo.load(target)  # recovers ``.run.previous`` if the kill fell between the renames
        versions.append(loaded.metrics["version"])
        np.testing.assert_array_equal(loaded.predict_proba(texts), original.predict_proba(texts))
    assert all(isinstance(v, int) for v in versions)


def test_save_interrupted_between_the_two_renames_is_recovered(saved_run, tmp_path, monkeypatch):
    target = tmp_path / "run"
    model = textzoo.load(saved_run)
    model.metrics = {"version": 1}
    model.save(target)
    real_replace = os.replace

    def replace_then_die(src, dst):
        if Path(dst) == target and Path(src).name.endswith(".saving"):
            raise KeyboardInterrupt  # killed after RUN -> .RUN.previous, before the new folder -> RUN
        real_replace(src, dst)

    model.metrics = {"version": 2}
    monkeypatch.setattr(os, "replace", replace_then_die)
    with pytest.raises(KeyboardInterrupt):
        model.save(target)
    monkeypatch.setattr(os, "replace", real_replace)
    assert not target.exists() and (tmp_path / ".run.previous").is_dir()
    assert textzoo.load(target).metrics == {"version": 1}  # renamed back by load
    assert target.is_dir() and not (tmp_path / ".run.previous").exists()
    model.save(target)
    assert textzoo.load(target).metrics == {"version": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no temporary folders left


def test_saved_folders_get_the_permissions_open_and_mkdir_give(saved_run, tmp_path):
    """Not mkstemp's 0600 / mkdtemp's 0700: a run folder, a checkpoint, a pretrained folder and a
    downloaded file written by one user stay readable to another (a server's account, a container)."""
    import stat

    from textzoo._io import write_folder
    from textzoo.training.checkpoint import save_checkpoint

    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "file").write_text("x")
    usual = {True: stat.S_IMODE((tmp_path / "plain").stat().st_mode),
             False: stat.S_IMODE((tmp_path / "plain" / "file").stat().st_mode)}
    textzoo.load(saved_run).save(tmp_path / "run")
    save_checkpoint(tmp_path / "checkpoints", {"w": torch.zeros(2)}, {"epoch": 1})
    write_folder(tmp_path / "pretrained", lambda folder: (folder / "config.json").write_text("{}"))
    written = [p for p in tmp_path.rglob("*") if "plain" not in p.parts]
    assert len(written) > 10
    modes = {p: stat.S_IMODE(p.stat().st_mode) for p in written}
    assert {p: oct(m) for p, m in modes.items() if m != usual[p.is_dir()]} == {}


def test_recover_reads_the_backup_when_it_cannot_rename(tmp_path, monkeypatch, saved_run):
    import shutil

    backup = tmp_path / ".run.previous"
    shutil.copytree(saved_run, backup)

    def refuse(src, dst):
        raise PermissionError("read-only")

    monkeypatch.setattr(os, "replace", refuse)
    assert recover_run_folder(tmp_path / "run") == backup
    assert textzoo.load(tmp_path / "run").labels == textzoo.load(saved_run).labels


# --------------------------------------------------------------------------------------------
# BERT (tiny local checkpoint): SIGKILL between and during updates, resumed mid-epoch


BERT_SETTINGS = ["pretrained={tiny}", "max_length=32", "epochs=3", "batch_size=8", "lr=1e-3",
                 "eval_batch_size=64", "restore_best=true", "checkpoint_steps=3"]


@pytest.fixture(scope="module")
def bert_files(data_dir, tmp_path_factory):
    from tiny_transformers import tiny_checkpoint

    corpus = textzoo.load_dataset("R8", data_dir=data_dir)
    folder = tmp_path_factory.mktemp("bertfiles")
    tiny = tiny_checkpoint("bert", folder / "tiny-bert", corpus.train.texts[:300])
    for name, split, n in [("train", corpus.train, 160), ("test", corpus.test, 60)]:
        with open(folder / f"{name}.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "label"])
            writer.writerows(zip(split.texts[:n], split.labels[:n]))
    return folder, tiny


def _bert_args(files, tiny, out, *extra):
    sets = [arg for s in BERT_SETTINGS for arg in ("--set", s.format(tiny=tiny))]
    return TEXTZOO + ["-q", "train", "bert", "--train", str(files / "train.csv"), "--test",
                      str(files / "test.csv"), "--seed", "5", *sets, "--out", str(out), *extra]


def _start_1thread(args, data_dir):
    # one intra-op thread: the same summation order in every process, and far faster than two
    # threads fighting for two shared cores
    env = {**os.environ, "TEXTZOO_DATA": str(data_dir), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _position(out: Path) -> tuple[int, int]:
    """(completed epochs, updates done in the next one) of the newest checkpoint, (0, 0) if none."""
    for _ in range(100):
        try:
            pointer = json.loads((out / "checkpoints" / ckpt.POINTER_FILE).read_text())
            state = json.loads((out / "checkpoints" / f"{pointer['checkpoint']}.json").read_text())["state"]
            position = state["extra"]["position"]
            return state["loop"]["epoch"], 0 if position is None else position["step"]
        except FileNotFoundError:
            if _pointer(out) is None:
                return 0, 0
        except (OSError, ValueError):
            pass
        time.sleep(0.01)
    return 0, 0


def test_bert_sigkill_at_random_points_then_resume_gives_the_same_model(bert_files, data_dir, tmp_path):
    files, tiny = bert_files
    rng = random.Random(4)
    reference = tmp_path / "reference"
    ref_proc = _start_1thread(_bert_args(files, tiny, reference), data_dir)  # runs beside the kills

    out = tmp_path / "interrupted"
    kills, positions = 0, []
    while kills < 3:
        proc = _start_1thread(_bert_args(files, tiny, out, "--resume"), data_dir)
        before, began = _pointer(out), time.perf_counter()
        # wait for this process's first checkpoint, then kill at a random moment: inside an
        # update, between two, or while the next checkpoint is being written
        while proc.poll() is None and _pointer(out) == before and time.perf_counter() - began < 600:
            time.sleep(0.002)
        assert _pointer(out) != before, "no new checkpoint in 600 s"
        time.sleep(rng.uniform(0, 0.3))
        assert proc.poll() is None, "the run finished before it could be killed: " + proc.communicate()[1][-2000:]
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()
        kills += 1
        positions.append(_position(out))
        assert ckpt.load_checkpoint(out / "checkpoints") is not None
    assert any(step for _, step in positions), f"no kill landed inside an epoch: {positions}"
    proc = _start_1thread(_bert_args(files, tiny, out, "--resume"), data_dir)
    stdout, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    _, ref_err = ref_proc.communicate(timeout=300)
    assert ref_proc.returncode == 0, ref_err

    config = json.loads((out / "config.json").read_text())
    assert len(config["info"]["resumed_at"]) == 3 and config["info"]["resumed_at"][0] != [0, 0]
    expected, got = load_file(str(reference / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert expected.keys() == got.keys()
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-5, atol=1e-6)
    metrics = json.loads((out / "metrics.json").read_text())
    ref_metrics = json.loads((reference / "metrics.json").read_text())
    for split in ("test", "valid"):
        assert metrics[split] == pytest.approx(ref_metrics[split], abs=1e-9)

    def rows(run):
        return [{k: v for k, v in json.loads(line).items() if k not in ("seconds", "train_tokens_per_s")}
                for line in (run / "history.jsonl").read_text().splitlines()]

    assert len(rows(out)) == 3
    for got_row, ref_row in zip(rows(out), rows(reference)):
        assert got_row == pytest.approx(ref_row, rel=1e-5)
    assert not (out / "checkpoints").exists()


@pytest.mark.parametrize("kind,model", [("openai-gpt", "gpt"), ("albert", "albert")])
def test_gpt_and_albert_resume_mid_epoch_to_the_same_model(kind, model, tiny_r8, tmp_path, monkeypatch):
    """GPT (LM head tied to the embeddings, auxiliary LM loss) and ALBERT share BERT's checkpoints."""
    from tiny_transformers import tiny_checkpoint

    tiny = tiny_checkpoint(kind, tmp_path / kind, tiny_r8.train.texts[:200])
    settings = dict(pretrained=str(tiny), max_length=24, epochs=2, batch_size=8, lr=1e-3, seed=2)
    train, valid = tiny_r8.train.head(56), tiny_r8.valid.head(16)
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        reference = textzoo.create(model, **settings).fit(train, valid)
        real_save = ckpt.save_checkpoint
        calls = {"n": 0}

        def save_then_die(*args, **kw):
            real_save(*args, **kw)
            calls["n"] += 1
            if calls["n"] % 2 == 0:
                raise _Killed

        monkeypatch.setattr(ckpt, "save_checkpoint", save_then_die)
        resumes = 0
        while True:
            resumed = textzoo.create(model, **settings, checkpoint_steps=3)
            try:
                resumed.fit(train, valid, checkpoint_dir=tmp_path / "ck", resume=resumes > 0)
                break
            except _Killed:
                resumes += 1
    finally:
        torch.set_num_threads(torch_threads)
    assert resumes >= 2 and any(step for _, step in resumed.info["resumed_at"])
    expected, got = reference.net.state_dict(), resumed.net.state_dict()
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-5, atol=1e-6)
    for got_row, ref_row in zip(resumed.history, reference.history):
        assert got_row["val_loss"] == pytest.approx(ref_row["val_loss"], rel=1e-5)
