"""Pretraining an ELMo biLM from scratch: ``textzoo pretrain elmo --corpus FILE --out DIR``.

The objective is the paper's (Peters et al., NAACL 2018, Section 3.1, Eq. 1 and 2): jointly maximise
the log likelihood of the forward LM, p(t_k | t_1..t_{k-1}), and of the backward LM,
p(t_k | t_{k+1}..t_N), with separate LSTM stacks and one token representation (the char CNN) and one
softmax shared by both directions (as bilm-tf shares ``softmax_W``). The softmax runs over a word
vocabulary built from the corpus (``<S>``, ``</S>``, ``<UNK>`` first, then the words by falling
frequency, as bilm-tf's vocabulary files are); for vocabularies larger than ``n_negative_samples``
a sampled softmax (Jean et al. 2015: log-uniform candidates over the frequency ranks, as
TensorFlow's ``sampled_softmax_loss``, with the log-expected-count correction and accidental hits
removed) replaces the full softmax during training. Perplexities are reported per epoch: the
training one from the training loss (an approximation when the softmax is sampled) and, on a
held-out share of the lines, the exact one with the full softmax.

Differences from bilm-tf, kept on purpose: each line is one sequence ``<S> w_1 .. w_n </S>`` (long
lines are cut into pieces of ``max_tokens``) and the LSTM state is not carried between batches.

The output folder is in the original release format (``options.json`` + ``weights.hdf5``, which
:func:`textzoo.models.elmo_bilm.load_release` and other ELMo tools read; the shared softmax is added
as ``softmax/W`` and ``softmax/b``), plus ``vocab.txt`` (one word per line) and ``history.jsonl``.
A checkpoint after every ``checkpoint_every`` epochs lets ``--resume`` continue a killed run
(:func:`pretrain_sentences`).
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from .._io import atomic_write_json, write_folder
from ..config import config_to_dict, merge_config
from ..errors import ConfigError, DataError
from ..models.elmo_bilm import BOS_TOKEN, EOS_TOKEN, BiLM, BiLMOptions, char_ids, save_release
from ..training import EpochLoop, seed_everything
from . import runs

log = logging.getLogger(__name__)

UNK_TOKEN = "<UNK>"
VOCAB_FILE = "vocab.txt"


@dataclass
class ELMoPretrainConfig:
    """biLM sizes and training settings. Defaults: the paper's model (Section 3.4) and bilm-tf's
    training settings. That model needs GPUs for days; tiny test runs use e.g.
    ``--set dim=64 --set projection_dim=16 --set filters=[[1,16],[2,16],[3,32]]``."""

    dim: int = 4096                    # LSTM cells per layer and direction
    projection_dim: int = 512          # projection of every LSTM layer and of the char CNN
    n_layers: int = 2
    cell_clip: float = 3.0
    proj_clip: float = 3.0
    use_skip_connections: bool = True  # residual connection from the first to the second layer
    char_dim: int = 16
    filters: list[list[int]] = field(default_factory=lambda: [[1, 32], [2, 32], [3, 64], [4, 128],
                                                              [5, 256], [6, 512], [7, 1024]])
    n_highway: int = 2
    activation: Literal["relu", "tanh"] = "relu"
    min_count: int = 1                 # words seen fewer times map to <UNK>
    max_vocab: int = 0                 # keep at most this many words (0: all)
    n_negative_samples: int = 8192     # sampled softmax when the vocabulary is larger (0: never)
    max_tokens: int = 50               # longer lines are cut into pieces of this many tokens
    tokenizer: Literal["auto", "whitespace", "english", "unicode", "jieba", "char", "bigram"] = "auto"
    #   words of the lines (textzoo.data.tokenizers); auto: whitespace for ASCII text, jieba for
    #   Chinese, unicode otherwise; the saved config records the choice (fine-tune with the same)
    epochs: int = 10
    batch_size: int = 128
    optimizer: Literal["adagrad", "adam"] = "adagrad"   # bilm-tf: Adagrad, lr 0.2
    lr: float = 0.2
    clip_norm: float = 10.0            # global gradient-norm clipping (bilm-tf all_clip_norm_val)
    dropout: float = 0.1               # on the LSTM outputs while training
    valid_fraction: float = 0.05       # lines held out for the validation perplexity
    seed: int = 0
    progress: bool = True
    checkpoint_every: int = 1          # epochs between checkpoints in OUT/checkpoints (0: none); resume continues

    def __post_init__(self):
        if min(self.dim, self.projection_dim, self.n_layers, self.char_dim, self.epochs,
               self.batch_size, self.max_tokens, self.min_count) < 1:
            raise ValueError("sizes, epochs, batch_size, max_tokens and min_count must be >= 1")
        if not self.filters or any(len(f) != 2 or min(f) < 1 for f in self.filters):
            raise ValueError(f"filters must be a list of [width, number] pairs, got {self.filters}")
        if not 0 <= self.dropout < 1 or not 0 <= self.valid_fraction < 1:
            raise ValueError("dropout and valid_fraction must be in [0, 1)")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.checkpoint_every < 0:
            raise ValueError(f"checkpoint_every must be >= 0, got {self.checkpoint_every}")

    def bilm_options(self, n_tokens_vocab: int) -> BiLMOptions:
        return BiLMOptions(dim=self.dim, projection_dim=self.projection_dim, n_layers=self.n_layers,
                           cell_clip=self.cell_clip, proj_clip=self.proj_clip,
                           use_skip_connections=self.use_skip_connections, char_dim=self.char_dim,
                           filters=[list(f) for f in self.filters], n_highway=self.n_highway,
                           activation=self.activation,
                           extra={"bidirectional": True, "dropout": self.dropout,
                                  "n_tokens_vocab": n_tokens_vocab, "n_epochs": self.epochs,
                                  "batch_size": self.batch_size,
                                  "n_negative_samples_batch": self.n_negative_samples,
                                  "all_clip_norm_val": self.clip_norm})


def build_vocabulary(sentences: Sequence[Sequence[str]], min_count: int = 1, max_vocab: int = 0) -> list[str]:
    """``<S>``, ``</S>``, ``<UNK>``, then the words by falling frequency (ties: first seen)."""
    counts = Counter(t for s in sentences for t in s)
    special = {BOS_TOKEN, EOS_TOKEN, UNK_TOKEN}
    words = [w for w, c in counts.most_common() if c >= min_count and w not in special]
    if max_vocab > 0:
        words = words[:max_vocab]
    return [BOS_TOKEN, EOS_TOKEN, UNK_TOKEN] + words


class BiLMLanguageModel(nn.Module):
    """The biLM with its shared softmax and the forward + backward LM loss (Section 3.1)."""

    def __init__(self, bilm: BiLM, vocab_size: int, n_negative: int = 0):
        super().__init__()
        self.bilm = bilm
        p = bilm.options.projection_dim
        self.softmax_W = nn.Parameter(torch.randn(vocab_size, p) / math.sqrt(p))
        self.softmax_b = nn.Parameter(torch.zeros(vocab_size))
        self.n_negative = n_negative if 0 < n_negative < vocab_size else 0
        ranks = torch.arange(vocab_size, dtype=torch.float64)
        # log-uniform (Zipfian) candidate distribution over frequency ranks
        self.register_buffer("log_q", torch.log(torch.log((ranks + 2) / (ranks + 1)) / math.log(vocab_size + 1)).float(),
                             persistent=False)

    def forward(self, ids: torch.Tensor, targets: torch.Tensor, full: bool = False):
        """Summed negative log likelihoods and token counts ``(fwd_nll, bwd_nll, n)``.

        ``ids`` (B, T, chars) with boundaries; ``targets`` (B, T) word ids, -1 at padding.
        """
        # the char CNN runs once per distinct token of the batch (most of a step otherwise)
        mask = (ids > 0).any(dim=-1)
        distinct, inverse = torch.unique(ids[mask], dim=0, return_inverse=True)
        emb = ids.new_zeros(ids.shape[:2], dtype=torch.float32).unsqueeze(-1).repeat(
            1, 1, self.bilm.options.projection_dim)
        emb[mask] = self.bilm.char_cnn(distinct)[inverse]
        layers, mask = self.bilm(token_embeddings=emb, mask=mask)
        p = self.bilm.options.projection_dim
        top = layers[-1]
        if self.training and self.bilm.dropout > 0:
            top = F.dropout(top, self.bilm.dropout)
        fwd_h, bwd_h = top[:, :-1, :p], top[:, 1:, p:]
        fwd_t, bwd_t = targets[:, 1:], targets[:, :-1]
        fwd_m, bwd_m = mask[:, :-1] & mask[:, 1:], mask[:, 1:] & mask[:, :-1]
        fwd = self._nll(fwd_h[fwd_m], fwd_t[fwd_m], full)
        bwd = self._nll(bwd_h[bwd_m], bwd_t[bwd_m], full)
        return fwd, bwd, int(fwd_m.sum())

    def _nll(self, h: torch.Tensor, target: torch.Tensor, full: bool) -> torch.Tensor:
        if full or not self.n_negative or not self.training:
            return F.cross_entropy(h @ self.softmax_W.t() + self.softmax_b, target, reduction="sum")
        # sampled softmax: one candidate set per batch, logits corrected by log(expected count)
        k = self.n_negative
        sampled = torch.multinomial(self.log_q.exp(), k, replacement=True)
        log_expected = math.log(k)
        true_logit = (h * self.softmax_W[target]).sum(-1) + self.softmax_b[target] - (self.log_q[target] + log_expected)
        samp_logit = h @ self.softmax_W[sampled].t() + self.softmax_b[sampled] - (self.log_q[sampled] + log_expected)
        samp_logit = samp_logit.masked_fill(sampled.unsqueeze(0) == target.unsqueeze(1), float("-inf"))
        logits = torch.cat([true_logit.unsqueeze(1), samp_logit], dim=1)
        return F.cross_entropy(logits, torch.zeros_like(target), reduction="sum")


def read_sentences(path: str | Path, max_tokens: int, tokenizer: str = "whitespace") -> list[list[str]]:
    """Tokenised non-empty lines, cut into pieces of at most ``max_tokens`` tokens."""
    from ..data.readers import read_lines
    from ..data.tokenizers import tokenize

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such corpus file (one sentence or document per line)")
    out = []
    for tokens in tokenize([line for line in read_lines(path) if line], tokenizer):
        out += [tokens[i:i + max_tokens] for i in range(0, len(tokens), max_tokens)]
    if not out:
        raise DataError(f"{path}: the corpus holds no text")
    return out


def _batches(sentences: list[list[str]], batch_size: int, rng: random.Random | None):
    """Batches of similar lengths (shuffled pools of 50 batches, sorted by length inside)."""
    order = list(range(len(sentences)))
    if rng is not None:
        rng.shuffle(order)
    pool = batch_size * 50
    batches = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start:start + pool], key=lambda i: len(sentences[i]))
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    if rng is not None:
        rng.shuffle(batches)
    return batches


def _encode(sentences, index: dict[str, int], unk: int):
    ids = char_ids(sentences)
    targets = torch.full(ids.shape[:2], -1, dtype=torch.long)
    for b, s in enumerate(sentences):
        targets[b, : len(s) + 2] = torch.tensor([index[BOS_TOKEN]] + [index.get(t, unk) for t in s]
                                                + [index[EOS_TOKEN]])
    return ids, targets


def pretrain_sentences(sentences: list[list[str]], out: str | Path, config: ELMoPretrainConfig,
                       resume: bool = False) -> Path:
    """Pretrain on tokenised sentences and write the release-format folder ``out``.

    After every ``checkpoint_every``-th epoch a checkpoint goes to ``out/checkpoints`` (weights,
    optimiser, history, every RNG: :class:`~textzoo.training.checkpoint.RunCheckpoints`);
    ``resume=True`` continues from the last one to the same weights as an uninterrupted run (same
    sentences and settings; it starts afresh without a checkpoint and returns at once if ``out``
    already holds this finished pretraining). Without ``resume`` old checkpoints are deleted. The
    finished folder replaces ``out`` whole (:mod:`textzoo.pretraining.runs`).
    """
    from ..training.checkpoint import RunCheckpoints

    cfg = config
    out = Path(out)
    seed_everything(cfg.seed)
    rng = random.Random(cfg.seed)
    sentences = [s for s in sentences if s]
    fingerprint = runs.fingerprint("elmo", cfg, (" ".join(s) for s in sentences), free=("checkpoint_every", "progress"))
    folder, found, finished = runs.open_run(out, fingerprint, resume)
    if finished:
        return out
    n_valid = int(len(sentences) * cfg.valid_fraction) if len(sentences) >= 20 else 0
    shuffled = sentences[:]
    rng.shuffle(shuffled)
    valid, train = shuffled[:n_valid], shuffled[n_valid:]
    vocab = build_vocabulary(train, cfg.min_count, cfg.max_vocab)
    index = {w: i for i, w in enumerate(vocab)}
    unk = index[UNK_TOKEN]
    bilm = BiLM(cfg.bilm_options(len(vocab)))
    bilm.dropout = cfg.dropout
    lm = BiLMLanguageModel(bilm, len(vocab), cfg.n_negative_samples)
    n_tokens = sum(len(s) + 1 for s in train)
    log.info("ELMo pretraining: %d training and %d held-out sequences, %d predicted tokens per "
             "direction, vocabulary %d (%s softmax), %d parameters", len(train), len(valid), n_tokens,
             len(vocab), "sampled" if lm.n_negative else "full", sum(p.numel() for p in lm.parameters()))
    if cfg.optimizer == "adagrad":
        opt = torch.optim.Adagrad(lm.parameters(), lr=cfg.lr, initial_accumulator_value=1.0)
    else:
        opt = torch.optim.Adam(lm.parameters(), lr=cfg.lr)

    def train_epoch(epoch: int) -> dict:
        lm.train()
        fwd_sum = bwd_sum = 0.0
        count = 0
        start = time.perf_counter()
        batches = _batches(train, cfg.batch_size, rng)
        bar = tqdm(batches, desc=f"epoch {epoch + 1}", unit="batch", leave=False,
                   disable=not cfg.progress, dynamic_ncols=True)
        for batch in bar:
            ids, targets = _encode([train[i] for i in batch], index, unk)
            fwd, bwd, n = lm(ids, targets)
            loss = (fwd + bwd) / (2 * max(n, 1))
            opt.zero_grad()
            loss.backward()
            if cfg.clip_norm > 0:
                nn.utils.clip_grad_norm_(lm.parameters(), cfg.clip_norm)
            opt.step()
            fwd_sum, bwd_sum, count = fwd_sum + fwd.item(), bwd_sum + bwd.item(), count + n
            bar.set_postfix(ppl=f"{math.exp(min((fwd_sum + bwd_sum) / (2 * count), 50)):.1f}", refresh=False)
        seconds = time.perf_counter() - start
        row = {"loss": (fwd_sum + bwd_sum) / (2 * count),
               "forward_ppl": math.exp(min(fwd_sum / count, 50)), "backward_ppl": math.exp(min(bwd_sum / count, 50)),
               "train_ppl": math.exp(min((fwd_sum + bwd_sum) / (2 * count), 50)),
               "tokens_per_second": round(2 * count / seconds, 1)}
        return row

    def validate(epoch: int) -> dict:
        if not valid:
            return {}
        lm.eval()
        fwd_sum = bwd_sum = 0.0
        count = 0
        with torch.no_grad():
            for batch in _batches(valid, cfg.batch_size, None):
                fwd, bwd, n = lm(*_encode([valid[i] for i in batch], index, unk), full=True)
                fwd_sum, bwd_sum, count = fwd_sum + fwd.item(), bwd_sum + bwd.item(), count + n
        row = {"val_loss": (fwd_sum + bwd_sum) / (2 * count),
               "val_forward_ppl": math.exp(min(fwd_sum / count, 50)),
               "val_backward_ppl": math.exp(min(bwd_sum / count, 50))}
        row["val_ppl"] = math.exp(min(row["val_loss"], 50))
        return row

    run = RunCheckpoints(folder if cfg.checkpoint_every else None, fingerprint, found, info={})
    loop = EpochLoop(epochs=cfg.epochs, train_epoch=train_epoch, validate=validate,
                     progress=cfg.progress, description="ELMo biLM pretraining",
                     checkpoint=run.callback(lm.state_dict, opt, lambda: {"rng": rng.getstate()}),
                     checkpoint_every=max(1, cfg.checkpoint_every))
    if run.resuming:
        rng.setstate(run.restore(loop, lm.state_dict(), opt)["rng"])
    history = loop.run()
    for row in history:
        log.info("epoch %d: train perplexity %.2f%s", row["epoch"], row["train_ppl"],
                 f", held-out perplexity {row['val_ppl']:.2f}" if "val_ppl" in row else "")
    seconds = sum(row["seconds"] for row in history)  # the epochs of every part of a resumed run
    bilm.eval()
    summary = {"config": config_to_dict(cfg), "train_sequences": len(train), "valid_sequences": len(valid),
               "vocabulary": len(vocab), "train_seconds": round(seconds, 2), "final": history[-1],
               "resumed_at": run.info.get("resumed_at", []), "fingerprint": fingerprint}

    def write(folder: Path) -> None:
        save_release(bilm, folder,
                     extra_arrays={"softmax/W": lm.softmax_W.detach().numpy().astype(np.float32),
                                   "softmax/b": lm.softmax_b.detach().numpy().astype(np.float32)})
        (folder / VOCAB_FILE).write_text("".join(w + "\n" for w in vocab), encoding="utf-8")
        (folder / "history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in history))
        atomic_write_json(folder / runs.SUMMARY, summary)

    write_folder(out, write)
    log.info("ELMo biLM saved to %s (%.1f s of training)", out, seconds)
    return out


def pretrain(corpus: str | Path, out: str | Path, config_file: str | Path | None = None,
             overrides: dict | None = None, resume: bool = False) -> Path:
    """``textzoo pretrain elmo``: pretrain a biLM on ``corpus`` (one text per line) into ``out``."""
    cfg = merge_config(ELMoPretrainConfig, file=config_file, overrides=overrides or {})
    if not isinstance(cfg, ELMoPretrainConfig):  # pragma: no cover - merge_config returns cls
        raise ConfigError("bad ELMo pretraining config")
    if cfg.tokenizer == "auto":
        from ..data.readers import read_lines
        from ..data.tokenizers import resolve

        cfg.tokenizer = resolve("auto", read_lines(corpus) if Path(corpus).is_file() else [], english="whitespace")
    return pretrain_sentences(read_sentences(corpus, cfg.max_tokens, cfg.tokenizer), out, cfg, resume=resume)
