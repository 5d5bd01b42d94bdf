"""A run's folder: the names of the files a run leaves, writing them atomically, and loading a trained run.

    MEDLAB_HOME/workspaces/<ws>/runs/<run id>/
        config.json                         the validated config (plus the augmentation used)
        metrics.jsonl                       one JSON event per line: step losses, epoch metrics
        checkpoint.pt                       resumable state (weights_only loadable)
        best.safetensors, last.safetensors  published weights
        model.json                          the rebuild spec: what is needed to rebuild the network for prediction
        report.json                         the task's evaluation report (classification or restoration)
        summary.json                        final metrics, including the test split
        worker.log                          the worker process's output
        samples/epoch-NNN.png               generative runs: the preview grid after each epoch (000: untrained)
        report_images.npz                   generative runs: uint8 images shown beside report.json (samples, the
                                            closest sample/training pairs, reconstructions, anomaly maps)

This module is the only place these names are spelled; the run store (core.jobs.store), the job executor, the
loop's checkpointer, evaluation, enhancement and the pages all go through it, so reading a run never needs the
job queue. A folder is named by its run id, so `folder.name` is the run id. Nothing here imports torch at import
time (the command line lists runs without it).
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import UserError
from core.settings import medlab_home, workspace_dir

CONFIG_FILE = "config.json"
EVENTS_FILE = "metrics.jsonl"
CHECKPOINT_FILE = "checkpoint.pt"
BEST_WEIGHTS = "best.safetensors"
LAST_WEIGHTS = "last.safetensors"
REBUILD_SPEC = "model.json"
REPORT_FILE = "report.json"
SUMMARY_FILE = "summary.json"
WORKER_LOG = "worker.log"
SAMPLES_DIR = "samples"
REPORT_IMAGES = "report_images.npz"


def run_folder(workspace: str, run_id: str) -> Path:
    """Where run `run_id` of `workspace` keeps its files (MEDLAB_HOME/workspaces/<ws>/runs/<run id>)."""
    return workspace_dir(workspace) / "runs" / run_id


def find_run_folder(run_id: str) -> Path:
    """The folder of run `run_id` in whichever workspace holds it (run ids are unique); UserError if none does."""
    if run_id and "/" not in run_id and run_id not in (".", ".."):
        for folder in sorted((medlab_home() / "workspaces").glob(f"*/runs/{run_id}")):
            if folder.is_dir():
                return folder
    raise UserError(f"There is no run '{run_id}'; `python -m core runs` lists them.")


# --- reading and writing, atomically -------------------------------------------------------------------------
def write_json(path: Path, data: Any) -> None:
    """Write `data` as JSON to a temporary file next to `path`, then rename it: readers never see half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str))
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def read_config(folder: Path) -> dict[str, Any]:
    return read_json(folder / CONFIG_FILE)


def write_config(folder: Path, config: dict[str, Any]) -> None:
    write_json(folder / CONFIG_FILE, config)


def append_events(folder: Path, events: list[dict[str, Any]]) -> None:
    with (folder / EVENTS_FILE).open("a") as handle:
        handle.write("".join(json.dumps(event) + "\n" for event in events))


def read_events(folder: Path) -> list[dict[str, Any]]:
    path = folder / EVENTS_FILE
    if not path.exists():
        return []
    events = []
    for line in path.read_text().splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:  # a line being written right now
            pass
    return events


def keep_events(folder: Path, keep: Callable[[dict[str, Any]], bool]) -> None:
    """Rewrite metrics.jsonl with only the events `keep` accepts (atomically)."""
    path = folder / EVENTS_FILE
    if not path.exists():
        return
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(json.dumps(event) + "\n" for event in read_events(folder) if keep(event)))
    os.replace(tmp, path)


def preview_grid_path(folder: Path, epoch: int) -> Path:
    """Where a generative run's preview grid after `epoch` is kept (epoch 0: before training)."""
    return folder / SAMPLES_DIR / f"epoch-{epoch:03d}.png"


def preview_grids(folder: Path) -> dict[int, Path]:
    """A generative run's preview grids by epoch, in order; {} for other runs."""
    found = {}
    for path in sorted((folder / SAMPLES_DIR).glob("epoch-*.png")):
        stem = path.stem.removeprefix("epoch-")
        if stem.isdigit():
            found[int(stem)] = path
    return found


def weights_version(folder: Path) -> float:
    """When the best weights were last written (0.0: none yet); a cache of loaded models keys on it."""
    path = folder / BEST_WEIGHTS
    return path.stat().st_mtime if path.exists() else 0.0


# --- a trained run -------------------------------------------------------------------------------------------
@dataclass
class TrainedRun:
    folder: Path
    spec: dict[str, Any]               # model.json: task, architecture, channels, classes or scale, preprocessing
    weights: dict[str, Any]            # the best epoch's weights as torch tensors (safetensors: nothing is unpickled)

    @property
    def run_id(self) -> str:
        return self.folder.name


def load_trained_run(folder: Path, tasks: tuple[str, ...], refusal: str) -> TrainedRun:
    """The rebuild spec and best weights of the run in `folder`; a UserError when there is no such run, when it
    has no weights yet, or when its task is not in `tasks` (`refusal` then finishes the sentence "Run 'X' ...",
    e.g. "is not a classifier, so it cannot classify images")."""
    from core.train.checkpoint import load_weights  # torch only when a model is actually loaded

    run_id = folder.name
    if not folder.is_dir():
        raise UserError(f"There is no run '{run_id}'; `python -m core runs` lists them.")
    if not (folder / BEST_WEIGHTS).exists():
        raise UserError(f"Run '{run_id}' has no trained weights yet; wait until it has finished an epoch.")
    spec = read_json(folder / REBUILD_SPEC)
    if spec.get("task") not in tasks:
        raise UserError(f"Run '{run_id}' {refusal}.")
    return TrainedRun(folder, spec, load_weights(folder / BEST_WEIGHTS))
