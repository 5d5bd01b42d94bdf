"""Data-parallel training of one run on several processes ("ranks"), with PyTorch's DistributedDataParallel
(Li et al., "PyTorch Distributed: Experiences on Accelerating Data Parallel Training", VLDB 2020).

Every rank runs the same generic loop (core.train.loop.fit) on its own shard of each epoch; DDP averages the
gradients during the backward pass, so the ranks' weights stay identical. Rank 0 is the run's worker: it alone
validates, writes metrics, checkpoints and charts, and decides when training stops. The other ranks only train;
`AgreeOnStop`, the last callback on every rank, hands rank 0's decision to them after every step and epoch, so all
ranks stop at the same step.

`batch_size` is per rank: one step trains on batch_size x workers images (the effective batch), and with
lr_scaling "linear" the learning rate is multiplied by the number of workers (Goyal et al., "Accurate, Large
Minibatch SGD: Training ImageNet in 1 Hour", 2017).
"""
from __future__ import annotations

import socket
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

from core.train.config import TrainConfig
from core.train.contract import Task
from core.train.loop import Callback, LoopState
from core.train.ranks import Ranks

# A collective that waits longer than this (a rank died mid-step) fails instead of hanging the run.
COLLECTIVE_TIMEOUT = timedelta(minutes=5)

# The loop's stop reasons, as the numbers rank 0 broadcasts (None: keep training).
STOP_REASONS: tuple[str | None, ...] = (None, "stopped", "interrupted", "early_stopping", "time_cap")




def effective_batch_size(config: TrainConfig) -> int:
    """Images per optimisation step over all ranks."""
    return config.batch_size * config.workers


def scaled_lr(config: TrainConfig) -> float:
    """The learning rate the optimiser uses: config.lr, times the number of workers under linear scaling."""
    return config.lr * config.workers if config.lr_scaling == "linear" else config.lr


def workers_text(config: TrainConfig) -> str | None:
    """How a data-parallel run trains, for the pages and the command line; None for one worker."""
    if config.workers == 1:
        return None
    return (f"{config.workers} data-parallel workers (effective batch {effective_batch_size(config)}, learning rate "
            f"{scaled_lr(config):.5g})")


def rank_device(first: torch.device, rank: int) -> torch.device:
    """The device of `rank` when rank 0 trains on `first`: the same CPU, or the next GPUs in turn."""
    if first.type != "cuda":
        return first
    return torch.device(f"cuda:{((first.index or 0) + rank) % torch.cuda.device_count()}")


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now (for the ranks' rendezvous)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def join_group(ranks: Ranks, port: int, device: torch.device) -> None:
    """Join the run's process group (gloo on CPU, NCCL on GPUs), meeting the other ranks on loopback `port`:
    a run's ranks share one machine. Blocks until every rank has joined."""
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", init_method=f"tcp://127.0.0.1:{port}",
                            rank=ranks.rank, world_size=ranks.world, timeout=COLLECTIVE_TIMEOUT)


def leave_group() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def data_parallel(model: torch.nn.Module, ranks: Ranks, device: torch.device) -> torch.nn.Module:
    """`model` wrapped for training across `ranks` (gradients averaged in the backward pass, rank 0's
    batch-norm statistics broadcast at every forward), or `model` itself when training alone."""
    if ranks.world == 1:
        return model
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


class AgreeOnStop(Callback):
    """The last callback on every rank: rank 0's stop reason (a stop request, the teacher's time cap, early
    stopping, a server gone) becomes every rank's, after each step and each epoch."""

    def __init__(self, device: torch.device) -> None:
        # NCCL broadcasts GPU tensors; gloo, CPU ones
        self.device = device if device.type == "cuda" else torch.device("cpu")

    def on_step_end(self, task: Task, state: LoopState, metrics: dict[str, Any]) -> None:
        self._agree(state)

    def on_epoch_end(self, task: Task, state: LoopState, metrics: dict[str, float], improved: bool) -> None:
        self._agree(state)

    def _agree(self, state: LoopState) -> None:
        code = torch.tensor([STOP_REASONS.index(state.stop_reason)], device=self.device)
        dist.broadcast(code, src=0)
        state.stop_reason = STOP_REASONS[int(code.item())]
