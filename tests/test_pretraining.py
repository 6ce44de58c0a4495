"""Pretraining (`textzoo pretrain bert|albert|gpt`): tokenizer training, BERT's masked LM (80/10/10)
and next-sentence pairs, ALBERT's n-gram masking and sentence-order pairs, GPT's causal LM, a short
run that lowers the loss, and the output folder loading in ``transformers`` and fine-tuning."""

from __future__ import annotations

import csv
import json
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import textzoo
from textzoo.cli import main as cli_main
from textzoo.pretraining.transformers_lm import (
    PretrainConfig, _build_model, _collate, _examples, heldout_batches, heldout_loss, hold_out, make_pairs,
    mask_tokens, ngram_mask, ngram_probs, pretrain_model, pretraining_loss, read_corpus, split_segments,
    split_sentences, train_tokenizer, word_starts)

os.environ.setdefault("HF_HUB_OFFLINE", "1")

TINY = {"vocab_size": 400, "hidden": 32, "layers": 2, "heads": 2, "intermediate": 64, "embedding_size": 16,
        "max_length": 48, "batch_size": 8, "max_steps": 40, "lr": 3e-3, "epochs": 50, "dropout": 0.0}


@pytest.fixture(scope="module")
def ng_texts(data_dir):
    """20 Newsgroups training posts: real documents with several sentences each."""
    return textzoo.load_dataset("20ng", data_dir=data_dir, valid_fraction=0).train.texts[:400]


@pytest.fixture(scope="module")
def r8(data_dir):
    return textzoo.load_dataset("R8", data_dir=data_dir)


def _seq(ids) -> str:
    return " " + " ".join(map(str, ids)) + " "


# --------------------------------------------------------------------------------- masking
def test_bert_masking_rates_15_percent_then_80_10_10():
    gen = torch.Generator().manual_seed(0)
    vocab, mask_id = 30000, 3
    ids = torch.randint(10, vocab, (400, 128), generator=gen)
    special = torch.zeros_like(ids, dtype=torch.bool)
    special[:, [0, 60, 127]] = True                      # [CLS] A [SEP] B [SEP]
    special[:50, 100:] = True                            # padding
    inputs, labels = mask_tokens(ids, special, mask_id, vocab, gen, prob=0.15)
    chosen = labels != -100
    assert not chosen[special].any()                     # special tokens and padding never predicted
    assert torch.equal(labels[chosen], ids[chosen])      # the label is the original token
    assert torch.equal(inputs[~chosen], ids[~chosen])    # unchosen tokens untouched
    rate = chosen.sum().item() / (~special).sum().item()
    assert abs(rate - 0.15) < 0.006, rate                # ~47k candidates: sd 0.0016
    picked, original = inputs[chosen], ids[chosen]
    masked = (picked == mask_id).float().mean().item()
    unchanged = (picked == original).float().mean().item()
    randomised = 1.0 - masked - unchanged
    assert abs(masked - 0.8) < 0.02 and abs(unchanged - 0.1) < 0.015 and abs(randomised - 0.1) < 0.015, (
        masked, unchanged, randomised)
    replaced = picked[(picked != mask_id) & (picked != original)]
    assert len(replaced.unique()) > 0.9 * len(replaced)  # random tokens drawn over the whole vocabulary


