"""Early-stopping rules on a monitored value where lower is better (a validation loss)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Rule = Literal["code", "patience", "none"]


@dataclass
class EarlyStopping:
    """Decide after each epoch whether to stop.

    Rules:
      * ``"patience"``: stop when the value has not improved on its best for ``patience``
        consecutive epochs (the rule most papers state, e.g. TextGCN's Section 4.1 "stop training
        if the validation loss does not decrease for 10 consecutive epochs").
      * ``"code"``: TextGCN's released ``train.py``: after more than ``patience`` epochs, stop as soon
        as the current value is above the mean of the ``patience`` values before it.
      * ``"none"``: never stop early.
    """

    rule: Rule = "patience"
    patience: int = 10
    values: list[float] = field(default_factory=list)
    best: float = float("inf")
    best_epoch: int = -1
    bad_epochs: int = 0

    def update(self, value: float) -> bool:
        """Record this epoch's value; return True if training should stop now."""
        epoch = len(self.values)
        self.values.append(float(value))
        improved = value < self.best
        if improved:
            self.best, self.best_epoch, self.bad_epochs = float(value), epoch, 0
        else:
            self.bad_epochs += 1
        if self.rule == "patience":
            return self.bad_epochs >= self.patience
        if self.rule == "code":
            k = self.patience
            if epoch > k:
                previous = self.values[-(k + 1):-1]
                return self.values[-1] > sum(previous) / len(previous)
            return False
        return False

    @property
    def improved_last(self) -> bool:
        return self.best_epoch == len(self.values) - 1

    def state_dict(self) -> dict:
        return {"rule": self.rule, "patience": self.patience, "values": list(self.values),
                "best": self.best, "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: dict) -> None:
        for key, value in state.items():
            setattr(self, key, value)


@dataclass
class StoppingPerMember:
    """One :class:`EarlyStopping` per member of an ensemble trained in one loop (TensorGCN's
    ``graph_stopping=each``): :meth:`observe` feeds each still-training member its own value and
    marks the ones whose rule fires; :meth:`update` (what :class:`~textzoo.training.EpochLoop`
    calls) says to stop when every member has stopped. The model freezes a stopped member, so its
    weights stay those of its own stopping epoch."""

    rule: Rule = "code"
    patience: int = 10
    members: int = 1
    stoppers: list[EarlyStopping] = field(default_factory=list)
    stopped_at: list[int | None] = field(default_factory=list)  # 1-based epoch each member stopped

    def __post_init__(self):
        if not self.stoppers:
            self.stoppers = [EarlyStopping(self.rule, self.patience) for _ in range(self.members)]
            self.stopped_at = [None] * self.members

    def active(self) -> list[bool]:
        return [at is None for at in self.stopped_at]

    def observe(self, values: list[float], epoch: int) -> None:
        """This epoch's (1-based) value of every member; the stopped ones' values are ignored."""
        for k, value in enumerate(values):
            if self.stopped_at[k] is None and self.stoppers[k].update(value):
                self.stopped_at[k] = epoch

    def update(self, value: float) -> bool:
        return all(at is not None for at in self.stopped_at)

    improved_last = False  # keep-best is per member or not at all: the loop keeps no snapshot
    best_epoch = -1

    def state_dict(self) -> dict:
        return {"rule": self.rule, "patience": self.patience, "members": self.members,
                "stoppers": [s.state_dict() for s in self.stoppers], "stopped_at": list(self.stopped_at)}

    def load_state_dict(self, state: dict) -> None:
        self.rule, self.patience, self.members = state["rule"], state["patience"], state["members"]
        self.stoppers = [EarlyStopping() for _ in state["stoppers"]]
        for stopper, saved in zip(self.stoppers, state["stoppers"]):
            stopper.load_state_dict(saved)
        self.stopped_at = list(state["stopped_at"])
