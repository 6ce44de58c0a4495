"""Early-stopping rules and the epoch loop."""

import pytest

from textzoo.training import EarlyStopping, EpochLoop


def test_patience_rule_stops_after_k_epochs_without_improvement():
    stop = EarlyStopping("patience", patience=2)
    decisions = [stop.update(v) for v in [1.0, 0.9, 0.95, 0.92]]
    # best 0.9 at epoch 1; epochs 2 and 3 do not improve -> stop at the second of them
    assert decisions == [False, False, False, True]
    assert stop.best_epoch == 1


def test_code_rule_compares_with_mean_of_previous_window():
    # TextGCN train.py: epoch > k and cost[-1] > mean(cost[-(k+1):-1])
    stop = EarlyStopping("code", patience=3)
    values = [4.0, 3.0, 2.0, 1.0, 2.1]
    decisions = [stop.update(v) for v in values]
    # epoch 3 (value 1.0): mean(4,3,2)=3 -> 1.0 < 3, continue.
    # epoch 4 (value 2.1): mean(3,2,1)=2 -> 2.1 > 2, stop.
    assert decisions == [False, False, False, False, True]


def test_code_rule_does_not_stop_within_first_k_epochs():
    stop = EarlyStopping("code", patience=3)
    assert not any(stop.update(v) for v in [1.0, 5.0, 9.0])


def test_none_rule_never_stops():
    stop = EarlyStopping("none", patience=1)
    assert not any(stop.update(v) for v in [1, 2, 3, 4])


def test_loop_keeps_best_state_and_records_history():
    values = iter([3.0, 1.0, 2.0, 2.5, 2.7])
    state = {"w": 0}

    def train_epoch(epoch):
        state["w"] = epoch
        return {"loss": float(epoch)}

    loop = EpochLoop(epochs=5, train_epoch=train_epoch, validate=lambda e: {"val_loss": next(values)},
                     stopper=EarlyStopping("patience", 2), keep_best=True,
                     get_state=lambda: dict(state), set_state=lambda s: state.update(s), progress=False)
    history = loop.run()
    assert [row["epoch"] for row in history] == [1, 2, 3, 4]
    assert loop.stopped_epoch == 4
    assert state["w"] == 1  # restored the epoch with val_loss 1.0


def test_loop_refuses_non_finite_loss():
    loop = EpochLoop(epochs=3, train_epoch=lambda e: {}, validate=lambda e: {"val_loss": float("nan")},
                     stopper=EarlyStopping(), progress=False)
    with pytest.raises(FloatingPointError, match="learning rate"):
        loop.run()


def test_loop_validates_from_the_given_epoch():
    validated = []
    loop = EpochLoop(epochs=5, train_epoch=lambda e: {"loss": 1.0 / (e + 1)},
                     validate=lambda e: validated.append(e + 1) or {"val_loss": 0.5}, validate_from=3, progress=False)
    history = loop.run()
    assert validated == [3, 4, 5]
    assert ["val_loss" in row for row in history] == [False, False, True, True, True]
