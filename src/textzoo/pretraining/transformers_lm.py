"""Pretraining BERT, ALBERT and GPT backbones from scratch on the user's unlabelled text.

``textzoo pretrain bert|albert|gpt --corpus FILE --out DIR`` trains a tokenizer on the corpus with
Hugging Face ``tokenizers``, a backbone with ``transformers`` and writes DIR with
``save_pretrained`` (``config.json``, ``model.safetensors``, ``tokenizer.json``,
``tokenizer_config.json``) plus ``pretraining.json`` (the config and the loss of every step: for BERT and ALBERT also its
masked-LM and NSP/SOP terms, ``mlm`` and ``pair``; with ``valid_fraction`` the held-out loss every
``eval_steps`` updates, ``heldout``, and ``kept_step``, the step whose weights were saved). DIR loads
with ``transformers.AutoModel.from_pretrained(DIR)`` and fine-tunes with
``textzoo train MODEL --set pretrained=DIR``.

* BERT (Devlin et al. 2019, Section 3.1 and A.1): WordPiece tokenizer; masked LM on 15% of the
  tokens, of which 80% become [MASK], 10% a random token and 10% stay unchanged; next-sentence
  prediction, where segment B is the true next segment 50% of the time and a segment of another
  document otherwise.
* ALBERT (Lan et al. 2020, Section 3.1, 3.2 and 4.1): SentencePiece-style Unigram tokenizer;
  factorised embeddings (E = 128) and cross-layer parameter sharing (``AlbertConfig`` with one
  hidden group); n-gram masking with n <= 3 and p(n) proportional to 1/n (masked spans of
  consecutive words, as in ALBERT's code, until 15% of the tokens are covered; 80/10/10 replacement
  per token);
  sentence-order prediction: two consecutive segments of one document, swapped 50% of the time.
* Documents of one sentence (``single_segment``): NSP and SOP need two segments of one document, and
  the papers define no pair for a document of one sentence. By default (``alone``) such a chunk is a
  one-segment example ``[CLS] A [SEP]`` trained on the masked LM only (its pair label is ignored),
  the input a single-sentence classifier sees when fine-tuning; RoBERTa (Liu et al. 2019, Section
  4.2) found that dropping the pair objective matches or improves downstream results. ``random`` is
  BERT's and ALBERT's ``create_pretraining_data.py``: B is text of a random other document, label 1
  (for a corpus of one-sentence documents, such as MR, nearly every pair label is then 1).
  ``split`` cuts the sentence at a random token into A and B; its order is then given away by
  where the sentence-final punctuation lies (86% of MR's SOP pairs are decided by "A ends with
  ``.`` and B does not"), and a model pretrained on it fine-tuned to chance on MR (BENCHMARKS.md).
* GPT (Radford et al. 2018, Section 3.1): byte-level BPE tokenizer (GPT-2's variant; GPT-1 used
  classic BPE on ftfy/spaCy-cleaned text), causal LM on contiguous blocks of ``max_length`` tokens,
  a ``GPT2LMHeadModel``.

Over-fitting a small corpus: ``valid_fraction`` holds out a seeded share of the documents (the
tokenizer never sees them) and scores the pretraining loss on them every ``eval_steps`` updates,
always on the same examples and masks; ``keep_best=true`` then saves the weights of the lowest
held-out loss instead of the last (as ``run_mlm.py``'s ``load_best_model_at_end``). The papers
pretrain on corpora far larger than any model can over-fit and use neither (defaults: 0, off).

Continued pretraining (``init_from``): starting from a folder that ``textzoo pretrain`` wrote, or
any checkpoint of the same family with its pretraining heads (``bert-base-uncased``,
``albert-base-v2``, ``gpt2``, by hub name or folder), the run keeps that checkpoint's tokenizer and
architecture (``vocab_size``, ``hidden``, ``layers``, ... are then ignored) and goes on with the
same objectives on ``corpus``: domain- and task-adaptive pretraining (DAPT/TAPT, Gururangan et al.
2020, "Don't Stop Pretraining", Sections 3-4), e.g. a model pretrained on a large union of corpora,
then on the task's own unlabelled text.

Interrupted runs (``checkpoint_steps``, ``textzoo pretrain --resume``): every ``checkpoint_steps``
updates (500 by default) a checkpoint goes to ``OUT/checkpoints``, and ``--resume`` continues from
the last one to the same weights an uninterrupted run ends with (:func:`pretrain_model`).

The corpus is a text file with one document per line (blank lines are skipped), or a list of
strings. Segments for NSP/SOP are built from sentences (split after ``.``, ``!``, ``?``;
:func:`split_sentences`).

The objectives and their rates are the papers'; the architecture defaults are small (4 layers of
256, the papers use BERT-base: 12 layers of 768) so that pretraining is feasible on a CPU; set
``hidden``, ``layers``, ``heads``, ``intermediate`` for larger models. The optimiser is BERT's for
all three (AdamW, lr 1e-4, weight decay 0.01, 1% linear warm-up then linear decay, Section A.2);
ALBERT used LAMB with batch 4096 (Section 4.1) and GPT a cosine decay from 2.5e-4 (Section 4.1),
both sized for large batches on accelerators. Dropout is 0.1 for all three (``dropout``; ALBERT's
Section 4.9 drops it for its largest models).
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .._io import atomic_write_json, write_folder
from ..config import config_to_dict, merge_config
from ..errors import ConfigError, DataError, ModelFileError
from . import runs

log = logging.getLogger(__name__)

#: special tokens of each tokenizer kind: (pad, unk, cls/bos, sep/eos, mask)
SPECIALS = {
    "wordpiece": {"pad": "[PAD]", "unk": "[UNK]", "cls": "[CLS]", "sep": "[SEP]", "mask": "[MASK]"},
    "unigram": {"pad": "<pad>", "unk": "<unk>", "cls": "[CLS]", "sep": "[SEP]", "mask": "[MASK]"},
    "bytebpe": {"eos": "<|endoftext|>"},
}
KIND = {"bert": "wordpiece", "albert": "unigram", "gpt": "bytebpe"}


@dataclass
class PretrainConfig:
    """Pretraining settings: objectives as in the papers, a small architecture for CPUs."""

    vocab_size: int = 8000
    min_frequency: int = 2            # tokenizer training: pairs/pieces seen fewer times are dropped
    max_length: int = 128             # tokens per example (BERT: 128 for 90% of the steps, A.2)
    hidden: int = 256
    layers: int = 4
    heads: int = 4
    intermediate: int = 1024
    embedding_size: int = 128         # ALBERT's E (Section 3.1); ignored by BERT and GPT
    mask_prob: float = 0.15           # BERT/ALBERT: share of the tokens predicted (Section 3.1)
    max_ngram: int = 3                # ALBERT n-gram masking: n <= 3, p(n) proportional to 1/n
    pair_prob: float = 0.5            # NSP: random B / SOP: swapped, with this probability
    short_seq_prob: float = 0.1       # BERT A.2: shorter examples 10% of the time
    single_segment: Literal["alone", "random", "split"] = "alone"   # one-sentence chunks: module docstring
    batch_size: int = 32
    epochs: int = 1
    max_steps: int = 0                # > 0: stop after this many updates
    lr: float = 1e-4                  # BERT A.2: Adam 1e-4, warm-up, linear decay, weight decay 0.01
    warmup: float = 0.01
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    dropout: float = 0.1
    seed: int = 0
    device: str = "auto"              # auto: cuda if available, else cpu
    valid_fraction: float = 0.0       # share of the documents held out for a held-out loss (0: none)
    eval_steps: int = 200             # with valid_fraction: the held-out loss every N updates and at the end
    keep_best: bool = False           # with valid_fraction: save the weights of the lowest held-out loss
    init_from: str = ""               # a pretrained folder or hub name: continue pretraining it (module docstring)
    checkpoint_steps: int = 500       # a checkpoint in OUT/checkpoints every N updates (0: none); resume continues it

    def __post_init__(self):
        if not 0 < self.mask_prob < 1 or not 0 <= self.pair_prob <= 1:
            raise ValueError("mask_prob must be in (0, 1) and pair_prob in [0, 1]")
        if self.max_length < 16 or self.vocab_size < 100:
            raise ValueError("max_length must be >= 16 and vocab_size >= 100")
        if self.hidden % self.heads:
            raise ValueError(f"hidden ({self.hidden}) must be a multiple of heads ({self.heads})")
        if self.max_ngram < 1 or self.batch_size < 1 or self.epochs < 1:
            raise ValueError("max_ngram, batch_size and epochs must be >= 1")
        if self.single_segment not in ("alone", "random", "split"):
            raise ValueError(f"single_segment must be alone, random or split, got {self.single_segment!r}")
        if not 0 <= self.valid_fraction < 1 or self.eval_steps < 1:
            raise ValueError("valid_fraction must be in [0, 1) and eval_steps >= 1")
        if self.checkpoint_steps < 0:
            raise ValueError(f"checkpoint_steps must be >= 0, got {self.checkpoint_steps}")
        if self.keep_best and self.valid_fraction == 0:
            raise ValueError("keep_best needs held-out documents: set valid_fraction (e.g. 0.05)")


# --------------------------------------------------------------------------------- tokenizers
def train_tokenizer(kind: Literal["wordpiece", "unigram", "bytebpe"], texts: Sequence[str],
                    vocab_size: int = 8000, min_frequency: int = 2):
    """A ``transformers.PreTrainedTokenizerFast`` trained on ``texts`` with ``tokenizers``.

    wordpiece: BERT's (lower-cased, BERT pre-tokenizer); unigram: SentencePiece's Unigram model over
    Metaspace pieces (ALBERT); bytebpe: GPT-2's byte-level BPE.

    WordPiece and byte-level BPE give the same vocabulary for the same texts in every run; the
    Unigram trainer of ``tokenizers`` does not (two runs on MR's 7,108 sentences differed in 27 of
    8,000 pieces and in the scores, with ``TOKENIZERS_PARALLELISM=false`` too), so an ALBERT run is
    reproduced exactly only from its saved ``tokenizer.json`` (``init_from``, or fine-tuning the folder).
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    sp = SPECIALS[kind]
    if kind == "wordpiece":
        tok = Tokenizer(models.WordPiece(unk_token=sp["unk"]))
        tok.normalizer = normalizers.BertNormalizer(lowercase=True)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece()
        trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                            special_tokens=list(sp.values()))
    elif kind == "unigram":
        tok = Tokenizer(models.Unigram())
        tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        tok.decoder = decoders.Metaspace()
        trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=list(sp.values()),
                                          unk_token=sp["unk"])
    elif kind == "bytebpe":
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                      special_tokens=list(sp.values()),
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    else:
        raise ConfigError(f"unknown tokenizer kind {kind!r}")
    texts = list(texts)
    tok.train_from_iterator(texts, trainer=trainer)
    if kind == "wordpiece":
        tok = _same_wordpiece_every_run(tok, texts, vocab_size, min_frequency, list(sp.values()))
    if kind in ("wordpiece", "unigram"):  # [CLS] A [SEP] (B [SEP]) for users of the saved folder
        cls_id, sep_id = tok.token_to_id(sp["cls"]), tok.token_to_id(sp["sep"])
        tok.post_processor = processors.TemplateProcessing(
            single=f"{sp['cls']} $A {sp['sep']}", pair=f"{sp['cls']} $A {sp['sep']} $B:1 {sp['sep']}:1",
            special_tokens=[(sp["cls"], cls_id), (sp["sep"], sep_id)])
        return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token=sp["unk"], pad_token=sp["pad"],
                                       cls_token=sp["cls"], sep_token=sp["sep"], mask_token=sp["mask"])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=sp["eos"], eos_token=sp["eos"],
                                   unk_token=sp["eos"])


