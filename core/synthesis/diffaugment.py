"""Differentiable augmentation for GAN training on little data (Zhao, Liu, Lin, Zhu & Han, "Differentiable
Augmentation for Data-Efficient GAN Training", NeurIPS 2020), after the authors' reference code.

The same kind of random transform is applied to real and generated images before the discriminator sees them,
in both the discriminator's and the generator's step, so the discriminator cannot memorise the few real images
while the generator still gets gradients through the transform (every operation here is differentiable in the
images). Randomness comes from a torch.Generator, so a (seed, step) always gives the same transform.

Policies (comma-separated): color (brightness, saturation for RGB, contrast), translation (up to 1/8 of the
size, zero padded), cutout (a square of half the size set to zero). Images are (N, C, H, W) in [-1, 1].
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

POLICIES = ("color", "translation", "cutout")
TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5


def parse_policy(policy: str) -> tuple[str, ...]:
    """The operations of a comma-separated policy ("" = none). Raises ValueError naming an unknown one."""
    names = tuple(name.strip() for name in policy.split(",") if name.strip())
    for name in names:
        if name not in POLICIES:
            raise ValueError(f"unknown DiffAugment operation '{name}'; known: {', '.join(POLICIES)}")
    return names


def diff_augment(images: torch.Tensor, policy: str, generator: torch.Generator) -> torch.Tensor:
    """`images` (N, C, H, W) transformed by each operation of `policy` in turn, one random draw per image from
    `generator` (on the images' device). Shape and dtype are kept; gradients flow to `images`."""
    for name in parse_policy(policy):
        if name == "color":
            images = _contrast(_saturation(_brightness(images, generator), generator), generator)
        elif name == "translation":
            images = _translation(images, generator)
        else:
            images = _cutout(images, generator)
    return images


def _uniform(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One U(0, 1) draw per image, shaped (N, 1, 1, 1)."""
    return torch.rand(len(images), 1, 1, 1, generator=generator, device=images.device, dtype=images.dtype)


def _brightness(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return x + (_uniform(x, generator) - 0.5)


def _saturation(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    if x.shape[1] == 1:  # a grey image has no saturation
        return x
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (_uniform(x, generator) * 2) + mean


def _contrast(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_uniform(x, generator) + 0.5) + mean


def _translation(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Shift each image by up to 1/8 of its size in each direction, filling with zeros."""
    n, _, h, w = x.shape
    shift_h, shift_w = int(h * TRANSLATION_RATIO + 0.5), int(w * TRANSLATION_RATIO + 0.5)
    dy = torch.randint(-shift_h, shift_h + 1, (n, 1, 1), generator=generator, device=x.device)
    dx = torch.randint(-shift_w, shift_w + 1, (n, 1, 1), generator=generator, device=x.device)
    batch, rows, cols = torch.meshgrid(torch.arange(n, device=x.device), torch.arange(h, device=x.device),
                                       torch.arange(w, device=x.device), indexing="ij")
    rows = (rows + dy + 1).clamp(0, h + 1)
    cols = (cols + dx + 1).clamp(0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1])  # the border row/column of zeros is what clamped indices read
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2).contiguous()


def _cutout(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Zero a square of half the image's size at a random centre (clipped at the border) in each image."""
    n, _, h, w = x.shape
    size_h, size_w = int(h * CUTOUT_RATIO + 0.5), int(w * CUTOUT_RATIO + 0.5)
    top = torch.randint(0, h + (1 - size_h % 2), (n, 1, 1), generator=generator, device=x.device)
    left = torch.randint(0, w + (1 - size_w % 2), (n, 1, 1), generator=generator, device=x.device)
    rows = torch.arange(h, device=x.device)[None, :, None]
    cols = torch.arange(w, device=x.device)[None, None, :]
    inside = ((rows >= top - size_h // 2) & (rows < top - size_h // 2 + size_h)
              & (cols >= left - size_w // 2) & (cols < left - size_w // 2 + size_w))
    return x * (~inside).to(x.dtype)[:, None]
