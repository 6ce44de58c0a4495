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

Loading reads only JSON and safetensors and checks what it reads: a folder holding pickle files
(``*.pkl``, ``*.pt``, ...) is refused, as are a config naming an unknown model, truncated or
malformed files, and tensors whose shape or dtype does not fit the config, labels and vocabulary.
Each problem is one :class:`ModelFileError` line naming the file.

Checkpoints for resuming an interrupted ``fit`` (``fit(..., checkpoint_dir=DIR, resume=True)``) go
through one helper, :class:`textzoo.training.checkpoint.RunCheckpoints`, which ``_open_checkpoint``
(at the end of this class) builds for each fit; every model that resumes (``supports_checkpoints``)
uses it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from .. import __version__
from .._io import atomic_write_json, recover_run_folder, write_folder
from ..config import config_from_dict, config_to_dict, merge_config
from ..data.corpus import MAX_DOCUMENT_CHARS, Corpus, Split, check_labels_known, infer_label_vocabulary
from ..errors import ConfigError, DataError, ModelFileError
from ..metrics import classification_metrics, multilabel_metrics

log = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.jsonl"
#: files a run folder must never hold: formats that can execute code when read (textzoo never reads them)
PICKLE_SUFFIXES = (".pkl", ".pickle", ".pt", ".pth", ".bin", ".ckpt", ".joblib")
#: config keys that may differ between an interrupted run and its resumption
RESUMABLE_CONFIG_CHANGES = frozenset({"checkpoint_every", "checkpoint_steps"})
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
            config = config_from_dict(self.Config, config)
        if overrides:
            config = config_from_dict(self.Config, {**config_to_dict(config), **overrides}, "arguments")
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
        if config is not None:
            base.update(config if isinstance(config, dict) else config_to_dict(config))
        return cls(merge_config(cls.Config, base=base, file=config_file, overrides=overrides or {}))

    # ----------------------------------------------------------------------------- training
    def fit(self, train: Split | Corpus, valid: Split | None = None, *,
            unlabelled: Sequence[str] | None = None, labels: Sequence[str] | None = None,
            checkpoint_dir: str | Path | None = None, resume: bool = False) -> "Model":
        """Train on ``train`` (early stopping on ``valid`` when given).

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
        uninterrupted run. Resuming needs the same data, labels and config (``checkpoint_every``
        may differ); anything else is a :class:`ConfigError`.
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
        _check_split(train, "train", need_labels=True)
        if valid is not None:
            _check_split(valid, "valid", need_labels=True)
        self.multilabel = train.multilabel
        self.labels = list(labels) if labels is not None else infer_label_vocabulary(train, None, valid, self.multilabel)
        check_labels_known(self.labels, self.multilabel, train, valid)
        unlabelled = list(unlabelled or []) if self.transductive else []
        _check_texts(unlabelled, "unlabelled")
        start = time.perf_counter()
        self.history = []
        self._checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
        self._resume = bool(resume)
        from ..training.memory import track_peak_memory

        try:
            with track_peak_memory(self.info):  # peak_rss_mb (and peak_cuda_mb) of this fit
                self._fit(train, valid, unlabelled)
        finally:
            self._checkpoint_dir, self._resume = None, False
        self.info["train_seconds"] = round(time.perf_counter() - start, 3)
        self.info["train_docs"] = len(train)
        self.fitted = True
        return self

    def _fit(self, train: Split, valid: Split | None, unlabelled: list[str]) -> None:
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

    def predict(self, texts: Sequence[str] | str, top_k: int | None = None, threshold: float = 0.5):
        """Predicted labels.

        Single-label: one label per text. Multi-label: the labels whose probability is at least
        ``threshold``. With ``top_k``: per text, a list of ``(label, probability)`` pairs, best first.
        """
        single = isinstance(texts, str)
        probs = self.predict_proba([texts] if single else texts)
        out = labels_of_scores(probs, self.labels, self.multilabel, top_k, threshold)
        return out[0] if single else out

    def evaluate(self, split: Split, ks: Sequence[int] = (1, 3, 5)) -> dict[str, float]:
        """Metrics on a labelled split: accuracy and F1 scores, or P@k / nDCG@k / PSP@k."""
        self._require_fitted()
        check_scorable(split, self.labels, self.multilabel)
        return split_metrics(self.predict_proba(split.texts), split, self.labels, self.multilabel, ks)

    # ----------------------------------------------------------------------------- persistence
    def _state(self) -> State:
        raise NotImplementedError

    def _restore(self, state: State) -> None:
        raise NotImplementedError

    def save(self, path: str | Path) -> Path:
        """Write the run folder ``path`` atomically (see the module docstring)."""
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
                "config": config_to_dict(self.config),
                "labels": self.labels,
                "multilabel": self.multilabel,
                "extra_files": sorted(state.extra),
                "info": self.info,
            })

        write_folder(path, write)  # concurrent saves to one folder are unsupported
        log.info("saved %s run to %s", self.name, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Model":
        """Restore a saved run; it predicts exactly as the model that was saved.

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
            model = klass(config_from_dict(klass.Config, meta["config"], str(config_file)))
        except ConfigError as exc:
            raise ModelFileError(str(exc)) from None
        model.labels = list(meta["labels"])
        model.multilabel = bool(meta.get("multilabel", False))
        model.info = dict(meta.get("info", {}))
        weights = path / WEIGHTS_FILE
        if not weights.exists():
            raise ModelFileError(f"{weights}: missing; the run folder is incomplete")
        try:
            tensors = load_file(str(weights))
        except Exception as exc:  # safetensors raises its own error types for truncated files
            raise ModelFileError(f"{weights}: cannot be read ({exc}); the file is damaged or truncated") from None
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
        model.fitted = True
        return model

    # ----------------------------------------------------------------------------- checkpoints
    # A subclass's ``_fit`` calls ``run = self._open_checkpoint(...)`` before training and uses the
    # returned :class:`~textzoo.training.checkpoint.RunCheckpoints`: ``run.callback(weights,
    # optimizer)`` as the EpochLoop's ``checkpoint`` argument (the loop's keep-best snapshot must be
    # a dict named like ``weights``), ``run.write(...)`` for checkpoints inside an epoch or between
    # stages, and, when ``run.resuming``, ``run.restore(loop, weights, optimizer)`` right before
    # ``loop.run()`` (the weights, the loop, the optimiser and, last, the RNG states).
    _checkpoint_dir: Path | None = None
    _resume: bool = False

    def _fingerprint(self, train: Split, valid: Split | None, unlabelled: list[str]) -> dict:
        """What a resumed run must share with the interrupted one: model, config, labels, data."""
        digest = hashlib.blake2b(digest_size=16)
        for split in [train] + ([valid] if valid is not None else []):
            for text, label in zip(split.texts, split.labels):
                digest.update(text.encode("utf-8", "surrogatepass") + b"\0")
                digest.update(json.dumps(label).encode() + b"\0")
            digest.update(b"\1")
        for text in unlabelled:
            digest.update(text.encode("utf-8", "surrogatepass") + b"\0")
        config = {k: v for k, v in config_to_dict(self.config).items() if k not in RESUMABLE_CONFIG_CHANGES}
        return {"model": self.name, "config": config, "labels": list(self.labels),
                "multilabel": self.multilabel,
                "documents": [len(train), 0 if valid is None else len(valid), len(unlabelled)],
                "data": digest.hexdigest()}

    def _open_checkpoint(self, train: Split, valid: Split | None, unlabelled: list[str]):
        """The :class:`~textzoo.training.checkpoint.RunCheckpoints` of this fit: it writes nothing
        without ``checkpoint_dir`` and holds the checkpoint to resume from, if any. Without resume,
        old checkpoints are deleted."""
        from ..training.checkpoint import RunCheckpoints, check_same_run, clear_checkpoints, load_checkpoint

        folder = self._checkpoint_dir
        now = self._fingerprint(train, valid, unlabelled)
        run = RunCheckpoints(folder, now, None, self.info)
        if folder is None:
            return run
        if not self._resume:
            clear_checkpoints(folder)
            return run
        found = load_checkpoint(folder)
        if found is None:
            log.info("no checkpoint in %s: training starts at epoch 1", folder)
            return run
        check_same_run(folder, found[1].get("fingerprint"), now, "run",
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


def check_scorable(split: Split, labels: Sequence[str], multilabel: bool) -> None:
    """A clear error unless ``split`` is a non-empty labelled split whose labels are all in ``labels``."""
    _check_split(split, split.name, need_labels=True)
    check_labels_known(labels, multilabel, split)


def labels_of_scores(probs: np.ndarray, labels: Sequence[str], multilabel: bool, top_k: int | None = None,
                     threshold: float = 0.5) -> list:
    """What :meth:`Model.predict` answers for the (n_docs, n_labels) scores ``probs``: one label per
    text, the labels at or above ``threshold`` (multi-label), or with ``top_k`` the ``(label, score)``
    pairs of the k best labels, best first."""
    if top_k is not None:
        k = max(1, min(int(top_k), len(labels)))
        order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
        return [[(labels[j], float(row[j])) for j in idx] for idx, row in zip(order, probs)]
    if multilabel:
        return [[labels[j] for j in np.flatnonzero(row >= threshold)] for row in probs]
    return [labels[j] for j in probs.argmax(axis=1)]


def split_metrics(probs: np.ndarray, split: Split, labels: Sequence[str], multilabel: bool,
                  ks: Sequence[int] = (1, 3, 5)) -> dict[str, float]:
    """Metrics of the (n_docs, n_labels) scores ``probs`` against the labels of ``split`` (columns in
    the order of ``labels``): accuracy and F1 scores, or P@k / nDCG@k / PSP@k when ``multilabel``."""
    index = {label: i for i, label in enumerate(labels)}
    if multilabel:
        import scipy.sparse as sp

        rows = np.repeat(np.arange(len(split)), [len(t) for t in split.labels])
        cols = np.fromiter((index[l] for t in split.labels for l in t), dtype=np.int64, count=len(rows))
        truth = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(split), len(labels)))
        return multilabel_metrics(probs, truth, ks=tuple(ks))
    y_true = np.array([index[l] for l in split.labels])
    return classification_metrics(y_true, probs.argmax(axis=1), n_classes=len(labels))


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
    return meta


def refuse_pickles(path: Path) -> None:
    """A :class:`ModelFileError` if the run folder holds a pickle-like file (never read by textzoo)."""
    for file in sorted(path.rglob("*")):
        if file.suffix.lower() in PICKLE_SUFFIXES:
            raise ModelFileError(
                f"{file}: run folders hold only JSON and safetensors; refusing a folder with a "
                f"{file.suffix} file (pickle formats can run code when loaded). Remove it to load the run")


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelFileError(f"{path}: missing; the run folder is incomplete") from None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, huge ints, deep nesting
        raise ModelFileError(f"{path}: not valid JSON ({exc}); the file is damaged or truncated") from None
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def _read_history(path: Path) -> list[dict]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{path}: cannot be read ({exc})") from None
    rows = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (ValueError, RecursionError) as exc:
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
            raise ModelFileError(f"{path}:{i + 1}: not valid JSON ({reason}); the file is damaged or truncated") from None
        if not isinstance(row, dict):
            raise ModelFileError(f"{path}:{i + 1}: expected a JSON object per line")
        rows.append(row)
    return rows


def _as_texts(texts) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("expected a list of texts, got a single string; wrap it in a list")
    texts = list(texts)
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
