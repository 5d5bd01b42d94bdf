"""The loop's callbacks on tiny fakes: early stopping (patience, improvement resets it, ties, NaN), the stop check
(poll interval on a fake clock, the first reason kept) and the metrics recorder's flushes (what is written,
in which order, the final flush when fit ends).

`EarlyStopping(monitor, patience, mode)` owns its monitor and mode (as Lightning's callback does) and tracks
its own best epoch; with the task's monitor it stops exactly where the loop's best epoch says.
"""
from __future__ import annotations

import math
import time
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from core.errors import UserError
from core.train.callbacks import EarlyStopping, MetricsRecorder, StopCheck
from core.train.loop import Callback, LoopState, fit

NAN = math.nan
WALL_TIME = 1_700_000_000.0


class FakeTask:
    """Duck-typed task: `steps` steps per epoch with loss = step number, and one validation dict per epoch."""

    def __init__(self, val: list[dict[str, float]], steps: int = 2, monitor: str = "val_loss",
                 mode: str = "min") -> None:
        self.val, self.steps, self.monitor, self.monitor_mode = val, steps, monitor, mode
        self.config = SimpleNamespace(epochs=len(val))
        self.epochs_done = 0

    steps_per_epoch = property(lambda self: self.steps)
    images_per_step = 4

    def train_batches(self, epoch: int, start_step: int = 0):
        yield from range(start_step, self.steps)

    def train_step(self, batch: int) -> dict[str, Any]:
        return {"loss": torch.tensor(float(batch)), "lr": 0.1}

    def evaluate(self, split: str) -> dict[str, float]:
        return dict(self.val[self.epochs_done])

    def end_epoch(self, val_metrics: dict[str, float]) -> None:
        self.epochs_done += 1


