"""Training interrupted after checkpoints and resumed: an exception raised right after a checkpoint
is written stands in for a kill at that moment."""

from __future__ import annotations

from typing import Any, Callable

from textzoo.training import checkpoint as ckpt


class Killed(Exception):
    """The stand-in for a kill."""


def run_with_interruptions(monkeypatch, run: Callable[[bool], Any], every: int,
                           on_kill: Callable[[], None] | None = None) -> tuple[Any, int]:
    """``(result, resumes)``: ``run(resume)`` until it returns, where every ``every``-th checkpoint
    written raises :class:`Killed` right after it is saved (then ``on_kill()``, and ``run(True)``)."""
    real_save, calls = ckpt.save_checkpoint, {"n": 0}

    def save_then_die(*args, **kw):
        real_save(*args, **kw)
        calls["n"] += 1
        if calls["n"] % every == 0:
            raise Killed

    monkeypatch.setattr(ckpt, "save_checkpoint", save_then_die)
    resumes = 0
    while True:
        try:
            result = run(resumes > 0)
        except Killed:
            resumes += 1
            if on_kill is not None:
                on_kill()
            continue
        monkeypatch.setattr(ckpt, "save_checkpoint", real_save)
        return result, resumes


def fit_with_interruptions(monkeypatch, make_model: Callable, fit: Callable, every: int):
    """``(model, resumes)``: ``fit(model, resume)`` on a fresh ``make_model()`` until a fit finishes,
    interrupted as :func:`run_with_interruptions` says."""

    def run(resume: bool):
        model = make_model()
        fit(model, resume)
        return model

    return run_with_interruptions(monkeypatch, run, every)


def without_seconds(history: list[dict]) -> list[dict]:
    """History rows without their timings (which differ between runs)."""
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]
