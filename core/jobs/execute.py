"""Run one training job to its end in this process: the worker process and `python -m core train` both call
`execute`, so a run behaves the same from the page and from the command line.

The path of a run: its config becomes a task (core.tasks.build_task), set up and resumed from its checkpoint if
it has one (`task_and_state`), trained by the generic loop (core.train.loop.fit) with callbacks for metrics,
checkpoints, early stopping and stop requests; then the best weights are loaded, the test metrics summarised and
the report of the task's kind built from what the task returns (`write_report`), all into the run folder
(core.train.run_folder).
"""
from __future__ import annotations

import json
import os
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from core.data.augment import load_augmentation
from core.enhance.report import build_restoration_report
from core.errors import UserError
from core.evaluate.report import build_report
from core.jobs.control import STOP_REQUESTED_BY
from core.jobs.data_parallel import leading
from core.jobs.limits import minutes_text
from core.jobs.liveness import LIVE, Heartbeat, worker_identity
from core.jobs.store import RunRecord, RunStore
from core.synthesis.report import build_synthesis_report
from core.tasks import build_task, load_config
from core.tasks.base import Task
from core.tasks.classify import ClassificationOutputs
from core.tasks.generative import GenerativeOutputs
from core.tasks.restore import RESTORE_TASKS, RestorationOutputs
from core.train.config import TrainConfig
from core.train.callbacks import Checkpointer, EarlyStopping, MetricsRecorder, PreviewSaver, StopCheck, TimeCap
from core.train.checkpoint import load_checkpoint, load_weights, set_rng_state
from core.train.distributed import AgreeOnStop
from core.train.loop import LoopState, fit
from core.train.ranks import SINGLE, Ranks
from core.train.run_folder import BEST_WEIGHTS, CHECKPOINT_FILE, REBUILD_SPEC, SUMMARY_FILE, WORKER_LOG, write_json

# One reporter per task kind: the type of a task's split outputs -> the function that builds and stores its report.
REPORTERS: dict[type, Callable[[Any, Path], dict[str, Any]]] = {
    ClassificationOutputs: build_report,
    RestorationOutputs: build_restoration_report,
    GenerativeOutputs: build_synthesis_report,
}

UNCAPPED_STEPS = 10**9

PROGRESS_COLUMNS = {"epoch", "step", "epochs", "steps_per_epoch", "images_per_s", "eta_s", "eta_low_s", "eta_high_s",
                    "best_value", "best_epoch", "phase"}


class StoreSink:
    """Metrics and progress of a run, written to the run store."""

    def __init__(self, store: RunStore, record: RunRecord) -> None:
        self.store, self.record = store, record

    def write_events(self, events: list[dict[str, Any]]) -> None:
        self.store.append_events(self.record, events)

    def progress(self, **fields: Any) -> None:
        self.store.update(self.record.id, **{k: v for k, v in fields.items() if k in PROGRESS_COLUMNS},
                          heartbeat=time.time())


class Superseded(Exception):
    """The store no longer names this process as the run's worker."""


def run_config(stored: dict[str, Any]) -> TrainConfig:
    """The config of a stored run. A restoration run stored before epochs were capped (no max_steps_per_epoch)
    keeps its uncapped epochs, so resuming it mid-epoch ends that epoch where it would have ended."""
    if stored.get("task") in RESTORE_TASKS and "max_steps_per_epoch" not in stored:
        stored = {**stored, "max_steps_per_epoch": UNCAPPED_STEPS}
    return load_config(stored)


def resolve_device(requested: str) -> torch.device:
    """'auto' is the first GPU if there is one, else the CPU; a named GPU must exist."""
    if requested == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    if requested.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError(f"Config field 'device' asks for {requested}, but this server has no CUDA GPU.")
        index = int(requested.split(":")[1]) if ":" in requested else 0
        if index >= torch.cuda.device_count():
            raise UserError(f"Config field 'device' asks for {requested}, but this server has "
                            f"{torch.cuda.device_count()} GPU(s).")
        return torch.device(f"cuda:{index}")
    return torch.device("cpu")


