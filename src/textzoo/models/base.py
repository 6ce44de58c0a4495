"""The facade every model shares: ``fit``, ``predict``, ``predict_proba``, ``evaluate``, ``save``, ``load``.

A subclass implements ``_fit``, ``_predict_proba``, ``_state`` and ``_restore``; this class handles
label vocabularies, input checks, metrics and the saved run folder:

    RUN/config.json        model name, config, labels, library version, run info
    RUN/model.safetensors  every tensor the model needs to predict (no pickles)
    RUN/<name>.json        small JSON side files (vocabularies, ...)
    RUN/metrics.json       metrics measured after training (when known)
    RUN/history.jsonl      one JSON row per training epoch

A save writes the whole folder under a temporary name next to RUN and then swaps it in with two
renames (RUN -> .RUN.previous, then the new folder -> RUN; POSIX cannot swap two non-empty folders in
one step). A process killed between the two renames leaves no RUN but a complete .RUN.previous:
:func:`recover_run_folder` (called by ``load``, by the next ``save`` and by ``textzoo train --resume``)
renames it back, so the previous complete run is never lost.

Loading reads only JSON and safetensors and checks what it reads: a folder holding pickle files (``*.pkl``,
``*.pt``, ...) is refused, as are a config naming an unknown model, truncated or malformed files, tensors
that are not finite, unexpected, or whose shape or dtype does not fit the config, labels and vocabulary,
and files that are not regular files or are over their size limit (:mod:`textzoo.runfiles`). Each problem
is one :class:`ModelFileError` line naming the file.

Checkpoints for resuming an interrupted ``fit`` (``fit(..., checkpoint_dir=DIR, resume=True)``) go through
one helper, :class:`textzoo.training.checkpoint.RunCheckpoints`, which ``_open_checkpoint`` (at the end of
this class) builds for each fit; every model that resumes (``supports_checkpoints``) uses it.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Sequence

import numpy as np
import torch
from safetensors.torch import save_file

from .. import __version__
from .._io import atomic_write_json, recover_run_folder, write_folder
from ..config import config_from_dict, config_to_dict, merge_config
from ..data.checks import check_training_labels
from ..data.corpus import MAX_DOCUMENT_CHARS, Corpus, Split, check_labels_known, infer_label_vocabulary
from ..data.inputs import align_targets, as_split
from ..errors import ConfigError, DataError, ModelFileError
from ..runs.identity import fingerprint_id, model_fingerprint
from ..runtime import apply_runtime, hyper_parameters, without_runtime
from ..runfiles import read_history as _read_history, read_json as _read_json, read_weights
from ..scoring import DEFAULT_THRESHOLD, check_scorable, labels_of_scores, split_metrics  # noqa: F401

log = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.jsonl"
#: files a run folder must never hold: formats that can execute code when read (textzoo never reads them)
PICKLE_SUFFIXES = (".pkl", ".pickle", ".pt", ".pth", ".bin", ".ckpt", ".joblib")
_EXTRA_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


@dataclass
class State:
    """What a model saves: tensors (to safetensors) and small JSON-serialisable side data."""

    tensors: dict[str, torch.Tensor]
    extra: dict[str, Any]
    #: the run folder it was read from (for error messages), None when not read from disk
    source: Path | None = None

    def check_tensor(self, name: str, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        """``tensors[name]`` if it has this shape and dtype, else a :class:`ModelFileError`."""
        where = self.source / WEIGHTS_FILE if self.source is not None else WEIGHTS_FILE
        if name not in self.tensors:
            raise ModelFileError(f"{where}: lacks tensor {name!r}")
        t = self.tensors[name]
        if t.dtype != dtype or tuple(t.shape) != tuple(shape):
            raise ModelFileError(f"{where}: tensor {name!r} is {t.dtype} {tuple(t.shape)}, expected "
                                 f"{dtype} {tuple(shape)} for this config, labels and vocabulary")
        return t

    def check_words(self, key: str = "vocabulary", at_least: int = 0) -> list[str]:
        """``extra[key]`` if it is a list of at least ``at_least`` distinct strings, else a
        :class:`ModelFileError` naming ``KEY.json``."""
        words = self.extra.get(key)
        where = self.source / f"{key}.json" if self.source is not None else f"{key}.json"
        if not isinstance(words, list) or len(words) < at_least or not all(isinstance(w, str) for w in words):
            raise ModelFileError(f"{where}: expected a JSON list of {f'at least {at_least} ' if at_least else ''}words")
        if len(set(words)) != len(words):
            raise ModelFileError(f"{where}: repeats words")
        return words


class Model:
    """Base class of every registered model."""

    name: ClassVar[str] = ""
    Config: ClassVar[type] = object
    #: Transductive models put unlabelled documents (the test set, as in the TextGCN paper) in
    #: their graph during ``fit``; ``fit(corpus)`` passes the test texts for them.
    transductive: ClassVar[bool] = False
    #: Per-dataset settings from the model's paper, applied by ``create(..., dataset=...)``.
    dataset_settings: ClassVar[dict[str, dict[str, Any]]] = {}
    #: Whether ``_fit`` writes checkpoints and can resume (``fit(checkpoint_dir=..., resume=...)``).
    supports_checkpoints: ClassVar[bool] = False
    #: Multi-label models (XMC): single-label data trains them as one label per document.
    multilabel_only: ClassVar[bool] = False
    #: Named presets of settings (``recipe=NAME`` in the config; :meth:`from_settings`).
    recipes: ClassVar[dict[str, dict[str, Any]]] = {}
    #: Values for settings a saved ``config.json`` lacks (added after it was written, when a later
    #: default differs from what the run was trained with): :meth:`load` reads them under the file's.
    saved_defaults: ClassVar[dict[str, Any]] = {}
    #: The paper's published test accuracies (%), for ``textzoo report`` and ``textzoo compare``:
    #: ``{"source": "...", "accuracy": {"r8": 97.07, ...}, "note": "..." (optional)}``, datasets by
    #: lower-case name (``20ng`` for 20 Newsgroups); empty when the paper has no figure for our corpora.
    published: ClassVar[dict[str, Any]] = {}
    #: The kinds of corpora the model applies to (``textzoo compare`` picks its default models by them).
    tasks: ClassVar[frozenset[str]] = frozenset({"single-label", "multi-label"})

    def __init__(self, config=None, **overrides):
        if config is None:
            config = self.Config()
        elif isinstance(config, dict):
            config = config_from_dict(self.Config, self._with_recipe(config))
        if overrides:
            config = config_from_dict(self.Config, {**config_to_dict(config), **self._with_recipe(overrides)},
                                      "arguments")
        self.config = config
        self.labels: list[str] = []
        self.multilabel = False
        self.history: list[dict] = []
        self.metrics: dict[str, Any] = {}
        self.info: dict[str, Any] = {}
        self.fitted = False

    @classmethod
    def from_settings(cls, config=None, dataset: str | None = None, overrides: dict | None = None,
                      config_file: str | Path | None = None) -> "Model":
        """Defaults < the paper's settings for ``dataset`` < ``config`` < ``config_file`` < ``overrides``."""
        base = dict(cls.dataset_settings.get((dataset or "").lower(), {}))
        given = {} if config is None else config if isinstance(config, dict) else config_to_dict(config)
        merged = merge_config(cls.Config, base={**base, **given}, file=config_file, overrides=overrides or {})
        preset = cls.recipes.get(getattr(merged, "recipe", None))
        if preset:  # the recipe's settings above the defaults and the dataset's, below the user's
            merged = merge_config(cls.Config, base={**base, **preset, **given}, file=config_file,
                                  overrides=overrides or {})
        return cls(merged)

    @classmethod
    def _with_recipe(cls, settings: dict) -> dict:
        """``settings`` over the preset of the recipe they name (``recipe=...``), if any."""
        preset = cls.recipes.get(settings.get("recipe")) if isinstance(settings.get("recipe"), str) else None
        return {**preset, **settings} if preset else dict(settings)

    # ----------------------------------------------------------------------------- training
    def fit(self, train, valid=None, *, unlabelled: Sequence[str] | None = None,
            labels: Sequence[str] | None = None, checkpoint_dir: str | Path | None = None,
            resume: bool = False, text_column: str = "text", label_column: str = "label",
            valid_fraction: float = 0.1) -> "Model":
        """Train on ``train`` (early stopping on ``valid`` when given).

        ``fit(texts, labels)`` (the second argument is then the labels) or ``fit(df)`` (a pandas
        DataFrame or ``datasets.Dataset``, columns ``text_column`` / ``label_column``) hold out
        ``valid_fraction`` for validation by the rule of :mod:`textzoo.data.splitting`, seeded with
        ``config.seed``, as ``textzoo train`` does.

        ``fit(corpus)`` uses the corpus's train and valid splits and, for transductive models, its
        test texts as unlabelled graph nodes (never their labels). ``unlabelled`` texts are used only
        by transductive models. ``labels`` fixes the label vocabulary (default: the training labels,
        or every split's labels for multi-label data).

        ``checkpoint_dir``: write training checkpoints there (every registered model does: TextGCN,
        TensorGCN and ELMo every ``config.checkpoint_every`` epochs and after the last one; the
        Transformers, LightXML and X-Transformer every ``config.checkpoint_steps`` updates and at
        each epoch end, X-Transformer also after each of its stages; a model class with
        ``supports_checkpoints = False`` warns and trains without). Without ``resume`` any checkpoint already there is deleted
        and training starts afresh; with ``resume=True`` training continues from the newest
        checkpoint (or starts afresh if there is none) and ends with the same model as an
        uninterrupted run. Resuming needs the same data, labels and hyper-parameters (runtime
        settings such as ``checkpoint_every`` or ``device`` may differ); anything else is a
        :class:`ConfigError`. ``_fit`` gets the opened checkpoints as its ``run`` argument.
        """
        if resume and checkpoint_dir is None:
            raise ConfigError("resume=True needs checkpoint_dir (the folder holding the checkpoints)")
        if checkpoint_dir is not None and not self.supports_checkpoints:
            if resume:
                raise ConfigError(f"{self.name} cannot resume an interrupted run; train without resume")
            log.warning("%s does not write checkpoints; training without them", self.name)
            checkpoint_dir = None
        if isinstance(train, Corpus):
            corpus = train
            train, valid, labels = corpus.train, corpus.valid if valid is None else valid, corpus.labels
            if self.transductive and unlabelled is None:
                unlabelled = corpus.test.texts
            self.info.setdefault("dataset", corpus.name)
        elif not isinstance(train, Split):
            train, valid = _plain_inputs(train, valid, text_column, label_column, valid_fraction,
                                         getattr(self.config, "seed", 0))
        _check_split(train, "train", need_labels=True)
        if valid is not None:
            _check_split(valid, "valid", need_labels=True)
        if self.multilabel_only and not train.multilabel:
            log.info("%s is a multi-label model: each document's label is read as a one-label set", self.name)
        multilabel = self.multilabel_only or train.multilabel
        train = align_targets(train, multilabel)
        valid = None if valid is None else align_targets(valid, multilabel, "the training data")
        self.multilabel = multilabel
        self.labels = list(labels) if labels is not None else infer_label_vocabulary(train, None, valid, self.multilabel)
        check_labels_known(self.labels, self.multilabel, train, valid)
        check_training_labels(train, self.multilabel)
        unlabelled = list(unlabelled or []) if self.transductive else []
        _check_texts(unlabelled, "unlabelled")
        start = time.perf_counter()
        self.history = []
        fingerprint = self._fingerprint(train, valid, unlabelled)
        self.info["fingerprint"] = fingerprint_id(fingerprint)
        run = self._open_checkpoint(fingerprint, None if checkpoint_dir is None else Path(checkpoint_dir), resume)
        from ..training.memory import track_peak_memory

        with track_peak_memory(self.info):  # peak_rss_mb (and peak_cuda_mb) of this fit
            self._fit(train, valid, unlabelled, run)
        self.info["train_seconds"] = round(time.perf_counter() - start, 3)
        self.info["train_docs"] = len(train)
        self.fitted = True
        return self

    def _fit(self, train: Split, valid: Split | None, unlabelled: list[str], run) -> None:
        """Train; ``run`` (:class:`~textzoo.training.checkpoint.RunCheckpoints`) writes the
        checkpoints and holds the one to resume from."""
        raise NotImplementedError

    # ----------------------------------------------------------------------------- prediction
    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities, shape (len(texts), len(labels)); columns follow ``self.labels``."""
        self._require_fitted()
        texts = _as_texts(texts)
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        return self._predict_proba(texts)

    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def predict(self, texts: Sequence[str] | str, top_k: int | None = None, threshold: float = DEFAULT_THRESHOLD):
        """Predicted labels, by the one rule of :mod:`textzoo.scoring` (the CLI and the server's too).

        Single-label: one label per text. Multi-label: the labels whose probability is at least
        ``threshold``, best first (the best label alone when none reaches it). With ``top_k``: per
        text, the ``top_k`` best ``(label, probability)`` pairs, best first. ``texts`` may also be a
        DataFrame or a Dataset (its ``text`` column).
        """
        single = isinstance(texts, str)
        probs = self.predict_proba([texts] if single else texts)
        out = labels_of_scores(probs, self.labels, self.multilabel, top_k, threshold)
        return out[0] if single else out

    def evaluate(self, data, labels: Sequence | None = None, *, ks: Sequence[int] = (1, 3, 5),
                 threshold: float = DEFAULT_THRESHOLD, text_column: str = "text",
                 label_column: str = "label") -> dict[str, float]:
        """Metrics on labelled data (a Split, ``texts, labels``, a DataFrame or a Dataset): accuracy
        and F1 scores, or P@k / nDCG@k / R@k and micro / macro F1 at ``threshold`` (multi-label)."""
        self._require_fitted()
        split = as_split(data, labels, name="test", text_column=text_column, label_column=label_column)
        split = align_targets(split, self.multilabel)
        check_scorable(split, self.labels, self.multilabel)
        return split_metrics(self.predict_proba(split.texts), split, self.labels, self.multilabel, ks, threshold)

    # ----------------------------------------------------------------------------- persistence
    def _state(self) -> State:
        raise NotImplementedError

    def onnx_export(self):
        """This model as a :class:`textzoo.export.OnnxGraph`; by default a one-line refusal."""
        raise __import__("textzoo.export", fromlist=["refusal"]).refusal(self)

    def _restore(self, state: State) -> None:
        raise NotImplementedError

    def save(self, path: str | Path, also: Callable[[Path], None] | None = None) -> Path:
        """Write the run folder ``path`` atomically (see the module docstring); ``also(folder)``
        adds files (the plots) to the new folder before it is swapped in."""
        self._require_fitted()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        recover_run_folder(path)
        state = self._state()

        def write(tmp: Path) -> None:
            tensors = {k: v.detach().contiguous().cpu() for k, v in state.tensors.items()}
            save_file(tensors, str(tmp / WEIGHTS_FILE), metadata={"textzoo_model": self.name})
            for key, value in state.extra.items():
                atomic_write_json(tmp / f"{key}.json", value)
            if self.metrics:
                atomic_write_json(tmp / METRICS_FILE, self.metrics)
            (tmp / HISTORY_FILE).write_text("".join(json.dumps(row) + "\n" for row in self.history))
            atomic_write_json(tmp / CONFIG_FILE, {
                "model": self.name,
                "textzoo_version": __version__,
                "config": hyper_parameters(self.config),  # runtime settings are not saved
                "labels": self.labels,
                "multilabel": self.multilabel,
                "extra_files": sorted(state.extra),
                "info": self.info,
            })
            if also is not None:
                also(tmp)

        write_folder(path, write)  # concurrent saves to one folder are unsupported
        log.info("saved %s run to %s", self.name, path)
        return path

    @classmethod
    def load(cls, path: str | Path, **runtime) -> "Model":
        """Restore a saved run; it predicts exactly as the model that was saved.

        ``runtime``: runtime settings (``device="cpu"``, ``eval_batch_size=...``; see
        :mod:`textzoo.runtime`); runtime keys an older ``config.json`` holds are ignored.

        Reads only JSON and safetensors, and refuses (:class:`ModelFileError`) a folder holding
        pickle files, a config naming an unknown model, truncated or malformed files and tensors of
        the wrong shape or dtype.
        """
        from .registry import model_class

        path = recover_run_folder(Path(path))
        meta = read_run_config(path)
        refuse_pickles(path)
        config_file = path / CONFIG_FILE
        try:
            klass = model_class(meta["model"]) if cls is Model else cls
        except ConfigError as exc:
            raise ModelFileError(f"{config_file}: {exc}") from None
        if klass.name != meta["model"]:
            raise ModelFileError(f"{path}: holds a {meta['model']!r} model, not {klass.name!r}")
        try:
            saved = {**klass.saved_defaults, **without_runtime(meta["config"])}
            model = klass(config_from_dict(klass.Config, saved, str(config_file)))
        except ConfigError as exc:
            raise ModelFileError(str(exc)) from None
        model.labels = list(meta["labels"])
        model.multilabel = bool(meta.get("multilabel", False))
        model.info = dict(meta.get("info", {}))
        weights = path / WEIGHTS_FILE
        tensors = read_weights(weights)  # regular, finite; which tensors the model reads is tracked
        extra = {}
        for key in meta.get("extra_files", []):
            extra[key] = _read_json(path / f"{key}.json")
        if (path / METRICS_FILE).exists():
            model.metrics = _read_json(path / METRICS_FILE)
            if not isinstance(model.metrics, dict):
                raise ModelFileError(f"{path / METRICS_FILE}: expected a JSON object")
        if (path / HISTORY_FILE).exists():
            model.history = _read_history(path / HISTORY_FILE)
        model._restore(State(tensors=tensors, extra=extra, source=path))
        tensors.refuse_unread(weights)
        model.fitted = True
        apply_runtime(model, **runtime)
        return model

    # ----------------------------------------------------------------------------- checkpoints
    # A subclass's ``_fit`` gets ``run`` (opened by ``fit``) and uses this :class:`~textzoo.training.checkpoint.RunCheckpoints`: ``run.callback(weights,
    # optimizer)`` as the EpochLoop's ``checkpoint`` argument (the loop's keep-best snapshot must be
    # a dict named like ``weights``), ``run.write(...)`` for checkpoints inside an epoch or between
    # stages, and, when ``run.resuming``, ``run.restore(loop, weights, optimizer)`` right before
    # ``loop.run()`` (the weights, the loop, the optimiser and, last, the RNG states).
    def _fingerprint(self, train: Split, valid: Split | None, unlabelled: list[str]) -> dict:
        """What a resumed run must share with the interrupted one (:mod:`textzoo.runs.identity`)."""
        return model_fingerprint(self, train, valid, unlabelled, self.labels, self.multilabel)

    def _open_checkpoint(self, fingerprint: dict, folder: Path | None, resume: bool):
        """The :class:`~textzoo.training.checkpoint.RunCheckpoints` of this fit: it writes nothing
        without ``folder`` and holds the checkpoint to resume from, if any. Without resume,
        old checkpoints are deleted."""
        from ..training.checkpoint import RunCheckpoints, check_same_run, clear_checkpoints, load_checkpoint

        run = RunCheckpoints(folder, fingerprint, None, self.info)
        if folder is None:
            return run
        if not resume:
            clear_checkpoints(folder)
            return run
        found = load_checkpoint(folder)
        if found is None:
            log.info("no checkpoint in %s: training starts at epoch 1", folder)
            return run
        check_same_run(folder, found[1].get("fingerprint"), fingerprint, "run",
                       "resume with the same data and settings, or train without resume")
        run.found = found
        return run

    # ----------------------------------------------------------------------------- helpers
    def _require_fitted(self) -> None:
        if not self.fitted:
            raise RuntimeError(f"this {self.name} model is not trained yet: call fit() or textzoo.load()")

    def label_indices(self, split: Split) -> np.ndarray:
        """Class ids of a single-label split, following ``self.labels``."""
        index = {label: i for i, label in enumerate(self.labels)}
        return np.array([index[label] for label in split.labels], dtype=np.int64)

    def __repr__(self) -> str:
        state = "trained" if self.fitted else "untrained"
        return f"<{type(self).__name__} {state}, {len(self.labels)} labels, config={self.config}>"


def read_run_config(path: Path) -> dict:
    """``config.json`` of a run folder, checked for the keys every run has and their types."""
    if not path.is_dir():
        raise ModelFileError(f"{path}: no such run folder")
    file = path / CONFIG_FILE
    meta = _read_json(file)
    if not isinstance(meta, dict):
        raise ModelFileError(f"{file}: expected a JSON object; not a textzoo run folder")
    for key in ("model", "labels", "config"):
        if key not in meta:
            raise ModelFileError(f"{file}: missing key {key!r}; not a textzoo run folder")
    if not isinstance(meta["model"], str):
        raise ModelFileError(f"{file}: 'model' must be a model name, found {meta['model']!r}")
    if not isinstance(meta["config"], dict):
        raise ModelFileError(f"{file}: 'config' must be a JSON object")
    labels = meta["labels"]
    if (not isinstance(labels, list) or not labels or not all(isinstance(l, str) for l in labels)
            or len(set(labels)) != len(labels)):
        raise ModelFileError(f"{file}: 'labels' must be a non-empty list of distinct strings")
    extra = meta.get("extra_files", [])
    if not isinstance(extra, list) or not all(isinstance(k, str) and _EXTRA_NAME.fullmatch(k) for k in extra):
        raise ModelFileError(f"{file}: 'extra_files' must list plain file names (no folders)")
    if not isinstance(meta.get("info", {}), dict):
        raise ModelFileError(f"{file}: 'info' must be a JSON object")
    if not isinstance(meta.get("multilabel", False), bool):
        raise ModelFileError(f"{file}: 'multilabel' must be true or false, found {meta['multilabel']!r}")
    return meta


def refuse_pickles(path: Path) -> None:
    """A :class:`ModelFileError` if the run folder holds a pickle-like file (never read by textzoo)."""
    for file in sorted(path.rglob("*")):
        if file.suffix.lower() in PICKLE_SUFFIXES:
            raise ModelFileError(
                f"{file}: run folders hold only JSON and safetensors; refusing a folder with a "
                f"{file.suffix} file (pickle formats can run code when loaded). Remove it to load the run")


def _plain_inputs(texts, labels, text_column: str, label_column: str, fraction: float, seed: int):
    """``(train, valid)`` splits from ``fit(texts, labels)`` / ``fit(df)`` (see :meth:`Model.fit`)."""
    if isinstance(labels, Split):
        raise TypeError("fit(texts, labels): the second argument holds the labels here; pass a "
                        "validation Split with fit(train_split, valid_split)")
    from ..data.splitting import split_validation

    split = as_split(texts, labels, name="train", text_column=text_column, label_column=label_column)
    return split_validation(split, fraction, seed)


def _as_texts(texts) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("expected a list of texts, got a single string; wrap it in a list")
    texts = as_split(texts, name="input", need_labels=False).texts
    _check_texts(texts, "input")
    return texts


def _check_texts(texts: Sequence, what: str) -> None:
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise DataError(f"{what} text {i} is {type(text).__name__}, not str")
        if len(text) > MAX_DOCUMENT_CHARS:
            raise DataError(f"{what} text {i} has {len(text):,} characters, over the limit of "
                            f"{MAX_DOCUMENT_CHARS:,} (textzoo.data.corpus.MAX_DOCUMENT_CHARS); split or shorten it")


def _check_split(split: Split, what: str, need_labels: bool) -> None:
    if not isinstance(split, Split):
        raise TypeError(f"{what}: expected a textzoo Split, got {type(split).__name__}")
    if len(split) == 0:
        raise DataError(f"the {what} split is empty")
    if need_labels and split.labels is None:
        raise DataError(f"the {what} split has no labels")
    _check_texts(split.texts, what)