def _same_wordpiece_every_run(tok, texts: list[str], vocab_size: int, min_frequency: int, specials: list[str]):
    """``tok`` trained again so that the same texts give the same vocabulary in every process.

    ``tokenizers``' WordPiece trainer (its BPE trainer with the ``##`` prefix) numbers the
    continuing-subword characters (``##e``) in hash-map order, and those ids break ties between
    equally frequent merges, so the vocabulary and the token ids differed from one run to the next
    (huggingface/tokenizers#1794; still so in 0.23). Listing those characters, sorted, after the
    special tokens gives them fixed ids. The merges are the trainer's; the listed characters then
    become plain vocabulary entries again (they were in the vocabulary anyway), not special tokens.
    """
    from tokenizers import Tokenizer, models, trainers

    continuing = sorted(t for t in tok.get_vocab(with_added_tokens=False) if t.startswith("##") and len(t) == 3)
    fixed = Tokenizer(models.WordPiece(unk_token=tok.model.unk_token))
    fixed.normalizer, fixed.pre_tokenizer = tok.normalizer, tok.pre_tokenizer
    fixed.train_from_iterator(texts, trainer=trainers.WordPieceTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=specials + continuing))
    out = Tokenizer(models.WordPiece(vocab=fixed.get_vocab(with_added_tokens=False), unk_token=tok.model.unk_token))
    out.normalizer, out.pre_tokenizer, out.decoder = tok.normalizer, tok.pre_tokenizer, tok.decoder
    out.add_special_tokens(specials)
    return out