def test_albert_ngram_lengths_follow_one_over_n():
    rng = np.random.default_rng(0)
    ids = torch.from_numpy(rng.integers(10, 5000, size=(200, 512)))
    special = torch.zeros_like(ids, dtype=torch.bool)
    special[:, [0, 250, 511]] = True
    spans: list[int] = []
    inputs, labels = ngram_mask(ids, special, 3, 5000, rng, prob=0.15, max_n=3, spans_out=spans)
    chosen = labels != -100
    assert not chosen[special].any()
    candidates = (~special).sum(1)
    assert torch.equal(chosen.sum(1), torch.round(0.15 * candidates).long())   # exactly 15% per sequence
    assert sum(spans) == chosen.sum().item()
    freq = np.bincount(spans, minlength=4)[1:] / len(spans)
    np.testing.assert_allclose(freq, ngram_probs(3), atol=0.025)  # (6, 3, 2) / 11
    assert np.allclose(ngram_probs(3), np.array([6, 3, 2]) / 11)
    masked = (inputs[chosen] == 3).float().mean().item()
    unchanged = (inputs[chosen] == ids[chosen]).float().mean().item()
    assert abs(masked - 0.8) < 0.03 and abs(unchanged - 0.1) < 0.02
    # masked runs are spans of consecutive tokens: far longer than independent 15% choices give
    runs = np.diff(np.flatnonzero(np.diff(np.concatenate([[0], chosen.flatten().int().numpy(), [0]]))))[::2]
    assert runs.mean() > 1.5


def test_albert_ngrams_mask_whole_words():
    rng = np.random.default_rng(1)
    ids = torch.from_numpy(rng.integers(10, 5000, size=(100, 201)))
    special = torch.zeros_like(ids, dtype=torch.bool)
    special[:, 0] = True
    word_start = torch.zeros_like(special)
    word_start[:, 1::2] = True                         # every word is two pieces: positions (1,2), (3,4)...
    spans: list[int] = []
    _, labels = ngram_mask(ids, special, 3, 5000, rng, word_start=word_start, spans_out=spans)
    chosen = (labels != -100)[:, 1:].reshape(100, 100, 2)
    assert torch.equal(chosen[..., 0], chosen[..., 1])  # both pieces of a word, or neither
    assert chosen.sum().item() == 100 * 30 and max(spans) == 3 and min(spans) == 1


# --------------------------------------------------------------------------------- sentence pairs
@pytest.fixture(scope="module")
def wordpiece(ng_texts):
    return train_tokenizer("wordpiece", ng_texts[:150], vocab_size=1500, min_frequency=2)


def _tokenised_docs(texts, tok):
    backend = tok.backend_tokenizer
    return [[e.ids for e in backend.encode_batch(split_sentences(t), add_special_tokens=False)] for t in texts]


def test_nsp_pairs_half_is_next(ng_texts, wordpiece):
    docs = _tokenised_docs(ng_texts[:150], wordpiece)
    text = "|".join(_seq([t for s in d for t in s]) for d in docs)   # every document's token stream
    pairs = [p for p in make_pairs(docs, "nsp", 61, np.random.default_rng(0)) if p[1]]   # pairs, not one-segment
    assert len(pairs) > 900
    labels = np.array([lab for _, _, lab in pairs])
    assert abs(labels.mean() - 0.5) < 0.05, labels.mean()
    assert all(a and b and len(a) + len(b) <= 61 for a, b, _ in pairs)
    for a, b, lab in pairs[:600]:
        if lab == 0:  # IsNext: B is the text that follows A in its document
            assert _seq(a + b) in text
        else:         # NotNext: B is a span of (another) document, not A's continuation
            assert _seq(b) in text
    not_next = [(a, b) for a, b, lab in pairs[:600] if lab == 1 and len(a) + len(b) >= 10]
    assert sum(_seq(a + b) in text for a, b in not_next) < 0.02 * len(not_next)


def test_sop_pairs_half_swapped(ng_texts, wordpiece):
    docs = _tokenised_docs(ng_texts[:150], wordpiece)
    text = "|".join(_seq([t for s in d for t in s]) for d in docs)
    pairs = [p for p in make_pairs(docs, "sop", 61, np.random.default_rng(0)) if p[1]]
    labels = np.array([lab for _, _, lab in pairs])
    assert abs(labels.mean() - 0.5) < 0.05
    for a, b, lab in pairs[:600]:
        first, second = (a, b) if lab == 0 else (b, a)  # two consecutive segments; label 1: swapped
        assert _seq(first + second) in text
    swapped = [(a, b) for a, b, lab in pairs[:600] if lab == 1 and len(a) + len(b) >= 10]
    # a swapped pair can still occur in reading order where 20NG repeats a passage (quotes,
    # signatures): 3% of them did in one run, whereas unswapped pairs would all occur
    assert sum(_seq(a + b) in text for a, b in swapped) < 0.1 * len(swapped)


