"""A task as the job executor sees it: the loop's contract (core.train.contract) plus what outlives training, and
the shared base of tasks that train one network with one optimiser.

Classification, restoration and (later) sequence and GAN training are tasks: each brings its networks, its step
and its metrics; the loop, checkpoints and job runner are shared.
"""
from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar

import torch
from torch import nn

from core.data.store import Dataset, DatasetInfo
from core.train.config import TrainConfig
from core.train.contract import Task as LoopTask
from core.train.optim import Optimization


class Task(LoopTask):
    """A kind of training. To add one: a task file here (config, task class with these members, registered in
    core/tasks/__init__.py) and a report file (registered in core/jobs/execute.py's REPORTERS)."""

    kinds: ClassVar[tuple[str, ...]]           # the config "task" values this class trains
    config_class: ClassVar[type[TrainConfig]]  # its config (the defaults are the recommended recipe)

    @staticmethod
    @abstractmethod
    def check(config: Any, info: DatasetInfo) -> str:
        """That `config` can be trained on the dataset `info` describes, without loading any data or weights (as
        queuing a run needs); returns the monitored validation metric. Raises UserError with one sentence."""

    @classmethod
    def check_in_workspace(cls, config: Any, info: DatasetInfo, workspace: str) -> str:
        """`check`, plus what depends on the workspace's other runs (a distillation's teacher run), still without
        loading data or weights; core.tasks.check_task calls this."""
        return cls.check(config, info)

    @classmethod
    @abstractmethod
    def build(cls, config: Any, dataset: Dataset, workspace: str) -> Task:
        """The task, with what it needs besides the dataset (augmentation, initial weights) loaded."""

    @abstractmethod
    def split_outputs(self) -> Any:
        """What the report of this task kind is built from (after final_report, with the best weights), e.g.
        logits and labels per split; the reporter never calls back into the task."""

    @abstractmethod
    def rebuild_spec(self) -> dict[str, Any]:
        """What is needed to rebuild the network for prediction (stored as model.json): architecture, classes,
        preprocessing. Not the exported Markdown model card (core.evaluate.export.model_card)."""

    def final_report(self) -> dict[str, Any]:
        """Metrics on the held-out test split with the weights loaded now (the best ones), for the run's summary.
        The full report is built by the job executor with the task kind's reporter (core.jobs.execute)."""
        return self.evaluate("test")


class SingleNetworkTask(Task):
    """A task that trains one network (`model`) with one Optimization: its resumable state and its published
    weights. Tasks with more networks (a GAN's discriminator) extend state_dict and load_state_dict."""

    model: nn.Module
    optimization: Optimization

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimization": self.optimization.state_dict()}

    def load_state_dict(self, state: dict[str, Any], replay: tuple[int, int] | None = None) -> None:
        self.model.load_state_dict(state["model"])
        self.optimization.load_state_dict(state["optimization"], replay)

    def weights(self) -> dict[str, torch.Tensor]:
        return self.model.state_dict()

    def load_weights(self, weights: dict[str, torch.Tensor]) -> None:
        self.model.load_state_dict(weights)
