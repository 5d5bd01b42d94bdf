"""The tasks the training loop runs, and the one way to turn a config (dict or JSON) into a runnable task."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from core.data.augment import load_augmentation
from core.data.catalog import open_dataset
from core.errors import UserError
from core.tasks.base import Task
from core.tasks.classify import ClassifyConfig, ClassifyTask
from core.tasks.restore import RestoreConfig, RestoreTask
from core.train.config import TrainConfig, config_from_dict
from core.train.run_folder import BEST_WEIGHTS, find_run_folder, load_trained_run, read_config

CONFIG_CLASSES: dict[str, type[TrainConfig]] = {
    "classification": ClassifyConfig, "multilabel": ClassifyConfig,
    "denoise": RestoreConfig, "super_resolution": RestoreConfig,
}
TASK_NAMES = tuple(CONFIG_CLASSES)


def load_config(data: dict[str, Any]) -> TrainConfig:
    """Validate a config; missing keys take the task's recommended recipe."""
    task = data.get("task", "classification") if isinstance(data, dict) else None
    if task not in CONFIG_CLASSES:
        raise UserError(f"Config field 'task' must be one of {', '.join(TASK_NAMES)}, not {task!r}.")
    return config_from_dict(CONFIG_CLASSES[task], data)


def recipe(task: str = "classification", dataset: str = "phantom-64") -> TrainConfig:
    """The recommended recipe for a task, as a full config."""
    return load_config({"task": task, "dataset": dataset})


def check_task(config: TrainConfig, workspace: str) -> str:
    """That `config` can be trained in `workspace` (its dataset exists and fits the task; a fine-tuning source run
    exists, trained the same network and has weights) without loading data, augmentation or weights, as queuing a
    run needs; returns the monitored validation metric. Raises UserError with the sentence `build_task` would."""
    info = open_dataset(workspace, config.dataset).info
    if isinstance(config, RestoreConfig):
        monitor = RestoreTask.check(config, info)
        if config.init_from:
            _initial_run(config)
        return monitor
    return ClassifyTask.check(config, info)


def build_task(config: TrainConfig, workspace: str) -> Task:
    dataset = open_dataset(workspace, config.dataset)
    if isinstance(config, RestoreConfig):
        return RestoreTask(config, dataset, _initial_weights(config))
    return ClassifyTask(config, dataset, load_augmentation(workspace, config.dataset))


def _initial_weights(config: RestoreConfig):
    """The network weights of run `init_from` (for fine-tuning), checked to fit this config."""
    if not config.init_from:
        return None
    return load_trained_run(_initial_run(config), (config.task,), "trained a different network").weights


def _initial_run(config: RestoreConfig) -> Path:
    """The folder of run `init_from`, checked to have trained the same network and to have weights."""
    folder = find_run_folder(config.init_from)
    source_config = read_config(folder)
    if (source_config.get("task"), source_config.get("model"), source_config.get("scale", 2)) != \
            (config.task, config.model, config.scale):
        raise UserError(f"Config field 'init_from': run '{config.init_from}' trained a different network "
                        f"({source_config.get('model')}, {source_config.get('task')}).")
    if not (folder / BEST_WEIGHTS).exists():
        raise UserError(f"Config field 'init_from': run '{config.init_from}' has no trained weights yet.")
    return folder
