"""PNG plots of a training run, written beside its metrics in the run folder.

- ``learning_curves.png``  training and validation loss per epoch; a validation metric on a second panel
- ``confusion_matrix.png`` single-label runs: the test confusion matrix, normalised by row (true class)
- ``per_class_f1.png``     single-label runs: test F1 of each class
- ``precision_at_k.png``   multi-label runs: P@k, nDCG@k and (with propensities) PSP@k for k = 1..5

Figures are drawn with matplotlib's object API on the Agg canvas (no pyplot, no display, no global
state, safe in threads) and each PNG is written atomically.
"""

from __future__ import annotations

import io
import logging
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .._io import atomic_write_bytes

log = logging.getLogger(__name__)

LEARNING_CURVES = "learning_curves.png"
CONFUSION_MATRIX = "confusion_matrix.png"
PER_CLASS_F1 = "per_class_f1.png"
PRECISION_AT_K = "precision_at_k.png"

_DPI = 100
_KS = (1, 2, 3, 4, 5)


def write_run_plots(run_dir: str | Path, history: Sequence[dict], y_true: Any = None, y_pred: Any = None,
                    labels: Sequence[str] | None = None, scores: Any = None, truth: Any = None,
                    propensity: Any = None) -> list[Path]:
    """Write the run's PNG plots into ``run_dir`` and return their paths.

    ``history``: one dict per epoch (``loss``/``train_loss``, ``val_loss``, ``val_*`` metrics).
    Single-label runs pass ``y_true``/``y_pred`` (class ids) and ``labels`` (names, index = id).
    Multi-label runs pass ``scores`` (n_docs, n_labels) and ``truth`` (0/1, dense or sparse), and
    optionally ``propensity`` (one p_l per label, see :func:`textzoo.metrics.propensities`).
    A plot whose inputs are missing is skipped.
    """
    run_dir = Path(run_dir)
    written: list[Path] = []
    if history:
        fig = learning_curves_figure(history)
        if fig is not None:
            written.append(_save(fig, run_dir / LEARNING_CURVES))
    if y_true is not None and y_pred is not None:
        y_true = np.asarray(y_true, dtype=np.int64)
        y_pred = np.asarray(y_pred, dtype=np.int64)
        names = list(labels) if labels is not None else [str(i) for i in range(max(y_true.max(), y_pred.max()) + 1)]
        written.append(_save(confusion_matrix_figure(y_true, y_pred, names), run_dir / CONFUSION_MATRIX))
        written.append(_save(per_class_f1_figure(y_true, y_pred, names), run_dir / PER_CLASS_F1))
    if scores is not None and truth is not None:
        written.append(_save(precision_at_k_figure(scores, truth, propensity), run_dir / PRECISION_AT_K))
    log.info("wrote %d plot(s) to %s", len(written), run_dir)
    return written


def write_model_plots(run_dir: str | Path, model, test, train=None) -> list[Path]:
    """Predict ``test`` once with a fitted ``model`` and write the run's plots into ``run_dir``.

    ``train`` (the training split) gives the label propensities for PSP@k of multi-label runs.
    """
    probs = model.predict_proba(test.texts)
    if model.multilabel:
        from ..metrics import propensities

        truth = label_matrix(test.labels, model.labels)
        propensity = None
        if train is not None and len(train) >= 2:
            propensity = propensities(label_matrix(train.labels, model.labels))
        return write_run_plots(run_dir, model.history, scores=probs, truth=truth, propensity=propensity)
    return write_run_plots(run_dir, model.history, y_true=model.label_indices(test),
                           y_pred=probs.argmax(axis=1), labels=model.labels)


def label_matrix(rows: Sequence[Sequence[str]], labels: Sequence[str]):
    """0/1 CSR matrix (n_docs, n_labels) of multi-label targets; unknown labels are ignored."""
    import scipy.sparse as sp

    index = {label: i for i, label in enumerate(labels)}
    pairs = [(i, index[l]) for i, row in enumerate(rows) for l in row if l in index]
    r = np.fromiter((p[0] for p in pairs), dtype=np.int64, count=len(pairs))
    c = np.fromiter((p[1] for p in pairs), dtype=np.int64, count=len(pairs))
    m = sp.csr_matrix((np.ones(len(pairs), dtype=np.float32), (r, c)), shape=(len(rows), len(labels)))
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


# ------------------------------------------------------------------------------------ figures
def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=_DPI)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: Path) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def _series(history: Sequence[dict], key: str) -> tuple[list[int], list[float]]:
    xs, ys = [], []
    for i, row in enumerate(history):
        value = row.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            xs.append(int(row.get("epoch", i + 1)))
            ys.append(float(value))
    return xs, ys


