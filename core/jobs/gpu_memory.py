"""Whether a queued run fits on a GPU now: its expected memory need against the GPU's free memory, so a full GPU
queues the run ("waiting for GPU memory ...") instead of crashing it with out-of-memory.

The need, in order of preference:
1. MEDLAB_JOB_GPU_MEMORY_GB (the operator's figure for every run);
2. what a finished run of the same recipe (task, model, dataset, batch size, image size) reserved at its peak
   (`gpu_memory_peak_bytes` in its summary, written by core.jobs.execute), plus the CUDA context, with 20 % margin;
3. a rough, deliberately generous rule from the config: the CUDA context and framework (0.75 GB) plus about
   1 KB of kept activations per input pixel per image in a batch (batch x frames x side^2; side 256 when the
   config leaves the image size to the dataset, 16 frames for a sequence run).
Free memory comes from torch.cuda.mem_get_info (cudaMemGetInfo), injectable so tests need no GPU. Calling it
makes the server process hold a small CUDA context on each GPU it checks.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

GB = 1024**3
CONTEXT_BYTES = int(0.75 * GB)      # CUDA context, cuDNN/cuBLAS workspaces, the framework's own allocations
BYTES_PER_PIXEL = 1024              # activations kept for the backward pass, per input pixel per image
DEFAULT_SIDE = 256                  # the image side assumed when the config leaves it to the dataset
SEQUENCE_FRAMES = 16                # frames per clip assumed for a sequence run (a dataset property, not the config's)
MEASURED_MARGIN = 1.2

MemGetInfo = Callable[[str], tuple[int, int]]  # device ("cuda:0") -> (free bytes, total bytes)


def torch_mem_get_info(device: str) -> tuple[int, int]:
    import torch

    return torch.cuda.mem_get_info(torch.device(device))


def recipe_key(config: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(config.get(name) for name in ("task", "model", "dataset", "batch_size", "image_size"))


def memory_need(config: dict[str, Any], measured: Sequence[int] = ()) -> int:
    """Bytes of GPU memory a run of `config` is expected to take. `measured`: the peak bytes reserved by
    finished runs of the same recipe (see recipe_key). Raises nothing: an unreadable figure falls back to the rule."""
    override = os.environ.get("MEDLAB_JOB_GPU_MEMORY_GB")
    if override:
        try:
            return int(float(override) * GB)
        except ValueError:
            pass
    if measured:
        return int(CONTEXT_BYTES + MEASURED_MARGIN * max(measured))
    batch = int(config.get("batch_size") or 64)
    side = int(config.get("image_size") or DEFAULT_SIDE)
    frames = SEQUENCE_FRAMES if config.get("task") == "sequence" else 1  # clips' frames are the dataset's: assume
    return CONTEXT_BYTES + batch * frames * side * side * BYTES_PER_PIXEL


def waiting_sentence(need: int, free: int, device: str) -> str:
    """"waiting for GPU memory (needs about 3.1 GB, 1.2 GB free on cuda:0)"."""
    return f"waiting for GPU memory (needs about {need / GB:.1f} GB, {max(0, free) / GB:.1f} GB free on {device})"
