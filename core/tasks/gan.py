"""GAN training as a task on the shared loop: a DCGAN (core.models.gan) with the known aids for small data.

One loop step is one discriminator update then one generator update on the same generated batch
(Goodfellow et al. 2014; the DCGAN reference code), with:
- hinge loss (Lim & Ye 2017; Miyato et al. 2018) or the non-saturating loss (Goodfellow et al. 2014);
- a projection discriminator and a generator with conditional batch norm for class-conditional models
  (Miyato & Koyama 2018), spectral normalisation in the discriminator (Miyato et al. 2018);
- two time-scale learning rates: the discriminator learns faster (Heusel et al. 2017, TTUR), Adam with
  beta1 = 0 (as SNGAN / BigGAN);
- DiffAugment on real and generated images before the discriminator (Zhao et al. 2020);
- an exponential moving average of the generator's weights (Yazici et al. 2019), which is what is sampled,
  previewed, judged and published.

The best epoch is the one with the lowest val_fd (core.tasks.generative); a GAN needs class labels for that
(and for being conditional), so unlabelled datasets are refused.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from core.data.store import DatasetInfo
from core.errors import UserError
from core.models.gan import SUPPORTED_SIZES, Discriminator, GanSampler, Generator, gan_layout
from core.synthesis.diffaugment import diff_augment, parse_policy
from core.tasks.generative import (VAL_SEED, GenerativeConfig, GenerativeTask, check_generative,
                                   generative_image_size)
from core.tasks.tensors import step_seed
from core.train.optim import Optimization, autocast_dtype

LOSSES = ("hinge", "non_saturating")
EVAL_IMAGES = 256   # real (and as many generated) images per split for the discriminator's mean outputs
# The recipe's length per kind of device, so its default finishes in minutes where it runs: on phantom-64
# (2,284 training images: 35 steps an epoch) the default conditional DCGAN took 1,081 CPU-seconds for 1,600
# steps (0.68 s a step, about 9 minutes on two free cores; measured on a shared 2-core machine).
DEVICE_RECIPES: dict[str, dict[str, int]] = {
    "cpu": {"epochs": 45, "max_steps_per_epoch": 40},
    "cuda": {"epochs": 100, "max_steps_per_epoch": 500},
}


@dataclass
class GanConfig(GenerativeConfig):
    """DCGAN settings; the defaults are the recommended recipe for small medical datasets."""

    task: str = "gan"
    model: str = "dcgan"
    conditional: bool = True          # class-conditional (projection discriminator); False = unconditional.
                                      # A GAN of one class (train_class set) is always unconditional.
    latent_dim: int = 128             # components of z ~ N(0, I)
    width: int = 16                   # channels of the generator's last and the discriminator's first layer
                                      # (doubling per level up to 512; 16 fits the CPU recipe's ten minutes)
    spectral_norm: bool = True        # spectral normalisation of every discriminator layer
    diffaugment: str = "translation"  # DiffAugment policy: comma-separated color, translation, cutout; "" = off
    loss: str = "hinge"               # hinge | non_saturating
    aux_weight: float = 1.0           # conditional models: weight of the auxiliary classification loss (AC-GAN,
                                      # Odena et al. 2017) of real images (discriminator) and generated ones
                                      # (generator), besides the projection; 0 = projection only
    lr: float = 1e-3                  # the generator's learning rate (lr_g overrides it); high for a GAN, so a
                                      # thousand steps on a CPU get somewhere (DCGAN's 2e-4 barely moves in that)
    lr_g: float | None = None         # None: lr
    lr_d: float = 2e-3                # the discriminator's (two time-scale: faster than the generator's)
    beta1: float = 0.0                # Adam's betas for both networks
    beta2: float = 0.9
    ema_decay: float = 0.999          # EMA of the generator's weights (0 = sample the raw generator)
    optimizer: str = "adam"
    weight_decay: float = 0.0
    scheduler: str = "none"
    epochs: int | None = None         # None: the device's recipe (DEVICE_RECIPES)
    max_steps_per_epoch: int | None = None  # None: the device's recipe
    batch_size: int = 64

    def __post_init__(self) -> None:
        for name, value in device_recipe(self.device).items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        super().__post_init__()
        if self.task != "gan":
            raise UserError(f"Config field 'task' must be gan here, not '{self.task}'.")
        if self.model != "dcgan":
            raise UserError(f"Config field 'model' must be dcgan for a GAN, not '{self.model}'.")
        if self.image_size is not None:
            gan_layout(self.image_size)  # UserError naming the supported sizes
        if self.train_class:
            self.conditional = False
        if self.max_steps_per_epoch < 1:
            raise UserError(f"Config field 'max_steps_per_epoch' must be at least 1, not {self.max_steps_per_epoch}.")
        if not 8 <= self.latent_dim <= 1024:
            raise UserError(f"Config field 'latent_dim' must be between 8 and 1024, not {self.latent_dim}.")
        if not 8 <= self.width <= 256:
            raise UserError(f"Config field 'width' must be between 8 and 256, not {self.width}.")
        try:
            parse_policy(self.diffaugment)
        except ValueError as error:
            raise UserError(f"Config field 'diffaugment': {error}.") from None
        if self.loss not in LOSSES:
            raise UserError(f"Config field 'loss' must be one of {', '.join(LOSSES)}, not '{self.loss}'.")
        if self.lr_g is not None and not 0 < self.lr_g <= 1:
            raise UserError(f"Config field 'lr_g' must be above 0 and at most 1, not {self.lr_g}.")
        if not 0 < self.lr_d <= 1:
            raise UserError(f"Config field 'lr_d' must be above 0 and at most 1, not {self.lr_d}.")
        for name in ("beta1", "beta2"):
            if not 0 <= getattr(self, name) < 1:
                raise UserError(f"Config field '{name}' must be at least 0 and below 1, not {getattr(self, name)}.")
        if not 0 <= self.aux_weight <= 10:
            raise UserError(f"Config field 'aux_weight' must be between 0 and 10, not {self.aux_weight}.")
        if not 0 <= self.ema_decay < 1:
            raise UserError(f"Config field 'ema_decay' must be at least 0 and below 1, not {self.ema_decay}.")
        if self.batch_size < 2:
            raise UserError(f"Config field 'batch_size' must be at least 2 for a GAN (batch norm), "
                            f"not {self.batch_size}.")

    @property
    def generator_lr(self) -> float:
        return self.lr if self.lr_g is None else self.lr_g


def device_recipe(device: str) -> dict[str, int]:
    """The recommended epochs and max_steps_per_epoch on `device` (a config's device field)."""
    kind = "cuda" if device.startswith("cuda") or device == "auto" and torch.cuda.is_available() else "cpu"
    return DEVICE_RECIPES[kind]


class GanTask(GenerativeTask):
    """A (class-conditional) DCGAN; the report is core.synthesis.report's, built from GenerativeOutputs."""

    kinds = ("gan",)
    config_class = GanConfig
    config: GanConfig

    @staticmethod
    def check(config: GanConfig, info: DatasetInfo) -> str:
        """Labels, splits and a supported size (without loading data); returns "val_fd". Raises UserError."""
        monitor = check_generative(config, info, needs_labels=True)
        if monitor != "val_fd":
            raise UserError(f"Config field 'monitor' must be val_fd for a GAN (it has no validation loss), "
                            f"not '{monitor}'.")
        size = generative_image_size(config, info)
        if size not in SUPPORTED_SIZES:
            raise UserError(f"Dataset '{info.id}' has {info.size}-pixel images; a GAN works at "
                            f"{', '.join(map(str, SUPPORTED_SIZES))} px, so set config field 'image_size' to one.")
        return monitor

    # --- set-up ---------------------------------------------------------------------------------------------
    def setup(self, device: torch.device) -> None:
        torch.manual_seed(self.config.seed)  # the same seed gives the same initial weights
        self.load_data(device)
        config = self.config
        classes = len(self.classes) if config.conditional else 0
        self.generator = Generator(config.latent_dim, self.channels, self.image_size, classes, config.width).to(device)
        self.discriminator = Discriminator(self.channels, self.image_size, classes, config.width,
                                           config.spectral_norm, auxiliary=config.aux_weight > 0).to(device)
        self.ema = copy.deepcopy(self.generator).eval().requires_grad_(False)
        self.ema_updates = 0
        self.amp_dtype = autocast_dtype(config, device)
        betas = (config.beta1, config.beta2)
        self.g_optimization = Optimization(self.generator, config, self.steps_per_epoch, device,
                                           lr=config.generator_lr, betas=betas)
        self.d_optimization = Optimization(self.discriminator, config, self.steps_per_epoch, device,
                                           lr=config.lr_d, betas=betas)
        self.train_mode()

    def train_mode(self) -> None:
        self.generator.train()
        self.discriminator.train()

    @property
    def steps_per_epoch(self) -> int:
        return max(1, min(len(self.splits["train"]) // self.config.batch_size, self.config.max_steps_per_epoch))

    @property
    def images_per_step(self) -> int:
        return min(self.config.batch_size, len(self.splits["train"]))

    # --- training -------------------------------------------------------------------------------------------
    def train_batches(self, epoch: int, start_step: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor, int]]:
        """(real images (B, C, S, S) in [0, 1], labels (B,), the step's seed for its noise and augmentation) for
        each step of `epoch` from `start_step`; a capped epoch takes the first batches of its permutation."""
        order = torch.randperm(len(self.splits["train"]), generator=torch.Generator().manual_seed(
            step_seed(self.config.seed, epoch)))
        size = self.images_per_step
        for step in range(start_step, self.steps_per_epoch):
            images, labels = self.splits["train"].batch(order[step * size:(step + 1) * size])
            yield images, labels, step_seed(self.config.seed, epoch, step)

    def train_step(self, batch: tuple[torch.Tensor, torch.Tensor, int]) -> dict[str, Any]:
        images, labels, seed = batch
        config, device = self.config, self.device
        random = torch.Generator(device).manual_seed(seed)
        real = images * 2 - 1
        labels = labels if config.conditional else None
        z = torch.randn(len(real), config.latent_dim, generator=random, device=device)
        lr = self.g_optimization.lr
        with self._autocast():
            fake = self.generator(z, labels)
            # the discriminator's step: real and generated images in one pass (one spectral-norm iteration)
            both = self._augment(torch.cat([real, fake.detach()]), random)
            logits, classes = self.discriminator(both, None if labels is None else torch.cat([labels, labels]),
                                                 with_classes=True)
        real_logits, fake_logits = logits.float()[:len(real)], logits.float()[len(real):]
        d_loss = discriminator_loss(real_logits, fake_logits, config.loss)
        if classes is not None:  # the auxiliary classifier learns the classes from real images only
            d_loss = d_loss + config.aux_weight * F.cross_entropy(classes.float()[:len(real)], labels)
        self.d_optimization.step(d_loss)
        # the generator's step against the updated discriminator (whose weights it does not change)
        self.discriminator.requires_grad_(False)
        with self._autocast():
            g_logits, g_classes = self.discriminator(self._augment(fake, random), labels, with_classes=True)
        g_loss = generator_loss(g_logits.float(), config.loss)
        if g_classes is not None:  # ... and the generator draws what it recognises as the asked-for class
            g_loss = g_loss + config.aux_weight * F.cross_entropy(g_classes.float(), labels)
        self.g_optimization.step(g_loss)
        self.discriminator.requires_grad_(True)
        self._update_ema()
        return {"loss": g_loss.detach(), "lr": lr, "d_loss": d_loss.detach(),
                "d_real": torch.sigmoid(real_logits.detach()).mean(),
                "d_fake": torch.sigmoid(fake_logits.detach()).mean()}

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None)

    def _augment(self, images: torch.Tensor, random: torch.Generator) -> torch.Tensor:
        return diff_augment(images, self.config.diffaugment, random) if self.config.diffaugment else images

    @torch.no_grad()
    def _update_ema(self) -> None:
        """ema <- d * ema + (1 - d) * generator, with d warming up as (1 + t) / (10 + t) so the average follows
        the early, fast-changing weights (as TensorFlow's ExponentialMovingAverage with num_updates); buffers
        (batch-norm statistics) are copied."""
        self.ema_updates += 1
        decay = min(self.config.ema_decay, (1 + self.ema_updates) / (10 + self.ema_updates))
        for average, current in zip(self.ema.parameters(), self.generator.parameters()):
            average.lerp_(current, 1 - decay)
        for average, current in zip(self.ema.buffers(), self.generator.buffers()):
            average.copy_(current)

    def end_epoch(self, val_metrics: dict[str, float]) -> None:
        self.g_optimization.end_epoch(None)
        self.d_optimization.end_epoch(None)

    # --- evaluation -----------------------------------------------------------------------------------------
    def sampler(self) -> GanSampler:
        return GanSampler(self.ema, self.classes if self.config.conditional else [], self.device)

    @torch.no_grad()
    def evaluate(self, split: str) -> dict[str, float]:
        """{split}_fd (core.tasks.generative) and the discriminator's mean output as a probability on up to
        EVAL_IMAGES real images of the split ({split}_d_real) and as many EMA-generated ones ({split}_d_fake).
        A GAN has no honest validation loss, so none is reported."""
        metrics = self.split_fd(split)
        data = self.splits[split]
        n = min(len(data), EVAL_IMAGES)
        if not n:
            return {**metrics, f"{split}_d_real": math.nan, f"{split}_d_fake": math.nan}
        images, labels = data.batch(torch.arange(n))
        labels = labels if self.config.conditional else None
        z = torch.randn(n, self.config.latent_dim, generator=torch.Generator().manual_seed(VAL_SEED))
        self.discriminator.eval()  # no spectral-norm power iteration while judging
        with self._autocast():
            fake = self.ema(z.to(self.device), labels)
            real_p = torch.sigmoid(self.discriminator(images * 2 - 1, labels).float()).mean()
            fake_p = torch.sigmoid(self.discriminator(fake, labels).float()).mean()
        self.train_mode()
        return {**metrics, f"{split}_d_real": float(real_p), f"{split}_d_fake": float(fake_p)}

    # --- what outlives training -----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.state_dict(), "discriminator": self.discriminator.state_dict(),
                "ema": self.ema.state_dict(), "ema_updates": self.ema_updates,
                "g_optimization": self.g_optimization.state_dict(),
                "d_optimization": self.d_optimization.state_dict()}

    def load_state_dict(self, state: dict[str, Any], replay: tuple[int, int] | None = None) -> None:
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.ema.load_state_dict(state["ema"])
        self.ema_updates = int(state["ema_updates"])
        self.g_optimization.load_state_dict(state["g_optimization"], replay)
        self.d_optimization.load_state_dict(state["d_optimization"], replay)

    def weights(self) -> dict[str, torch.Tensor]:
        """The EMA generator's weights: what sampling needs (GanSampler.from_weights with rebuild_spec)."""
        return {name: tensor.detach().clone() for name, tensor in self.ema.state_dict().items()}

    def load_weights(self, weights: dict[str, torch.Tensor]) -> None:
        self.ema.load_state_dict(weights)

    def rebuild_spec(self) -> dict[str, Any]:
        return {**self.spec_common(), "latent_dim": self.config.latent_dim, "width": self.config.width,
                "loss": self.config.loss, "truncation": 1.0}


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, loss: str) -> torch.Tensor:
    """Hinge: E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]; non-saturating: E[softplus(-D(x))] + E[softplus(D(G(z)))]."""
    if loss == "hinge":
        return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_loss(fake_logits: torch.Tensor, loss: str) -> torch.Tensor:
    """Hinge: -E[D(G(z))]; non-saturating: E[softplus(-D(G(z)))] (= -log sigmoid)."""
    return -fake_logits.mean() if loss == "hinge" else F.softplus(-fake_logits).mean()