# --------------------------------------------------------------------------------- masking
def mask_tokens(ids: torch.Tensor, special: torch.Tensor, mask_id: int, vocab_size: int,
                generator: torch.Generator, prob: float = 0.15) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masked LM input (Section 3.1): ``(inputs, labels)``.

    Each non-special token is chosen with probability ``prob``; a chosen token becomes [MASK] 80% of
    the time, a random token 10% and stays unchanged 10%. ``labels`` holds the original id at the
    chosen positions and -100 elsewhere (ignored by the loss).
    """
    chosen = (torch.rand(ids.shape, generator=generator) < prob) & ~special
    labels = ids.masked_fill(~chosen, -100)
    u = torch.rand(ids.shape, generator=generator)
    inputs = ids.clone()
    inputs[chosen & (u < 0.8)] = mask_id
    rand = chosen & (u >= 0.8) & (u < 0.9)
    inputs[rand] = torch.randint(vocab_size, ids.shape, generator=generator)[rand]
    return inputs, labels


def ngram_probs(max_n: int = 3) -> np.ndarray:
    """ALBERT's span-length distribution: p(n) proportional to 1/n for n = 1..max_n (Section 4.1)."""
    p = 1.0 / np.arange(1, max_n + 1)
    return p / p.sum()


def ngram_mask(ids: torch.Tensor, special: torch.Tensor, mask_id: int, vocab_size: int,
               rng: np.random.Generator, prob: float = 0.15, max_n: int = 3,
               word_start: torch.Tensor | None = None,
               spans_out: list | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """ALBERT's n-gram masking (Section 4.1, after Joshi et al.'s SpanBERT): ``(inputs, labels)``.

    The masking units are words (with ``word_start``, True where a token begins a word, e.g. a
    SentencePiece piece starting with "▁"; as in ALBERT's ``create_pretraining_data.py``) or single
    tokens (without it). Per sequence, spans of n consecutive units (never across a special token),
    n drawn with p(n) proportional to 1/n for n <= ``max_n``, are masked at a random free place until
    ``round(prob * non-special tokens)`` tokens are covered. Spans never overlap; a drawn n is kept
    and only its place redrawn among the free ones (so the span lengths follow p(n)), except that a
    span longer than the tokens left in the budget (or with no free place) is shortened, as
    ALBERT's code does. Each
    masked token then gets BERT's 80/10/10 treatment. ``spans_out`` collects the span lengths in
    units (for tests).
    """
    p = ngram_probs(max_n)
    inputs, labels = ids.clone(), torch.full_like(ids, -100)
    special_np = special.numpy()
    starts_np = None if word_start is None else word_start.numpy()
    for row in range(ids.shape[0]):
        cand = np.flatnonzero(~special_np[row])
        if not len(cand):
            continue
        budget = max(1, int(round(prob * len(cand))))
        gap = np.ones(len(cand), dtype=bool)             # a special token (or the start) precedes
        gap[1:] = np.diff(cand) != 1
        new_unit = np.ones(len(cand), dtype=bool) if starts_np is None else (gap | starts_np[row, cand])
        unit_first = np.flatnonzero(new_unit)             # index into cand of each unit's first token
        n_units = len(unit_first)
        tok_csum = np.concatenate([unit_first, [len(cand)]])   # unit u covers cand[tok_csum[u]:tok_csum[u+1]]
        segment = np.cumsum(gap[unit_first])              # units of one segment are adjacent
        covered = np.zeros(n_units, dtype=bool)
        n_cov = 0
        while n_cov < budget:
            n = int(rng.choice(max_n, p=p)) + 1
            placed = False
            while n >= 1 and not placed:
                m = n_units - n + 1
                if m > 0:
                    ok = (tok_csum[n:n + m] - tok_csum[:m]) <= budget - n_cov
                    for k in range(n):
                        ok &= ~covered[k:k + m] & (segment[k:k + m] == segment[:m])
                    free = np.flatnonzero(ok)
                    if len(free):
                        u = int(free[rng.integers(len(free))])
                        covered[u:u + n] = True
                        n_cov += int(tok_csum[u + n] - tok_csum[u])
                        placed = True
                        if spans_out is not None:
                            spans_out.append(n)
                        break
                n -= 1  # no free place (or over budget) for n units: shorten, as ALBERT's code does
            if not placed:
                break
        token_covered = np.repeat(covered, np.diff(tok_csum))
        pos = torch.from_numpy(cand[token_covered])
        if not len(pos):
            continue
        labels[row, pos] = ids[row, pos]
        u = rng.random(len(pos))
        to_mask, to_rand = pos[torch.from_numpy(u < 0.8)], pos[torch.from_numpy((u >= 0.8) & (u < 0.9))]
        inputs[row, to_mask] = mask_id
        inputs[row, to_rand] = torch.from_numpy(rng.integers(vocab_size, size=len(to_rand))).long()
    return inputs, labels


# --------------------------------------------------------------------------------- sentence pairs
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])\s*")  # Chinese full stops need no space
_WORD = re.compile(r"\w")


