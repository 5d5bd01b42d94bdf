"""The loop's callbacks: metrics and progress, checkpoints, early stopping and stop requests."""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import torch

from core.errors import UserError
from core.train.checkpoint import save_checkpoint, save_weights
from core.train.contract import Task
from core.train.loop import Callback, LoopState, improves
from core.train.run_folder import BEST_WEIGHTS, CHECKPOINT_FILE, LAST_WEIGHTS


class MetricsSink(Protocol):
    """Where metrics go: the run store for real runs, a list in tests and benchmarks."""

    def write_events(self, events: list[dict[str, Any]]) -> None: ...
    def progress(self, **fields: Any) -> None: ...


class MetricsRecorder(Callback):
    """Step metrics are kept on the device and written about once per `interval` seconds, so the loop does not
    wait on the GPU every step; epoch metrics are written at once. Also reports speed and time left."""

    def __init__(self, sink: MetricsSink, interval: float = 1.0) -> None:
        self.sink, self.interval = sink, interval
        self.pending: list[tuple[int, int, int, Any, float]] = []
        self.last_flush = 0.0
        self.window_start = 0.0
        self.window_images = 0

    def on_fit_start(self, task: Task, state: LoopState) -> None:
        self.last_flush = self.window_start = time.perf_counter()
        self.sink.progress(epoch=state.epoch, step=state.step, epochs=task.config.epochs,
                           steps_per_epoch=task.steps_per_epoch)

    def on_step_end(self, task: Task, state: LoopState, metrics: dict[str, Any]) -> None:
        self.pending.append((state.epoch, state.step, state.global_step, metrics["loss"], float(metrics["lr"])))
        self.window_images += task.images_per_step
        if time.perf_counter() - self.last_flush >= self.interval:
            self._flush(task, state)

    def on_epoch_end(self, task: Task, state: LoopState, metrics: dict[str, float], improved: bool) -> None:
        self._flush(task, state)
        self.sink.write_events([{"kind": "epoch", **metrics, "best": improved, "time": time.time()}])
        self.sink.progress(epoch=state.epoch, step=0, best_value=state.best_value, best_epoch=state.best_epoch)

    def on_fit_end(self, task: Task, state: LoopState) -> None:
        self._flush(task, state)

    def _flush(self, task: Task, state: LoopState) -> None:
        now = time.perf_counter()
        if self.pending:
            losses = torch.stack([torch.as_tensor(p[3]) for p in self.pending]).float().cpu().tolist()
            self.sink.write_events([
                {"kind": "step", "epoch": epoch + 1, "step": step, "global_step": global_step, "loss": loss, "lr": lr}
                for (epoch, step, global_step, _, lr), loss in zip(self.pending, losses)
            ])
            self.pending = []
        elapsed = now - self.window_start
        if elapsed > 0 and self.window_images:
            speed = self.window_images / elapsed
            steps_left = (task.config.epochs - state.epoch) * task.steps_per_epoch - state.step
            self.sink.progress(epoch=state.epoch, step=state.step, images_per_s=speed,
                               eta_s=steps_left * task.images_per_step / speed)
        self.last_flush = self.window_start = now
        self.window_images = 0


class Checkpointer(Callback):
    """After every epoch: the resumable checkpoint and the last weights, plus the best weights when the
    monitored metric improved. On a stop request mid-epoch: a checkpoint at that step."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def on_epoch_end(self, task: Task, state: LoopState, metrics: dict[str, float], improved: bool) -> None:
        weights = task.weights()
        save_weights(self.folder / LAST_WEIGHTS, weights)
        if improved or not (self.folder / BEST_WEIGHTS).exists():
            save_weights(self.folder / BEST_WEIGHTS, weights)
        save_checkpoint(self.folder / CHECKPOINT_FILE, task.state_dict(), state.as_dict())

    def on_interrupt(self, task: Task, state: LoopState) -> None:
        save_checkpoint(self.folder / CHECKPOINT_FILE, task.state_dict(), state.as_dict())


class EarlyStopping(Callback):
    """Stop when the validation metric `monitor` has not improved for `patience` epochs (as Lightning's
    EarlyStopping: the callback owns its monitor and mode). Improvement follows the loop's rule (`improves`: a
    tie goes to the lower validation loss). Its best is worked out again from the loop's history when training
    starts, so a resumed run stops where an uninterrupted one would.

    Raises UserError at the end of an epoch whose metrics lack `monitor`, naming the metrics that exist.
    """

    def __init__(self, monitor: str, patience: int, mode: str = "min") -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"EarlyStopping mode must be 'min' or 'max', not {mode!r}.")
        self.monitor, self.patience, self.mode = monitor, patience, mode
        self.best = LoopState()  # best_value, best_loss and best_epoch on this callback's monitor

    def on_fit_start(self, task: Task, state: LoopState) -> None:
        self.best = LoopState()
        for metrics in state.history:
            self._track(metrics)

    def on_epoch_end(self, task: Task, state: LoopState, metrics: dict[str, float], improved: bool) -> None:
        self._track(metrics)
        if self.best.best_epoch is not None and state.epoch - self.best.best_epoch >= self.patience:
            state.stop_reason = state.stop_reason or "early_stopping"

    def _track(self, metrics: dict[str, float]) -> None:
        if self.monitor not in metrics:
            present = ", ".join(sorted(name for name in metrics if name.startswith("val_"))) or "none"
            raise UserError(f"Early stopping watches '{self.monitor}', which this task does not report; "
                            f"its validation metrics are: {present}.")
        if improves(metrics, self.best, self.monitor, self.mode):
            self.best.best_value, self.best.best_loss = float(metrics[self.monitor]), metrics.get("val_loss")
            self.best.best_epoch = int(metrics["epoch"])


class StopCheck(Callback):
    """Ask `poll` (e.g. the run store's stop flag) at most every `interval` seconds whether to stop; it returns
    a reason ("stopped", "interrupted") or None."""

    def __init__(self, poll: Callable[[], str | None], interval: float = 0.5) -> None:
        self.poll, self.interval, self.last = poll, interval, 0.0

    def on_step_end(self, task: Task, state: LoopState, metrics: dict[str, Any]) -> None:
        now = time.perf_counter()
        if now - self.last >= self.interval:
            self.last = now
            state.stop_reason = state.stop_reason or self.poll()
