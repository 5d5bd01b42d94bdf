"""The loop's callbacks: metrics and progress, checkpoints, preview grids, early stopping, stop requests and a
training-time cap."""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import torch

from core.errors import UserError
from core.train.checkpoint import save_checkpoint, save_weights
from core.train.contract import Task
from core.train.eta import EtaEstimator
from core.train.loop import Callback, LoopState, improves
from core.train.run_folder import BEST_WEIGHTS, CHECKPOINT_FILE, LAST_WEIGHTS, preview_grid_path


class MetricsSink(Protocol):
    """Where metrics go: the run store for real runs, a list in tests and benchmarks."""

    def write_events(self, events: list[dict[str, Any]]) -> None: ...
    def progress(self, **fields: Any) -> None: ...


class MetricsRecorder(Callback):
    """Step metrics are kept on the device and written about once per `interval` seconds, so the loop does not
    wait on the GPU every step; epoch metrics are written at once. Also reports the phase ("training", then
    "evaluating the validation split" after each epoch's last step), the speed and the time left (core.train.eta:
    a moving average of step times plus the measured validation time, with a range)."""

    def __init__(self, sink: MetricsSink, interval: float = 1.0) -> None:
        self.sink, self.interval = sink, interval
        self.pending: list[tuple[int, int, int, Any, float, dict[str, Any]]] = []
        self.last_flush = 0.0
        self.window_start = 0.0
        self.window_images = 0
        self.window_steps = 0
        self.eta = EtaEstimator()
        self.validation_start: float | None = None

    def on_fit_start(self, task: Task, state: LoopState) -> None:
        self.last_flush = self.window_start = time.perf_counter()
        self.sink.progress(epoch=state.epoch, step=state.step, epochs=task.config.epochs,
                           steps_per_epoch=task.steps_per_epoch, phase="training")

    def on_step_end(self, task: Task, state: LoopState, metrics: dict[str, Any]) -> None:
        extra = {name: value for name, value in metrics.items() if name not in ("loss", "lr")}  # e.g. a GAN's d_loss
        self.pending.append((state.epoch, state.step, state.global_step, metrics["loss"], float(metrics["lr"]), extra))
        self.window_images += task.images_per_step
        self.window_steps += 1
        if state.step >= task.steps_per_epoch:  # the epoch's last step: the validation pass comes next
            self._flush(task, state, phase="evaluating the validation split")
            self.validation_start = self.window_start
        elif time.perf_counter() - self.last_flush >= self.interval:
            self._flush(task, state)

    def on_epoch_end(self, task: Task, state: LoopState, metrics: dict[str, float], improved: bool) -> None:
        now = time.perf_counter()
        if self.validation_start is not None:
            self.eta.add_evaluation(now - self.validation_start)
            self.validation_start = None
        self._flush(task, state, now=now)
        self.sink.write_events([{"kind": "epoch", **metrics, "best": improved, "time": time.time()}])
        more = state.epoch < task.config.epochs and state.stop_reason is None
        self.sink.progress(epoch=state.epoch, step=0, best_value=state.best_value, best_epoch=state.best_epoch,
                           **({"phase": "training"} if more else {}), **self._time_left(task, state))

    def on_fit_end(self, task: Task, state: LoopState) -> None:
        self._flush(task, state)

    def _flush(self, task: Task, state: LoopState, phase: str | None = None, now: float | None = None) -> None:
        now = time.perf_counter() if now is None else now
        if self.pending:
            losses = torch.stack([torch.as_tensor(p[3]) for p in self.pending]).float().cpu().tolist()
            extras = [{name: float(torch.as_tensor(value).float()) for name, value in p[5].items()}
                      for p in self.pending]  # one sync per flush, as for the losses
            self.sink.write_events([
                {"kind": "step", "epoch": epoch + 1, "step": step, "global_step": global_step, "loss": loss, "lr": lr,
                 **extra}
                for (epoch, step, global_step, _, lr, _), loss, extra in zip(self.pending, losses, extras)
            ])
            self.pending = []
        elapsed = now - self.window_start
        fields: dict[str, Any] = {"phase": phase} if phase else {}
        if elapsed > 0 and self.window_steps:
            self.eta.add_steps(self.window_steps, elapsed)
            fields.update(images_per_s=self.window_images / elapsed, **self._time_left(task, state))
        if fields:
            self.sink.progress(epoch=state.epoch, step=state.step, **fields)
        self.last_flush = self.window_start = now
        self.window_images = self.window_steps = 0

    def _time_left(self, task: Task, state: LoopState) -> dict[str, float]:
        """eta_s, eta_low_s and eta_high_s: the remaining steps and validation passes, then the work after training.
        That last part is not seen by the loop, so it is reckoned from what is: the test split's evaluation and the
        report's passes over the validation and test splits (three validation passes, the splits being of similar
        size) and over the training images (a forward pass, about a third of a training step per batch)."""
        epochs_left = task.config.epochs - state.epoch  # each is validated, the current one included
        step_s = self.eta.step_s or 0.0
        final_s = 3 * (self.eta.eval_s or 0.0) + task.steps_per_epoch * step_s / 3
        estimate = self.eta.estimate((epochs_left * task.steps_per_epoch) - state.step, epochs_left, final_s=final_s)
        if estimate is None:
            return {}
        return {"eta_s": estimate.seconds, "eta_low_s": estimate.low, "eta_high_s": estimate.high}


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