@pytest.fixture(scope="module")
def mr_texts(data_dir):
    """MR's training sentences: nearly every document is one sentence."""
    return textzoo.load_dataset("mr", data_dir=data_dir).train.texts[:600]


@pytest.fixture(scope="module")
def unigram_mr(mr_texts):
    return train_tokenizer("unigram", mr_texts, vocab_size=1500, min_frequency=2)


def _sentence_order_cue(pairs, tok) -> float:
    """Share of labelled pairs whose label "A ends with . ! ? and B does not" gives away."""
    punct = {tok.convert_tokens_to_ids(t) for t in (".", "!", "?")}
    hits = [(a[-1] in punct and b[-1] not in punct) == bool(lab) for a, b, lab in pairs if lab != -100]
    return float(np.mean(hits))


def test_sentences_split_at_full_stops_not_at_ellipses_and_quotes():
    assert split_sentences("it works . so does this ! really ?") == ["it works .", "so does this !", "really ?"]
    # MR: ". . ." is an ellipsis and a quote after the full stop closes the sentence
    assert split_sentences("one of the pleasures . . . is the parade .") == [
        "one of the pleasures . . .", "is the parade ."]
    assert split_sentences("'moore is like a bull . '") == ["'moore is like a bull . '"]
    assert split_sentences(". . . delivers few moments .") == [". . . delivers few moments ."]
    assert split_sentences(". . .") == [". . ."]


@pytest.mark.parametrize("objective", ["sop", "nsp"])
def test_one_sentence_documents_are_one_segment_examples(mr_texts, unigram_mr, objective):
    """Regression: a one-sentence document used to be cut at a random token into A and B, so the
    sentence-final "." told the order (86% of MR's SOP pairs) and the pretrained ALBERT fine-tuned to
    chance on MR. Now it is one segment with no pair label (``single_segment="alone"``)."""
    docs = _tokenised_docs(mr_texts, unigram_mr)
    pairs = make_pairs(docs, objective, 61, np.random.default_rng(0))
    one = [d for d in docs if len(d) == 1 and 0 < len(d[0]) <= 61]
    assert len(one) > 0.7 * len(docs)
    alone = [(a, b, lab) for a, b, lab in pairs if not b]
    assert all(lab == -100 for _, _, lab in alone)
    alone_a = {tuple(a) for a, _, _ in alone}
    assert all(tuple(d[0]) in alone_a for d in one)               # each one-sentence document, whole
    labelled = [p for p in pairs if p[2] != -100]
    assert labelled and all(a and b for a, b, _ in labelled)       # the documents of several sentences
    if objective == "sop":  # their order is not given away by the punctuation
        assert _sentence_order_cue(labelled, unigram_mr) < 0.65
    split = make_pairs(docs, objective, 61, np.random.default_rng(0), single="split")
    assert all(b for _, b, _ in split)
    if objective == "sop":  # the old construction: the order read off the final punctuation
        assert _sentence_order_cue(split, unigram_mr) > 0.8


def test_one_sentence_documents_random_next_as_in_the_reference_code(mr_texts, unigram_mr):
    """``single_segment="random"``: B from another document, label 1 (create_pretraining_data.py)."""
    docs = _tokenised_docs(mr_texts, unigram_mr)
    text = "|".join(_seq([t for s in d for t in s]) for d in docs)
    pairs = make_pairs(docs, "sop", 61, np.random.default_rng(0), single="random")
    one = {tuple(d[0]) for d in docs if len(d) == 1}
    firsts = [(a, b, lab) for a, b, lab in pairs if tuple(a) in one]
    assert len(firsts) > 0.7 * len(docs) and all(lab == 1 for _, _, lab in firsts)
    assert all(a and b and len(a) + len(b) <= 61 and _seq(b) in text for a, b, _ in pairs)
    assert sum(_seq(a + b) in text for a, b, _ in firsts) < 0.02 * len(firsts)


