"""The compute devices this server offers: the CPU and each CUDA GPU with its name and memory."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class ComputeDevice:
    id: str                 # torch device string: "cpu", "cuda:0", ...
    label: str              # what the sidebar shows (a GPU's name and memory in GiB)


def available_devices() -> list[ComputeDevice]:
    """CUDA GPUs first (training prefers them), then the CPU."""
    devices = []
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(index)
            memory = props.total_memory / 2**30
            devices.append(ComputeDevice(f"cuda:{index}", f"GPU {index}: {props.name} ({memory:.0f} GB)"))
    cores = os.cpu_count() or 1
    devices.append(ComputeDevice("cpu", f"CPU ({cores} cores, {torch.get_num_threads()} threads for PyTorch)"))
    return devices

