"""TensorGCN's safe inter-graph step (gated, identity-initialised) against its equations, the
released code's recipes as presets (the user's settings win), keep-best after an epoch, and a small
end-to-end run of the gated step on an R8 slice (fit, save/load, resume)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import textzoo
from textzoo.data.corpus import Corpus
from textzoo.models.tensorgcn import RECIPES, TensorGCN, _Weights
from textzoo.models.tensorgcn_inter import _compositions, validated_pooling
from textzoo.training import EarlyStopping, EpochLoop

leaky = lambda x: torch.nn.functional.leaky_relu(x, 0.2)  # noqa: E731


def _weights(r=3, n=5, h=4, c=2, identity=False, gate=None) -> _Weights:
    g = torch.Generator().manual_seed(0)
    rand = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    return _Weights(w0=[rand(n, h) for _ in range(r)], w1=[rand(h, c) for _ in range(r)],
                    inter=[rand(h, h)], mix0=[rand(h, h) for _ in range(r)], mix1=[rand(c, c) for _ in range(r)],
                    identity=identity, gate=[] if gate is None else [torch.tensor(gate)])


@pytest.mark.parametrize("variant", ["virtual", "code"])
def test_a_closed_gate_leaves_each_graph_alone_and_an_open_one_is_the_plain_step(variant):
    act = torch.relu if variant == "virtual" else leaky
    intra = [torch.randn(5, 4) for _ in range(3)]
    z = [torch.randn(5, 2) for _ in range(3)]
    gated = TensorGCN(inter_graph=variant, inter_step="gated")
    closed = _weights(gate=[0.0, 0.0])
    for out, x in zip(gated._first(intra, closed), intra):   # g = 0: H' = H, r independent GCNs
        torch.testing.assert_close(out, act(x))
    torch.testing.assert_close(gated._last(z, closed), sum(z) / 3)  # mean of the graphs' logits
    plain = TensorGCN(inter_graph=variant)
    opened = _weights(gate=[1.0, 1.0])
    for a, b in zip(gated._first(intra, opened), plain._first(intra, _weights())):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(gated._last(z, opened), plain._last(z, _weights()))
    half = _weights(gate=[0.5, 0.5])  # H + g (mix(H) - H)
    for a, x, m in zip(gated._first(intra, half), intra, plain._first(intra, _weights())):
        torch.testing.assert_close(a, act(x) + 0.5 * (m - act(x)))


@pytest.mark.parametrize("variant", ["virtual", "code"])
def test_identity_initialisation_starts_as_the_parameter_free_step(variant):
    intra = [torch.randn(5, 4) for _ in range(3)]
    z = [torch.randn(5, 2) for _ in range(3)]
    w = _weights(identity=True)
    w.inter, w.mix0, w.mix1 = [torch.zeros(4, 4)], [torch.zeros(4, 4)] * 3, [torch.zeros(2, 2)] * 3
    free = _weights()
    free.inter, free.mix0, free.mix1 = [], [], []
    model = TensorGCN(inter_graph=variant, inter_init="identity")
    fixed = TensorGCN(inter_graph=variant, inter_weight=False)
    for a, b in zip(model._first(intra, w), fixed._first(intra, free)):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(model._last(z, w), fixed._last(z, free))
    w.inter = [torch.ones(4, 4)]  # W = I + dW
    if variant == "virtual":
        mean = sum(torch.relu(x) for x in intra) / 3
        torch.testing.assert_close(model._first(intra, w)[0], torch.relu(mean @ (torch.eye(4) + torch.ones(4, 4))))


@pytest.mark.parametrize("variant", ["virtual", "code"])
def test_learned_pooling_starts_as_the_mean_and_weights_the_graphs(variant):
    z = [torch.randn(5, 2) for _ in range(3)]
    model = TensorGCN(recipe="paper", inter_graph=variant, inter_step="gated", graph_pooling="learned")
    w = _weights(gate=[0.0, 0.0])
    w.pooling, w.fusion = "learned", [torch.zeros(3)]
    torch.testing.assert_close(model._last(z, w), sum(z) / 3)
    w.fusion = [torch.log(torch.tensor([2.0, 1.0, 1.0]))]  # softmax: 0.5, 0.25, 0.25
    torch.testing.assert_close(model._last(z, w), 0.5 * z[0] + 0.25 * z[1] + 0.25 * z[2])
    residual = TensorGCN(recipe="paper", inter_graph=variant, inter_step="gated", graph_pooling="residual")
    w.pooling, w.fusion = "residual", [torch.zeros(2)]  # the first graph alone, then a_k times the others
    torch.testing.assert_close(residual._last(z, w), z[0])
    w.fusion = [torch.tensor([0.5, -1.0])]
    torch.testing.assert_close(residual._last(z, w), z[0] + 0.5 * z[1] - z[2])


def test_recipes_are_presets_under_the_users_settings():
    final = textzoo.create("tensorgcn", recipe="code-2022")
    c = final.config
    assert (c.lr, c.dropout, c.input_dropout, c.weight_decay, c.window, c.best_after) == (2e-4, 0.9, 0.9, 1e-6, 7, 901)
    assert (c.inter_graph, c.adjacency, c.stopping_rule, c.restore_best, c.best_by) == (
        "code", "raw", "none", True, "val_loss")
    mine = textzoo.create("tensorgcn", recipe="code-2022", dropout=0.8, dataset="mr")
    assert mine.config.dropout == 0.8 and mine.config.lr == 2e-4 and mine.config.remove_stopwords is False
    assert TensorGCN(recipe="code-2021").config.best_by == "val_acc"
    assert TensorGCN({"recipe": "code-2021", "lr": 0.01}).config.lr == 0.01
    assert textzoo.create("tensorgcn").config == TensorGCN().config == TensorGCN(recipe="independent").config
    default = TensorGCN().config
    assert (default.inter_graph, default.graph_loss, default.graph_pooling, default.lr) == ("none", "each", "validated", 0.02)
    assert default.stops_each_graph and not TensorGCN(inter_graph="virtual").config.stops_each_graph
    paper = TensorGCN(recipe="paper").config
    assert (paper.inter_graph, paper.inter_weight, paper.graph_loss, paper.graph_pooling, paper.lr) == (
        "virtual", True, "pooled", "mean", 0.002) and not paper.stops_each_graph
    assert TensorGCN(recipe="code-2021").config.graph_pooling == "mean"  # the code's model is the paper's + code
    assert set(RECIPES) == {"independent", "paper", "code-2021", "code-2022"}
    with pytest.raises(textzoo.ConfigError, match="recipe"):
        textzoo.create("tensorgcn", recipe="code-1999")


def test_keep_best_after_an_epoch_keeps_the_lowest_value_after_it():
    values = [0.1, 0.5, 0.4, 0.45, 0.3, 0.35]  # the lowest overall is epoch 1; after epoch 2 it is epoch 5
    state = {"epoch": 0}

    def train_epoch(epoch):
        state["epoch"] = epoch + 1
        return {"loss": 1.0}

    kept = {}
    loop = EpochLoop(epochs=6, train_epoch=train_epoch, validate=lambda e: {"val_loss": values[e]},
                     stopper=EarlyStopping("none", 10), keep_best=True, best_after=2, progress=False,
                     get_state=lambda: state["epoch"], set_state=lambda s: kept.update(epoch=s))
    loop.run()
    assert kept["epoch"] == 5 and loop.best_epoch == 5 and loop.best_value == 0.3
    again = EpochLoop(epochs=6, train_epoch=train_epoch, validate=lambda e: {"val_loss": values[e]},
                      stopper=EarlyStopping("none", 10), keep_best=True, best_after=0, progress=False,
                      get_state=lambda: state["epoch"], set_state=lambda s: kept.update(epoch=s))
    again.run()
    assert kept["epoch"] == 1


@pytest.fixture(scope="module")
def small_r8(data_dir):
    corpus = textzoo.load_dataset("R8", data_dir=data_dir, valid_fraction=0)
    order = np.random.default_rng(0).permutation(len(corpus.train))
    return Corpus(name="R8-small", train=corpus.train.subset(sorted(order[:100])),
                  valid=corpus.train.subset(sorted(order[-20:])), test=corpus.test.head(40), labels=corpus.labels)


SMALL = dict(recipe="paper", graphs=["sequential", "semantic"], hidden=16, lr=0.02, epochs=12, min_count=2, lstm_embedding=16,
             lstm_hidden=16, lstm_epochs=1, lstm_max_length=60, seed=1, inter_step="gated", inter_init="identity",
             inter_decay=1e-4, stopping_rule="none")


@pytest.mark.parametrize("variant, pooling, n", [("virtual", "learned", 2), ("code", "residual", 1)])
def test_gated_step_fits_saves_loads_and_resumes(variant, pooling, n, small_r8, tmp_path, monkeypatch):
    from interrupt import fit_with_interruptions, without_seconds

    monkeypatch.setenv("TEXTZOO_CACHE", str(tmp_path / "cache"))
    settings = {**SMALL, "inter_graph": variant, "graph_pooling": pooling}
    model = TensorGCN(**settings).fit(small_r8)
    assert model._tensors["graph_pooling"].shape == (n,) and float(model._tensors["graph_pooling"].abs().sum()) > 0
    gate = model._tensors["gate"]
    assert gate.shape == (2,) and float(gate.abs().sum()) > 0  # the gate moved from 0
    majority = max(np.unique(small_r8.test.labels, return_counts=True)[1]) / len(small_r8.test)
    assert model.evaluate(small_r8.test)["accuracy"] > majority + 0.1
    run = model.save(tmp_path / "run")
    saved = json.loads((run / "config.json").read_text())["config"]
    assert (saved["inter_step"], saved["inter_init"]) == ("gated", "identity")
    texts = small_r8.test.texts[:8] + ["crude oil prices opec output"]
    np.testing.assert_array_equal(textzoo.load(run).predict_proba(texts), model.predict_proba(texts))
    resumed, resumes = fit_with_interruptions(
        monkeypatch, lambda: TensorGCN(**settings, checkpoint_every=2),
        lambda m, resume: m.fit(small_r8, checkpoint_dir=tmp_path / "ck", resume=resume), every=2)
    assert resumes >= 2
    assert without_seconds(resumed.history) == without_seconds(model.history)
    torch.testing.assert_close(resumed._tensors["gate"], gate, rtol=0, atol=1e-6)


def test_validated_pooling_picks_the_weights_the_validation_split_prefers():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 3, (60,), generator=g)
    right = torch.nn.functional.one_hot(y, 3).float() * 2.0       # the second graph is always right
    noise = [torch.randn(60, 3, generator=g) * 3.0 for _ in range(2)]
    weights, acc = validated_pooling([noise[0], right, noise[1]], y)
    assert acc == 1.0 and weights.sum().item() == pytest.approx(1.0) and weights[1] >= 0.5
    grid = [torch.tensor(p, dtype=torch.float32) / 10 for p in _compositions(10, 3)]
    assert len(grid) == 66 and any(torch.equal(a, weights) for a in grid)
    best = max(int((torch.einsum("k,knc->nc", a, torch.stack([noise[0], right, noise[1]])).argmax(1) == y).sum())
               for a in grid)
    assert best == 60
    model = TensorGCN(graph_pooling="validated")
    w = _weights()
    w.pooling, w.fusion = "validated", [torch.tensor([0.2, 0.0, 0.8])]
    z = [torch.randn(5, 2) for _ in range(3)]
    torch.testing.assert_close(model._last(z, w), 0.2 * z[0] + 0.8 * z[2])


def test_each_graph_its_own_loss_and_validated_pooling_fit_save_and_load(small_r8, tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTZOO_CACHE", str(tmp_path / "cache"))
    model = TensorGCN(**{**SMALL, "graph_loss": "each", "graph_pooling": "validated"}).fit(small_r8)
    chosen = model.info["graph_pooling"]
    assert set(chosen["weights"]) == {"sequential", "semantic"}
    assert sum(chosen["weights"].values()) == pytest.approx(1.0)
    torch.testing.assert_close(model._tensors["graph_pooling"], torch.tensor(list(chosen["weights"].values())),
                               atol=1e-4, rtol=0)
    majority = max(np.unique(small_r8.test.labels, return_counts=True)[1]) / len(small_r8.test)
    assert model.evaluate(small_r8.test)["accuracy"] > majority + 0.1
    texts = small_r8.test.texts[:8] + ["crude oil prices opec output"]
    run = model.save(tmp_path / "run")
    np.testing.assert_array_equal(textzoo.load(run).predict_proba(texts), model.predict_proba(texts))


def test_stopping_per_member_stops_each_on_its_own_values_and_resumes_from_its_state():
    from textzoo.training import StoppingPerMember

    each = StoppingPerMember("patience", 2, members=2)
    rows = [(1.0, 1.0), (0.9, 1.1), (0.8, 1.2), (0.85, 1.3), (0.9, 0.1), (0.95, 0.1)]
    stops = []
    for epoch, values in enumerate(rows, 1):
        each.observe(list(values), epoch)
        stops.append(each.update(0.0))
        if epoch == 3:
            saved = json.loads(json.dumps(each.state_dict()))
    assert each.stopped_at == [5, 3]   # the second member's later 0.1 came after it had stopped
    assert stops == [False, False, False, False, True, True]
    again = StoppingPerMember("patience", 2, members=2)
    again.load_state_dict(saved)
    assert again.active() == [True, False]
    for epoch, values in enumerate(rows[3:], 4):
        again.observe(list(values), epoch)
    assert again.stopped_at == [5, 3]
    with pytest.raises(ValueError, match="graph_loss=pooled"):
        TensorGCN(graph_pooling="learned")   # the graphs' own losses never reach the pooling weights
    with pytest.raises(ValueError, match="graph_stopping=each needs"):
        TensorGCN(graph_stopping="each", inter_graph="virtual")   # the virtual step couples the graphs


def test_each_graph_stops_on_its_own_and_keeps_the_weights_of_that_epoch(small_r8, tmp_path, monkeypatch):
    from interrupt import fit_with_interruptions, without_seconds

    monkeypatch.setenv("TEXTZOO_CACHE", str(tmp_path / "cache"))
    settings = {**SMALL, "inter_graph": "none", "graph_loss": "each", "graph_pooling": "validated",
                "graph_stopping": "each", "stopping_rule": "code", "early_stopping": 3, "epochs": 200}
    model = TensorGCN(**settings).fit(small_r8)
    stopped = model.info["graph_stopped_at"]
    first = min(stopped, key=lambda g: stopped[g] or 201)
    assert stopped[first] is not None and stopped[first] < 200
    assert [row["graphs_training"] for row in model.history][stopped[first] - 1] == 1
    # the first graph to stop keeps exactly the weights of a run that ends at that epoch
    cut = TensorGCN(**{**settings, "graph_stopping": "joint", "stopping_rule": "none",
                       "epochs": stopped[first]}).fit(small_r8)
    torch.testing.assert_close(model._tensors[f"w1.{first}"], cut._tensors[f"w1.{first}"], rtol=0, atol=1e-6)
    other = next(g for g in stopped if g != first)
    if stopped[other] != stopped[first]:   # the other graph went on training
        assert not torch.equal(model._tensors[f"w1.{other}"], cut._tensors[f"w1.{other}"])
    resumed, resumes = fit_with_interruptions(
        monkeypatch, lambda: TensorGCN(**settings, checkpoint_every=2),
        lambda m, resume: m.fit(small_r8, checkpoint_dir=tmp_path / "ck", resume=resume), every=2)
    assert resumes >= 2 and resumed.info["graph_stopped_at"] == stopped
    assert without_seconds(resumed.history) == without_seconds(model.history)
