"""Autoencoder training: a convolutional VAE (Kingma & Welling, ICLR 2014; the KL weight `beta` of Higgins et
al., ICLR 2017) or a plain autoencoder, on the shared loop.

The loss is reported per pixel: `recon` is the mean reconstruction loss per pixel (l1, mse or bce on [0, 1]
images) and `kl` the KL divergence of an image's latent from N(0, I) divided by its pixel count, so
loss = recon + beta * kl is the negative ELBO per pixel for bce with beta = 1. The plain autoencoder's kl is 0.

Trained on one class (`train_class`, e.g. "normal"), the reconstruction error of a test image is an anomaly
score: images unlike the training class reconstruct worse (core.models.autoencoder.anomaly_scores).
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from core.data.store import DatasetInfo
from core.errors import UserError
from core.models.autoencoder import (SIZE_MULTIPLE, AutoencoderSampler, ConvAutoencoder, anomaly_scores,
                                     kl_divergence)
from core.tasks.base import SingleNetworkTask
from core.tasks.generative import (REPORT_SAMPLES, TRAIN_REFERENCE, GenerativeConfig, GenerativeTask,
                                   check_generative, generative_image_size)
from core.tasks.tensors import step_seed
from core.train.optim import Optimization, autocast_dtype

AUTOENCODER_TASKS = ("vae", "autoencoder")
AUTOENCODER_MODELS = {"vae": "conv_vae", "autoencoder": "conv_ae"}
LOSSES = ("l1", "mse", "bce")
EVAL_BATCH = 128
EVAL_SEED = 4321        # the VAE's latent draws in validation are fixed, so epochs are comparable


@dataclass
class VaeConfig(GenerativeConfig):
    """VAE / autoencoder settings; the defaults are the recommended recipe. Trained on the 572 normal phantom-64
    training images (train_class "normal"), 40 epochs took 5-17 minutes on a shared 2-core CPU and reached test
    anomaly AUC 0.99 / 0.97 / 0.99 for nodule / cavity / scar (15 epochs: 0.97 / 0.89 / 0.97)."""

    task: str = "vae"                 # vae | autoencoder (plain, no KL term)
    model: str = ""                   # "" = conv_vae (vae) or conv_ae (autoencoder)
    latent_dim: int = 32
    beta: float = 1.0                 # weight of the KL term (beta-VAE); ignored by the plain autoencoder
    loss: str = "bce"                 # l1 | mse | bce: the per-pixel reconstruction loss
    base_channels: int = 32           # the encoder's first width (doubled at each halving, at most 256)
    epochs: int = 40
    batch_size: int = 32
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    scheduler: str = "cosine"
    warmup_epochs: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.task not in AUTOENCODER_TASKS:
            raise UserError(f"Config field 'task' must be vae or autoencoder here, not '{self.task}'.")
        self.model = self.model or AUTOENCODER_MODELS[self.task]
        if self.model != AUTOENCODER_MODELS[self.task]:
            raise UserError(f"Config field 'model' must be {AUTOENCODER_MODELS[self.task]} for task "
                            f"{self.task}, not '{self.model}'.")
        if self.image_size is not None and self.image_size % SIZE_MULTIPLE:
            raise UserError(f"Config field 'image_size' must be a multiple of {SIZE_MULTIPLE} for an autoencoder "
                            f"(16, 28, 32, 64, 128 ...), not {self.image_size}.")
        if not 2 <= self.latent_dim <= 1024:
            raise UserError(f"Config field 'latent_dim' must be between 2 and 1024, not {self.latent_dim}.")
        if not 0 <= self.beta <= 100:
            raise UserError(f"Config field 'beta' must be between 0 and 100, not {self.beta}.")
        if self.loss not in LOSSES:
            raise UserError(f"Config field 'loss' must be one of {', '.join(LOSSES)}, not '{self.loss}'.")
        if not 4 <= self.base_channels <= 256:
            raise UserError(f"Config field 'base_channels' must be between 4 and 256, not {self.base_channels}.")


def check_size_and_channels(config: GenerativeConfig, info: DatasetInfo, model: str) -> int:
    """The image size `config` trains `info`'s images at, refused with one sentence unless it is a multiple of
    SIZE_MULTIPLE with 1 or 3 channels (the networks halve the image at least twice)."""
    size = generative_image_size(config, info)
    if size % SIZE_MULTIPLE:
        raise UserError(f"Dataset '{info.id}' has {size}-pixel images; a {model} needs a side that is a multiple of "
                        f"{SIZE_MULTIPLE}: set 'image_size' (e.g. {max(16, size // SIZE_MULTIPLE * SIZE_MULTIPLE)}).")
    if info.channels not in (1, 3):
        raise UserError(f"Dataset '{info.id}' has {info.channels} channels; generative models take 1 or 3.")
    return size


def reconstruction_loss(logits: torch.Tensor, images: torch.Tensor, loss: str) -> torch.Tensor:
    """Per-image mean reconstruction loss per pixel (N,) of decoder logits against images in [0, 1]."""
    if loss == "bce":
        per_pixel = F.binary_cross_entropy_with_logits(logits, images, reduction="none")
    elif loss == "mse":
        per_pixel = (torch.sigmoid(logits) - images) ** 2
    else:
        per_pixel = (torch.sigmoid(logits) - images).abs()
    return per_pixel.flatten(1).mean(1)


class VaeTask(GenerativeTask, SingleNetworkTask):
    """VAE and plain autoencoder (the report: core.synthesis.report, with anomaly scores when train_class is set)."""

    kinds = AUTOENCODER_TASKS
    config_class = VaeConfig
    config: VaeConfig

    @staticmethod
    def check(config: VaeConfig, info: DatasetInfo) -> str:
        """Splits, train_class, size and channels; returns "val_fd" on labelled data, else "val_loss". A model of
        one class (train_class) is kept by its validation loss unless `monitor` says otherwise: it is there to
        reconstruct (anomaly scores), which its reconstruction loss tracks more directly than its samples' FD."""
        check_size_and_channels(config, info, "VAE" if config.task == "vae" else "autoencoder")
        monitor = check_generative(config, info, needs_labels=False)
        return "val_loss" if config.train_class and not config.monitor else monitor

    @property
    def variational(self) -> bool:
        return self.config.task == "vae"

    def setup(self, device: torch.device) -> None:
        self.load_data(device)
        torch.manual_seed(self.config.seed)  # the same seed gives the same initial weights
        self.model = ConvAutoencoder(self.channels, self.image_size, self.config.latent_dim, self.variational,
                                     self.config.base_channels).to(device)
        self.amp_dtype = autocast_dtype(self.config, device)
        self.optimization = Optimization(self.model, self.config, self.steps_per_epoch, device)
        self.model.train()

    @property
    def steps_per_epoch(self) -> int:
        return max(1, len(self.splits["train"]) // self.config.batch_size)

    @property
    def images_per_step(self) -> int:
        return min(self.config.batch_size, len(self.splits["train"]))

    def train_batches(self, epoch: int, start_step: int = 0) -> Iterator[tuple[torch.Tensor, int]]:
        """(images (B, C, S, S), the seed of the step's latent draws) for each step of `epoch` from `start_step`."""
        order = torch.randperm(len(self.splits["train"]),
                               generator=torch.Generator().manual_seed(step_seed(self.config.seed, epoch)))
        size = self.config.batch_size
        for step in range(start_step, self.steps_per_epoch):
            images, _ = self.splits["train"].batch(order[step * size:(step + 1) * size])
            yield images, step_seed(self.config.seed, epoch, step, 1)

    def _losses(self, images: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(recon (N,), kl (N,)) per pixel, with the VAE's latent draws from `seed`."""
        generator = torch.Generator(self.device).manual_seed(seed)
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
            logits, mean, logvar = self.model(images, generator)
        pixels = images[0].numel()
        recon = reconstruction_loss(logits.float(), images, self.config.loss)
        kl = kl_divergence(mean.float(), None if logvar is None else logvar.float()) / pixels
        return recon, kl

    def train_step(self, batch: tuple[torch.Tensor, int]) -> dict[str, Any]:
        images, seed = batch
        lr = self.optimization.lr
        recon, kl = self._losses(images, seed)
        recon, kl = recon.mean(), kl.mean()
        loss = recon + self.config.beta * kl if self.variational else recon
        self.optimization.step(loss)
        return {"loss": loss.detach(), "lr": lr, "recon": recon.detach(), "kl": kl.detach()}

    def end_epoch(self, val_metrics: dict[str, float]) -> None:
        self.optimization.end_epoch(val_metrics.get("val_loss"))

    @torch.no_grad()
    def evaluate(self, split: str) -> dict[str, float]:
        """{split}_loss, {split}_recon, {split}_kl (per pixel, fixed latent draws) and {split}_fd when the
        dataset has a feature network."""
        self.model.eval()
        totals, count = torch.zeros(2, device=self.device), 0
        for start, (images, _) in enumerate(self.splits[split].batches(EVAL_BATCH)):
            recon, kl = self._losses(images, EVAL_SEED + start)
            totals += torch.stack([recon.sum(), kl.sum()])
            count += len(images)
        recon, kl = (totals / max(count, 1)).tolist()
        self.model.train()
        loss = recon + self.config.beta * kl if self.variational else recon
        return {f"{split}_loss": loss, f"{split}_recon": recon, f"{split}_kl": kl, **self.split_fd(split)}

    # --- sampling, reconstruction, anomaly scores -------------------------------------------------------------
    @torch.no_grad()
    def _fit_latents(self) -> None:
        """The plain autoencoder's sampling Gaussian, refitted to (up to TRAIN_REFERENCE) training latents."""
        if self.variational:
            return
        self.model.eval()
        train = self.splits["train"]
        n = min(len(train), TRAIN_REFERENCE)
        latents = [self.model.encode(train.batch(torch.arange(s, min(s + EVAL_BATCH, n)))[0])[0]
                   for s in range(0, n, EVAL_BATCH)]
        self.model.fit_latent_gaussian(torch.cat(latents))
        self.model.train()

    def sampler(self) -> AutoencoderSampler:
        self._fit_latents()
        return AutoencoderSampler(self.model, self.config.task, self.device)

    def weights(self) -> dict[str, torch.Tensor]:
        self._fit_latents()  # published weights carry the sampling Gaussian of the network they hold
        return self.model.state_dict()

    @torch.no_grad()
    def reconstruction_scores(self) -> tuple[np.ndarray, np.ndarray]:
        """(anomaly score per test image (N,), reconstructions (N, H, W, C) in [0, 1]) for the first
        min(test, REPORT_SAMPLES) test images, in the order split_outputs gives them."""
        test = self.splits["test"]
        n = min(len(test), REPORT_SAMPLES)
        sampler = self.sampler()
        scores, recons = [], []
        for start in range(0, n, EVAL_BATCH):
            images, _ = test.batch(torch.arange(start, min(start + EVAL_BATCH, n)))
            recon = sampler.reconstruct(images)
            scores.append(anomaly_scores(images.cpu(), recon))
            recons.append(recon)
        self.train_mode()
        empty = torch.zeros(0, self.channels, self.image_size, self.image_size)
        recon_all = torch.cat(recons) if recons else empty
        return (torch.cat(scores).numpy() if scores else np.zeros(0, np.float32),
                recon_all.permute(0, 2, 3, 1).numpy())

    def rebuild_spec(self) -> dict[str, Any]:
        return {**self.spec_common(), "latent_dim": self.config.latent_dim,
                "base_channels": self.config.base_channels, "beta": self.config.beta, "loss": self.config.loss}