class PreviewSaver(Callback):
    """Generative tasks: a grid of images from the task's fixed noise batch (`task.preview()`), saved as
    samples/epoch-NNN.png in the run folder before training (epoch 0, when it is not there yet) and after every
    epoch, so the Train and Synthesize pages can replay how the samples evolved. Other tasks return no preview
    and nothing is written."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def on_fit_start(self, task: Task, state: LoopState) -> None:
        if not preview_grid_path(self.folder, 0).exists():
            self._save(task, 0)

    def on_epoch_end(self, task: Task, state: LoopState, metrics: dict[str, float], improved: bool) -> None:
        self._save(task, state.epoch)

    def _save(self, task: Task, epoch: int) -> None:
        images = task.preview()
        if images is None:
            return
        from torchvision.utils import make_grid  # only generative runs draw grids
        from PIL import Image

        grid = make_grid(images.detach().float().cpu().clamp(0, 1), nrow=task.preview_columns(), padding=2,
                         pad_value=1.0)
        array = (grid.permute(1, 2, 0).numpy() * 255).round().astype("uint8")
        path = preview_grid_path(self.folder, epoch)
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        Image.fromarray(array[..., 0] if images.shape[1] == 1 else array).save(tmp, format="PNG")
        tmp.replace(path)  # a page reading the grid never sees half a file


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


class TimeCap(Callback):
    """End training once it has trained `cap_minutes()` minutes (0: no cap), checked after every step and epoch:
    sets stop_reason "time_cap". The cap is asked each time, so a cap changed while the run trains (a teacher's
    change in the run store) takes effect at the next step. Training time is the time inside `fit` (setup before
    it is not counted) plus, for a resumed run, the seconds of the epochs it had already completed."""

    def __init__(self, cap_minutes: Callable[[], float], clock: Callable[[], float] = time.perf_counter) -> None:
        self.cap_minutes, self.clock = cap_minutes, clock
        self.start, self.before = 0.0, 0.0

    def on_fit_start(self, task: Task, state: LoopState) -> None:
        self.start = self.clock()
        self.before = sum(float(metrics.get("seconds", 0.0)) for metrics in state.history)

    def trained_s(self) -> float:
        """Seconds trained so far, this run's earlier workers included."""
        return self.before + self.clock() - self.start

    def on_step_end(self, task: Task, state: LoopState, metrics: dict[str, Any]) -> None:
        self._check(state)

    def on_epoch_end(self, task: Task, state: LoopState, metrics: dict[str, float], improved: bool) -> None:
        self._check(state)

    def _check(self, state: LoopState) -> None:
        cap = self.cap_minutes() or 0.0
        if cap > 0 and self.trained_s() >= cap * 60:
            state.stop_reason = state.stop_reason or "time_cap"