def test_one_segment_batches_and_the_loss(mr_texts, unigram_mr):
    """[CLS] A [SEP] with token type 0 and no pair label; the loss is finite for a batch of only
    one-segment examples and is transformers' own loss when every example has a pair label."""
    cfg = PretrainConfig(**{**TINY, "vocab_size": len(unigram_mr)})
    rng = np.random.default_rng(0)
    examples = _examples("albert", mr_texts[:200], unigram_mr, cfg, rng)
    alone = [e for e in examples if not e[1]][:8]
    paired = [e for e in examples if e[1]][:8]
    assert len(alone) == 8 and len(paired) == 8
    gen = torch.Generator().manual_seed(0)
    batch = _collate("albert", alone, unigram_mr, cfg, gen, rng, word_starts(unigram_mr))
    lengths = batch["attention_mask"].sum(1)
    for row, (a, _, _) in enumerate(alone):
        n = int(lengths[row])
        assert n == len(a) + 2 and batch["input_ids"][row, n - 1] == unigram_mr.sep_token_id
        assert batch["input_ids"][row, 0] == unigram_mr.cls_token_id
    assert (batch["token_type_ids"] == 0).all() and (batch["sentence_order_label"] == -100).all()
    torch.manual_seed(0)
    net = _build_model("albert", cfg, len(unigram_mr), unigram_mr).eval()
    with torch.no_grad():
        loss = pretraining_loss("albert", net, batch)
        assert torch.isfinite(loss)
        full = _collate("albert", paired, unigram_mr, cfg, gen, rng, word_starts(unigram_mr))
        torch.testing.assert_close(pretraining_loss("albert", net, full), net(**full).loss)


def test_segments_keep_every_token_of_long_sentences():
    doc = [list(range(150)), [1000, 1001], list(range(2000, 2030))]
    chunks = split_segments(doc, 61)
    assert [t for c in chunks for s in c for t in s] == [t for s in doc for t in s]
    assert all(sum(len(s) for s in c) <= 61 for c in chunks)


# --------------------------------------------------------------------------------- tokenizers
@pytest.mark.parametrize("kind,model_type", [("wordpiece", "WordPiece"), ("unigram", "Unigram"), ("bytebpe", "BPE")])
def test_tokenizer_training(kind, model_type, ng_texts, tmp_path):
    from transformers import AutoTokenizer

    tok = train_tokenizer(kind, ng_texts[:80], vocab_size=800, min_frequency=2)
    spec = json.loads(tok.backend_tokenizer.to_str())
    assert spec["model"]["type"] == model_type
    assert 300 < len(tok) <= 800
    text = "The naive café's prices rose sharply: 12.5% in Tōkyō!"
    pieces = tok.tokenize(text)
    if kind == "wordpiece":
        assert any(p.startswith("##") for p in tok.tokenize("unbelievably hypothetical"))
        assert tok(text)["input_ids"][0] == tok.cls_token_id and tok(text)["input_ids"][-1] == tok.sep_token_id
        assert all(p == p.lower() for p in pieces)
    elif kind == "unigram":
        assert pieces[0].startswith("\u2581") and tok.mask_token == "[MASK]"
        assert word_starts(tok)[tok.convert_tokens_to_ids(pieces[0])]
    else:  # byte-level: every string round-trips, nothing is unknown
        ids = tok(text)["input_ids"]
        assert tok.decode(ids) == text
    tok.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    assert again(text)["input_ids"] == tok(text)["input_ids"]


def test_wordpiece_vocabulary_is_the_same_every_run(ng_texts):
    """tokenizers' WordPiece trainer numbers the ``##x`` pieces in hash-map order, so the same texts
    gave other token ids (and on tied merges other pieces) in each run: train_tokenizer pins them."""
    toks = [train_tokenizer("wordpiece", ng_texts[:80], vocab_size=800, min_frequency=2) for _ in range(4)]
    assert len({tuple(sorted(t.get_vocab().items())) for t in toks}) == 1
    # the pinned ``##x`` pieces are plain vocabulary entries, not special tokens
    assert "##e" in toks[0].get_vocab()
    assert sorted(toks[0].all_special_tokens) == ["[CLS]", "[MASK]", "[PAD]", "[SEP]", "[UNK]"]


