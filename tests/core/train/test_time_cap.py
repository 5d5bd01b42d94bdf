"""The training-time cap (a workshop's minutes per run): training ends at the step or epoch where the time trained
passes the cap, a cap changed while training takes effect at the next step, and a resumed run's earlier epochs count."""
from __future__ import annotations

from core.train.callbacks import TimeCap
from core.train.loop import LoopState, fit
from tests.core.train.test_callbacks import FakeTask, losses


class Ticks:
    """A fake clock that advances `step` seconds every time it is read."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_training_ends_once_the_cap_is_passed():
    task = FakeTask(losses(5, 4, 3, 2, 1, 0), steps=10)
    state = fit(task, LoopState(), [TimeCap(lambda: 1.0, clock=Ticks(5.0))])  # 5 s per check, a 60 s cap
    assert state.stop_reason == "time_cap"
    # checks after each step and each epoch, 5 s apart: the 12th check (step 1 of epoch 2) reaches 60 s
    assert (state.epoch, state.step) == (1, 1)


def test_no_cap_trains_every_epoch():
    state = fit(FakeTask(losses(3, 2, 1), steps=4), LoopState(), [TimeCap(lambda: 0.0, clock=Ticks(100.0))])
    assert state.stop_reason is None and state.epoch == 3


def test_a_cap_lowered_while_training_takes_effect_at_the_next_step():
    caps = [0.0]
    clock = Ticks(1.0)
    cap = TimeCap(lambda: caps[0], clock=clock)
    state = LoopState()
    task = FakeTask(losses(1), steps=1)
    cap.on_fit_start(task, state)
    cap.on_step_end(task, state, {})
    assert state.stop_reason is None
    caps[0] = 0.5 / 60  # the teacher sets 0.5 s; 1 s has been trained by the next check
    cap.on_step_end(task, state, {})
    assert state.stop_reason == "time_cap"


def test_a_resumed_run_counts_the_epochs_it_trained_before():
    state = LoopState(epoch=2, history=[{"epoch": 1, "seconds": 40.0}, {"epoch": 2, "seconds": 15.0}])
    cap = TimeCap(lambda: 1.0, clock=Ticks(2.0))
    cap.on_fit_start(FakeTask(losses(1, 1, 1)), state)
    cap.on_step_end(FakeTask(losses(1, 1, 1)), state, {})  # 55 s + 2 s
    assert state.stop_reason is None
    cap.on_step_end(FakeTask(losses(1, 1, 1)), state, {})  # 55 s + 4 s
    assert state.stop_reason is None
    cap.on_step_end(FakeTask(losses(1, 1, 1)), state, {})  # 61 s
    assert state.stop_reason == "time_cap"
