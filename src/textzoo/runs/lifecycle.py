"""One call trains, evaluates and saves a run: :func:`train`, shared by ``textzoo train`` and the
Python API (``textzoo.train``), so both write the same folder (metrics and plots included)."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..training.loop import time_budget as capped
from . import folder as runfolder
from .identity import fingerprint_id, model_fingerprint

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What :func:`train` did: the model, its run folder and metrics (``metrics["test"]``, ...).

    ``already_finished``: ``resume`` found this run finished in ``out`` and trained nothing (the
    model is then None). ``out`` is None on the torchrun ranks other than 0, which save nothing."""

    model: Any
    out: Path | None
    metrics: dict = field(default_factory=dict)
    already_finished: bool = False


def train(model, corpus, out: str | Path | None = None, *, config: dict | None = None,
          config_file: str | Path | None = None, overrides: dict | None = None, seed: int | None = None,
          inductive: bool = False, resume: bool = False, overwrite: bool = False, keep_finished: bool = False,
          time_budget: float | None = None, tensorboard: str | Path | None = None, **runtime) -> TrainResult:
    """Train ``model`` (a registered name or a model instance) on ``corpus`` (a :class:`Corpus` or a
    named dataset), evaluate it on the test and validation splits and save the run folder ``out``
    (default ``runs/MODEL-DATASET``) with ``metrics.json`` and the plots.

    ``config``, ``config_file`` and ``overrides`` (with a registered name) set hyper-parameters over
    the defaults and the paper's settings for the dataset; ``seed`` seeds the model unless they say
    otherwise. ``runtime``: runtime settings (``device``, ``eval_batch_size``, ``checkpoint_steps``,
    ...; :mod:`textzoo.runtime`). ``inductive``: leave the test texts out of a transductive model's
    graph. Checkpoints go to ``out/checkpoints``; ``resume`` continues from the last one (and, on a
    finished run of the same fingerprint, returns its metrics; ``keep_finished`` does only the latter,
    for models with or without checkpoints). A finished run in ``out`` is replaced only with
    ``overwrite`` (a :class:`ConfigError` otherwise). ``time_budget`` (seconds): every epoch loop stops at
    its first epoch end past it (:func:`textzoo.training.loop.time_budget`), recorded in
    ``info.time_budget``. ``tensorboard``: a log folder.
    """
    from ..errors import ConfigError
    from ..runtime import apply_runtime
    from ..training.checkpoint import has_checkpoint

    corpus = _corpus(corpus, seed)
    model = _model(model, corpus.name, config, config_file, overrides, seed)
    apply_runtime(model, **runtime)
    out = Path(out) if out is not None else runfolder.default_out(model.name, corpus.name)
    runfolder.prepare(out)
    checkpoints = out / runfolder.CHECKPOINTS if model.supports_checkpoints else None
    if resume and checkpoints is None:
        raise ConfigError(f"{model.name} cannot resume an interrupted run; train without --resume")
    train_split, valid, unlabelled = _fit_inputs(model, corpus, inductive)
    fp = fingerprint_id(model_fingerprint(model, train_split, valid, unlabelled, corpus.labels,
                                          train_split.multilabel))
    resuming = resume and has_checkpoint(checkpoints)
    if (resume or keep_finished) and not resuming:
        done = runfolder.finished_run(out, fp)
        if done is not None:
            return TrainResult(None, out, done, already_finished=True)
    if runfolder.is_finished(out) and not overwrite and not resuming:
        other = " with other data or settings" if resume or keep_finished else ""
        raise ConfigError(f"{out} holds {runfolder.describe(out)}{other}; give --overwrite (overwrite=True) "
                          "to replace it, or another --out")
    start = time.perf_counter()
    with _tensorboard(tensorboard) as tb:
        with capped(time_budget) as stops:
            model.fit(train_split, valid, unlabelled=unlabelled, labels=corpus.labels, checkpoint_dir=checkpoints,
                      resume=resume)
        if time_budget is not None:
            model.info["time_budget"] = {"seconds": time_budget, "stopped": stops}
        if int(os.environ.get("RANK", "0")) != 0:  # torchrun: only rank 0 evaluates and writes the run
            return TrainResult(model, None)
        model.info.update({"dataset": corpus.name, "inductive": bool(inductive)})
        metrics = {"test": model.evaluate(corpus.test)}
        if corpus.valid is not None:
            metrics["valid"] = model.evaluate(corpus.valid)
        if tb is not None:
            tb.add_metrics("test", metrics["test"])
    metrics["seconds"] = round(time.perf_counter() - start, 2)
    model.metrics = metrics
    model.save(out, also=lambda tmp: _plots(tmp, model, corpus))
    return TrainResult(model, out, metrics)


def _corpus(corpus, seed: int | None):
    if isinstance(corpus, str):
        from ..data import load_dataset

        return load_dataset(corpus, seed=seed or 0)
    return corpus


def _model(model, dataset: str, config, config_file, overrides, seed):
    """A new model of the registered name ``model`` with these settings, or ``model`` itself."""
    from ..errors import ConfigError
    from ..models.registry import model_class

    if not isinstance(model, str):
        if config is not None or config_file is not None or overrides:
            raise ConfigError("config, config_file and overrides go with a model name; "
                              "a model instance already has its config")
        return model
    cls = model_class(model)
    overrides = dict(overrides or {})
    if seed is not None and "seed" in getattr(cls.Config, "__dataclass_fields__", {}):
        overrides = {"seed": seed, **overrides}
    return cls.from_settings(config, dataset=dataset, config_file=config_file, overrides=overrides)


def _fit_inputs(model, corpus, inductive: bool):
    """``(train, valid, unlabelled texts)`` as ``fit`` gets them: transductive models see the test
    texts (never their labels) unless ``inductive``."""
    unlabelled = list(corpus.test.texts) if model.transductive and not inductive else []
    return corpus.train, corpus.valid, unlabelled


def _tensorboard(folder):
    if not folder:
        return contextlib.nullcontext()
    from ..training.tensorboard import tensorboard_logging

    return tensorboard_logging(folder)


def _plots(folder: Path, model, corpus) -> None:
    """The plots beside the metrics, written into the new folder before it is swapped in; a failed
    plot must not lose the finished run."""
    try:
        from ..report import write_model_plots

        write_model_plots(folder, model, corpus.test, train=corpus.train)
    except Exception as exc:  # noqa: BLE001
        log.warning("could not write the plots of %s: %s", folder, exc)