def split_sentences(doc: str) -> list[str]:
    """``doc``'s sentences: split after ``.``, ``!``, ``?`` followed by white space, and after
    ``。``, ``！``, ``？``.

    A piece without any letter or digit (an ellipsis written ``. . .``, a closing quote or bracket
    after the full stop, as in MR's tokenised sentences) is not a sentence: it stays with the
    sentence before it (or after it, at the start), so it cannot form a sentence pair of its own.
    """
    out: list[str] = []
    pending = ""
    for piece in _SENTENCE_END.split(doc):
        if not piece:
            continue
        if not _WORD.search(piece):
            if out:
                out[-1] = f"{out[-1]} {piece}"
            else:
                pending = f"{pending} {piece}".strip()
            continue
        out.append(f"{pending} {piece}".strip() if pending else piece)
        pending = ""
    if pending:
        out.append(pending)
    return out


def split_segments(doc_sentences: list[list[int]], budget: int) -> list[list[list[int]]]:
    """Group a document's tokenised sentences into chunks of at most ``budget`` tokens.

    A sentence longer than ``budget`` (or a text without sentence punctuation) is first cut into
    pieces of ``budget`` tokens, so no text is lost.
    """
    chunks, cur, size = [], [], 0
    pieces = [s[i:i + budget] for s in doc_sentences for i in range(0, len(s), budget)]
    for sent in pieces:
        if cur and size + len(sent) > budget:
            chunks.append(cur)
            cur, size = [], 0
        cur.append(sent)
        size += len(sent)
    if cur:
        chunks.append(cur)
    return chunks


