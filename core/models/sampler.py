"""What every trained generative model offers once training is over: a `Sampler`.

A GAN's (EMA) generator, a VAE's decoder and a diffusion model's UNet with its DDIM scheduler are each wrapped
in a Sampler, built either from a live task (preview grids, the report) or from a run folder's rebuild spec and
published weights (the Synthesize page, `python -m core sample`), so both go through the same code.

Images are float32 (N, C, H, W) in [0, 1] on the CPU. Labels are class indices into `classes` (the dataset's
class names) for class-conditional models; `classes` is empty for unconditional ones.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import torch


class Sampler(ABC):
    """Draws images from a trained generative model. Subclasses set `kind`, `classes`, `channels`, `size`."""

    kind: str                  # the config task that trained it: gan | vae | autoencoder | diffusion
    classes: list[str]         # class names it is conditioned on; [] when unconditional
    channels: int
    size: int                  # images are size x size
    device: torch.device = torch.device("cpu")
    temperature_name: str = "temperature"  # what `temperature` means here ("truncation" for a GAN)

    @classmethod
    @abstractmethod
    def from_weights(cls, spec: dict[str, Any], weights: dict[str, torch.Tensor],
                     device: torch.device = torch.device("cpu")) -> Sampler:
        """Rebuild from a run's rebuild spec (model.json) and its published weights (best.safetensors)."""

    @abstractmethod
    def noise(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """The model's input noise (latent vectors, or a diffusion model's starting noise) for `n` images."""

    @abstractmethod
    def from_noise(self, noise: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Images (N, C, H, W) in [0, 1] on the CPU from `noise` (and class `labels` when conditional)."""

    @property
    def conditional(self) -> bool:
        return bool(self.classes)

    def balanced_labels(self, n: int) -> torch.Tensor | None:
        """Class labels 0, 1, ..., K-1, 0, 1, ... for `n` images of a conditional model; None otherwise."""
        return torch.arange(n) % len(self.classes) if self.classes else None

    def scaled_noise(self, n: int, seed: int, temperature: float = 1.0) -> torch.Tensor:
        """`noise(n)` from `seed`, scaled by `temperature` (below 1: typical, less varied images). A GAN overrides
        this with the truncation trick (Brock et al. 2019: resample components beyond the threshold)."""
        return self.noise(n, torch.Generator().manual_seed(seed)) * temperature

    @torch.no_grad()
    def generate(self, n: int, seed: int = 0, labels: Sequence[int] | torch.Tensor | None = None,
                 temperature: float = 1.0, batch_size: int = 64) -> torch.Tensor:
        """`n` images from `seed`; the same arguments always give the same images. Conditional models without
        `labels` get the classes in turn. Raises ValueError for labels outside `classes`."""
        labels = self._labels(n, labels)
        noise = self.scaled_noise(n, seed, temperature)
        return torch.cat([self.from_noise(noise[start:start + batch_size],
                                          None if labels is None else labels[start:start + batch_size])
                          for start in range(0, n, batch_size)]) if n else \
            torch.zeros(0, self.channels, self.size, self.size)

    @torch.no_grad()
    def interpolate(self, seed_a: int, seed_b: int, steps: int = 8, label: int | None = None,
                    temperature: float = 1.0) -> torch.Tensor:
        """`steps` images along the spherical interpolation (slerp; White 2016) between the noise of two seeds,
        which keeps every point as likely as the ends for Gaussian noise."""
        a, b = self.scaled_noise(1, seed_a, temperature), self.scaled_noise(1, seed_b, temperature)
        weights = torch.linspace(0, 1, steps)
        noise = torch.cat([slerp(a, b, float(w)) for w in weights])
        labels = None if not self.classes else torch.full((steps,), label if label is not None else 0, dtype=torch.long)
        return self.from_noise(noise, labels)

    def _labels(self, n: int, labels: Sequence[int] | torch.Tensor | None) -> torch.Tensor | None:
        if not self.classes:
            return None
        if labels is None:
            return self.balanced_labels(n)
        labels = torch.as_tensor(labels, dtype=torch.long).reshape(-1)
        if len(labels) == 1 and n != 1:
            labels = labels.expand(n)
        if len(labels) != n or labels.min() < 0 or labels.max() >= len(self.classes):
            raise ValueError(f"labels must be {n} class indices below {len(self.classes)}")
        return labels


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical linear interpolation between two noise tensors of the same shape (falls back to a straight
    line when they are parallel)."""
    flat_a, flat_b = a.flatten(), b.flatten()
    cosine = torch.dot(flat_a, flat_b) / (flat_a.norm() * flat_b.norm()).clamp_min(1e-12)
    omega = torch.arccos(cosine.clamp(-1, 1))
    if float(omega.abs()) < 1e-4:
        return (1 - t) * a + t * b
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / math.sin(float(omega))
