"""Training interrupted after checkpoints and resumed: an exception raised right after a checkpoint
is written stands in for a kill at that moment."""

from __future__ import annotations

from typing import Callable

from textzoo.training import checkpoint as ckpt


class Killed(Exception):
    """The stand-in for a kill."""


def fit_with_interruptions(monkeypatch, make_model: Callable, fit: Callable, every: int):
    """``(model, resumes)``: ``fit(model, resume)`` on a fresh ``make_model()`` until a fit finishes,
    where every ``every``-th checkpoint written raises :class:`Killed` right after it is saved."""
    real_save, calls = ckpt.save_checkpoint, {"n": 0}

    def save_then_die(*args, **kw):
        real_save(*args, **kw)
        calls["n"] += 1
        if calls["n"] % every == 0:
            raise Killed

    monkeypatch.setattr(ckpt, "save_checkpoint", save_then_die)
    resumes = 0
    while True:
        model = make_model()
        try:
            fit(model, resumes > 0)
            return model, resumes
        except Killed:
            resumes += 1


def without_seconds(history: list[dict]) -> list[dict]:
    """History rows without their timings (which differ between runs)."""
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]
