"""Diffusion training: a small DDPM (Ho et al., NeurIPS 2020) on diffusers' UNet2DModel, sampled with DDIM (Song
et al., ICLR 2021), on the shared loop (see core.models.diffusion).

Each step noises a batch of training images (scaled to [-1, 1]) at random timesteps with DDPMScheduler's forward
process and fits the UNet to predict that noise (mean squared error). An exponential moving average of the UNet's
weights (diffusers' EMAModel, with its warm-up) is what validation, previews and the published weights use, as
in Ho et al. Validation: the noise-prediction MSE at fixed seeded noise and timesteps ("val_loss") and, on
labelled data, the FD on MedLab features of `val_samples` DDIM samples ("val_fd").

The recommended recipe depends on the device (DEVICE_RECIPES): a GPU trains a wider UNet for longer; a 2-core CPU
finishes a short run of a narrow one in minutes (its samples are rough; a GPU is the place for this model).
"""
from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from core.data.store import DatasetInfo
from core.errors import UserError
from core.models.diffusion import BETA_SCHEDULE, SIZE_MULTIPLE, DiffusionSampler, build_unet, training_scheduler
from core.tasks.base import SingleNetworkTask
from core.tasks.generative import GenerativeConfig, GenerativeTask, check_generative
from core.tasks.restore import device_kind
from core.tasks.tensors import step_seed
from core.tasks.vae import check_size_and_channels
from core.train.optim import Optimization, autocast_dtype

# The recipe's length and size per kind of device. On one CPU core a 64 px training step of the narrow UNet
# (base 32, batch 16) costs about 1.4 s and a DDIM step for 32 images about 1 s, so the CPU recipe is a short run
# (4 epochs of at most 50 steps, validated on 32 samples: about 2 CPU-minutes an epoch) whose samples stay rough;
# a GPU trains the wider UNet for 40 epochs of up to 300 steps (phantom-64: 11,200 steps) and validates on 256.
# The final report draws 128 samples on a CPU (about 4 CPU-minutes) instead of the usual 500.
DEVICE_RECIPES: dict[str, dict[str, int]] = {
    "cpu": {"epochs": 4, "max_steps_per_epoch": 50, "batch_size": 16, "base_channels": 32, "layers_per_block": 1,
            "val_samples": 32, "report_samples": 128},
    "cuda": {"epochs": 40, "max_steps_per_epoch": 300, "batch_size": 64, "base_channels": 64, "layers_per_block": 2,
             "val_samples": 256, "report_samples": 500},
}
PASSES_PER_EPOCH = 8     # an epoch draws 8x the training images (at random), in at most max_steps_per_epoch batches:
                         # a diffusion model needs far more steps than one pass over a small dataset
EVAL_BATCH = 64
EVAL_SEED = 9876         # validation noise and timesteps are fixed, so epochs are comparable
VAL_LOSS_IMAGES = 256    # at most this many images of a split for its noise-prediction loss (affordable on a CPU)


