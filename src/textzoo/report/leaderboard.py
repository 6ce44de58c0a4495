"""``textzoo report``: a Markdown leaderboard of saved runs, with a bar chart, beside the papers' numbers.

One row per run folder: model, dataset, the main test metric (accuracy for single-label runs, P@1
for multi-label ones), the paper's published figure for that model and dataset when there is one
(the model class's ``published`` attribute, :func:`published_entry`), the other test metrics, the training time (``info.train_seconds``: the whole
``fit``, graph building included) and the peak memory of training (``info.peak_rss_mb``, recorded
by :mod:`textzoo.training.memory`; ``-`` for runs saved before it was recorded). Rows are grouped by
dataset, best first. The chart puts each run's score next to the published one.

Reads only ``config.json`` and ``metrics.json`` of each run (no weights are loaded).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from .._io import atomic_write_text
from ..errors import ModelFileError

_DATASET_KEYS = {"r8": "r8", "r52": "r52", "mr": "mr", "20ng": "20ng", "20newsgroups": "20ng"}
_DATASET_NAMES = {"r8": "R8", "r52": "R52", "mr": "MR", "20ng": "20NG"}


@dataclass
class RunSummary:
    """What the leaderboard shows of one run folder."""

    path: Path
    model: str
    dataset: str
    multilabel: bool
    metric: str                      # "accuracy" or "P@1"
    score: float | None              # in %, test split
    published: float | None          # in %, the paper's
    others: dict[str, float] = field(default_factory=dict)   # further test metrics, in %
    train_seconds: float | None = None
    peak_rss_mb: float | None = None
    peak_cuda_mb: float | None = None

    @property
    def name(self) -> str:
        return f"{self.model} / {self.dataset}"


def published_entry(model: str) -> dict[str, Any]:
    """The ``published`` attribute of the model class registered as ``model`` ({} if none or unknown)."""
    from ..errors import ConfigError
    from ..models.registry import model_class

    try:
        return dict(model_class(model).published)
    except ConfigError:
        return {}


def published_score(model: str, dataset: str) -> float | None:
    """The paper's test accuracy (%) for ``model`` on ``dataset``, or None."""
    key = _DATASET_KEYS.get(dataset.lower())
    return None if key is None else published_entry(model).get("accuracy", {}).get(key)