# --------------------------------------------------------------------------------- causal LM
def test_gpt_blocks_are_the_token_stream_and_loss_is_next_token(ng_texts):
    tok = train_tokenizer("bytebpe", ng_texts[:50], vocab_size=500)
    cfg = PretrainConfig(**{**TINY, "max_length": 32, "vocab_size": 500})
    docs = ng_texts[:20]
    blocks = _examples("gpt", docs, tok, cfg, np.random.default_rng(0))
    stream = []
    for d in docs:
        stream += tok(d)["input_ids"] + [tok.eos_token_id]
    flat = [t for b in blocks for t in b]
    assert flat == stream[:len(flat)] and len(stream) - len(flat) <= 1
    assert all(len(b) <= 32 for b in blocks)
    batch = _collate("gpt", [blocks[0], blocks[-1]], tok, cfg, torch.Generator(), np.random.default_rng(0))
    mask = batch["attention_mask"].bool()
    assert torch.equal(batch["labels"][mask], batch["input_ids"][mask]) and (batch["labels"][~mask] == -100).all()
    torch.manual_seed(0)
    net = _build_model("gpt", cfg, len(tok), tok).eval()
    with torch.no_grad():
        out = net(**batch)
        logits = net(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    manual = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), batch["labels"][:, 1:].reshape(-1),
                             ignore_index=-100)
    torch.testing.assert_close(out.loss, manual)  # predicts token t+1 from tokens <= t