@dataclass
class DiffusionConfig(GenerativeConfig):
    """Diffusion settings; the defaults are the recommended recipe (None: the device's, see DEVICE_RECIPES)."""

    task: str = "diffusion"
    model: str = ""                       # "" = ddpm_unet
    conditional: bool = True              # class-conditional on labelled data (ignored when unlabelled or
                                          # when train_class picks one class)
    sample_steps: int = 25                # DDIM steps per sample (the UNet trains on 1,000 noise levels)
    ema_decay: float = 0.999              # the EMA's decay once warmed up
    epochs: int | None = None
    max_steps_per_epoch: int | None = None
    batch_size: int | None = None
    base_channels: int | None = None      # the UNet's first width (x 1, 2, 2, 4, 4 per level)
    layers_per_block: int | None = None
    val_samples: int | None = None        # DDIM samples per validation FD
    optimizer: str = "adamw"
    lr: float = 3e-4
    weight_decay: float = 0.0
    scheduler: str = "cosine"
    warmup_epochs: float = 0.5
    grad_clip: float = 1.0

    def __post_init__(self) -> None:
        for name, value in DEVICE_RECIPES[device_kind(self.device)].items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        super().__post_init__()
        if self.task != "diffusion":
            raise UserError(f"Config field 'task' must be diffusion here, not '{self.task}'.")
        self.model = self.model or "ddpm_unet"
        if self.model != "ddpm_unet":
            raise UserError(f"Config field 'model' must be ddpm_unet for diffusion, not '{self.model}'.")
        if self.image_size is not None and self.image_size % SIZE_MULTIPLE:
            raise UserError(f"Config field 'image_size' must be a multiple of {SIZE_MULTIPLE} for diffusion "
                            f"(16, 28, 32, 64, 128 ...), not {self.image_size}.")
        if not 1 <= self.sample_steps <= 1000:
            raise UserError(f"Config field 'sample_steps' must be between 1 and 1000, not {self.sample_steps}.")
        if not 0 <= self.ema_decay < 1:
            raise UserError(f"Config field 'ema_decay' must be at least 0 and below 1, not {self.ema_decay}.")
        if self.max_steps_per_epoch < 1:
            raise UserError(f"Config field 'max_steps_per_epoch' must be at least 1, not {self.max_steps_per_epoch}.")
        if self.base_channels not in (8, 16, 32, 64, 128):
            raise UserError(f"Config field 'base_channels' must be 8, 16, 32, 64 or 128, not {self.base_channels}.")
        if not 1 <= self.layers_per_block <= 3:
            raise UserError(f"Config field 'layers_per_block' must be 1, 2 or 3, not {self.layers_per_block}.")


