"""The compute devices offered: each CUDA GPU with its name and memory, then the CPU."""
from __future__ import annotations

import os
from types import SimpleNamespace

import pytest
import torch

from core.device import ComputeDevice, available_devices

# (GPUs as (name, bytes), expected ids)
TEST_CASES = [
    ([], ["cpu"]),
    ([("NVIDIA H200", 141 * 2**30)], ["cuda:0", "cpu"]),
    ([("A", 8 * 2**30), ("B", 24 * 2**30)], ["cuda:0", "cuda:1", "cpu"]),
]


@pytest.mark.parametrize("gpus,ids", TEST_CASES)
def test_gpus_first_then_the_cpu(monkeypatch, gpus: list[tuple[str, int]], ids: list[str]) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: bool(gpus))
    monkeypatch.setattr(torch.cuda, "device_count", lambda: len(gpus))
    monkeypatch.setattr(torch.cuda, "get_device_properties",
                        lambda index: SimpleNamespace(name=gpus[index][0], total_memory=gpus[index][1]))
    devices = available_devices()
    assert [device.id for device in devices] == ids
    for index, (name, memory) in enumerate(gpus):
        assert devices[index] == ComputeDevice(f"cuda:{index}", f"GPU {index}: {name} ({memory / 2**30:.0f} GB)")
    assert devices[-1].label == f"CPU ({os.cpu_count() or 1} cores, {torch.get_num_threads()} threads for PyTorch)"
