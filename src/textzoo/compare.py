"""``textzoo compare``: train several models on one corpus and write their leaderboard.

    textzoo compare linear textgcn bert --dataset R8 --out compare/r8
    textzoo compare --train mine.csv --test mine_test.csv --budget 600     # every model that applies

Each model trains as ``textzoo train`` would (same defaults, the paper's per-dataset settings, the
test metrics and the plots) into ``OUT/MODEL``. The models are, by default, every registered model
that applies to the corpus (its ``tasks``: single- or multi-label), ``linear`` first: the baseline
the others should beat.

* **Resumable**: a finished run in ``OUT/MODEL`` with the same settings and corpus is kept (not
  trained again); an interrupted one continues from its checkpoints (models that write them), so the
  same command run again completes the comparison. A finished run with *other* settings or corpus
  is not replaced: that model fails in one line naming ``--overwrite``, which retrains it.
* **Time budget** (``--budget SECONDS``, per model): every epoch loop of the model stops at the
  first epoch end past the budget (:func:`textzoo.training.loop.time_budget`; the learning-rate
  schedule is not shortened); the run records it (``info.time_budget``), and the command and the
  leaderboard say which models it capped and after how many epochs.
* **Leaderboard**: ``OUT/leaderboard.md`` (the table of ``textzoo report``, with the papers'
  figures from each model class's ``published`` attribute where the corpus is theirs) and
  ``OUT/leaderboard.png`` (the main test score, accuracy or P@1, against the training time; the
  papers' figures as dotted lines). A model that fails (e.g. a backbone not available offline) is
  reported in one line and left out; the others go on.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Sequence

log = logging.getLogger(__name__)

FIRST = "linear"


def add_parser(sub) -> None:
    """Register ``textzoo compare`` on the CLI's sub-command parsers."""
    from .cli import _add_corpus_options, _float_at_least

    p = sub.add_parser("compare", help="train several models on one corpus and write their leaderboard",
                       description="Train several models on one corpus and write their leaderboard (Markdown "
                       "+ PNG). Default models: every registered model that applies to the corpus (single- or "
                       "multi-label), linear first. Finished runs in OUT are kept and interrupted ones resumed, "
                       "so the same command can be run again.",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="examples:\n  textzoo compare linear textgcn bert --dataset R8 --out compare/r8\n"
                       "  textzoo compare --dataset reuters21578 --budget 3600\n"
                       "  textzoo compare linear textgcn --dataset mr --set textgcn:hidden=100")
    p.add_argument("models", nargs="*", metavar="MODEL",
                   help="registered model names (default: every model that applies to the corpus, linear first)")
    _add_corpus_options(p)
    p.add_argument("--out", metavar="DIR", help="folder of the runs and the leaderboard (default compare/DATASET)")
    p.add_argument("--budget", metavar="SECONDS", type=_float_at_least(0), default=None,
                   help="training time per model: its epochs stop at the first epoch end past it (and "
                   "the leaderboard says so); default: no limit")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a finished run in OUT/MODEL trained with other settings or data "
                   "(without it that model fails with a one-line message and the others go on)")
    p.add_argument("--set", metavar="MODEL:KEY=VALUE", action="append", default=[], dest="overrides",
                   help="override one config value of one model (repeatable), e.g. --set bert:epochs=1")
    p.set_defaults(func=cmd_compare)


def default_models(multilabel: bool) -> list[str]:
    """Every registered model that applies to a single- or multi-label corpus, ``linear`` first."""
    from .models.registry import available_models, model_class

    task = "multi-label" if multilabel else "single-label"
    names = [n for n in available_models() if task in model_class(n).tasks]
    return sorted(names, key=lambda n: (n != FIRST, n))


def split_overrides(items: Sequence[str], models: Sequence[str]) -> dict[str, list[str]]:
    """``["bert:epochs=1", ...]`` -> ``{"bert": ["epochs=1"], ...}``; a ConfigError for an item that
    names no model of the comparison."""
    from .errors import ConfigError

    out: dict[str, list[str]] = {m: [] for m in models}
    for item in items:
        name, sep, rest = item.partition(":")
        if not sep or name.lower() not in out:
            raise ConfigError(f"--set {item!r}: expected MODEL:KEY=VALUE with MODEL one of {', '.join(models)}")
        out[name.lower()].append(rest)
    return out