def make_pairs(docs: list[list[list[int]]], objective: Literal["nsp", "sop"], budget: int,
               rng: np.random.Generator, pair_prob: float = 0.5, short_seq_prob: float = 0.0,
               single: Literal["alone", "random", "split"] = "alone"):
    """``(a, b, label)`` token pairs from documents given as lists of tokenised sentences.

    Each chunk of a document (sentences filling at most ``budget`` tokens) with two sentences or
    more is split at a random sentence boundary into A and B.

    * ``nsp`` (BERT, Section 3.1): with probability ``pair_prob`` B is replaced by a segment of the
      same length from another document, label 1 ("not next"); otherwise label 0 ("is next").
    * ``sop`` (ALBERT, Section 4.1): with probability ``pair_prob`` A and B are swapped, label 1;
      otherwise label 0. Both segments always come from the same document.

    A chunk of one sentence (``single``, see the module docstring): ``alone`` gives ``(a, [], -100)``,
    one segment and no pair label; ``random`` pairs it with a segment of a random other document,
    label 1 (BERT's and ALBERT's ``create_pretraining_data.py``); ``split`` cuts it at a random token
    into A and B and treats them as two sentences.

    The labels follow ``transformers``' ``next_sentence_label`` and ``sentence_order_label``.
    """
    pairs = []
    flat_docs = [[t for s in d for t in s] for d in docs]
    non_empty = np.flatnonzero([len(f) > 0 for f in flat_docs])

    def other_segment(d: int, length: int) -> list[int]:
        """``length`` tokens at a random place of a random other document."""
        if len(non_empty) < 2:
            raise DataError("next-sentence prediction needs at least two non-empty documents")
        o = d
        while o == d:  # a random other document (BERT's create_pretraining_data.py)
            o = int(non_empty[rng.integers(len(non_empty))])
        other = flat_docs[o]
        start = int(rng.integers(0, max(1, len(other) - length + 1)))
        return other[start:start + length]

    for d, doc in enumerate(docs):
        limit = budget
        if short_seq_prob and rng.random() < short_seq_prob:
            limit = int(rng.integers(2, budget + 1))
        for chunk in split_segments(doc, limit):
            if len(chunk) >= 2:
                cut = int(rng.integers(1, len(chunk)))
                a = [t for s in chunk[:cut] for t in s]
                b = [t for s in chunk[cut:] for t in s]
            elif single == "alone":
                if chunk[0]:
                    pairs.append((list(chunk[0]), [], -100))
                continue
            elif single == "random":
                a = list(chunk[0])
                if a:  # B fills the chunk's budget (create_pretraining_data.py's target_b_length)
                    b = other_segment(d, max(1, limit - len(a)))
                    pairs.append((a[:budget - len(b)], b, 1))
                continue
            else:
                tokens = chunk[0]
                if len(tokens) < 2:
                    continue
                cut = int(rng.integers(1, len(tokens)))
                a, b = tokens[:cut], tokens[cut:]
            label = 0
            if rng.random() < pair_prob:
                label = 1
                if objective == "sop":
                    a, b = b, a
                else:
                    b = other_segment(d, len(b))
            pairs.append((a, b, label))
    return pairs


# --------------------------------------------------------------------------------- pretraining
def read_corpus(corpus) -> list[str]:
    """Documents of a text file (one per line) or of a list of strings; blank ones dropped."""
    if isinstance(corpus, (str, Path)):
        path = Path(corpus)
        if not path.is_file():
            raise DataError(f"{path}: no such corpus file (one document per line)")
        from ..data.readers import read_lines

        lines = read_lines(path)  # UTF-8; undecodable bytes, NUL bytes, over-long lines: file and line named
    else:
        lines = list(corpus)
    docs = [line.strip() for line in lines if line.strip()]
    if len(docs) < 2:
        raise DataError(f"{corpus if isinstance(corpus, (str, Path)) else 'corpus'}: needs at least two documents")
    return docs


def _build_model(model: str, cfg: PretrainConfig, vocab: int, tok):
    import transformers as tf

    common = dict(vocab_size=vocab, hidden_size=cfg.hidden, num_hidden_layers=cfg.layers,
                  num_attention_heads=cfg.heads, intermediate_size=cfg.intermediate,
                  max_position_embeddings=cfg.max_length, hidden_dropout_prob=cfg.dropout,
                  attention_probs_dropout_prob=cfg.dropout, pad_token_id=tok.pad_token_id)
    if model == "bert":
        return tf.BertForPreTraining(tf.BertConfig(**common))
    if model == "albert":
        conf = tf.AlbertConfig(embedding_size=cfg.embedding_size, num_hidden_groups=1, inner_group_num=1,
                               classifier_dropout_prob=cfg.dropout, **common)
        conf.bos_token_id, conf.eos_token_id = tok.cls_token_id, tok.sep_token_id
        return tf.AlbertForPreTraining(conf)
    return tf.GPT2LMHeadModel(tf.GPT2Config(
        vocab_size=vocab, n_positions=cfg.max_length, n_embd=cfg.hidden, n_layer=cfg.layers,
        n_head=cfg.heads, n_inner=cfg.intermediate, resid_pdrop=cfg.dropout, embd_pdrop=cfg.dropout,
        attn_pdrop=cfg.dropout, bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id))


#: model_type of each model's checkpoints and the class holding its pretraining heads
PRETRAINING_CLASS = {"bert": ("bert", "BertForPreTraining"), "albert": ("albert", "AlbertForPreTraining"),
                     "gpt": ("gpt2", "GPT2LMHeadModel")}


def load_for_pretraining(model: str, source: str, max_length: int):
    """``(network with pretraining heads, tokenizer)`` of checkpoint ``source`` (folder or hub name),
    to continue pretraining it (``init_from``)."""
    import transformers as tf

    model_type, cls = PRETRAINING_CLASS[model]
    try:
        conf = tf.AutoConfig.from_pretrained(source)
        tok = tf.AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"init_from={source!r}: no checkpoint to continue pretraining ({exc}); give a folder "
                          f"that `textzoo pretrain {model}` wrote, or a hub name") from exc
    if conf.model_type != model_type:
        raise ConfigError(f"init_from={source!r} is a {conf.model_type!r} checkpoint; `textzoo pretrain {model}` "
                          f"continues {model_type!r} checkpoints only")
    limit = getattr(conf, "max_position_embeddings", None) or getattr(conf, "n_positions", None)
    if limit is not None and max_length > limit:
        raise ConfigError(f"max_length={max_length} exceeds the {limit} positions of init_from={source!r}")
    if model != "gpt" and (tok.mask_token_id is None or tok.cls_token_id is None or tok.sep_token_id is None):
        raise ConfigError(f"init_from={source!r}: its tokenizer lacks [CLS], [SEP] or [MASK]")
    if model == "gpt" and tok.eos_token_id is None:
        raise ConfigError(f"init_from={source!r}: its tokenizer has no end-of-text token")
    net = getattr(tf, cls).from_pretrained(source)
    log.info("continuing the pretraining of %s (%d parameters, tokenizer of %d entries)", source,
             sum(p.numel() for p in net.parameters()), len(tok))
    return net, tok


