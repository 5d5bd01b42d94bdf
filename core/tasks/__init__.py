"""The tasks the training loop runs, and the one way to turn a config (dict or JSON) into a runnable task."""
from __future__ import annotations

from typing import Any

from core.data.augment import load_augmentation
from core.data.catalog import open_dataset
from core.errors import UserError
from core.tasks.base import Task
from core.tasks.classify import ClassifyConfig, ClassifyTask
from core.train.config import TrainConfig, config_from_dict

CONFIG_CLASSES: dict[str, type[TrainConfig]] = {"classification": ClassifyConfig, "multilabel": ClassifyConfig}
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


def build_task(config: TrainConfig, workspace: str) -> Task:
    dataset = open_dataset(workspace, config.dataset)
    return ClassifyTask(config, dataset, load_augmentation(workspace, config.dataset))
