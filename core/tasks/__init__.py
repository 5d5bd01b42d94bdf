"""The tasks the training loop runs, and the one way to turn a config (dict or JSON) into a runnable task.

Each task class names the config "task" values it trains (`kinds`) and its config class; adding a task means a
task file listed in TASK_CLASSES below and a report file listed in core.jobs.execute.REPORTERS.
"""
from __future__ import annotations

from typing import Any

from core.data.catalog import open_dataset
from core.errors import UserError
from core.tasks.base import Task
from core.tasks.classify import ClassifyTask
from core.tasks.diffusion import DiffusionTask
from core.tasks.distill import DistillTask
from core.tasks.gan import GanTask
from core.tasks.restore import RestoreTask
from core.tasks.sequence import SequenceTask
from core.tasks.vae import VaeTask
from core.train.config import TrainConfig, config_from_dict

TASK_CLASSES: tuple[type[Task], ...] = (ClassifyTask, RestoreTask, GanTask, VaeTask, DiffusionTask, SequenceTask,
                                         DistillTask)
TASK_CLASS_OF: dict[str, type[Task]] = {kind: cls for cls in TASK_CLASSES for kind in cls.kinds}
TASK_NAMES = tuple(TASK_CLASS_OF)
DATA_PARALLEL_TASKS = tuple(kind for kind, cls in TASK_CLASS_OF.items() if cls.data_parallel)  # "workers" > 1


def load_config(data: dict[str, Any]) -> TrainConfig:
    """Validate a config; missing keys take the task's recommended recipe."""
    if not isinstance(data, dict):
        kind = {list: "a list", str: "a string", type(None): "null", bool: "true or false"}.get(type(data), "a number")
        raise UserError(f"A training config must be a JSON object of fields ({{\"dataset\": ...}}), not {kind}.")
    task = data.get("task", "classification")
    if task not in TASK_CLASS_OF:
        raise UserError(f"Config field 'task' must be one of {', '.join(TASK_NAMES)}, not {task!r}.")
    config = config_from_dict(TASK_CLASS_OF[task].config_class, data)
    if config.workers > 1 and task not in DATA_PARALLEL_TASKS:
        raise UserError(f"Config field 'workers': data-parallel training is built for "
                        f"{' or '.join(DATA_PARALLEL_TASKS)} runs; a {task} run trains on one worker.")
    return config


def recipe(task: str = "classification", dataset: str = "phantom-64") -> TrainConfig:
    """The recommended recipe for a task, as a full config."""
    return load_config({"task": task, "dataset": dataset})


def check_task(config: TrainConfig, workspace: str) -> str:
    """That `config` can be trained in `workspace` (its dataset exists and fits the task; a fine-tuning source run
    exists, trained the same network and has weights; a distillation's teacher is a completed run of this
    workspace) without loading data, augmentation or weights, as queuing a run needs; returns the monitored
    validation metric. Raises UserError with the sentence `build_task` would."""
    info = open_dataset(workspace, config.dataset).info
    return TASK_CLASS_OF[config.task].check_in_workspace(config, info, workspace)


def build_task(config: TrainConfig, workspace: str) -> Task:
    return TASK_CLASS_OF[config.task].build(config, open_dataset(workspace, config.dataset), workspace)