def task_and_state(store: RunStore, record: RunRecord, config: TrainConfig, device: torch.device,
                   ranks: Ranks = SINGLE) -> tuple[Task, LoopState]:
    """The run's task, set up on `device` as rank 0 of `ranks`, and where its training stands: resumed from its
    checkpoint if it has one (networks, optimisers, schedules, RNG, loop position), else from the start (then its
    rebuild spec, model.json, is written)."""
    folder = store.run_dir(record)
    store.update(record.id, phase="preparing data")
    task = build_task(config, record.workspace)
    task.ranks = ranks
    store.update(record.id, phase="loading the data and building the model")
    task.setup(device)
    if not (folder / CHECKPOINT_FILE).exists():
        write_json(folder / REBUILD_SPEC, {**task.rebuild_spec(), "monitor": task.monitor,
                                             "augmentation": load_augmentation(record.workspace, config.dataset).as_dict()})
        _forget_after(store, record, LoopState())
        return task, LoopState()
    store.update(record.id, phase="resuming from the checkpoint")
    state = resume(task, config, folder, device)
    _forget_after(store, record, state)
    return task, state


def resume(task: Task, config: TrainConfig, folder: Path, device: torch.device) -> LoopState:
    """Load the run's checkpoint into the set-up `task` (and the RNG); returns where training stands."""
    saved = load_checkpoint(folder / CHECKPOINT_FILE, device)
    state = LoopState(**saved["loop"])
    extended = state.planned_epochs != config.epochs  # a finished run continued for more epochs
    task.load_state_dict(saved["task"], replay=(state.global_step, state.epoch) if extended else None)
    set_rng_state(saved["rng"])
    state.stop_reason = None
    return state


def write_report(task: Task, folder: Path) -> dict[str, Any]:
    """The task's full evaluation report in its run folder, built by the reporter of its kind from what the task
    returns (split outputs, taken after final_report with the best weights loaded)."""
    outputs = task.split_outputs()
    return REPORTERS[type(outputs)](outputs, folder)


def _forget_after(store: RunStore, record: RunRecord, state: LoopState) -> None:
    """Drop the step and epoch events past `state`: a worker killed after its last checkpoint logged steps and
    epochs that are about to be trained again."""
    def before(event: dict[str, Any]) -> bool:
        if event.get("kind") == "step":
            return event.get("global_step", 0) <= state.global_step
        if event.get("kind") == "epoch":
            return event.get("epoch", 0) <= state.epoch
        return True
    store.keep_events(record, before)


def execute(store: RunStore, run_id: str, managed: bool = False) -> RunRecord:
    """Train (or resume) run `run_id` here until it completes, stops or fails; return its final record.

    `managed` is True in a worker process started by the JobRunner: the worker then also stops (as
    "interrupted") when the server that started it has gone away. While it trains, this process is named in the
    store as the run's worker (pid, host, start time) and beats a heartbeat (see core.jobs.liveness), so readers
    can tell when it has died without reporting.
    """
    record = store.get(run_id)
    folder = store.run_dir(record)
    parent = os.getppid()
    store.update(run_id, status="running", message=None, finished=None, **stretch_times(record, time.time()),
                 **worker_identity())
    with Heartbeat(lambda: store.update(run_id, heartbeat=time.time())):
        return _execute(store, store.get(run_id), folder, managed, parent)


def stretch_times(record: RunRecord, now: float) -> dict[str, float]:
    """The started / stretch_started / earlier_s columns of a run whose worker begins now (see
    RunRecord.duration_at): a first start, a resume (core.jobs.control.prepare_resume ended the last stretch), or a
    run that ended and is executed again without a resume (its last stretch ends here)."""
    if record.started is None:
        return {"started": now, "stretch_started": now, "earlier_s": 0.0}
    if record.stretch_started is None:
        return {"stretch_started": now}
    if record.finished is not None:
        return {"stretch_started": now, "earlier_s": record.duration_s or 0.0}
    return {}   # this stretch's worker again (a retried launch): the stretch goes on


