"""The facade every model shares: ``fit``, ``predict``, ``predict_proba``, ``evaluate``, ``save``, ``load``.

A subclass implements ``_fit``, ``_predict_proba``, ``_state`` and ``_restore``; this class handles
label vocabularies, input checks, metrics and the saved run folder:

    RUN/config.json        model name, config, labels, library version, run info
    RUN/model.safetensors  every tensor the model needs to predict (no pickles)
    RUN/<name>.json        small JSON side files (vocabularies, ...)
    RUN/metrics.json       metrics measured after training (when known)
    RUN/history.jsonl      one JSON row per training epoch

A save writes the whole folder under a temporary name next to RUN and then swaps it in, so RUN is
always either the previous complete run or the new complete run.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from .. import __version__
from .._io import atomic_write_json
from ..config import config_from_dict, config_to_dict, merge_config
from ..data.corpus import Corpus, Split, check_labels_known, infer_label_vocabulary
from ..errors import DataError, ModelFileError
from ..metrics import classification_metrics, multilabel_metrics

log = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.jsonl"


@dataclass
class State:
    """What a model saves: tensors (to safetensors) and small JSON-serialisable side data."""

    tensors: dict[str, torch.Tensor]
    extra: dict[str, Any]


class Model:
    """Base class of every registered model."""

    name: ClassVar[str] = ""
    Config: ClassVar[type] = object
    #: Transductive models put unlabelled documents (the test set, as in the TextGCN paper) in
    #: their graph during ``fit``; ``fit(corpus)`` passes the test texts for them.
    transductive: ClassVar[bool] = False
    #: Per-dataset settings from the model's paper, applied by ``create(..., dataset=...)``.
    dataset_settings: ClassVar[dict[str, dict[str, Any]]] = {}

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
            unlabelled: Sequence[str] | None = None, labels: Sequence[str] | None = None) -> "Model":
        """Train on ``train`` (early stopping on ``valid`` when given).

        ``fit(corpus)`` uses the corpus's train and valid splits and, for transductive models, its
        test texts as unlabelled graph nodes (never their labels). ``unlabelled`` texts are used only
        by transductive models. ``labels`` fixes the label vocabulary (default: the training labels,
        or every split's labels for multi-label data).
        """
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
        self._fit(train, valid, unlabelled)
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
        if top_k is not None:
            k = max(1, min(int(top_k), len(self.labels)))
            order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
            out = [[(self.labels[j], float(row[j])) for j in idx] for idx, row in zip(order, probs)]
        elif self.multilabel:
            out = [[self.labels[j] for j in np.flatnonzero(row >= threshold)] for row in probs]
        else:
            out = [self.labels[j] for j in probs.argmax(axis=1)]
        return out[0] if single else out

    def evaluate(self, split: Split, ks: Sequence[int] = (1, 3, 5)) -> dict[str, float]:
        """Metrics on a labelled split: accuracy and F1 scores, or P@k / nDCG@k / PSP@k."""
        self._require_fitted()
        _check_split(split, split.name, need_labels=True)
        check_labels_known(self.labels, self.multilabel, split)
        probs = self.predict_proba(split.texts)
        index = {label: i for i, label in enumerate(self.labels)}
        if self.multilabel:
            import scipy.sparse as sp

            rows = np.repeat(np.arange(len(split)), [len(t) for t in split.labels])
            cols = np.fromiter((index[l] for t in split.labels for l in t), dtype=np.int64, count=len(rows))
            truth = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)),
                                  shape=(len(split), len(self.labels)))
            return multilabel_metrics(probs, truth, ks=tuple(ks))
        y_true = np.array([index[l] for l in split.labels])
        return classification_metrics(y_true, probs.argmax(axis=1), n_classes=len(self.labels))

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
        state = self._state()
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".saving", dir=path.parent))
        try:
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
            _swap_in(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        log.info("saved %s run to %s", self.name, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Model":
        """Restore a saved run; it predicts exactly as the model that was saved."""
        from .registry import model_class

        path = Path(path)
        meta = read_run_config(path)
        klass = model_class(meta["model"]) if cls is Model else cls
        if klass.name != meta["model"]:
            raise ModelFileError(f"{path}: holds a {meta['model']!r} model, not {klass.name!r}")
        model = klass(config_from_dict(klass.Config, meta.get("config", {}), str(path / CONFIG_FILE)))
        model.labels = list(meta["labels"])
        model.multilabel = bool(meta.get("multilabel", False))
        model.info = dict(meta.get("info", {}))
        weights = path / WEIGHTS_FILE
        if not weights.exists():
            raise ModelFileError(f"{weights}: missing; the run folder is incomplete")
        try:
            tensors = load_file(str(weights))
        except Exception as exc:  # safetensors raises its own error types for truncated files
            raise ModelFileError(f"{weights}: cannot be read ({exc}); the file is damaged or truncated") from exc
        extra = {}
        for key in meta.get("extra_files", []):
            extra[key] = _read_json(path / f"{key}.json")
        if (path / METRICS_FILE).exists():
            model.metrics = _read_json(path / METRICS_FILE)
        if (path / HISTORY_FILE).exists():
            model.history = [json.loads(line) for line in (path / HISTORY_FILE).read_text().splitlines() if line]
        model._restore(State(tensors=tensors, extra=extra))
        model.fitted = True
        return model

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
    """``config.json`` of a run folder, checked for the keys every run has."""
    if not path.is_dir():
        raise ModelFileError(f"{path}: no such run folder")
    meta = _read_json(path / CONFIG_FILE)
    for key in ("model", "labels", "config"):
        if key not in meta:
            raise ModelFileError(f"{path / CONFIG_FILE}: missing key {key!r}; not a textzoo run folder")
    return meta


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelFileError(f"{path}: missing; the run folder is incomplete") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{path}: not valid JSON ({exc})") from exc


def _swap_in(tmp: Path, path: Path) -> None:
    """Replace folder ``path`` by ``tmp``; a crash in between leaves ``path`` or its backup whole."""
    if not path.exists():
        os.replace(tmp, path)
        return
    backup = path.with_name(f".{path.name}.previous")
    shutil.rmtree(backup, ignore_errors=True)
    os.replace(path, backup)
    os.replace(tmp, path)
    shutil.rmtree(backup, ignore_errors=True)


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


def _check_split(split: Split, what: str, need_labels: bool) -> None:
    if not isinstance(split, Split):
        raise TypeError(f"{what}: expected a textzoo Split, got {type(split).__name__}")
    if len(split) == 0:
        raise DataError(f"the {what} split is empty")
    if need_labels and split.labels is None:
        raise DataError(f"the {what} split has no labels")
    _check_texts(split.texts, what)
