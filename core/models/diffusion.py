"""A small denoising diffusion model (DDPM; Ho et al., NeurIPS 2020) sampled with DDIM (Song et al., ICLR 2021),
built on diffusers' UNet2DModel and schedulers rather than hand-written: the UNet predicts the noise added to
an image at a timestep (trained with DDPMScheduler's forward process), and DDIMScheduler walks back from pure
noise in `sample_steps` deterministic steps (eta = 0), so the same starting noise always gives the same image
and interpolating the noise interpolates the images. Class-conditional models add a learned class embedding to
the timestep embedding (diffusers' `num_class_embeds`).

Everything is constructed from a config, never downloaded (no `from_pretrained`). diffusers is imported lazily,
so importing the tasks does not pay for it.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from core.models.sampler import Sampler

TRAIN_TIMESTEPS = 1000
BETA_SCHEDULE = "squaredcos_cap_v2"  # the cosine schedule (Nichol & Dhariwal, ICML 2021): better than the linear one
                                     # on small images, whose detail the linear schedule destroys too early
CHANNEL_MULTIPLIERS = (1, 2, 2, 4, 4)
SIZE_MULTIPLE = 4


def quiet_diffusers() -> None:
    """Keep diffusers' own log lines and progress bars off the user's stderr (errors still show)."""
    from diffusers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()


def unet_levels(size: int) -> int:
    """Resolution levels of the UNet for a `size` px image: halve while the side is even and above 8 px."""
    levels = 1
    while size > 8 and size % 2 == 0:
        size //= 2
        levels += 1
    return levels


def build_unet(channels: int, size: int, num_classes: int = 0, base_channels: int = 32, layers_per_block: int = 1
               ) -> nn.Module:
    """A diffusers UNet2DModel for (N, channels, size, size) images: widths base_channels x (1, 2, 2, 4, 4) per
    level, self-attention at the lowest resolution (and in the middle block), a class embedding when
    `num_classes` > 0. Called as unet(x, timesteps, class_labels=labels).sample -> predicted noise (N, C, H, W)."""
    from diffusers import UNet2DModel

    quiet_diffusers()
    if size % SIZE_MULTIPLE or channels not in (1, 3):
        raise ValueError(f"diffusion UNet needs 1 or 3 channels and a side that is a multiple of {SIZE_MULTIPLE}")
    levels = unet_levels(size)
    widths = tuple(base_channels * m for m in CHANNEL_MULTIPLIERS[:levels])
    return UNet2DModel(sample_size=size, in_channels=channels, out_channels=channels, block_out_channels=widths,
                       layers_per_block=layers_per_block,
                       down_block_types=("DownBlock2D",) * (levels - 1) + ("AttnDownBlock2D",),
                       up_block_types=("AttnUpBlock2D",) + ("UpBlock2D",) * (levels - 1),
                       norm_num_groups=min(8, base_channels), num_class_embeds=num_classes or None)


def training_scheduler(beta_schedule: str = BETA_SCHEDULE, timesteps: int = TRAIN_TIMESTEPS):
    """The DDPM forward process (noise levels per timestep) the UNet is trained on."""
    from diffusers import DDPMScheduler

    quiet_diffusers()
    return DDPMScheduler(num_train_timesteps=timesteps, beta_schedule=beta_schedule, clip_sample=True)


def sampling_scheduler(sample_steps: int, beta_schedule: str = BETA_SCHEDULE, timesteps: int = TRAIN_TIMESTEPS):
    """DDIM over the training noise levels, with `sample_steps` steps spaced to end at the last timestep
    ("trailing", so the first step starts from pure noise; Lin et al., WACV 2024)."""
    from diffusers import DDIMScheduler

    quiet_diffusers()
    scheduler = DDIMScheduler(num_train_timesteps=timesteps, beta_schedule=beta_schedule, clip_sample=True,
                              set_alpha_to_one=True, timestep_spacing="trailing")
    scheduler.set_timesteps(sample_steps)
    return scheduler


class DiffusionSampler(Sampler):
    """A trained diffusion UNet with its DDIM sampler. noise: the starting Gaussian noise (N, C, H, W)."""

    kind = "diffusion"

    def __init__(self, unet: nn.Module, classes: list[str], channels: int, size: int, sample_steps: int = 25,
                 beta_schedule: str = BETA_SCHEDULE, device: torch.device = torch.device("cpu")) -> None:
        self.unet = unet.to(device).eval()
        self.classes, self.channels, self.size, self.device = list(classes), channels, size, device
        self.sample_steps, self.beta_schedule = sample_steps, beta_schedule

    @classmethod
    def from_weights(cls, spec: dict[str, Any], weights: dict[str, torch.Tensor],
                     device: torch.device = torch.device("cpu")) -> DiffusionSampler:
        unet = build_unet(int(spec["channels"]), int(spec["size"]), len(spec.get("classes") or []),
                          int(spec["base_channels"]), int(spec["layers_per_block"]))
        unet.load_state_dict(weights)
        return cls(unet, spec.get("classes") or [], int(spec["channels"]), int(spec["size"]),
                   int(spec.get("sample_steps", 25)), spec.get("beta_schedule", BETA_SCHEDULE), device)

    def noise(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randn(n, self.channels, self.size, self.size, generator=generator)

    @torch.no_grad()
    def from_noise(self, noise: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """DDIM with eta = 0 from `noise`: deterministic, images (N, C, H, W) in [0, 1] on the CPU."""
        scheduler = sampling_scheduler(self.sample_steps, self.beta_schedule)
        x = noise.to(self.device, torch.float32)
        if self.classes and labels is None:
            raise ValueError("a class-conditional diffusion model needs labels")
        labels = None if not self.classes else labels.to(self.device)
        for t in scheduler.timesteps:
            timestep = torch.full((len(x),), int(t), device=self.device, dtype=torch.long)
            predicted = self.unet(x, timestep, class_labels=labels).sample
            x = scheduler.step(predicted.float(), t, x, eta=0.0).prev_sample
        return ((x + 1) / 2).clamp(0, 1).float().cpu()
