"""Dataset splits as tensors on the training device, indexed per batch (no per-step data loader).

For small medical images the loader is often the bottleneck, not the model (KellerJordan/cifar10-airbench):
the whole split lives on the device as uint8 (or float16 for deeper data) and batches are sliced from it.
A split too large for free GPU memory stays in (pinned) host memory and each batch is copied over.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from core.data.store import Dataset, DatasetInfo
from core.errors import UserError

GPU_SHARE = 0.4  # at most this share of free GPU memory for resident data; the rest is for the model


class SplitTensors:
    """The images and labels of one split. `batch(indices)` gives float32 (B, C, H, W) in [0, 1] on `device`; for a
    sequence dataset (info.frames = T > 0, stored (N, T, H, W, C)) clips (B, T, C, H, W) in [0, 1]."""

    def __init__(self, dataset: Dataset, indices: np.ndarray, device: torch.device, image_size: int | None = None
                 ) -> None:
        self.indices = indices
        info = dataset.info
        self.frames = info.frames  # 0 for images
        images = np.asarray(dataset.images[self.indices]) if len(self.indices) else \
            np.zeros((0, *((info.frames,) if info.frames else ()), info.size, info.size, info.channels),
                     dtype=dataset.images.dtype)
        tensor = torch.from_numpy(images)
        tensor = tensor.permute(0, 1, 4, 2, 3) if self.frames else tensor.permute(0, 3, 1, 2)
        self.scale = float(np.iinfo(images.dtype).max)
        if images.dtype != np.uint8:  # uint16 has few torch ops: keep 2 bytes per value as float16 in [0, 1]
            tensor, self.scale = (tensor.to(torch.int32).float() / self.scale).half(), 1.0
        if image_size and image_size != dataset.info.size and len(tensor):
            if self.frames:  # every frame of every clip, as one batch of images
                tensor = _resize(tensor.flatten(0, 1), image_size, self.scale).unflatten(0, tensor.shape[:2])
            else:
                tensor = _resize(tensor, image_size, self.scale)
        self.device = device
        resident = device.type != "cuda" or tensor.numel() * tensor.element_size() < GPU_SHARE * _free_memory(device)
        self.images = tensor.to(device) if resident else tensor.pin_memory()
        labels = dataset.labels[self.indices]
        self.labels = torch.from_numpy(labels.astype(np.float32 if labels.ndim == 2 else np.int64)).to(device)

    def __len__(self) -> int:
        return len(self.indices)

    def batch(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        images = self.images[indices.to(self.images.device)].to(self.device, non_blocking=True)
        return images.float() / self.scale, self.labels[indices.to(self.labels.device)]

    def batches(self, size: int):
        for start in range(0, len(self), size):
            yield self.batch(torch.arange(start, min(start + size, len(self))))


def _resize(images: torch.Tensor, size: int, scale: float) -> torch.Tensor:
    """Resize a stored split once at set-up (anti-aliased when shrinking), keeping its storage dtype."""
    out = []
    for chunk in images.split(512):
        resized = F.interpolate(chunk.float(), size=(size, size), mode="bilinear", align_corners=False,
                                antialias=chunk.shape[-1] > size)
        out.append(resized.round().clamp(0, scale).to(images.dtype) if images.dtype == torch.uint8
                   else resized.clamp(0, 1).to(images.dtype))
    return torch.cat(out)


def _free_memory(device: torch.device) -> int:
    free, _ = torch.cuda.mem_get_info(device)
    return free


def refuse_clips(info: DatasetInfo) -> None:
    """Image tasks train on single images: a sequence dataset (clips) is refused with one sentence naming the task
    that trains it."""
    if info.is_sequence:
        raise UserError(f"Dataset '{info.id}' holds clips of {info.frames} frames, not single images; train it with "
                        "task 'sequence'.")


def step_seed(*parts: int) -> int:
    """A well-mixed seed from (seed, epoch, step): the same parts always give the same random stream."""
    return int(np.random.SeedSequence([abs(int(p)) for p in parts]).generate_state(1)[0])