def find_runs(paths: Iterable[str | Path]) -> list[Path]:
    """Run folders among ``paths``: each path is a run folder, or a folder whose sub-folders are."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if (path / "config.json").is_file():
            found.append(path)
        elif path.is_dir():
            subs = sorted(p for p in path.iterdir() if p.is_dir() and (p / "config.json").is_file())
            if not subs:
                raise ModelFileError(f"{path}: neither a run folder (no config.json) nor a folder of runs")
            found.extend(subs)
        else:
            raise ModelFileError(f"{path}: no such run folder")
    return found


def summarize_run(path: Path) -> RunSummary:
    """The leaderboard row of the run folder ``path`` (checked like ``textzoo.load`` checks it)."""
    from ..models.base import METRICS_FILE, _read_json, read_run_config

    meta = read_run_config(path)
    info = meta.get("info", {})
    metrics = _read_json(path / METRICS_FILE) if (path / METRICS_FILE).exists() else {}
    if not isinstance(metrics, dict):
        raise ModelFileError(f"{path / METRICS_FILE}: expected a JSON object")
    test = metrics.get("test", {})
    if not isinstance(test, dict):
        raise ModelFileError(f"{path / METRICS_FILE}: 'test' must be a JSON object of metrics")
    multilabel = bool(meta.get("multilabel", False))
    metric = "P@1" if multilabel else "accuracy"
    numbers = {k: 100.0 * float(v) for k, v in test.items()
               if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}
    dataset = str(info.get("dataset", "?"))
    return RunSummary(
        path=path, model=meta["model"], dataset=_DATASET_NAMES.get(dataset.lower(), dataset),
        multilabel=multilabel, metric=metric, score=numbers.pop(metric, None),
        published=None if multilabel else published_score(meta["model"], dataset),
        others=numbers, train_seconds=_number(info.get("train_seconds")),
        peak_rss_mb=_number(info.get("peak_rss_mb")), peak_cuda_mb=_number(info.get("peak_cuda_mb")))


def ranked(rows: Sequence[RunSummary]) -> list[RunSummary]:
    """Grouped by dataset, best score first, then by model name."""
    return sorted(rows, key=lambda r: (r.dataset.lower(), -(r.score if r.score is not None else -1), r.model))


def leaderboard_markdown(rows: Sequence[RunSummary], chart: str | None = None) -> str:
    """The Markdown report: one table of all runs, the chart and the sources of the published numbers."""
    ordered = ranked(rows)
    lines = ["# textzoo leaderboard", "",
             "Test-split scores in %. *paper*: the published test accuracy for the same model and "
             "dataset (sources below); *train time*: the whole `fit` (graph building included); "
             "*peak memory*: peak resident memory of the training process during `fit` "
             "(and of the GPU, when one was used).", "",
             "| model | dataset | metric | ours | paper | ours − paper | other metrics | train time | peak memory | run |",
             "|---|---|---|---:|---:|---:|---|---:|---:|---|"]
    for r in ordered:
        delta = f"{r.score - r.published:+.2f}" if r.score is not None and r.published is not None else "-"
        others = ", ".join(f"{k} {v:.2f}" for k, v in sorted(r.others.items()) if k in _SHOWN) or "-"
        memory = "-" if r.peak_rss_mb is None else f"{r.peak_rss_mb:,.0f} MB"
        if r.peak_cuda_mb is not None:
            memory += f" (GPU {r.peak_cuda_mb:,.0f} MB)"
        lines.append(f"| {r.model} | {r.dataset} | {r.metric} | {_fmt(r.score)} | {_fmt(r.published)} | {delta} "
                     f"| {others} | {_duration(r.train_seconds)} | {memory} | `{r.path.name}` |")
    if chart:
        lines += ["", f"![scores against the published ones]({chart})"]
    entries = [published_entry(m) for m in sorted({r.model for r in rows if r.published is not None})]
    sources = sorted({e["source"] for e in entries})
    if sources:
        lines += ["", "Published numbers:", ""] + [f"- {s}" for s in sources]
        lines += [f"- {e['note']}" for e in entries if e.get("note")]
    return "\n".join(lines) + "\n"


_SHOWN = {"macro_f1", "micro_f1", "P@3", "P@5", "nDCG@3", "nDCG@5", "PSP@1", "PSP@3", "PSP@5"}


def leaderboard_figure(rows: Sequence[RunSummary]):
    """Horizontal bars: each run's score, and the published score beside it where there is one."""
    import numpy as np

    from .plots import _figure

    rows = [r for r in ranked(rows) if r.score is not None]
    names = [f"{r.name} ({r.path.name})" for r in rows]
    height = max(2.5, 0.45 * len(rows) + 1.2)
    fig = _figure(8.0, height)
    ax = fig.add_subplot(1, 1, 1)
    y = np.arange(len(rows))
    ours = [r.score for r in rows]
    paper = [r.published if r.published is not None else 0.0 for r in rows]
    ax.barh(y - 0.2, ours, height=0.4, color="#1f77b4", label="textzoo")
    has_paper = [r.published is not None for r in rows]
    if any(has_paper):
        ax.barh((y + 0.2)[has_paper], np.array(paper)[has_paper], height=0.4, color="#ff7f0e", label="paper")
    for yi, value in zip(y, ours):
        ax.text(value + 0.5, yi - 0.2, f"{value:.2f}", va="center", fontsize=8)
    ax.set_yticks(y)
    ax.set_yticklabels(names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 110)
    ax.set_xlabel("test score (%): accuracy, or P@1 for multi-label runs")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    ax.set_title("textzoo runs against the published numbers")
    fig.tight_layout()
    return fig


def write_report(runs: Iterable[str | Path], out: str | Path) -> tuple[Path, Path | None, list[RunSummary]]:
    """Write the Markdown leaderboard to ``out`` and its chart beside it (``out`` with ``.png``).

    Returns ``(markdown path, chart path or None when no run has a score, rows)``.
    """
    from .plots import _save

    out = Path(out)
    rows = [summarize_run(p) for p in find_runs(runs)]
    if not rows:
        raise ModelFileError("no run folders to report")
    chart = None
    if any(r.score is not None for r in rows):
        chart = _save(leaderboard_figure(rows), out.with_suffix(".png"))
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, leaderboard_markdown(rows, chart.name if chart else None))
    return out, chart, rows


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"