class DiffusionTask(GenerativeTask, SingleNetworkTask):
    """A DDPM with DDIM sampling (the report: core.synthesis.report)."""

    kinds = ("diffusion",)
    config_class = DiffusionConfig
    config: DiffusionConfig

    @staticmethod
    def check(config: DiffusionConfig, info: DatasetInfo) -> str:
        """Splits, train_class, size and channels; returns "val_fd" on labelled data, else "val_loss"."""
        check_size_and_channels(config, info, "diffusion model")
        return check_generative(config, info, needs_labels=False)

    @property
    def conditional(self) -> bool:
        labelled = self.dataset.info.task == "classification" and len(self.classes) >= 2
        return self.config.conditional and labelled and not self.config.train_class

    def setup(self, device: torch.device) -> None:
        from diffusers.training_utils import EMAModel

        self.load_data(device)
        torch.manual_seed(self.config.seed)  # the same seed gives the same initial weights
        self.model = build_unet(self.channels, self.image_size, len(self.classes) if self.conditional else 0,
                                self.config.base_channels, self.config.layers_per_block).to(device)
        self.ema_unet = copy.deepcopy(self.model).eval().requires_grad_(False)
        self.ema = EMAModel(self.model.parameters(), decay=self.config.ema_decay, use_ema_warmup=True,
                            power=2 / 3)
        self.ema.to(device)
        self.noise_scheduler = training_scheduler()
        self.amp_dtype = autocast_dtype(self.config, device)
        self.optimization = Optimization(self.model, self.config, self.steps_per_epoch, device)
        self.model.train()

    @property
    def steps_per_epoch(self) -> int:
        draws = len(self.splits["train"]) * PASSES_PER_EPOCH // self.config.batch_size
        return max(1, min(draws, self.config.max_steps_per_epoch))

    @property
    def images_per_step(self) -> int:
        return self.config.batch_size

    def train_batches(self, epoch: int, start_step: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor, int]]:
        """(images (B, C, S, S) drawn at random, labels (B,), the seed of the step's noise and timesteps) per step
        of `epoch`; the same (seed, epoch, step) always gives the same batch."""
        train = self.splits["train"]
        for step in range(start_step, self.steps_per_epoch):
            generator = torch.Generator().manual_seed(step_seed(self.config.seed, epoch, step))
            images, labels = train.batch(torch.randint(len(train), (self.config.batch_size,), generator=generator))
            yield images, labels, step_seed(self.config.seed, epoch, step, 1)

    def _noise_loss(self, unet: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, seed: int
                    ) -> torch.Tensor:
        """Per-image noise-prediction MSE (N,) at noise and timesteps drawn from `seed`."""
        generator = torch.Generator(self.device).manual_seed(seed)
        noise = torch.randn(images.shape, generator=generator, device=self.device)
        timesteps = torch.randint(0, self.noise_scheduler.config.num_train_timesteps, (len(images),),
                                  generator=generator, device=self.device)
        noisy = self.noise_scheduler.add_noise(images * 2 - 1, noise, timesteps)
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
            predicted = unet(noisy, timesteps, class_labels=labels if self.conditional else None).sample
        return (predicted.float() - noise).pow(2).flatten(1).mean(1)

    def train_step(self, batch: tuple[torch.Tensor, torch.Tensor, int]) -> dict[str, Any]:
        images, labels, seed = batch
        lr = self.optimization.lr
        loss = self._noise_loss(self.model, images, labels, seed).mean()
        self.optimization.step(loss)
        self.ema.step(self.model.parameters())
        return {"loss": loss.detach(), "lr": lr}

    def end_epoch(self, val_metrics: dict[str, float]) -> None:
        self.optimization.end_epoch(val_metrics.get("val_loss"))

    @torch.no_grad()
    def evaluate(self, split: str) -> dict[str, float]:
        """{split}_loss: the EMA UNet's noise-prediction MSE on up to VAL_LOSS_IMAGES images of the split at fixed
        noise and timesteps; plus {split}_fd on labelled data."""
        unet = self._ema_network()
        data = self.splits[split]
        n = min(len(data), VAL_LOSS_IMAGES)
        total = torch.zeros((), device=self.device)
        for start in range(0, n, EVAL_BATCH):
            images, labels = data.batch(torch.arange(start, min(start + EVAL_BATCH, n)))
            total += self._noise_loss(unet, images, labels, EVAL_SEED + start).sum()
        return {f"{split}_loss": float(total) / max(n, 1), **self.split_fd(split)}

    # --- the EMA network: sampled, validated and published -----------------------------------------------------
    def _ema_network(self) -> torch.nn.Module:
        self.ema.copy_to(self.ema_unet.parameters())
        return self.ema_unet.eval()

    def sampler(self) -> DiffusionSampler:
        return DiffusionSampler(self._ema_network(), self.classes if self.conditional else [], self.channels,
                                self.image_size, self.config.sample_steps, device=self.device)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "ema": self.ema.state_dict()}

    def load_state_dict(self, state: dict[str, Any], replay: tuple[int, int] | None = None) -> None:
        super().load_state_dict(state, replay)
        self.ema.load_state_dict(state["ema"])
        self.ema.to(self.device)

    def weights(self) -> dict[str, torch.Tensor]:
        """The EMA UNet's weights (what is published and sampled)."""
        return self._ema_network().state_dict()

    def load_weights(self, weights: dict[str, torch.Tensor]) -> None:
        """Load published (EMA) weights into the UNet and its average, so sampling uses exactly them."""
        self.model.load_state_dict(weights)
        self.ema_unet.load_state_dict(weights)
        for shadow, parameter in zip(self.ema.shadow_params, self.model.parameters()):
            shadow.data.copy_(parameter.data)

    def rebuild_spec(self) -> dict[str, Any]:
        return {**self.spec_common(), "base_channels": self.config.base_channels,
                "layers_per_block": self.config.layers_per_block, "sample_steps": self.config.sample_steps,
                "beta_schedule": BETA_SCHEDULE}