# --------------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def corpus_file(ng_texts, tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "unlabelled.txt"
    path.write_text("\n".join(t.replace("\n", " ") for t in ng_texts[:150]) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def pretrained(corpus_file, tmp_path_factory):
    """One short pretraining run per model; BERT's through the `textzoo pretrain` command."""
    folders = {}
    for model in ("bert", "albert", "gpt"):
        out = tmp_path_factory.mktemp(f"pre-{model}")
        if model == "bert":
            args = ["-q", "pretrain", "bert", "--corpus", str(corpus_file), "--out", str(out)]
            for k, v in TINY.items():
                args += ["--set", f"{k}={v}"]
            assert cli_main(args) == 0
        else:
            pretrain_model(model, corpus_file, out, overrides=TINY, progress=False)
        folders[model] = out
    return folders


@pytest.mark.parametrize("model", ["bert", "albert", "gpt"])
def test_short_pretraining_lowers_the_loss(pretrained, model):
    history = json.loads((pretrained[model] / "pretraining.json").read_text())["history"]
    losses = [h["loss"] for h in history]
    assert len(losses) == TINY["max_steps"] and all(np.isfinite(losses))
    if model != "gpt":  # the masked LM term: a batch's total also holds NSP/SOP if it has pairs
        assert all(h["loss"] == pytest.approx(h["mlm"] + h.get("pair", 0.0), abs=1e-4) for h in history)
        losses = [h["mlm"] for h in history]
    first, last = np.mean(losses[:5]), np.mean(losses[-5:])
    # from about ln(vocab); a tiny model learns the token frequencies at least
    assert last < first - (0.5 if model == "gpt" else 0.2), (first, last)


@pytest.mark.parametrize("model", ["bert", "albert", "gpt"])
def test_output_folder_loads_in_transformers(pretrained, model):
    import transformers as tf

    folder = pretrained[model]
    tok = tf.AutoTokenizer.from_pretrained(folder)
    assert tok("oil prices rose")["input_ids"]
    full = (tf.AutoModelForCausalLM if model == "gpt" else tf.AutoModelForPreTraining).from_pretrained(
        folder, output_loading_info=True)
    net, info = full
    assert not info["missing_keys"] and not info["unexpected_keys"]  # pretraining heads saved too
    backbone = tf.AutoModel.from_pretrained(folder)
    expected = {"bert": "BertModel", "albert": "AlbertModel", "gpt": "GPT2Model"}[model]
    assert type(backbone).__name__ == expected
    if model == "albert":  # factorised embeddings (E) and one shared layer group
        assert backbone.embeddings.word_embeddings.weight.shape[1] == TINY["embedding_size"]
        assert backbone.config.num_hidden_groups == 1 and len(backbone.encoder.albert_layer_groups) == 1
    with torch.no_grad():
        out = backbone(**tok(["oil prices rose sharply"], return_tensors="pt"))
    assert out.last_hidden_state.shape[-1] == TINY["hidden"]


@pytest.mark.parametrize("model", ["bert", "albert", "gpt"])
def test_textzoo_train_fine_tunes_the_output_folder(pretrained, model, r8, tmp_path):
    for name, split, n in (("train.csv", r8.train, 48), ("test.csv", r8.test, 24)):
        with open(tmp_path / name, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["text", "label"])
            writer.writerows(zip(split.texts[:n], split.labels[:n]))
    run = tmp_path / "run"
    args = ["-q", "train", model, "--train", str(tmp_path / "train.csv"), "--test", str(tmp_path / "test.csv"),
            "--out", str(run), "--set", f"pretrained={pretrained[model]}", "--set", "max_length=32",
            "--set", "epochs=1", "--set", "batch_size=8"]
    assert cli_main(args) == 0
    loaded = textzoo.load(run)
    assert loaded.config.pretrained == str(pretrained[model])
    import transformers as tf

    start = tf.AutoModel.from_pretrained(pretrained[model])
    # the fine-tuned backbone started from the pretrained weights (position embeddings barely move)
    tuned = dict(loaded.net.backbone.named_parameters())
    key = {"bert": "embeddings.position_embeddings.weight", "albert": "embeddings.position_embeddings.weight",
           "gpt": "transformer.wpe.weight"}[model]
    ref = dict(start.named_parameters())[key.removeprefix("transformer.")]
    assert torch.allclose(tuned[key], ref, atol=0.05)
    assert len(loaded.predict(r8.test.texts[:3])) == 3


def test_heldout_loss_and_keep_best_save_the_least_overfitted_weights(data_dir, tmp_path):
    """A model big enough to memorise 28 MR sentences: its held-out loss falls, then climbs; with
    keep_best the saved weights are those of the lowest held-out loss, scored again here."""
    import transformers as tf

    texts = textzoo.load_dataset("mr", data_dir=data_dir).train.texts[:40]
    over = {"vocab_size": 400, "hidden": 128, "layers": 2, "heads": 2, "intermediate": 512, "max_length": 48,
            "batch_size": 8, "max_steps": 150, "lr": 3e-3, "epochs": 100, "dropout": 0.0,
            "valid_fraction": 0.3, "eval_steps": 10, "keep_best": True}
    out = pretrain_model("gpt", texts, tmp_path / "gpt", overrides=over, progress=False)
    info = json.loads((out / "pretraining.json").read_text())
    assert [h["step"] for h in info["heldout"]] == list(range(10, 151, 10))
    losses = [h["loss"] for h in info["heldout"]]
    best = int(np.argmin(losses))
    assert info["kept_step"] == info["heldout"][best]["step"] < 150
    assert losses[-1] > losses[best] + 0.1  # over-fitted by the end
    cfg = PretrainConfig(**over)
    train, held = hold_out(read_corpus(texts), cfg.valid_fraction, cfg.seed)
    assert len(held) == 12 and len(train) == 28 and info["heldout_documents"] == 12
    batches = heldout_batches("gpt", held, tf.AutoTokenizer.from_pretrained(out), cfg)
    saved = heldout_loss("gpt", tf.AutoModelForCausalLM.from_pretrained(out), batches, "cpu")
    assert saved == pytest.approx(losses[best], abs=2e-4)
    with pytest.raises(ValueError, match="valid_fraction"):
        PretrainConfig(keep_best=True)


@pytest.mark.parametrize("model", ["bert", "albert", "gpt"])
def test_init_from_continues_the_pretraining_of_a_folder(pretrained, model, data_dir, tmp_path):
    """``init_from``: the checkpoint's own tokenizer and architecture, its weights as the start
    (at lr 0 they come back unchanged), the loss of the new text from the first step on."""
    import transformers as tf

    texts = textzoo.load_dataset("mr", data_dir=data_dir).train.texts[:60]
    source = pretrained[model]
    other = {**TINY, "hidden": 48, "vocab_size": 300, "max_steps": 2}  # ignored: the checkpoint's are kept
    frozen = pretrain_model(model, texts, tmp_path / "lr0", progress=False,
                            overrides={**other, "init_from": str(source), "lr": 0.0})
    assert (frozen / "tokenizer.json").read_text() == (source / "tokenizer.json").read_text()
    cls = tf.AutoModelForCausalLM if model == "gpt" else tf.AutoModelForPreTraining
    before, after = cls.from_pretrained(source).state_dict(), cls.from_pretrained(frozen).state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    moved = pretrain_model(model, texts, tmp_path / "lr", progress=False, overrides={**other, "init_from": str(source)})
    after = cls.from_pretrained(moved).state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    info = json.loads((moved / "pretraining.json").read_text())
    assert info["config"]["init_from"] == str(source) and len(info["history"]) == 2
    fresh = pretrain_model(model, texts, tmp_path / "fresh", progress=False, overrides=TINY | {"max_steps": 1})
    key = "loss" if model == "gpt" else "mlm"
    first = json.loads((fresh / "pretraining.json").read_text())["history"][0][key]
    assert info["history"][0][key] < first  # the 40 updates on 20NG carry over to MR's text


def test_init_from_refuses_another_family_and_longer_inputs(pretrained, tmp_path):
    from textzoo.errors import ConfigError

    texts = ["the first document . it has two sentences .", "another one here .", "and a third one ."]
    with pytest.raises(ConfigError, match="'albert' checkpoint"):
        pretrain_model("gpt", texts, tmp_path / "a", progress=False,
                       overrides={**TINY, "init_from": str(pretrained["albert"])})
    with pytest.raises(ConfigError, match="exceeds the 48 positions"):
        pretrain_model("bert", texts, tmp_path / "b", progress=False,
                       overrides={**TINY, "max_length": 64, "init_from": str(pretrained["bert"])})
    with pytest.raises(ConfigError, match="no checkpoint"):
        pretrain_model("bert", texts, tmp_path / "c", progress=False,
                       overrides={**TINY, "init_from": str(tmp_path / "missing")})
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


# --------------------------------------------------------------------------------- checkpoints and resume
RESUMABLE = {**TINY, "max_steps": 24, "checkpoint_steps": 5, "dropout": 0.1, "valid_fraction": 0.1,
             "eval_steps": 7, "keep_best": True}


def _folder_state(folder):
    from safetensors.torch import load_file

    info = json.loads((folder / "pretraining.json").read_text())
    return load_file(str(folder / "model.safetensors")), info


@pytest.mark.parametrize("model", ["bert", "albert", "gpt"])
def test_interrupted_pretraining_resumes_to_the_same_weights(model, pretrained, data_dir, tmp_path, monkeypatch):
    """Killed right after every second checkpoint and resumed each time: the same weights, losses,
    held-out losses and kept step as one uninterrupted run (several epochs, dropout on, keep_best).
    ALBERT continues a folder (``init_from``): its Unigram tokenizer differs from run to run, so two
    separate runs that each train one could not be compared; BERT and GPT train theirs."""
    from interrupt import run_with_interruptions

    texts = textzoo.load_dataset("mr", data_dir=data_dir).train.texts[:40]
    over = RESUMABLE | ({"init_from": str(pretrained["albert"])} if model == "albert" else {})
    reference = pretrain_model(model, texts, tmp_path / "reference", overrides=over, progress=False)
    out = tmp_path / "interrupted"

    def killed() -> None:
        assert (out / "checkpoints" / "latest.json").is_file() and not (out / "pretraining.json").exists()

    _, resumes = run_with_interruptions(  # checkpoints at steps 5, 10 (killed), 15, 20 (killed)
        monkeypatch, lambda resume: pretrain_model(model, texts, out, overrides=over, progress=False, resume=resume),
        every=2, on_kill=killed)
    assert resumes == 2
    (ref_weights, ref_info), (weights, info) = _folder_state(reference), _folder_state(out)
    assert info["resumed_at"] == [10, 20] and ref_info["resumed_at"] == []
    assert info["examples"] > 2 * RESUMABLE["batch_size"]  # several epochs of batches, drawn again on resume
    for key in ("history", "heldout", "kept_step", "fingerprint"):
        assert info[key] == ref_info[key], key
    assert ref_weights.keys() == weights.keys()
    assert all(torch.equal(ref_weights[k], weights[k]) for k in weights)
    assert (out / "tokenizer.json").read_text() == (reference / "tokenizer.json").read_text()
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in reference.iterdir())  # no checkpoints
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary folders