def learning_curves_figure(history: Sequence[dict]):
    """Loss per epoch (train and validation) and the validation metrics on a second panel."""
    train_key = next((k for k in ("loss", "train_loss") if any(k in row for row in history)), None)
    metric_keys = [k for k in dict.fromkeys(k for row in history for k in row)
                   if k.startswith("val_") and k != "val_loss"]
    if train_key is None and not any("val_loss" in row for row in history):
        log.info("history has no loss column; no learning curves")
        return None
    fig = _figure(11, 4.2)
    ax_loss, ax_metric = fig.subplots(1, 2)
    for key, name in ((train_key, "train loss"), ("val_loss", "validation loss")):
        if key is None:
            continue
        xs, ys = _series(history, key)
        if xs:
            ax_loss.plot(xs, ys, marker="o" if len(xs) < 30 else None, markersize=3, label=name)
    ax_loss.set(title="Loss", xlabel="epoch", ylabel="loss")
    ax_loss.legend()
    ax_loss.grid(alpha=0.3)
    plotted = 0
    for key in metric_keys:
        xs, ys = _series(history, key)
        if xs:
            ax_metric.plot(xs, ys, marker="o" if len(xs) < 30 else None, markersize=3, label=key)
            plotted += 1
    if plotted:
        ax_metric.set(title="Validation metric", xlabel="epoch", ylabel="value")
        ax_metric.legend()
        ax_metric.grid(alpha=0.3)
    else:
        ax_metric.set_axis_off()
        ax_metric.text(0.5, 0.5, "no validation metric recorded", ha="center", va="center")
    fig.tight_layout()
    return fig


def _tick_fontsize(n: int) -> float:
    return 9.0 if n <= 12 else max(6.5, 9.0 - (n - 12) / 10.0)


def confusion_matrix_figure(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str]):
    """Row-normalised confusion matrix with label names on both axes; 2..60 classes stay readable."""
    from ..metrics import confusion_matrix

    n = len(labels)
    counts = confusion_matrix(y_true, y_pred, n_classes=n).astype(np.float64)
    support = counts.sum(axis=1, keepdims=True)
    norm = np.divide(counts, support, out=np.zeros_like(counts), where=support > 0)
    side = float(np.clip(2.5 + 0.28 * n, 5.5, 18.0))
    fig = _figure(side + 1.2, side)
    ax = fig.add_subplot()
    image = ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    fontsize = _tick_fontsize(n)
    ax.set_xticks(range(n), labels=list(labels), rotation=90, fontsize=fontsize)
    ax.set_yticks(range(n), labels=list(labels), fontsize=fontsize)
    ax.set(xlabel="predicted label", ylabel="true label")
    ax.set_title(f"Confusion matrix (normalised by row, {len(y_true)} documents)")
    if n <= 15:
        for i in range(n):
            for j in range(n):
                if counts[i, j]:
                    ax.text(j, i, f"{norm[i, j]:.2f}", ha="center", va="center", fontsize=max(7, 13 - n // 2),
                            color="white" if norm[i, j] > 0.5 else "black")
    fig.tight_layout()
    return fig


def per_class_f1_figure(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str]):
    """Horizontal bar chart of each class's F1, with the class's test support beside its name."""
    from ..metrics import per_class_f1

    n = len(labels)
    f1 = per_class_f1(y_true, y_pred, n_classes=n)
    support = np.bincount(y_true, minlength=n)
    height = float(np.clip(1.5 + 0.24 * n, 3.0, 16.0))
    fig = _figure(8.0, height)
    ax = fig.add_subplot()
    ys = np.arange(n)
    ax.barh(ys, f1, color="tab:blue")
    ax.set_yticks(ys, labels=[f"{name} ({count})" for name, count in zip(labels, support)],
                  fontsize=_tick_fontsize(n))
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xlim(0.0, 1.0)
    ax.axvline(float(f1.mean()), color="tab:red", linestyle="--", linewidth=1)
    ax.set(xlabel="F1 on the test split", ylabel="class (test documents)")
    ax.set_title(f"Per-class F1 (dashed: macro F1 = {f1.mean():.3f})")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def precision_at_k_figure(scores: Any, truth: Any, propensity: Any = None):
    """P@k and nDCG@k (and PSP@k with propensities) for k = 1..5."""
    from ..metrics import multilabel_metrics

    metrics = multilabel_metrics(np.asarray(scores, dtype=np.float64), truth, ks=_KS, propensity=propensity)
    fig = _figure(7.0, 4.5)
    ax = fig.add_subplot()
    names = ["P", "nDCG"] + (["PSP"] if propensity is not None else [])
    for name in names:
        values = [metrics[f"{name}@{k}"] for k in _KS]
        ax.plot(_KS, values, marker="o", label=f"{name}@k")
    ax.set_xticks(_KS)
    ax.set_ylim(0.0, 1.05)
    ax.set(xlabel="k", ylabel="value", title=f"Ranking metrics on the test split ({np.shape(scores)[0]} documents)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