def _execute(store: RunStore, record: RunRecord, folder: Path, managed: bool, parent: int) -> RunRecord:
    run_id = record.id
    try:
        config = run_config(store.config(record))
        device = resolve_device(record.device_used or config.device)
        store.update(run_id, device_used=str(device))
        cap_minutes = [record.max_minutes]  # the teacher may change it while the run trains: read at every poll

        def poll() -> str | None:
            current = store.get(run_id)
            if current.pid != os.getpid() or current.status not in LIVE:
                raise Superseded  # a reader judged this worker gone, or another took the run: write nothing more
            cap_minutes[0] = current.max_minutes
            if current.stop_requested:
                return "stopped"
            if managed and os.getppid() != parent:
                return "interrupted"
            return None

        with leading(run_id, config, device, folder / WORKER_LOG) as ranks:  # workers > 1: starts the other ranks
            task, state = task_and_state(store, record, config, device, ranks)
            # the preview grid is drawn before the checkpoint: a worker killed in between redraws it on resume
            callbacks = [MetricsRecorder(StoreSink(store, record)), PreviewSaver(folder), Checkpointer(folder),
                         StopCheck(poll), TimeCap(lambda: cap_minutes[0])]
            if config.early_stopping:
                callbacks.append(EarlyStopping(task.monitor, config.patience, task.monitor_mode))
            if ranks.world > 1:  # last: the other ranks learn what the callbacks above decided
                callbacks.append(AgreeOnStop(device))
            state = fit(task, state, callbacks)
        capped = (f"training ended at the teacher's cap of {minutes_text(cap_minutes[0])}"
                  if state.stop_reason == "time_cap" else None)
        if capped and not (folder / BEST_WEIGHTS).exists():  # not one epoch finished: nothing to evaluate
            store.update(run_id, status="stopped", finished=time.time(), pid=None, phase=None,
                         message=f"{capped} before epoch 1 of {config.epochs} finished; resume continues from "
                                 f"epoch {state.epoch + 1}, step {state.step + 1}")
            return store.get(run_id)
        if state.stop_reason in ("stopped", "interrupted"):
            asked = store.get(run_id).message or ""
            message = (("stopped by " + asked.removeprefix(STOP_REQUESTED_BY)) if asked.startswith(STOP_REQUESTED_BY)
                       else "stopped on request" if state.stop_reason == "stopped"
                       else "the server stopped while this run was training")
            store.update(run_id, status=state.stop_reason, finished=time.time(), pid=None, phase=None,
                         message=f"{message}; resume continues from epoch {state.epoch + 1}, step {state.step + 1}")
            return store.get(run_id)
        task.load_weights(load_weights(folder / BEST_WEIGHTS, device))
        store.update(run_id, phase="evaluating the test split")
        summary = {"best_epoch": state.best_epoch, "monitor": task.monitor, "best_value": state.best_value,
                   "epochs_trained": state.epoch, "stopped_early": state.stop_reason == "early_stopping",
                   "time_capped": state.stop_reason == "time_cap",
                   **task.final_report(), "seconds": store.get(run_id).duration_s}
        if device.type == "cuda":  # what the job runner's memory check expects of the next run of this recipe
            summary["gpu_memory_peak_bytes"] = torch.cuda.max_memory_reserved(device)
        store.update(run_id, phase="writing the report")
        write_report(task, folder)
        write_json(folder / SUMMARY_FILE, summary)
        message = f"early stopping after epoch {state.epoch}" if state.stop_reason == "early_stopping" else None
        if capped:
            message = f"{capped} after epoch {state.epoch} of {config.epochs}"
        store.update(run_id, status="completed", finished=time.time(), pid=None, eta_s=0, phase=None,
                     summary=json.dumps(summary, default=float), message=message)
    except Superseded:
        pass
    except UserError as error:
        _fail(store, run_id, error.message)
    except torch.cuda.OutOfMemoryError:
        _fail(store, run_id, "out of GPU memory: lower the batch size or the image size, or pick a smaller model")
    except MemoryError:
        _fail(store, run_id, "out of memory: lower the batch size or the image size, or pick a smaller model")
    except Exception as error:  # a bug: the run fails with a short reason, the traceback goes to the log
        with (folder / WORKER_LOG).open("a") as log:
            log.write(traceback.format_exc())
        _fail(store, run_id, f"internal error ({type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}); see worker.log")
    return store.get(run_id)


def _fail(store: RunStore, run_id: str, message: str) -> None:
    store.update(run_id, status="failed", finished=time.time(), pid=None, phase=None, message=message)
