"""The fine-tuning loop of the XMC Transformers (LightXML's network, X-Transformer's matcher).

It uses the shared pieces of :mod:`textzoo.training.engine`: length-grouped batches with dynamic
padding, AdamW with weight decay on all weights but biases and LayerNorm gains, a linear warm-up
then linear decay (constant when ``warmup`` is 0 and ``decay`` is off), ``grad_accum``
micro-batches per update, ``autocast`` (bf16 on CPU and GPU, fp16 with loss scaling on GPU),
``compile``, gradient clipping, and the shared :class:`~textzoo.training.EpochLoop` (history rows,
progress bars). The model supplies ``loss(batch_indices, input_ids, attention_mask)``, the mean loss
of those documents; with ``grad_accum`` the update's loss is the mean of the micro-batches' losses
weighted by their sizes (the batch's mean when the model's loss is a mean over documents).

Stochastic weight averaging (Izmailov et al. 2018) as LightXML's code applies it: after
``swa_warmup`` epochs, the running average of the weights is updated every ``swa_step`` updates
(``torch.optim.swa_utils.AveragedModel``), and the averaged weights are the final model. There are
no batch-norm statistics to recompute in a Transformer.

Checkpoints and resuming (with ``checkpoints``, a :class:`~textzoo.training.checkpoint.RunCheckpoints`
from the model's ``fit``): a checkpoint every ``cfg.checkpoint_steps`` updates (0: none inside an
epoch) and at the end of every epoch holds the weights, AdamW's state, the LR schedule's position,
the SWA average (its weights and ``n_averaged``) and update counters, the global RNG states (dropout),
the batch-order generator, the position inside the epoch and the loop's history. A resumed run
redraws the interrupted epoch's batch order, skips the updates already done and ends with the same
weights as an uninterrupted run.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
from tqdm.auto import tqdm

from ..errors import ModelFileError
from ..training import EpochLoop, engine
from ..training.engine import length_grouped_batches, pad_batch
from ..training.checkpoint import BatchPosition, RunCheckpoints

log = logging.getLogger(__name__)


def finetune(net: nn.Module, seqs: list[list[int]], pad_id: int, loss_fn: Callable, cfg, device: torch.device,
             *, decay: bool = True, swa: bool = False, swa_warmup: int = 0, swa_step: int = 1,
             validate: Callable[[int], dict] | None = None, description: str = "fine-tuning",
             progress: bool = True, checkpoints: RunCheckpoints | None = None) -> list[dict]:
    """Train ``net`` in place on the token sequences ``seqs``; returns the history rows.

    ``cfg`` supplies lr, weight_decay, adam_eps, batch_size, grad_accum, epochs, warmup,
    max_grad_norm, autocast, compile, group_by_length, seed and checkpoint_steps. With ``swa`` the
    averaged weights are copied into ``net`` at the end (if at least one average was taken; otherwise a warning says so and the last
    weights stay). With ``checkpoints`` it writes checkpoints and, when ``checkpoints`` resumes from
    one this loop wrote (its extra state has ``"finetune"``), continues from it (module docstring).
    """
    optimizer = engine.adamw(net, cfg.lr, cfg.weight_decay, cfg.adam_eps, device)
    total = math.ceil(len(seqs) / cfg.batch_size) * cfg.epochs
    scheduler = engine.warmup_schedule(optimizer, int(round(cfg.warmup * total)), total, decay=decay)
    scaler = engine.grad_scaler(cfg.autocast)
    if cfg.compile:  # in place: the state dict keeps its keys
        net.backbone.compile(dynamic=True)
    lengths = np.array([len(s) for s in seqs])
    rng = np.random.default_rng(cfg.seed)
    params = [p for p in net.parameters() if p.requires_grad]
    averaged = torch.optim.swa_utils.AveragedModel(net) if swa else None
    counter = {"step": 0, "averages": 0}
    weights = net.state_dict()  # live tensors (parameters and buffers), as checkpointed
    writes = checkpoints is not None and checkpoints.enabled
    every = int(getattr(cfg, "checkpoint_steps", 0) or 0)
    order = BatchPosition(rng)  # where a resumed run re-enters an epoch

    def train_epoch(epoch: int) -> dict:
        net.train()
        first, sums = order.start_epoch(epoch, loss=0.0, tokens=0)
        batches = length_grouped_batches(lengths, cfg.batch_size, rng, cfg.group_by_length)
        total_loss, tokens, t0 = sums["loss"], sums["tokens"], time.perf_counter()
        bar = tqdm(batches[first:], desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="batch", leave=False,
                   disable=not progress, dynamic_ncols=True, initial=first, total=len(batches))
        for step, batch in enumerate(bar, start=first):
            counted = {"tokens": 0}

            def loss_of(micro) -> torch.Tensor:
                ids, mask = pad_batch([seqs[i] for i in micro], pad_id)
                counted["tokens"] += int(mask.sum())
                return loss_fn(micro, ids.to(device), mask.to(device)) * (len(micro) / len(batch))

            step_loss = engine.accumulate(engine.micro_batches(batch, cfg.grad_accum), loss_of, scaler,
                                          cfg.autocast, device)
            tokens += counted["tokens"]
            engine.update(optimizer, scheduler, params, cfg.max_grad_norm, scaler)
            counter["step"] += 1
            if averaged is not None and epoch >= swa_warmup and counter["step"] % swa_step == 0:
                averaged.update_parameters(net)
                counter["averages"] += 1
            total_loss += step_loss * len(batch)
            bar.set_postfix(loss=f"{step_loss:.4f}", refresh=False)
            if writes and every and counter["step"] % every == 0 and step + 1 < len(batches):
                write_checkpoint(loop, order.at(epoch, step + 1, loss=total_loss, tokens=tokens))
        bar.close()
        secs = time.perf_counter() - t0
        row = {"loss": total_loss / max(1, len(seqs)), "train_tokens_per_s": tokens / max(secs, 1e-9)}
        if averaged is not None:
            row["swa_averages"] = counter["averages"]
        return row

    def write_checkpoint(loop: EpochLoop, position: dict | None = None) -> None:
        """At an epoch's end (``position`` None) or between two updates of an epoch."""
        swa_tensors = {} if averaged is None else {f"swa.{k}": v for k, v in averaged.state_dict().items()}
        checkpoints.write(loop, weights, optimizer, tensors=swa_tensors, extra={"finetune": {
            "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict() if scaler is not None else None,
            "counter": dict(counter), **order.state(position)}})

    loop = EpochLoop(epochs=cfg.epochs, train_epoch=train_epoch, validate=validate, progress=progress,
                     description=description, checkpoint=write_checkpoint if writes else None)
    if checkpoints is not None and checkpoints.resuming and "finetune" in checkpoints.extra:
        _resume(checkpoints, loop, weights, optimizer, scheduler, scaler, averaged, counter, order)
    history = loop.run()
    if averaged is not None:
        if counter["averages"]:
            with torch.no_grad():
                for p, q in zip(net.parameters(), averaged.module.parameters()):
                    p.copy_(q)
            log.info("SWA: the final weights average %d snapshots", counter["averages"])
        else:
            log.warning("SWA: no snapshot was averaged (training ended before epoch swa_warmup=%d or "
                        "within swa_step=%d updates); keeping the last weights", swa_warmup, swa_step)
    return history


def _resume(checkpoints: RunCheckpoints, loop: EpochLoop, weights: dict, optimizer, scheduler, scaler,
            averaged, counter: dict, order: BatchPosition) -> None:
    """Put back what :func:`finetune` checkpointed: weights, loop, AdamW and the global RNGs
    (:meth:`RunCheckpoints.restore`), then the schedule, counters, SWA average, batch order and position."""
    state = checkpoints.restore(loop, weights, optimizer)["finetune"]
    try:
        if averaged is not None:
            averaged.load_state_dict({k: checkpoints.tensor(f"swa.{k}", tuple(v.shape), v.dtype)
                                      for k, v in averaged.state_dict().items()})
        scheduler.load_state_dict(state["scheduler"])
        if scaler is not None and state.get("scaler") is not None:
            scaler.load_state_dict(state["scaler"])
        counter.update({k: int(state["counter"][k]) for k in counter})
        order.restore(state, loop, checkpoints.info)
    except (KeyError, ValueError, TypeError, RuntimeError) as exc:
        raise ModelFileError(f"{checkpoints.folder}: the checkpoint cannot be restored ({exc})") from None