def _examples(model: str, docs: list[str], tok, cfg: PretrainConfig, rng: np.random.Generator):
    backend = tok.backend_tokenizer
    if model == "gpt":  # contiguous blocks of the token stream, documents separated by <|endoftext|>
        eos = tok.eos_token_id
        stream = []
        for enc in backend.encode_batch(docs, add_special_tokens=False):
            stream.extend(enc.ids + [eos])
        L = cfg.max_length
        return [stream[i:i + L] for i in range(0, max(1, len(stream) - 1), L) if len(stream[i:i + L]) > 1]
    sentences = [split_sentences(d) for d in docs]
    flat = [s for d in sentences for s in d]
    encoded = iter(e.ids for e in backend.encode_batch(flat, add_special_tokens=False))
    tokenised = [[next(encoded) for _ in d] for d in sentences]
    return make_pairs(tokenised, "nsp" if model == "bert" else "sop", cfg.max_length - 3, rng,
                      cfg.pair_prob, cfg.short_seq_prob, cfg.single_segment)


def word_starts(tok) -> torch.Tensor:
    """Per vocabulary id: does the token begin a word? (a SentencePiece/Metaspace piece with "▁")"""
    pieces = tok.convert_ids_to_tokens(list(range(len(tok))))
    return torch.tensor([p.startswith("\u2581") for p in pieces], dtype=torch.bool)


def _collate(model: str, items, tok, cfg: PretrainConfig, gen: torch.Generator, rng: np.random.Generator,
             word_lut: torch.Tensor | None = None):
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    if model == "gpt":
        width = max(len(x) for x in items)
        ids = torch.full((len(items), width), pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, x in enumerate(items):
            ids[i, :len(x)] = torch.tensor(x)
            mask[i, :len(x)] = 1
        return {"input_ids": ids, "attention_mask": mask, "labels": ids.masked_fill(mask == 0, -100)}
    # [CLS] A [SEP] B [SEP], or [CLS] A [SEP] for a one-segment example (B empty)
    seqs = [[tok.cls_token_id] + a + [tok.sep_token_id] + (b + [tok.sep_token_id] if b else []) for a, b, _ in items]
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad, dtype=torch.long)
    types, mask = torch.zeros_like(ids), torch.zeros_like(ids)
    for i, (s, (a, _, _)) in enumerate(zip(seqs, items)):
        ids[i, :len(s)] = torch.tensor(s)
        mask[i, :len(s)] = 1
        types[i, len(a) + 2:len(s)] = 1
    special = (ids == tok.cls_token_id) | (ids == tok.sep_token_id) | (mask == 0)
    if model == "bert":
        inputs, labels = mask_tokens(ids, special, tok.mask_token_id, len(tok), gen, cfg.mask_prob)
        key = "next_sentence_label"
    else:
        inputs, labels = ngram_mask(ids, special, tok.mask_token_id, len(tok), rng, cfg.mask_prob, cfg.max_ngram,
                                    word_start=None if word_lut is None else word_lut[ids])
        key = "sentence_order_label"
    return {"input_ids": inputs, "attention_mask": mask, "token_type_ids": types, "labels": labels,
            key: torch.tensor([lab for _, _, lab in items])}


def pretraining_loss(model: str, net, batch: dict, parts: dict | None = None) -> torch.Tensor:
    """The pretraining loss of a batch from :func:`_collate`.

    GPT: ``transformers``' causal LM loss. BERT and ALBERT: the mean masked-LM cross-entropy plus
    the mean NSP/SOP cross-entropy over the examples that have a pair label (one-segment examples
    have -100); ``transformers``' own loss would be NaN for a batch without any pair label.
    ``parts`` (a dict), when given, receives the two terms (``mlm``; ``pair``, None without labels).
    """
    if model == "gpt":
        return net(**batch).loss
    key = "next_sentence_label" if model == "bert" else "sentence_order_label"
    inputs = {k: v for k, v in batch.items() if k not in ("labels", key)}
    out = net(**inputs)
    pair_logits = out.seq_relationship_logits if model == "bert" else out.sop_logits
    mlm = F.cross_entropy(out.prediction_logits.flatten(0, 1).float(), batch["labels"].flatten(), ignore_index=-100)
    labelled = batch[key] != -100
    pair = F.cross_entropy(pair_logits.float(), batch[key], ignore_index=-100, reduction="sum")
    pair = pair / labelled.sum().clamp(min=1)
    if parts is not None:
        parts["mlm"] = mlm.item()
        parts["pair"] = pair.item() if labelled.any() else None
    return mlm + pair


