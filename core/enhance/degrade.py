"""Simulated degradations of clean images: what restoration models learn to undo, and how the Enhance page and
benchmarks make a noisy or low-resolution copy with a known clean reference.

    gaussian   y = x + N(0, sigma^2)                        (sigma on [0, 1] images)
    poisson    y = Poisson(x * peak) / peak, peak = 0.5 / sigma^2: photon noise whose standard deviation is
               sigma at mid-grey, as in a low-dose acquisition
    blur       y = G_blur * x + N(0, sigma^2)               (Gaussian blur of `blur` pixels)
    downsample y = area-downsampled x by `scale`            (super-resolution input), plus N(0, sigma^2)

Results are clipped to [0, 1], as stored images are. Batched and seeded: the same generator state gives the
same degradation on CPU.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from core.errors import UserError

DEGRADATIONS = ("gaussian", "poisson", "blur")


@dataclass(frozen=True)
class Degradation:
    kind: str = "gaussian"   # gaussian | poisson | blur
    sigma: float = 0.1       # noise level on [0, 1] images
    blur: float = 1.5        # blur sigma in pixels (kind "blur")
    scale: int = 1           # > 1: downsample first (super-resolution)

    def __post_init__(self) -> None:
        if self.kind not in DEGRADATIONS:
            raise UserError(f"Unknown degradation '{self.kind}'; choose one of {', '.join(DEGRADATIONS)}.")
        if not 0 <= self.sigma <= 1:
            raise UserError(f"The noise level sigma must be between 0 and 1 (images are in [0, 1]), not {self.sigma}.")
        if self.kind == "poisson" and self.sigma <= 0:
            raise UserError("Poisson noise needs a noise level sigma above 0.")
        if not 0 < self.blur <= 10:
            raise UserError(f"The blur must be above 0 and at most 10 pixels, not {self.blur}.")
        if self.scale not in (1, 2, 4):
            raise UserError(f"The scale must be 1, 2 or 4, not {self.scale}.")

    def describe(self) -> str:
        noise = {"gaussian": f"Gaussian noise σ={self.sigma:g}", "poisson": f"Poisson noise (σ={self.sigma:g} at mid-grey)",
                 "blur": f"blur of {self.blur:g} px" + (f" and Gaussian noise σ={self.sigma:g}" if self.sigma else "")}
        text = noise[self.kind] if self.sigma or self.kind == "blur" else "no noise"
        return f"downsampled ×{self.scale}, {text}" if self.scale > 1 else text


def degrade(clean: torch.Tensor, degradation: Degradation, generator: torch.Generator | None = None) -> torch.Tensor:
    """Degrade a batch (N, C, H, W) in [0, 1]; H and W must be multiples of the scale."""
    x = clean
    if degradation.scale > 1:
        x = F.interpolate(x, scale_factor=1 / degradation.scale, mode="area")
    if degradation.kind == "blur":
        x = gaussian_blur(x, degradation.blur)
    if degradation.kind == "poisson":
        peak = 0.5 / degradation.sigma**2
        x = torch.poisson(x.clamp_min(0) * peak, generator=generator) / peak
    elif degradation.sigma > 0:
        x = x + degradation.sigma * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return x.clamp(0, 1)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, math.ceil(3 * sigma))
    offsets = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    kernel = torch.exp(-offsets**2 / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    channels = x.shape[1]
    x = F.pad(x, (radius,) * 4, mode="reflect" if min(x.shape[-2:]) > radius else "replicate")
    x = F.conv2d(x, kernel.view(1, 1, 1, -1).repeat(channels, 1, 1, 1), groups=channels)
    return F.conv2d(x, kernel.view(1, 1, -1, 1).repeat(channels, 1, 1, 1), groups=channels)


def degrade_image(image: np.ndarray, degradation: Degradation, seed: int = 0) -> np.ndarray:
    """One (H, W) or (H, W, C) float image in [0, 1] -> its degraded copy (smaller by the scale)."""
    channels_last = image.ndim == 3
    tensor = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))
    tensor = tensor.permute(2, 0, 1)[None] if channels_last else tensor[None, None]
    height, width = tensor.shape[-2:]
    s = degradation.scale
    tensor = tensor[..., : height - height % s, : width - width % s]
    out = degrade(tensor, degradation, torch.Generator().manual_seed(seed))[0]
    return (out.permute(1, 2, 0) if channels_last else out[0]).numpy()


def psnr(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio per image (data range 1), in dB: (N,) for (N, C, H, W) inputs."""
    mse = ((prediction - target) ** 2).flatten(1).mean(1).clamp_min(1e-10)
    return 10 * torch.log10(1 / mse)
