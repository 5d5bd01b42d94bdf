"""The generic training loop (in the spirit of minGPT's trainer): epochs of task steps, validation after each
epoch, and callbacks for everything else (metrics, checkpoints, early stopping, stop requests, progress)."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from core.train.contract import Task


@dataclass
class LoopState:
    """Where training is; saved in every checkpoint."""

    epoch: int = 0              # epochs completed
    step: int = 0               # steps completed within the current epoch
    global_step: int = 0
    best_value: float | None = None
    best_epoch: int | None = None
    best_loss: float | None = None  # validation loss at the best epoch (breaks ties on the monitored metric)
    planned_epochs: int = 0     # the epoch count the schedules were built for (a continued run plans more)
    history: list[dict[str, float]] = field(default_factory=list)  # one entry of metrics per completed epoch
    stop_reason: str | None = None  # set by a callback: "early_stopping", "stopped", "interrupted"

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Callback:
    """Hooks called by `fit`; override what you need. A callback ends training by setting state.stop_reason."""

    def on_fit_start(self, task: Task, state: LoopState) -> None: ...
    def on_step_end(self, task: Task, state: LoopState, metrics: dict[str, Any]) -> None: ...
    def on_epoch_end(self, task: Task, state: LoopState, metrics: dict[str, float], improved: bool) -> None: ...
    def on_interrupt(self, task: Task, state: LoopState) -> None: ...
    def on_fit_end(self, task: Task, state: LoopState) -> None: ...


def is_better(value: float, best: float | None, mode: str) -> bool:
    if best is None or math.isnan(best):
        return not math.isnan(value)
    return value < best if mode == "min" else value > best


def improves(val: dict[str, float], state: LoopState, monitor: str, mode: str) -> bool:
    """Whether this epoch beats the best so far on `monitor`; a tie (common for accuracy on small validation
    sets) goes to the lower validation loss."""
    if monitor not in val:
        return False
    if is_better(val[monitor], state.best_value, mode):
        return True
    tie = state.best_value is not None and val[monitor] == state.best_value
    return tie and "val_loss" in val and state.best_loss is not None and val["val_loss"] < state.best_loss


def fit(task: Task, state: LoopState, callbacks: list[Callback]) -> LoopState:
    """Train `task` from `state` to `task.config.epochs`, or until a callback stops it."""
    state.planned_epochs = task.config.epochs
    for callback in callbacks:
        callback.on_fit_start(task, state)
    while state.epoch < task.config.epochs and state.stop_reason is None:
        epoch_start = time.perf_counter()
        train_losses = []
        for batch in task.train_batches(state.epoch, start_step=state.step):
            metrics = task.train_step(batch)
            state.step += 1
            state.global_step += 1
            train_losses.append(metrics["loss"])
            for callback in callbacks:
                callback.on_step_end(task, state, metrics)
            if state.stop_reason is not None:
                for callback in callbacks:
                    callback.on_interrupt(task, state)
                return _end(task, state, callbacks)
        val = task.evaluate("val")
        task.end_epoch(val)
        epoch_metrics = {"epoch": state.epoch + 1, **val, "seconds": time.perf_counter() - epoch_start}
        if train_losses:  # one device sync per epoch, not per step
            epoch_metrics["train_loss"] = torch.stack([torch.as_tensor(loss) for loss in train_losses]).float().mean().item()
        state.epoch += 1
        state.step = 0
        improved = improves(val, state, task.monitor, task.monitor_mode)
        if improved:
            state.best_value, state.best_epoch = float(val[task.monitor]), state.epoch
            state.best_loss = val.get("val_loss")
        state.history.append(epoch_metrics)
        for callback in callbacks:
            callback.on_epoch_end(task, state, epoch_metrics, improved)
    return _end(task, state, callbacks)


def _end(task: Task, state: LoopState, callbacks: list[Callback]) -> LoopState:
    for callback in callbacks:
        callback.on_fit_end(task, state)
    return state
