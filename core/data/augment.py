"""Training-time augmentation of whole batches on their device, each image with its own random parameters.

Batched tensor ops (one grid_sample for rotation and elastic deformation, a grouped convolution for blur) keep
augmentation off the critical path on CPU and on the GPU, as in KellerJordan/cifar10-airbench. Elastic
deformation follows Simard et al., "Best practices for convolutional neural networks applied to visual document
analysis", ICDAR 2003: a smoothed random displacement field. The Dataset page's preview and the training loop
call the same `augment_batch`, so what a user sees is what the model gets.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from core.errors import UserError
from core.settings import workspace_dir

# (lowest, highest) accepted value per numeric setting; the UI offers the same ranges.
LIMITS = {
    "rotate_degrees": (0.0, 45.0),
    "elastic": (0.0, 0.1),
    "noise_sigma": (0.0, 0.1),
    "blur_sigma": (0.0, 3.0),
    "brightness": (0.0, 0.5),
    "contrast": (0.0, 0.5),
}


@dataclass
class Augmentation:
    hflip: bool = False           # mirror left-right with probability 1/2 (changes laterality: off for chest X-rays)
    vflip: bool = False           # mirror top-bottom with probability 1/2
    rotate_degrees: float = 0.0   # rotate by up to +- this many degrees
    elastic: float = 0.0          # elastic deformation: largest displacement as a fraction of the image side
    noise_sigma: float = 0.0      # add Gaussian noise with sigma up to this (images are in [0, 1])
    blur_sigma: float = 0.0       # Gaussian blur with sigma up to this many pixels
    brightness: float = 0.0       # shift intensity by up to +- this
    contrast: float = 0.0         # scale contrast by a factor within 1 +- this

    def __post_init__(self) -> None:
        for name, (low, high) in LIMITS.items():
            value = float(getattr(self, name))
            if not low <= value <= high:
                raise UserError(f"Augmentation setting '{name}' must be between {low:g} and {high:g}, not {value:g}.")
            setattr(self, name, value)
        self.hflip, self.vflip = bool(self.hflip), bool(self.vflip)

    @classmethod
    def from_dict(cls, values: dict) -> Augmentation:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise UserError(f"Unknown augmentation setting '{unknown[0]}'; known: {', '.join(sorted(known))}.")
        return cls(**values)

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def is_identity(self) -> bool:
        return self == Augmentation()

    def describe(self) -> list[str]:
        parts = []
        if self.hflip:
            parts.append("left-right flips")
        if self.vflip:
            parts.append("top-bottom flips")
        if self.rotate_degrees:
            parts.append(f"rotation up to ±{self.rotate_degrees:g}°")
        if self.elastic:
            parts.append(f"elastic deformation up to {self.elastic:.0%} of the image")
        if self.noise_sigma:
            parts.append(f"Gaussian noise σ up to {self.noise_sigma:g}")
        if self.blur_sigma:
            parts.append(f"blur σ up to {self.blur_sigma:g} px")
        if self.brightness:
            parts.append(f"brightness ±{self.brightness:g}")
        if self.contrast:
            parts.append(f"contrast ×(1±{self.contrast:g})")
        return parts or ["none"]


def augment_batch(images: torch.Tensor, augmentation: Augmentation, generator: torch.Generator | None = None
                  ) -> torch.Tensor:
    """Augment a float batch (N, C, H, W) in [0, 1]; returns a new tensor, also in [0, 1]."""
    if augmentation.is_identity:
        return images
    x = images
    n = x.shape[0]

    def uniform(low: float, high: float, *shape: int) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, *shape, generator=generator, device=x.device, dtype=x.dtype)

    if augmentation.hflip:
        x = torch.where(uniform(0, 1, 1, 1, 1) < 0.5, x.flip(-1), x)
    if augmentation.vflip:
        x = torch.where(uniform(0, 1, 1, 1, 1) < 0.5, x.flip(-2), x)
    if augmentation.rotate_degrees or augmentation.elastic:
        x = _warp(x, augmentation, uniform, generator)
    if augmentation.blur_sigma:
        x = _blur(x, uniform(0, augmentation.blur_sigma), augmentation.blur_sigma)
    if augmentation.brightness or augmentation.contrast:
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        factor = uniform(1 - augmentation.contrast, 1 + augmentation.contrast, 1, 1, 1)
        shift = uniform(-augmentation.brightness, augmentation.brightness, 1, 1, 1)
        x = (x - mean) * factor + mean + shift
    if augmentation.noise_sigma:
        sigma = uniform(0, augmentation.noise_sigma, 1, 1, 1)
        x = x + sigma * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return x.clamp(0, 1)


def _warp(x: torch.Tensor, augmentation: Augmentation, uniform, generator) -> torch.Tensor:
    """Rotation and elastic deformation as one resampling (bilinear, edges extended)."""
    n, _, height, width = x.shape
    angle = uniform(-1, 1) * math.radians(augmentation.rotate_degrees)
    cos, sin = torch.cos(angle), torch.sin(angle)
    zero = torch.zeros_like(cos)
    theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    if augmentation.elastic:
        coarse = torch.rand(n, 2, 5, 5, generator=generator, device=x.device, dtype=x.dtype) * 2 - 1
        field = F.interpolate(coarse, size=(height, width), mode="bicubic", align_corners=False)
        grid = grid + 2 * augmentation.elastic * field.permute(0, 2, 3, 1)  # grid spans [-1, 1]: side = 2
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _blur(x: torch.Tensor, sigma: torch.Tensor, max_sigma: float) -> torch.Tensor:
    """Separable Gaussian blur with one sigma per image, as a grouped convolution over the whole batch."""
    n, c, height, width = x.shape
    radius = max(1, math.ceil(3 * max_sigma))
    offsets = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    kernel = torch.exp(-offsets[None] ** 2 / (2 * sigma.clamp_min(1e-3)[:, None] ** 2))  # (n, k)
    kernel = (kernel / kernel.sum(dim=1, keepdim=True)).repeat_interleave(c, dim=0)
    flat = x.reshape(1, n * c, height, width)
    flat = F.pad(flat, (radius, radius, radius, radius), mode="replicate")
    flat = F.conv2d(flat, kernel[:, None, None, :], groups=n * c)
    flat = F.conv2d(flat, kernel[:, None, :, None], groups=n * c)
    return flat.reshape(n, c, height, width)


def preview(image: np.ndarray, augmentation: Augmentation, count: int = 8, seed: int = 0) -> list[np.ndarray]:
    """`count` augmented versions of one (H, W, C) float image in [0, 1], for the Dataset page."""
    batch = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).permute(2, 0, 1)[None]
    generator = torch.Generator().manual_seed(seed)
    out = augment_batch(batch.repeat(count, 1, 1, 1), augmentation, generator)
    return [frame.permute(1, 2, 0).numpy() for frame in out]


# Saved per workspace and dataset, so built-in (shared, read-only) datasets can carry a workspace's choice too.
def _augmentation_file(workspace: str, dataset_id: str) -> Path:
    return workspace_dir(workspace) / "augmentations" / f"{dataset_id}.json"


def default_augmentation(dataset_id: str) -> Augmentation:
    from core.data.builtin import is_builtin

    if is_builtin(dataset_id):  # the phantom's anatomy is left-right symmetric: mirroring is safe and helps
        return Augmentation(hflip=True)
    return Augmentation(rotate_degrees=10, brightness=0.1, contrast=0.1)


def load_augmentation(workspace: str, dataset_id: str) -> Augmentation:
    path = _augmentation_file(workspace, dataset_id)
    if not path.exists():
        return default_augmentation(dataset_id)
    return Augmentation.from_dict(json.loads(path.read_text()))


def save_augmentation(workspace: str, dataset_id: str, augmentation: Augmentation) -> None:
    path = _augmentation_file(workspace, dataset_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(augmentation.as_dict(), indent=1))
    os.replace(tmp, path)
