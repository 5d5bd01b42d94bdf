"""A task as the job executor sees it: the loop's contract (core.train.contract) plus what outlives training, and
the shared base of tasks that train one network with one optimiser.

Classification, restoration and (later) sequence and GAN training are tasks: each brings its networks, its step
and its metrics; the loop, checkpoints and job runner are shared.
"""
from __future__ import annotations

from abc import abstractmethod
from typing import Any

import torch
from torch import nn

from core.train.contract import Task as LoopTask
from core.train.optim import Optimization


class Task(LoopTask):
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
