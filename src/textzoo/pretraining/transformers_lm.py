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

Layout: the objectives are one class each in :mod:`textzoo.pretraining.objectives` (with the
tokenizer each trains, :mod:`~textzoo.pretraining.tokenizer_training`, its masking,
:mod:`~textzoo.pretraining.masking`, and its sentence pairs, :mod:`~textzoo.pretraining.pairs`); this
module drives any of them, with the optimiser, schedule and update of :mod:`textzoo.training.engine`.

The corpus is a text file with one document per line (blank lines are skipped), or a list of
strings. Segments for NSP/SOP are built from sentences (split after ``.``, ``!``, ``?``;
:func:`split_sentences`).

The objectives and their rates are the papers'; the architecture defaults are small (4 layers of
256, the papers use BERT-base: 12 layers of 768) so that pretraining is feasible on a CPU; set
``hidden``, ``layers``, ``heads``, ``intermediate`` for larger models. The optimiser is BERT's for
all three (AdamW, lr 1e-4, weight decay 0.01 off biases and LayerNorm weights, 1% linear warm-up
then linear decay, Section A.2);
ALBERT used LAMB with batch 4096 (Section 4.1) and GPT a cosine decay from 2.5e-4 (Section 4.1),
both sized for large batches on accelerators. Dropout is 0.1 for all three (``dropout``; ALBERT's
Section 4.9 drops it for its largest models).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from tqdm.auto import tqdm

from .._io import atomic_write_json, write_folder
from ..config import config_to_dict, merge_config
from ..errors import ConfigError, DataError, ModelFileError
from ..training import engine
from . import runs
from .masking import mask_tokens, ngram_mask, ngram_probs, word_starts  # noqa: F401 - the public names
from .objectives import OBJECTIVES, objective
from .pairs import make_pairs, split_segments, split_sentences  # noqa: F401
from .tokenizer_training import SPECIALS, train_tokenizer  # noqa: F401

log = logging.getLogger(__name__)

#: the tokenizer kind each model's pretraining trains
KIND = {name: o.tokenizer_kind for name, o in OBJECTIVES.items()}


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


def load_for_pretraining(model: str, source: str, max_length: int):
    """``(network with pretraining heads, tokenizer)`` of checkpoint ``source`` (folder or hub name),
    to continue pretraining it (``init_from``)."""
    import transformers as tf

    from ..models.hf_backbone import hub_kwargs

    obj = objective(model)
    model_type = obj.model_type
    hub = hub_kwargs(source, source, model, field="init_from")
    try:
        conf = tf.AutoConfig.from_pretrained(source, **hub)
        tok = tf.AutoTokenizer.from_pretrained(source, **hub)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"init_from={source!r}: no checkpoint to continue pretraining ({exc}); give a folder "
                          f"that `textzoo pretrain {model}` wrote, or a hub name") from exc
    if conf.model_type != model_type:
        raise ConfigError(f"init_from={source!r} is a {conf.model_type!r} checkpoint; `textzoo pretrain {model}` "
                          f"continues {model_type!r} checkpoints only")
    limit = getattr(conf, "max_position_embeddings", None) or getattr(conf, "n_positions", None)
    if limit is not None and max_length > limit:
        raise ConfigError(f"max_length={max_length} exceeds the {limit} positions of init_from={source!r}")
    obj.check_tokenizer(tok, source)
    net = getattr(tf, obj.pretraining_class).from_pretrained(source, **hub)
    log.info("continuing the pretraining of %s (%d parameters, tokenizer of %d entries)", source,
             sum(p.numel() for p in net.parameters()), len(tok))
    return net, tok


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
    obj = objective(model)
    examples, word_lut = obj.examples(docs, tok, cfg, rng), obj.word_lut(tok)
    return [obj.collate(examples[i:i + cfg.batch_size], tok, cfg, gen, rng, word_lut)
            for i in range(0, len(examples), cfg.batch_size)]


@torch.no_grad()
def heldout_loss(model: str, net, batches: list[dict], device) -> float:
    """The pretraining loss (:meth:`Objective.loss`) averaged over ``batches``, in eval mode."""
    was_training = net.training
    net.eval()
    loss = objective(model).loss
    losses = [loss(net, {k: v.to(device) for k, v in b.items()}).item() for b in batches]
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

    obj = objective(model)
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
        net = obj.build(cfg, len(tok), tok)
    else:
        tok = obj.train_tokenizer(docs, cfg)
        log.info("trained a %s tokenizer of %d entries in %.1f s", obj.tokenizer_kind, len(tok),
                 time.perf_counter() - t0)
        net = obj.build(cfg, len(tok), tok)
    examples = obj.examples(docs, tok, cfg, rng)
    if not examples:
        raise DataError("the corpus yields no pretraining examples (documents too short)")
    from ..models.hf_backbone import resolve_device

    device = resolve_device(cfg.device)
    net = net.to(device)
    optimizer = engine.adamw(net, cfg.lr, cfg.weight_decay, device=device)
    per_epoch = -(-len(examples) // cfg.batch_size)
    total = per_epoch * cfg.epochs if cfg.max_steps <= 0 else min(cfg.max_steps, per_epoch * cfg.epochs)
    scheduler = engine.warmup_schedule(optimizer, max(1, int(round(cfg.warmup * total))), total)
    word_lut = obj.word_lut(tok)
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
            batch = obj.collate([examples[j] for j in order[i:i + cfg.batch_size]], tok, cfg, gen, rng, word_lut)
            parts: dict = {}
            value = engine.accumulate([batch], lambda b: obj.loss(net, {k: v.to(device) for k, v in b.items()}, parts))
            engine.update(optimizer, scheduler, list(net.parameters()), cfg.max_grad_norm)
            step += 1
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


# ---------------------------------------------------------------- the objectives by model name
def _build_model(model: str, cfg: PretrainConfig, vocab: int, tok):
    return objective(model).build(cfg, vocab, tok)


def _examples(model: str, docs: list[str], tok, cfg: PretrainConfig, rng: np.random.Generator):
    return objective(model).examples(docs, tok, cfg, rng)


def _collate(model: str, items, tok, cfg: PretrainConfig, gen: torch.Generator, rng: np.random.Generator,
             word_lut: torch.Tensor | None = None):
    return objective(model).collate(items, tok, cfg, gen, rng, word_lut)


def pretraining_loss(model: str, net, batch: dict, parts: dict | None = None) -> torch.Tensor:
    """The pretraining loss of a batch from :func:`_collate` (:meth:`Objective.loss`)."""
    return objective(model).loss(net, batch, parts)