class ListSink:
    """The recorder's sink as a list of ("events", [...]) and ("progress", {...}) calls, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def write_events(self, events: list[dict[str, Any]]) -> None:
        self.calls.append(("events", events))

    def progress(self, **fields: Any) -> None:
        self.calls.append(("progress", fields))

    def events(self) -> list[dict[str, Any]]:
        return [event for kind, events in self.calls if kind == "events" for event in events]


class Clock:
    """A fake `time.perf_counter`: returns the next of `times`, then keeps returning the last."""

    def __init__(self, times: list[float]) -> None:
        self.times = list(times)

    def __call__(self) -> float:
        return self.times.pop(0) if len(self.times) > 1 else self.times[0]


def losses(*values: float) -> list[dict[str, float]]:
    return [{"val_loss": value} for value in values]


# (patience, validation metrics per epoch, monitor, mode, epochs trained, best epoch, stop reason)
TEST_CASES_EARLY_STOPPING = [
    # patience 0 stops after the first epoch whatever comes (today's rule; configs require patience >= 1)
    (0, losses(1.0, 0.9, 0.8), "val_loss", "min", 1, 1, "early_stopping"),
    (1, losses(1.0, 0.9, 0.95, 0.8), "val_loss", "min", 3, 2, "early_stopping"),
    (2, losses(1.0, 0.9, 0.95, 0.8), "val_loss", "min", 4, 4, None),                 # improved in time
    (2, losses(1.0, 1.1, 1.2, 0.5, 0.4), "val_loss", "min", 3, 1, "early_stopping"),
    (2, losses(1.0, 1.1, 0.9, 1.0, 1.1, 1.2), "val_loss", "min", 5, 3, "early_stopping"),  # epoch 3 resets it
    (1, losses(1.0, 1.0, 1.0), "val_loss", "min", 2, 1, "early_stopping"),            # a tie is no improvement
    (1, losses(NAN, NAN, 1.0, 2.0), "val_loss", "min", 4, 3, "early_stopping"),        # no best yet: no stop
    (1, [{"val_accuracy": 0.8, "val_loss": 0.5}, {"val_accuracy": 0.8, "val_loss": 0.4},
         {"val_accuracy": 0.8, "val_loss": 0.45}], "val_accuracy", "max", 3, 2, "early_stopping"),  # tie to lower loss
    (1, [{"val_accuracy": 0.6}, {"val_accuracy": 0.7}, {"val_accuracy": 0.9}], "val_accuracy", "max", 3, 3, None),
]


@pytest.mark.parametrize("patience,val,monitor,mode,epochs,best_epoch,reason", TEST_CASES_EARLY_STOPPING)
def test_early_stopping(patience: int, val: list[dict[str, float]], monitor: str, mode: str, epochs: int,
                        best_epoch: int | None, reason: str | None) -> None:
    state = fit(FakeTask(val, monitor=monitor, mode=mode), LoopState(), [EarlyStopping(monitor, patience, mode)])
    assert (state.epoch, state.best_epoch, state.stop_reason) == (epochs, best_epoch, reason)
    assert len(state.history) == epochs


def test_early_stopping_waits_for_a_best_epoch() -> None:
    stopper, state = EarlyStopping("val_loss", 1), LoopState(epoch=1)
    stopper.on_epoch_end(None, state, {"epoch": 1, "val_loss": NAN}, False)
    assert state.stop_reason is None                      # no best epoch yet: nothing to be patient about
    state.epoch = 2
    stopper.on_epoch_end(None, state, {"epoch": 2, "val_loss": 0.5}, False)
    assert state.stop_reason is None and stopper.best.best_epoch == 2
    state.epoch = 3
    stopper.on_epoch_end(None, state, {"epoch": 3, "val_loss": 0.6}, False)
    assert state.stop_reason == "early_stopping"


def test_early_stopping_owns_its_monitor_apart_from_the_task_s() -> None:
    """The task picks its best epoch by accuracy; the callback stops on validation loss."""
    val = [{"val_accuracy": 0.5, "val_loss": 1.0}, {"val_accuracy": 0.6, "val_loss": 1.1},
           {"val_accuracy": 0.7, "val_loss": 1.2}, {"val_accuracy": 0.8, "val_loss": 1.3}]
    state = fit(FakeTask(val, monitor="val_accuracy", mode="max"), LoopState(), [EarlyStopping("val_loss", 2)])
    assert (state.epoch, state.best_epoch, state.stop_reason) == (3, 3, "early_stopping")


def test_early_stopping_picks_up_its_best_from_the_history_of_a_resumed_run() -> None:
    history = [{"epoch": 1, "val_loss": 0.5}, {"epoch": 2, "val_loss": 0.7}]
    state = LoopState(epoch=2, best_epoch=1, best_value=0.5, best_loss=0.5, history=list(history))
    stopper = EarlyStopping("val_loss", 2)
    stopper.on_fit_start(None, state)
    assert stopper.best.best_epoch == 1
    state.epoch = 3
    stopper.on_epoch_end(None, state, {"epoch": 3, "val_loss": 0.6}, False)
    assert state.stop_reason == "early_stopping"          # as if it had never stopped


def test_a_missing_monitor_is_one_sentence_naming_the_metrics_that_exist() -> None:
    with pytest.raises(UserError, match=r"^Early stopping watches 'val_auc', which this task does not report; "
                                        r"its validation metrics are: val_accuracy, val_loss\.$"):
        EarlyStopping("val_auc", 1, "max").on_epoch_end(None, LoopState(epoch=1), {"epoch": 1, "val_loss": 0.5,
                                                                                    "val_accuracy": 0.9}, False)


def test_early_stopping_mode_is_min_or_max() -> None:
    with pytest.raises(ValueError):
        EarlyStopping("val_loss", 1, "lowest")


# (interval, clock readings at each step, answers of poll in call order, expected polls, expected reason)
TEST_CASES_STOP_CHECK = [
    (0.5, [10.0, 10.2, 10.49, 10.5, 10.9, 11.0], [None, None, None], 3, None),   # polls at 10.0, 10.5, 11.0
    (0.5, [10.0, 10.1, 10.2], [None], 1, None),                                  # within the interval: once
    (0.0, [10.0, 10.0, 10.0], [None, None, None], 3, None),                      # interval 0: every step
    (2.0, [10.0, 11.0, 12.0, 13.0, 14.0], [None, None, None], 3, None),          # 10, 12, 14
    (0.5, [10.0, 10.5, 11.0, 11.5], [None, "stopped"], 2, "stopped"),            # set: never asked again
    (0.5, [10.0, 10.5, 11.0], ["interrupted", "stopped"], 1, "interrupted"),     # the first reason is kept
]


@pytest.mark.parametrize("interval,times,answers,polls,reason", TEST_CASES_STOP_CHECK)
def test_stop_check_polls_at_most_every_interval_and_keeps_the_first_reason(
        monkeypatch, interval: float, times: list[float], answers: list[str | None], polls: int,
        reason: str | None) -> None:
    monkeypatch.setattr(time, "perf_counter", Clock(times))
    asked: list[int] = []

    def poll() -> str | None:
        asked.append(len(asked))
        return answers[len(asked) - 1]

    check, state = StopCheck(poll, interval), LoopState()
    for _ in times:
        check.on_step_end(None, state, {})
    assert (len(asked), state.stop_reason) == (polls, reason)


def test_stop_check_keeps_a_reason_set_by_another_callback(monkeypatch) -> None:
    monkeypatch.setattr(time, "perf_counter", Clock([10.0, 11.0]))
    state = LoopState(stop_reason="early_stopping")
    StopCheck(lambda: "stopped", 0.5).on_step_end(None, state, {})
    assert state.stop_reason == "early_stopping"


def _step_events(*rows: tuple[int, int, int, float]) -> list[dict[str, Any]]:
    return [{"kind": "step", "epoch": epoch, "step": step, "global_step": global_step, "loss": loss, "lr": 0.1}
            for epoch, step, global_step, loss in rows]


def test_recorder_holds_steps_until_the_interval_then_writes_them_in_order(monkeypatch) -> None:
    # fit start at 0.0; steps at 0.2, 0.4 (held), 1.0 (flush of all three), 1.5 (held)
    monkeypatch.setattr(time, "perf_counter", Clock([0.0, 0.2, 0.4, 1.0, 1.0, 1.5]))
    sink, task = ListSink(), FakeTask(losses(1.0), steps=5)
    recorder, state = MetricsRecorder(sink, interval=1.0), LoopState()
    recorder.on_fit_start(task, state)
    assert sink.calls == [("progress", {"epoch": 0, "step": 0, "epochs": 1, "steps_per_epoch": 5,
                                        "phase": "training"})]
    for step in range(4):
        state.step, state.global_step = step + 1, step + 1
        recorder.on_step_end(task, state, {"loss": torch.tensor(float(step)), "lr": 0.1})
        if step < 2:
            assert len(sink.calls) == 1                     # nothing written within the interval
    assert sink.calls[1] == ("events", _step_events((1, 1, 1, 0.0), (1, 2, 2, 1.0), (1, 3, 3, 2.0)))
    # 12 images in 1 s; 2 steps of 1/3 s left, then the report's pass over the training images (5 steps' worth at a
    # third of a step each): 11/9 s; ±50 % after one window, and more above: no validation timed yet
    assert sink.calls[2] == ("progress", {"epoch": 0, "step": 3, "images_per_s": 12.0, "eta_s": pytest.approx(11 / 9),
                                          "eta_low_s": pytest.approx(11 / 18), "eta_high_s": pytest.approx(22 / 9)})
    assert len(sink.calls) == 3 and len(recorder.pending) == 1  # the 4th step waits


def test_recorder_names_the_validation_pass_and_times_it_apart_from_the_steps(monkeypatch) -> None:
    # two epochs of 2 steps, 1 s each; the validation pass after each takes 5 s
    # the clock as read by: fit start, the loop's epoch start, step 1, step 2 (the last: a flush), the loop's epoch
    # time, the epoch's end; then the same for the second epoch
    times = [0.0, 0.0, 1.0, 2.0, 7.0, 7.0, 7.0, 8.0, 9.0, 14.0, 14.0]
    monkeypatch.setattr(time, "perf_counter", Clock(times))
    sink = ListSink()
    recorder = MetricsRecorder(sink, interval=60.0)
    fit(FakeTask(losses(1.0, 0.5), steps=2), LoopState(), [recorder])
    phases = [fields["phase"] for kind, fields in sink.calls if kind == "progress" and "phase" in fields]
    assert phases == ["training", "evaluating the validation split", "training", "evaluating the validation split"]
    assert recorder.eta.step_s == pytest.approx(1.0) and recorder.eta.eval_s == pytest.approx(5.0)
    first_epoch_end = [f for kind, f in sink.calls if kind == "progress" and f.get("best_epoch") == 1][0]
    # 2 steps and a validation left, then the test split and the report (3 validations' worth and 2 steps / 3)
    assert first_epoch_end["eta_s"] == pytest.approx(2 * 1.0 + 5.0 + 3 * 5.0 + 2 / 3)


def test_recorder_writes_held_steps_before_the_epoch_event(monkeypatch) -> None:
    monkeypatch.setattr(time, "perf_counter", Clock([0.0]))  # the clock stands still: no timed flush
    monkeypatch.setattr(time, "time", lambda: WALL_TIME)
    sink = ListSink()
    state = fit(FakeTask(losses(1.0, 0.5), steps=2), LoopState(), [MetricsRecorder(sink, interval=60.0)])
    assert state.epoch == 2
    kinds = [(event["kind"], event["epoch"]) for event in sink.events()]
    assert kinds == [("step", 1), ("step", 1), ("epoch", 1), ("step", 2), ("step", 2), ("epoch", 2)]
    epochs = [event for event in sink.events() if event["kind"] == "epoch"]
    assert [(e["val_loss"], e["best"], e["train_loss"], e["time"]) for e in epochs] == \
        [(1.0, True, 0.5, WALL_TIME), (0.5, True, 0.5, WALL_TIME)]
    assert sink.calls[-1] == ("progress", {"epoch": 2, "step": 0, "best_value": 0.5, "best_epoch": 2})


class StopAfter(Callback):
    """Asks to stop after `steps` steps, as a stop request mid-epoch does."""

    def __init__(self, steps: int) -> None:
        self.steps = steps

    def on_step_end(self, task: Any, state: LoopState, metrics: dict[str, Any]) -> None:
        if state.global_step >= self.steps:
            state.stop_reason = "stopped"


def test_recorder_flushes_held_steps_when_fit_ends_mid_epoch(monkeypatch) -> None:
    monkeypatch.setattr(time, "perf_counter", Clock([0.0]))
    sink = ListSink()
    state = fit(FakeTask(losses(1.0, 0.5), steps=4), LoopState(),
                [MetricsRecorder(sink, interval=60.0), StopAfter(3)])
    assert (state.stop_reason, state.epoch, state.step) == ("stopped", 0, 3)
    assert sink.events() == _step_events((1, 1, 1, 0.0), (1, 2, 2, 1.0), (1, 3, 3, 2.0))  # no epoch event


# --- extra step metrics and the preview grid ---------------------------------------------------------------
class GanLikeTask(FakeTask):
    """A step that returns more than loss and lr, as a GAN's does (d_loss, d_real, d_fake)."""

    def train_step(self, batch: int) -> dict[str, Any]:
        return {"loss": torch.tensor(float(batch)), "lr": 0.1, "d_loss": torch.tensor(2.0 * batch), "d_real": 0.75}


