"""core.train.distributed without a process group: how a data-parallel run shards its steps and scales its
learning rate (the ranks' own training is tested end to end in tests/core/jobs/test_data_parallel.py)."""
from __future__ import annotations

import pytest
import torch

from core.tasks import build_task, load_config
from core.train.distributed import effective_batch_size, rank_device, scaled_lr
from core.train.ranks import Ranks
from tests.fixtures import tiny_dataset


def batches(dataset: str, ranks: Ranks, monkeypatch: pytest.MonkeyPatch, epoch: int = 0) -> list[torch.Tensor]:
    monkeypatch.setattr("core.tasks.classify.data_parallel", lambda model, ranks, device: model)
    config = load_config({"dataset": dataset, "batch_size": 8, "workers": ranks.world, "augment": False,
                          "channels_last": False})
    task = build_task(config, "default")
    task.ranks = ranks
    task.setup(torch.device("cpu"))
    return [images for images, _ in task.train_batches(epoch)]


def test_the_ranks_of_a_step_take_consecutive_batches_of_one_shared_order(monkeypatch):
    dataset = tiny_dataset(per_class=(40, 40))
    alone = batches(dataset, Ranks(0, 1), monkeypatch)
    first, second = batches(dataset, Ranks(0, 2), monkeypatch), batches(dataset, Ranks(1, 2), monkeypatch)
    assert len(first) == len(second) == len(alone) // 2
    for step, (a, b) in enumerate(zip(first, second)):
        assert torch.equal(a, alone[2 * step]) and torch.equal(b, alone[2 * step + 1])


def test_effective_batch_and_linear_learning_rate_scaling():
    config = load_config({"dataset": "phantom-64", "batch_size": 32, "lr": 0.003, "workers": 4})
    assert effective_batch_size(config) == 128
    assert scaled_lr(config) == pytest.approx(0.012)
    assert scaled_lr(load_config({"dataset": "phantom-64", "lr": 0.003, "workers": 4, "lr_scaling": "none"})) == 0.003
    assert scaled_lr(load_config({"dataset": "phantom-64", "lr": 0.003})) == 0.003


def test_the_optimiser_and_one_cycle_peak_use_the_scaled_rate():
    from core.train.optim import build_optimizer, build_scheduler

    config = load_config({"dataset": "phantom-64", "lr": 0.003, "workers": 2, "scheduler": "onecycle"})
    optimizer = build_optimizer(torch.nn.Linear(2, 2).parameters(), config)
    scheduler, _ = build_scheduler(optimizer, config, steps_per_epoch=10)
    assert optimizer.param_groups[0]["max_lr"] == pytest.approx(0.006)


def test_a_cpu_run_keeps_its_device_and_gpu_ranks_take_the_next_gpus(monkeypatch):
    assert rank_device(torch.device("cpu"), 3) == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    assert rank_device(torch.device("cuda:2"), 1) == torch.device("cuda:3")
    assert rank_device(torch.device("cuda:2"), 3) == torch.device("cuda:1")
