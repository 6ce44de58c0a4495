"""`textzoo pretrain elmo`: a short run lowers the LM loss and writes a loadable release-format folder."""

from __future__ import annotations

import json
import random

import pytest
import torch

pytest.importorskip("h5py")

import textzoo  # noqa: E402
from textzoo.models.elmo_bilm import char_ids, load_release  # noqa: E402
from textzoo.pretraining import pretrainer  # noqa: E402
from textzoo.pretraining.elmo import BiLMLanguageModel, build_vocabulary  # noqa: E402

TINY = {"dim": 32, "projection_dim": 16, "filters": [[1, 8], [2, 8], [3, 16]], "n_highway": 1,
        "batch_size": 32, "optimizer": "adam", "lr": 0.01, "progress": False}


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def mr_lines(data_dir, tmp_path_factory):
    corpus = textzoo.load_dataset("mr", data_dir=data_dir)
    texts = random.Random(0).sample(corpus.train.texts, 300)
    path = tmp_path_factory.mktemp("corpus") / "mr300.txt"
    path.write_text("\n".join(texts) + "\n", encoding="utf-8")
    return path


def test_pretraining_lowers_the_loss_and_saves_a_loadable_bilm(mr_lines, tmp_path):
    out = pretrainer("elmo")(corpus=mr_lines, out=tmp_path / "bilm",
                             overrides={**TINY, "epochs": 4, "n_negative_samples": 0})
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert len(history) == 4
    assert history[-1]["loss"] < history[0]["loss"]
    assert history[-1]["train_ppl"] < history[0]["train_ppl"]
    assert all("val_ppl" in row and "forward_ppl" in row for row in history)
    vocab = (out / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert vocab[:3] == ["<S>", "</S>", "<UNK>"]
    options = json.loads((out / "options.json").read_text())
    assert options["n_tokens_vocab"] == len(vocab) and options["lstm"]["dim"] == 32
    bilm = load_release(out)
    with torch.no_grad():
        layers, _ = bilm(char_ids([["a", "good", "film"]]))
    assert len(layers) == 3 and layers[0].shape == (1, 5, 32)


def test_sampled_softmax_trains():
    torch.manual_seed(0)
    from textzoo.pretraining.elmo import ELMoPretrainConfig
    sentences = [["w%d" % ((i * 7 + j) % 60) for j in range(6)] for i in range(40)]
    vocab = build_vocabulary(sentences)
    cfg = ELMoPretrainConfig(**{k: v for k, v in TINY.items()})
    from textzoo.models.elmo_bilm import BiLM
    lm = BiLMLanguageModel(BiLM(cfg.bilm_options(len(vocab))), len(vocab), n_negative=10)
    assert lm.n_negative == 10
    from textzoo.pretraining.elmo import _encode
    index = {w: i for i, w in enumerate(vocab)}
    ids, targets = _encode(sentences, index, index["<UNK>"])
    opt = torch.optim.Adam(lm.parameters(), lr=0.01)
    lm.train()
    full = []
    for _ in range(30):
        fwd, bwd, n = lm(ids, targets)
        opt.zero_grad()
        ((fwd + bwd) / n).backward()
        opt.step()
        with torch.no_grad():
            f, b, n = lm(ids, targets, full=True)
        full.append(float(f + b) / n)
    assert full[-1] < full[0]


def test_per_batch_char_cnn_dedup_gives_the_plain_biLM_loss():
    """The LM runs the char CNN once per distinct token; the loss equals running the biLM on the ids."""
    torch.manual_seed(0)
    from textzoo.models.elmo_bilm import BiLM
    from textzoo.pretraining.elmo import ELMoPretrainConfig, _encode
    sentences = [["a", "b", "a", "c"], ["b", "d"], ["a"]]
    vocab = build_vocabulary(sentences)
    index = {w: i for i, w in enumerate(vocab)}
    cfg = ELMoPretrainConfig(dim=16, projection_dim=8, filters=[[1, 4], [2, 4]], n_highway=1)
    lm = BiLMLanguageModel(BiLM(cfg.bilm_options(len(vocab))), len(vocab)).eval()
    ids, targets = _encode(sentences, index, index["<UNK>"])
    fwd, bwd, n = lm(ids, targets)
    layers, mask = lm.bilm(ids)
    top, keep = layers[-1], mask[:, :-1] & mask[:, 1:]
    logits_f = top[:, :-1, :8][keep] @ lm.softmax_W.t() + lm.softmax_b
    logits_b = top[:, 1:, 8:][keep] @ lm.softmax_W.t() + lm.softmax_b
    assert n == 10  # 4 + 1, 2 + 1 and 1 + 1 predictions per direction
    assert torch.allclose(fwd, torch.nn.functional.cross_entropy(logits_f, targets[:, 1:][keep], reduction="sum"))
    assert torch.allclose(bwd, torch.nn.functional.cross_entropy(logits_b, targets[:, :-1][keep], reduction="sum"))


def test_interrupted_pretraining_resumes_to_the_same_biLM(mr_lines, tmp_path, monkeypatch):
    """Killed right after the checkpoints of epochs 2 and 4 (the last, before the folder is
    written), resumed each time: the same weights and history as an uninterrupted run, with
    dropout and the sampled softmax drawing from the RNGs that the checkpoints carry."""
    import h5py
    from interrupt import run_with_interruptions

    over = {**TINY, "epochs": 4, "n_negative_samples": 64, "dropout": 0.2}
    reference = pretrainer("elmo")(corpus=mr_lines, out=tmp_path / "reference", overrides=over)
    out = tmp_path / "interrupted"

    def killed() -> None:
        assert (out / "checkpoints").is_dir() and not (out / "weights.hdf5").exists()  # written once done

    _, resumes = run_with_interruptions(
        monkeypatch, lambda resume: pretrainer("elmo")(corpus=mr_lines, out=out, overrides=over, resume=resume),
        every=2, on_kill=killed)
    assert resumes == 2
    info, ref_info = (json.loads((d / "pretraining.json").read_text()) for d in (out, reference))
    assert info["resumed_at"] == [2, 4] and ref_info["resumed_at"] == []
    history, ref_history = ([json.loads(x) for x in (d / "history.jsonl").read_text().splitlines()]
                            for d in (out, reference))
    timed = ("seconds", "tokens_per_second")
    assert ([{k: v for k, v in r.items() if k not in timed} for r in history]
            == [{k: v for k, v in r.items() if k not in timed} for r in ref_history])
    with h5py.File(out / "weights.hdf5") as a, h5py.File(reference / "weights.hdf5") as b:
        names = []
        a.visit(lambda n: names.append(n) if isinstance(a[n], h5py.Dataset) else None)
        assert names and all((a[n][()] == b[n][()]).all() for n in names)
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in reference.iterdir())  # no checkpoints
    before = (out / "weights.hdf5").stat().st_mtime_ns
    pretrainer("elmo")(corpus=mr_lines, out=out, overrides=over, resume=True)  # finished: nothing to do
    assert (out / "weights.hdf5").stat().st_mtime_ns == before
