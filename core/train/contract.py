"""The loop's contract: what a task gives the generic training loop (core.train.loop) and its callbacks.

Classification, restoration and (later) sequence, synthesis and segmentation training are tasks: each brings its
networks, its step and its metrics; the loop, callbacks and checkpoints are shared. This is all the loop knows of
a task (in the spirit of minGPT's trainer, which knows a model and a dataset). What the job executor needs
besides (the rebuild spec, the split outputs a report is built from) is in core.tasks.base.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any

import torch

from core.train.config import TrainConfig
from core.train.ranks import SINGLE, Ranks


class Task(ABC):
    config: TrainConfig         # the loop reads config.epochs
    monitor: str = "val_loss"   # the validation metric that picks the best epoch
    monitor_mode: str = "min"   # "min" or "max"
    data_parallel: bool = False # whether the task can train on several ranks (config "workers"; core.train.distributed)
    ranks: Ranks = SINGLE       # this process's rank, set before setup; a data-parallel task trains its shard

    @abstractmethod
    def setup(self, device: torch.device) -> None:
        """Load data onto `device`, build networks and their Optimization objects."""

    @property
    @abstractmethod
    def steps_per_epoch(self) -> int: ...

    @property
    @abstractmethod
    def images_per_step(self) -> int: ...

    @abstractmethod
    def train_batches(self, epoch: int, start_step: int = 0) -> Iterator[Any]:
        """The batches of one epoch from `start_step` on; the same (seed, epoch) always gives the same batches,
        so a run resumed mid-epoch sees exactly what it would have seen."""

    @abstractmethod
    def train_step(self, batch: Any) -> dict[str, torch.Tensor | float]:
        """One optimisation step; returns at least "loss" (a tensor: the loop reads it without a device sync
        per step) and "lr"."""

    @abstractmethod
    def evaluate(self, split: str) -> dict[str, float]:
        """Metrics on a split, named with the split as prefix (val_loss, val_accuracy, ...)."""

    @abstractmethod
    def end_epoch(self, val_metrics: dict[str, float]) -> None:
        """Per-epoch bookkeeping such as epoch-wise learning-rate schedules."""

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume: network weights, optimisers, schedulers, scalers."""

    @abstractmethod
    def load_state_dict(self, state: dict[str, Any], replay: tuple[int, int] | None = None) -> None: ...

    @abstractmethod
    def weights(self) -> dict[str, torch.Tensor]:
        """The weights to publish (safetensors): what prediction and export need."""

    @abstractmethod
    def load_weights(self, weights: dict[str, torch.Tensor]) -> None: ...

    def preview(self) -> torch.Tensor | None:
        """Generative tasks: images (N, C, H, W) in [0, 1] from a fixed noise batch, drawn into a grid after every
        epoch (core.train.callbacks.PreviewSaver); None for other tasks."""
        return None

    def preview_columns(self) -> int:
        """Images per row of the preview grid (a conditional model: one column per class)."""
        return 4