def test_resume_refuses_other_settings_and_skips_a_finished_run(data_dir, tmp_path, monkeypatch, capsys):
    from interrupt import Killed

    from textzoo.errors import ConfigError
    from textzoo.training import checkpoint as ckpt

    texts = textzoo.load_dataset("mr", data_dir=data_dir).train.texts[:40]
    corpus = tmp_path / "mr.txt"
    corpus.write_text("\n".join(texts) + "\n", encoding="utf-8")
    out = tmp_path / "gpt"
    sets = [arg for k, v in RESUMABLE.items() for arg in ("--set", f"{k}={v}")]
    real_save = ckpt.save_checkpoint

    def save_then_die(*args, **kw):
        real_save(*args, **kw)
        raise Killed

    monkeypatch.setattr(ckpt, "save_checkpoint", save_then_die)
    with pytest.raises(Killed):
        cli_main(["-q", "pretrain", "gpt", "--corpus", str(corpus), "--out", str(out), *sets])
    monkeypatch.setattr(ckpt, "save_checkpoint", real_save)
    assert cli_main(["-q", "pretrain", "gpt", "--corpus", str(corpus), "--out", str(out), *sets,
                     "--set", "lr=0.001", "--resume"]) == 2
    assert "different pretraining (lr: 0.003 then, 0.001 now)" in capsys.readouterr().err
    corpus.write_text("\n".join(texts[1:]) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="the corpus differs"):
        pretrain_model("gpt", corpus, out, overrides=RESUMABLE, progress=False, resume=True)
    corpus.write_text("\n".join(texts) + "\n", encoding="utf-8")
    args = ["-q", "pretrain", "gpt", "--corpus", str(corpus), "--out", str(out), *sets, "--resume",
            "--set", "checkpoint_steps=7"]  # the checkpoint interval may change
    assert cli_main(args) == 0
    info = json.loads((out / "pretraining.json").read_text())
    assert info["resumed_at"] == [5] and len(info["history"]) == 24 and not (out / "checkpoints").exists()
    before = (out / "model.safetensors").stat().st_mtime_ns
    assert cli_main(args) == 0  # already finished: nothing trained, nothing written
    assert (out / "model.safetensors").stat().st_mtime_ns == before
    from textzoo.pretraining import _PRETRAINERS, register_pretrainer

    register_pretrainer("plain", f"{__name__}:_pretrainer_without_resume")  # a user's, without resume
    try:
        assert cli_main(["-q", "pretrain", "plain", "--corpus", str(corpus), "--out", str(tmp_path / "p"),
                         "--resume"]) == 2
    finally:
        del _PRETRAINERS["plain"]
    assert "`textzoo pretrain plain` cannot resume" in capsys.readouterr().err


def _pretrainer_without_resume(corpus, out, config_file=None, overrides=None):
    raise AssertionError("not to be called with --resume")