def hold_out(docs: list[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """``(training, held-out)`` documents: a seeded random ``fraction`` of them (at least one, and at
    least two left for training) is held out; 0 holds out none."""
    if fraction <= 0:
        return docs, []
    n = min(len(docs) - 2, max(1, int(round(fraction * len(docs)))))
    if n < 1:
        raise DataError("valid_fraction needs at least three documents")
    held = set(np.random.default_rng([seed, 1]).permutation(len(docs))[:n].tolist())
    return [d for i, d in enumerate(docs) if i not in held], [d for i, d in enumerate(docs) if i in held]


def heldout_batches(model: str, docs: list[str], tok, cfg: PretrainConfig) -> list[dict]:
    """The held-out documents as collated batches, built once with their own seeded generators so
    that every evaluation scores the same examples under the same masks and pairs."""
    if not docs:
        return []
    rng = np.random.default_rng([cfg.seed, 2])
    gen = torch.Generator().manual_seed(cfg.seed + 2)
    examples = _examples(model, docs, tok, cfg, rng)
    word_lut = word_starts(tok) if model == "albert" else None
    return [_collate(model, examples[i:i + cfg.batch_size], tok, cfg, gen, rng, word_lut)
            for i in range(0, len(examples), cfg.batch_size)]


@torch.no_grad()
def heldout_loss(model: str, net, batches: list[dict], device) -> float:
    """The pretraining loss (:func:`pretraining_loss`) averaged over ``batches``, in eval mode."""
    was_training = net.training
    net.eval()
    losses = [pretraining_loss(model, net, {k: v.to(device) for k, v in b.items()}).item() for b in batches]
    net.train(was_training)
    return float(np.mean(losses))


TOKENIZER = "tokenizer"  #: OUT/checkpoints/tokenizer: the run's tokenizer, saved before the first checkpoint


def pretrain_model(model: str, corpus, out, config_file=None, overrides=None, progress: bool = True,
                   resume: bool = False) -> Path:
    """Train ``model``'s tokenizer and backbone on ``corpus`` and save both to ``out`` (module docstring).

    Every ``checkpoint_steps`` updates a checkpoint goes to ``out/checkpoints`` (safetensors and
    JSON, :mod:`textzoo.training.checkpoint`: weights, AdamW, LR schedule, the keep-best weights,
    every RNG, the epoch's batch order and the position in it; the run's tokenizer beside them).
    ``resume=True`` continues from the last one and ends with the same weights as an uninterrupted
    run; it needs the same corpus and settings (``checkpoint_steps`` may differ), starts afresh if
    there is no checkpoint, and returns at once if ``out`` already holds this finished pretraining.
    Without ``resume`` old checkpoints in ``out`` are deleted. The finished folder replaces ``out``
    whole (written beside it, then renamed), checkpoints included.
    """
    from ..training import seed_everything
    from ..training.checkpoint import RunCheckpoints

    if model not in KIND:
        raise ConfigError(f"no pretraining for {model!r}")
    cfg = merge_config(PretrainConfig, base={}, file=config_file, overrides=overrides or {})
    out = Path(out)
    seed_everything(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    docs, held_docs = hold_out(read_corpus(corpus), cfg.valid_fraction, cfg.seed)
    fingerprint = runs.fingerprint(model, cfg, docs + ["\0"] + held_docs, free=("checkpoint_steps",))
    folder, found, finished = runs.open_run(out, fingerprint, resume)
    if finished:
        return out
    t0 = time.perf_counter()
    if cfg.init_from:
        net, tok = load_for_pretraining(model, cfg.init_from, cfg.max_length)
    elif found is not None:  # the interrupted run's tokenizer (the Unigram trainer differs run to run)
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(folder / TOKENIZER)
        net = _build_model(model, cfg, len(tok), tok)
    else:
        tok = train_tokenizer(KIND[model], docs, cfg.vocab_size, cfg.min_frequency)
        log.info("trained a %s tokenizer of %d entries in %.1f s", KIND[model], len(tok), time.perf_counter() - t0)
        net = _build_model(model, cfg, len(tok), tok)
    examples = _examples(model, docs, tok, cfg, rng)
    if not examples:
        raise DataError("the corpus yields no pretraining examples (documents too short)")
    from ..models.transformer_base import resolve_device

    device = resolve_device(cfg.device)
    net = net.to(device)
    params = list(net.named_parameters())
    groups = [{"params": [p for n, p in params if not (n.endswith("bias") or "LayerNorm" in n or ".ln_" in n)],
               "weight_decay": cfg.weight_decay},
              {"params": [p for n, p in params if n.endswith("bias") or "LayerNorm" in n or ".ln_" in n],
               "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=cfg.lr)
    per_epoch = math.ceil(len(examples) / cfg.batch_size)
    total = per_epoch * cfg.epochs if cfg.max_steps <= 0 else min(cfg.max_steps, per_epoch * cfg.epochs)
    warm = max(1, int(round(cfg.warmup * total)))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: (s + 1) / warm if s < warm else max(0.0, (total - s) / max(1, total - warm)))
    word_lut = word_starts(tok) if model == "albert" else None
    held = heldout_batches(model, held_docs, tok, cfg)
    heldout, best = [], None  # best: (loss, step, weights on the CPU) under keep_best
    history, step, order, start, seconds_before = [], 0, None, 0, 0.0

    if cfg.checkpoint_steps > 0 and found is None:
        folder.mkdir(parents=True)
        write_folder(folder / TOKENIZER, tok.save_pretrained)  # never half there
    run = RunCheckpoints(folder if cfg.checkpoint_steps > 0 else None, fingerprint, found, info={})
    if found is not None:  # put the interrupted run back: RunCheckpoints restores weights, AdamW, global RNGs
        state = run.restore(weights=net.state_dict(), optimizer=optimizer)
        try:
            scheduler.load_state_dict(state["scheduler"])
            if state["best"] is not None:
                best = (state["best"][0], state["best"][1], {k: run.tensor(f"best.{k}", tuple(v.shape), v.dtype)
                                                             for k, v in net.state_dict().items()})
            step, history, heldout = state["step"], state["history"], state["heldout"]
            order, start = run.tensor("order", (len(examples),), torch.int64).numpy(), state["next"]
            seconds_before = state["seconds"]
            rng.bit_generator.state = state["numpy_rng"]
            gen.set_state(run.tensor("gen.torch", tuple(gen.get_state().shape), torch.uint8))
        except (KeyError, ValueError, TypeError, RuntimeError) as exc:
            raise ModelFileError(f"{folder}: the checkpoint cannot be restored ({exc})") from None
        run.info["resumed_at"][-1] = step
        log.info("resuming the pretraining from the checkpoint in %s after step %d", folder, step)

    def write_checkpoint(next_index: int) -> None:
        """Everything the next update depends on; ``next_index``: where it starts in ``order``."""
        tensors = {"order": torch.from_numpy(np.asarray(order, dtype=np.int64)), "gen.torch": gen.get_state()}
        if best is not None:
            tensors.update({f"best.{k}": v for k, v in best[2].items()})
        run.write(weights=net.state_dict(), optimizer=optimizer, tensors=tensors, extra={
            "step": step, "next": next_index, "history": history, "heldout": heldout,
            "best": None if best is None else [best[0], best[1]], "scheduler": scheduler.state_dict(),
            "numpy_rng": rng.bit_generator.state, "seconds": seconds_before + time.perf_counter() - t0})

    def evaluate() -> None:
        nonlocal best
        value = heldout_loss(model, net, held, device)
        heldout.append({"step": step, "loss": round(value, 5)})
        bar.set_postfix(heldout=f"{value:.3f}", refresh=False)
        if cfg.keep_best and (best is None or value < best[0]):
            best = (value, step, {k: v.detach().to("cpu", copy=True) for k, v in net.state_dict().items()})

    net.train()
    bar = tqdm(total=total, initial=step, desc=f"pretraining {model}", unit="step", disable=not progress,
               dynamic_ncols=True)
    while step < total:
        if order is None:
            order, start = rng.permutation(len(examples)), 0
        for i in range(start, len(order), cfg.batch_size):
            if step >= total:
                break
            batch = _collate(model, [examples[j] for j in order[i:i + cfg.batch_size]], tok, cfg, gen, rng,
                             word_lut)
            parts: dict = {}
            loss = pretraining_loss(model, net, {k: v.to(device) for k, v in batch.items()}, parts)
            loss.backward()
            if cfg.max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            value = loss.item()
            history.append({"step": step, "loss": round(value, 5),
                            **{k: round(v, 5) for k, v in parts.items() if v is not None}})
            bar.update(1)
            bar.set_postfix(loss=f"{value:.3f}", refresh=False)
            if held and (step % cfg.eval_steps == 0 or step == total):
                evaluate()
            if cfg.checkpoint_steps > 0 and step % cfg.checkpoint_steps == 0 and step < total:
                write_checkpoint(i + cfg.batch_size)
        order = None
    bar.close()
    if best is not None:
        net.load_state_dict(best[2])
        log.info("kept the weights of step %d (held-out loss %.4f)", best[1], best[0])
    info = {"model": model, "config": config_to_dict(cfg), "examples": len(examples), "documents": len(docs),
            "heldout_documents": len(held_docs), "seconds": round(seconds_before + time.perf_counter() - t0, 2),
            "history": history, "heldout": heldout, "kept_step": best[1] if best is not None else step,
            "resumed_at": run.info.get("resumed_at", []), "fingerprint": fingerprint}

    def write(folder: Path) -> None:
        net.to("cpu").save_pretrained(folder)
        tok.save_pretrained(folder)
        atomic_write_json(folder / runs.SUMMARY, info)

    write_folder(out, write)
    log.info("pretrained %s for %d steps; saved to %s", model, step, out)
    return out


def pretrain_bert(corpus, out, config_file=None, overrides=None, resume: bool = False) -> Path:
    """WordPiece + masked LM (80/10/10) + next-sentence prediction (BERT, Section 3.1)."""
    return pretrain_model("bert", corpus, out, config_file, overrides, resume=resume)


def pretrain_albert(corpus, out, config_file=None, overrides=None, resume: bool = False) -> Path:
    """Unigram + factorised, shared-layer ALBERT, n-gram MLM + sentence-order prediction (Section 3-4)."""
    return pretrain_model("albert", corpus, out, config_file, overrides, resume=resume)


def pretrain_gpt(corpus, out, config_file=None, overrides=None, resume: bool = False) -> Path:
    """Byte-level BPE + causal LM (GPT, Section 3.1)."""
    return pretrain_model("gpt", corpus, out, config_file, overrides, resume=resume)