def cmd_compare(args) -> int:
    from .cli import _load_corpus
    from .errors import TextzooError

    corpus = _load_corpus(args)
    models = [m.lower() for m in args.models] or default_models(corpus.multilabel)
    overrides = split_overrides(args.overrides, models)
    out = Path(args.out or f"compare/{corpus.name}".lower())
    s = corpus.summary()
    print(f"comparing {', '.join(models)} on {corpus.name}: {s['train']} train / {s['valid']} valid / "
          f"{s['test']} test documents, {s['labels']} labels" +
          (f"; budget {args.budget:g} s per model" if args.budget is not None else ""), file=sys.stderr)
    runs, notes = [], []
    for name in models:
        try:
            status, run = train_one(name, corpus, out / name, overrides[name], args.budget, args.seed,
                                    args.overwrite)
        except TextzooError as exc:
            notes.append(f"{name}: failed ({exc})")
            print(f"{name}: failed: {exc}", file=sys.stderr)
            continue
        runs.append(run)
        print(f"{name}: {status}", file=sys.stderr)
        if "capped" in status:
            notes.append(f"{name}: {status}")
    if not runs:
        from .errors import ConfigError

        raise ConfigError("no model finished; see the messages above")
    md, png = write_leaderboard(runs, out, notes)
    print(md.read_text(encoding="utf-8"))
    print(f"wrote {md} and {png}", file=sys.stderr)
    return 0


def train_one(name: str, corpus, out: Path, overrides: list[str], budget: float | None,
              seed: int | None, overwrite: bool = False) -> tuple[str, Path]:
    """Train ``name`` on ``corpus`` into ``out`` as ``textzoo train`` does (:func:`textzoo.runs.train`):
    a finished run of the same settings and data is kept, an interrupted one resumed; ``(what
    happened, out)``."""
    from .config import parse_overrides
    from .models.registry import model_class
    from .runs import train

    result = train(name, corpus, out, overrides=parse_overrides(overrides), seed=seed,
                   resume=model_class(name).supports_checkpoints, keep_finished=True, overwrite=overwrite,
                   time_budget=budget)
    if result.already_finished:
        return "kept the finished run in " + str(out), out
    info = result.model.info
    status = f"trained in {info['train_seconds']:.1f} s"
    stops = info.get("time_budget", {}).get("stopped", [])
    if stops:
        status += "; capped by the time budget: " + ", ".join(
            f"{s['description']} stopped after epoch {s['epoch']} of {s['epochs']}" for s in stops)
    return status, out


def write_leaderboard(runs: Sequence[Path], out: Path, notes: Sequence[str] = ()) -> tuple[Path, Path]:
    """``OUT/leaderboard.md`` and ``OUT/leaderboard.png`` of the run folders ``runs``."""
    from ._io import atomic_write_text
    from .report.leaderboard import leaderboard_markdown, summarize_run
    from .report.plots import _save

    rows = [summarize_run(Path(r)) for r in runs]
    png = _save(score_time_figure(rows), out / "leaderboard.png")
    text = leaderboard_markdown(rows, png.name)
    if notes:
        text += "\nNotes:\n\n" + "".join(f"- {n}\n" for n in notes)
    md = out / "leaderboard.md"
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(md, text)
    return md, png


def score_time_figure(rows):
    """Each run's main test score (accuracy or P@1, %) against its training time (log scale); the
    papers' figures as dotted horizontal lines in the run's colour."""
    from .report.plots import _figure

    fig = _figure(7.0, 4.5)
    ax = fig.add_subplot(1, 1, 1)
    colours = [f"C{i % 10}" for i in range(len(rows))]
    for r, colour in zip(rows, colours):
        if r.score is None or r.train_seconds is None:
            continue
        ax.scatter([max(r.train_seconds, 0.01)], [r.score], color=colour, s=40, label=r.model, zorder=3)
        ax.annotate(f"{r.model} {r.score:.2f}", (max(r.train_seconds, 0.01), r.score), fontsize=8,
                    xytext=(4, 4), textcoords="offset points")
        if r.published is not None:
            ax.axhline(r.published, color=colour, linestyle=":", linewidth=1, label=f"{r.model} (paper)")
    ax.set_xscale("log")
    metric = rows[0].metric if rows else "accuracy"
    ax.set_xlabel("training time (s, log scale)")
    ax.set_ylabel(f"test {metric} (%)")
    datasets = sorted({r.dataset for r in rows})
    ax.set_title(f"{', '.join(datasets)}: test {metric} against training time")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    fig.tight_layout()
    return fig