def test_recorder_keeps_every_scalar_a_step_returns() -> None:
    sink = ListSink()
    fit(GanLikeTask(losses(1.0), steps=2), LoopState(), [MetricsRecorder(sink, interval=60.0)])
    steps = [e for kind, events in sink.calls if kind == "events" for e in events if e["kind"] == "step"]
    assert [(s["loss"], s["d_loss"], s["d_real"]) for s in steps] == [(0.0, 0.0, 0.75), (1.0, 2.0, 0.75)]


class PreviewTask(FakeTask):
    """Previews a 2-image grid whose brightness is the number of epochs done."""

    def preview(self) -> torch.Tensor:
        return torch.full((2, 1, 4, 4), self.epochs_done / 4)

    def preview_columns(self) -> int:
        return 2


def test_preview_saver_keeps_the_untrained_grid_and_one_per_epoch(tmp_path) -> None:
    from PIL import Image

    from core.train.callbacks import PreviewSaver
    from core.train.run_folder import preview_grids

    fit(PreviewTask(losses(1.0, 0.5, 0.4), steps=1), LoopState(), [PreviewSaver(tmp_path)])
    grids = preview_grids(tmp_path)
    assert list(grids) == [0, 1, 2, 3]
    pixels = [Image.open(grids[epoch]) for epoch in grids]
    assert pixels[0].size == (2 * 4 + 3 * 2, 4 + 2 * 2)  # two 4 px images side by side with 2 px padding
    assert [p.getpixel((3, 3)) for p in pixels] == [0, 64, 128, 191]  # epoch e's grid is e/4 grey
    assert not list(tmp_path.glob("samples/.*"))  # no temporary file left behind


def test_preview_saver_does_not_redraw_the_untrained_grid_on_resume(tmp_path) -> None:
    from core.train.callbacks import PreviewSaver
    from core.train.run_folder import preview_grid_path

    fit(PreviewTask(losses(1.0), steps=1), LoopState(), [PreviewSaver(tmp_path)])
    before = preview_grid_path(tmp_path, 0).read_bytes()
    task = PreviewTask(losses(1.0, 0.5), steps=1)
    task.epochs_done = 1  # a resumed task whose preview is no longer the untrained one
    fit(task, LoopState(epoch=1), [PreviewSaver(tmp_path)])
    assert preview_grid_path(tmp_path, 0).read_bytes() == before


def test_tasks_without_a_preview_write_no_grid(tmp_path) -> None:
    from core.train.callbacks import PreviewSaver
    from core.train.contract import Task

    task = FakeTask(losses(1.0), steps=1)
    task.preview, task.preview_columns = (lambda: Task.preview(task)), (lambda: 4)
    fit(task, LoopState(), [PreviewSaver(tmp_path)])
    assert not (tmp_path / "samples").exists()
