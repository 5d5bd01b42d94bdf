"""Image restoration: denoising and super-resolution learned from clean images and simulated degradations.

Training takes random patches of the dataset's training images, degrades them on the fly (see
core.enhance.degrade) and fits the network to give back the clean patch. Validation reports PSNR and SSIM on
the whole validation images with a fixed degradation. SRGAN-style adversarial fine-tuning (Ledig et al., CVPR
2017) is the same task with a discriminator and a second optimiser: a GAN step is a task, not a second loop.
Any dataset works, labelled or not: only the images are used.
"""
from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from core.data.store import Dataset, DatasetInfo
from core.enhance.compare import degraded_pairs
from core.enhance.degrade import DEGRADATIONS, Degradation, degrade, psnr
from core.enhance.learned import restore_image
from core.errors import UserError
from core.models.restoration import MIN_PATCH, RESTORATION_NAMES, build_discriminator, build_restorer
from core.models.ssim import L1SSIMLoss, ssim
from core.tasks.base import SingleNetworkTask
from core.tasks.tensors import SplitTensors, refuse_clips, step_seed
from core.train.config import TrainConfig
from core.train.optim import Optimization, autocast_dtype
from core.train.run_folder import BEST_WEIGHTS, find_run_folder, load_trained_run, read_config

RESTORE_TASKS = ("denoise", "super_resolution")
LOSSES = ("l1", "l1_ssim", "adversarial")
PATCHES_PER_IMAGE = 16  # random patches drawn from each training image per epoch, up to max_steps_per_epoch batches
# The recommended recipe's length per kind of device and task, so its default finishes in minutes where it runs:
# on the built-in real tiles (82 training images: 82 steps an epoch) within about 5 minutes on a 2-core CPU, the
# denoiser above non-local means and SRResNet above Lanczos (bench/enhance.py --quick; an SRResNet step costs
# about twice a ResUNet step, hence fewer epochs). The step cap keeps an epoch of a big dataset short (phantom-64:
# 2,284 steps uncapped), as nnU-Net's fixed iterations per epoch do (Isensee et al., Nature Methods 2021).
DEVICE_RECIPES: dict[str, dict[str, dict[str, int]]] = {
    "cpu": {"denoise": {"epochs": 20, "max_steps_per_epoch": 100},
            "super_resolution": {"epochs": 10, "max_steps_per_epoch": 100}},
    "cuda": {"denoise": {"epochs": 20, "max_steps_per_epoch": 1000},
             "super_resolution": {"epochs": 20, "max_steps_per_epoch": 1000}},
}
EVAL_BATCH = 16
EVAL_SEED = 12345       # validation and test degradations are fixed, so epochs are comparable
REPORT_IMAGES = 24      # test images in the stored comparison with classical methods


@dataclass
class RestoreConfig(TrainConfig):
    """Restoration settings; the defaults are the recommended recipe (a residual U-Net denoiser, or SRResNet)."""

    task: str = "denoise"             # denoise | super_resolution
    model: str = ""                   # "" = resunet for denoising, srresnet for super-resolution
    degradation: str = "gaussian"     # gaussian | poisson | blur
    sigma: float | None = None        # noise level on [0, 1] images; None = 0.1 (denoise) or 0 (super-resolution)
    blur: float = 1.5                 # blur sigma in pixels for degradation "blur"
    scale: int = 2                    # super-resolution factor, 2 or 4
    loss: str = ""                    # l1 | l1_ssim | adversarial (super-resolution: SRGAN fine-tuning); "" = l1 for
                                      # denoising, l1_ssim for super-resolution (the better of the two measured on
                                      # the built-in tiles by bench/enhance.py: denoising +1.4 dB PSNR and higher
                                      # SSIM with L1; super-resolution level, 0.07 dB ahead with L1 + SSIM)
    ssim_weight: float = 0.16
    adversarial_weight: float = 1e-3
    init_from: str = ""               # a run whose network starts this one (e.g. an L1-trained SRResNet for SRGAN)
    patch_size: int = 64
    augment: bool = True              # random flips and 90-degree turns of the patches
    epochs: int | None = None         # None: the device's recipe (device_recipe)
    max_steps_per_epoch: int | None = None  # an epoch is PATCHES_PER_IMAGE patches per image, at most this many
                                      # batches; None: the device's recipe
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-4
    scheduler: str = "cosine"
    warmup_epochs: float = 0.5

    def __post_init__(self) -> None:
        for name, value in device_recipe(self.task, self.device).items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        super().__post_init__()
        if self.max_steps_per_epoch < 1:
            raise UserError(f"Config field 'max_steps_per_epoch' must be at least 1, not {self.max_steps_per_epoch}.")
        if self.task not in RESTORE_TASKS:
            raise UserError(f"Config field 'task' must be one of {', '.join(RESTORE_TASKS)} here, not '{self.task}'.")
        self.model = self.model or ("resunet" if self.task == "denoise" else "srresnet")
        self.loss = self.loss or ("l1" if self.task == "denoise" else "l1_ssim")
        if self.model not in RESTORATION_NAMES:
            raise UserError(f"Config field 'model' must be one of {', '.join(RESTORATION_NAMES)}, not '{self.model}'.")
        if (self.model == "resunet") != (self.task == "denoise"):
            raise UserError(f"Config field 'model': {self.model} does not do {self.task.replace('_', '-')}.")
        if self.degradation not in DEGRADATIONS:
            raise UserError(f"Config field 'degradation' must be one of {', '.join(DEGRADATIONS)}, not '{self.degradation}'.")
        if self.sigma is None:
            self.sigma = 0.1 if self.task == "denoise" and self.degradation != "blur" else 0.0
        if self.scale not in (2, 4):
            raise UserError(f"Config field 'scale' must be 2 or 4, not {self.scale}.")
        if self.loss not in LOSSES:
            raise UserError(f"Config field 'loss' must be one of {', '.join(LOSSES)}, not '{self.loss}'.")
        if self.loss == "adversarial" and self.task != "super_resolution":
            raise UserError("Config field 'loss': adversarial training is for super-resolution (SRGAN).")
        if not 0 <= self.ssim_weight <= 1:
            raise UserError(f"Config field 'ssim_weight' must be between 0 and 1, not {self.ssim_weight}.")
        if not 0 <= self.adversarial_weight <= 1:
            raise UserError(f"Config field 'adversarial_weight' must be between 0 and 1, not {self.adversarial_weight}.")
        if not 16 <= self.patch_size <= 512 or self.patch_size % 16:
            raise UserError(f"Config field 'patch_size' must be a multiple of 16 from 16 to 512, not {self.patch_size}.")
        if self.loss == "adversarial" and self.patch_size < MIN_PATCH:
            raise UserError(f"Config field 'patch_size' must be at least {MIN_PATCH} for adversarial training "
                            f"(the discriminator's smallest patch), not {self.patch_size}.")
        self.degradation_spec()  # validates sigma and blur

    def degradation_spec(self) -> Degradation:
        scale = self.scale if self.task == "super_resolution" else 1
        return Degradation(self.degradation, float(self.sigma), self.blur, scale)


@dataclass
class RestorationOutputs:
    """What a trained restoration network returns for its report (core.enhance.report builds it from these
    alone): test images, their degraded copies (seeded as core.enhance.compare.degraded_pairs does) and the
    network's restorations, each (H, W) or (H, W, C) float in [0, 1]."""

    task: str                     # denoise | super_resolution
    model: str
    degradation: Degradation
    clean: list[np.ndarray]       # cropped to a multiple of the scale
    degraded: list[np.ndarray]    # (H / scale, W / scale[, C])
    restored: list[np.ndarray]    # the network's outputs, shaped as `clean`
    seconds_per_image: float      # the network's time per image, as the Enhance page runs it (tiled)


class RestoreTask(SingleNetworkTask):
    """Denoising and super-resolution (the report: core.enhance.report)."""

    kinds = RESTORE_TASKS
    config_class = RestoreConfig
    monitor = "val_psnr"
    monitor_mode = "max"

    @classmethod
    def build(cls, config: RestoreConfig, dataset: Dataset, workspace: str) -> RestoreTask:
        initial = None
        if config.init_from:
            initial = load_trained_run(_initial_run(config), (config.task,), "trained a different network").weights
        return cls(config, dataset, initial)

    def __init__(self, config: RestoreConfig, dataset: Dataset, init_weights: dict[str, torch.Tensor] | None = None
                 ) -> None:
        self.monitor = self.check(config, dataset.info)
        self.config, self.dataset, self.init_weights = config, dataset, init_weights
        self.monitor_mode = "min" if self.monitor == "val_loss" else "max"
        self.degradation = config.degradation_spec()
        self.content_loss = torch.nn.L1Loss() if config.loss == "l1" else L1SSIMLoss(config.ssim_weight)

    @staticmethod
    def check(config: RestoreConfig, info: DatasetInfo) -> str:
        """That `config` can be trained on the dataset `info` describes (splits, patch size, monitor; a
        fine-tuning source run exists, trained the same network and has weights), without loading any data or
        weights; returns the monitored validation metric. Raises UserError otherwise."""
        refuse_clips(info)
        if not info.split_counts.get("train") or not info.split_counts.get("val"):
            raise UserError(f"Dataset '{info.id}' needs images in both its train and val splits to train.")
        if config.patch_size > info.size:
            raise UserError(f"Config field 'patch_size' ({config.patch_size}) is larger than the dataset's "
                            f"{info.size}-pixel images.")
        if config.monitor and config.monitor not in ("val_psnr", "val_ssim", "val_loss"):
            raise UserError(f"Config field 'monitor' must be val_psnr, val_ssim or val_loss, not '{config.monitor}'.")
        if config.init_from:
            _initial_run(config)
        return config.monitor or "val_psnr"

    def setup(self, device: torch.device) -> None:
        self.device = device
        torch.manual_seed(self.config.seed)
        self.splits = {split: SplitTensors(self.dataset, self.dataset.indices(split), device)
                       for split in ("train", "val", "test")}
        channels = self.dataset.info.channels
        self.model = build_restorer(self.config.model, channels, self.degradation.scale).to(device)
        if self.init_weights is not None:
            self.model.load_state_dict(self.init_weights)
        self.amp_dtype = autocast_dtype(self.config, device)
        self.optimization = Optimization(self.model, self.config, self.steps_per_epoch, device)
        self.discriminator = self.disc_optimization = None
        if self.config.loss == "adversarial":
            self.discriminator = build_discriminator(channels).to(device)
            self.disc_optimization = Optimization(self.discriminator, self.config, self.steps_per_epoch, device)
        self.model.train()

    @property
    def steps_per_epoch(self) -> int:
        return epoch_steps(len(self.splits["train"]), self.config.batch_size, self.config.max_steps_per_epoch)

    @property
    def images_per_step(self) -> int:
        return self.config.batch_size

    def train_batches(self, epoch: int, start_step: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(clean patches (B, C, P, P), their degraded inputs) for each step of `epoch` from `start_step`."""
        for step in range(start_step, self.steps_per_epoch):
            yield self._patches(epoch, step)

    def _patches(self, epoch: int, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch of random clean patches and their degraded inputs, the same for the same (seed, epoch, step)."""
        generator = torch.Generator().manual_seed(step_seed(self.config.seed, epoch, step))
        train, size = self.splits["train"], self.config.patch_size
        indices = torch.randint(len(train), (self.config.batch_size,), generator=generator)
        images, _ = train.batch(indices)
        top, left = (int(torch.randint(images.shape[-1] - size + 1, (1,), generator=generator)) for _ in range(2))
        clean = images[..., top:top + size, left:left + size]
        if self.config.augment:
            if torch.rand(1, generator=generator) < 0.5:
                clean = clean.flip(-1)
            clean = torch.rot90(clean, int(torch.randint(4, (1,), generator=generator)), dims=(-2, -1))
        noise = torch.Generator(self.device).manual_seed(step_seed(self.config.seed, epoch, step, 1))
        return clean.contiguous(), degrade(clean, self.degradation, noise)

    def train_step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, Any]:
        clean, degraded = batch
        lr = self.optimization.lr
        autocast = dict(device_type=self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None)
        with torch.autocast(**autocast):
            restored = self.model(degraded)
        restored = restored.float()
        if self.discriminator is None:
            loss = self.content_loss(restored, clean)
            self.optimization.step(loss)
            return {"loss": loss.detach(), "lr": lr}
        with torch.autocast(**autocast):  # discriminator: real patches are 1, restored ones 0
            real, fake = self.discriminator(clean).float(), self.discriminator(restored.detach()).float()
        d_loss = (F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
                  + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))
        self.disc_optimization.step(d_loss)
        with torch.autocast(**autocast):  # generator: content, plus fooling the discriminator
            judged = self.discriminator(restored).float()
        loss = self.content_loss(restored, clean) + self.config.adversarial_weight * \
            F.binary_cross_entropy_with_logits(judged, torch.ones_like(judged))
        self.optimization.step(loss)
        return {"loss": loss.detach(), "lr": lr, "d_loss": d_loss.detach()}

    def end_epoch(self, val_metrics: dict[str, float]) -> None:
        self.optimization.end_epoch(val_metrics.get("val_loss"))
        if self.disc_optimization is not None:
            self.disc_optimization.end_epoch(val_metrics.get("val_loss"))

    @torch.no_grad()
    def restore_split(self, split: str) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """(clean, degraded, restored) batches of a split with its fixed degradation."""
        self.model.eval()
        data, scale = self.splits[split], self.degradation.scale
        for start in range(0, len(data), EVAL_BATCH):
            clean, _ = data.batch(torch.arange(start, min(start + EVAL_BATCH, len(data))))
            clean = clean[..., : clean.shape[-2] // scale * scale, : clean.shape[-1] // scale * scale]
            degraded = degrade(clean, self.degradation,
                               torch.Generator(self.device).manual_seed(EVAL_SEED + start))
            with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
                restored = self.model(degraded).float().clamp(0, 1)
            yield clean, degraded, restored
        self.model.train()

    def evaluate(self, split: str) -> dict[str, float]:
        totals = {"loss": 0.0, "psnr": 0.0, "ssim": 0.0, "psnr_input": 0.0}
        count = 0
        for clean, degraded, restored in self.restore_split(split):
            n = len(clean)
            reference = _upsampled(degraded, self.degradation.scale)  # the input, or bicubic for super-resolution
            totals["loss"] += float(F.l1_loss(restored, clean)) * n
            totals["psnr"] += float(psnr(restored, clean).sum())
            totals["ssim"] += float(ssim(restored, clean)) * n
            totals["psnr_input"] += float(psnr(reference, clean).sum())
            count += n
        return {f"{split}_{name}": value / count if count else math.nan for name, value in totals.items()}

    def final_report(self) -> dict[str, Any]:
        metrics = self.evaluate("test")
        baseline = "bicubic" if self.degradation.scale > 1 else "degraded input"
        kept = training_intensity(self.dataset.info)
        resolution = "native" if kept["native_resolution"] else f"resized on import ({kept['resize'] or 'unknown'})"
        return {**metrics, "test_baseline": baseline, "degradation": self.degradation.describe(),
                "training_resolution": resolution, "training_intensity": kept["intensity"]}

    def split_outputs(self, max_images: int = REPORT_IMAGES) -> RestorationOutputs:
        """Up to `max_images` test images, degraded and restored by the network as the Enhance page runs it."""
        test = self.splits["test"]
        images = [test.batch(torch.tensor([i]))[0][0].permute(1, 2, 0).cpu().numpy()
                  for i in range(min(len(test), max_images))]
        images = [image[..., 0] if image.shape[-1] == 1 else image for image in images]
        degraded, clean = degraded_pairs(images, self.degradation)  # seeded as the classical rows are
        self.model.eval()
        start = time.perf_counter()
        restored = [restore_image(self.model, image, self.degradation.scale) for image in degraded]
        seconds = (time.perf_counter() - start) / max(len(degraded), 1)
        self.model.train()
        return RestorationOutputs(self.config.task, self.config.model, self.degradation, clean, degraded, restored,
                                  seconds)

    # --- state: the network's and its optimiser's from SingleNetworkTask, plus the discriminator's -----------
    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        if self.discriminator is not None:
            state["discriminator"] = self.discriminator.state_dict()
            state["disc_optimization"] = self.disc_optimization.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any], replay: tuple[int, int] | None = None) -> None:
        super().load_state_dict(state, replay)
        if self.discriminator is not None:
            self.discriminator.load_state_dict(state["discriminator"])
            self.disc_optimization.load_state_dict(state["disc_optimization"], replay)

    def rebuild_spec(self) -> dict[str, Any]:
        info = self.dataset.info
        return {"task": self.config.task, "architecture": self.config.model, "in_channels": info.channels,
                "scale": self.degradation.scale, "degradation": self.config.degradation, "sigma": self.config.sigma,
                "blur": self.config.blur, "dataset": info.id, "dataset_name": info.name, "image_size": info.size,
                "loss": self.config.loss, **training_intensity(info)}


def device_kind(device: str) -> str:
    """'cuda' or 'cpu': the kind of device a config's `device` trains on ('auto': a GPU if this machine has one)."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return "cuda" if device.startswith("cuda") else "cpu"


def device_recipe(task: str, device: str) -> dict[str, int]:
    """The recommended epochs and max_steps_per_epoch of `task` on `device` (a config's device field)."""
    recipes = DEVICE_RECIPES[device_kind(device)]
    return recipes.get(task, recipes["denoise"])  # an unknown task is refused by RestoreConfig next


def epoch_steps(train_images: int, batch_size: int, max_steps: int) -> int:
    """Batches in an epoch: PATCHES_PER_IMAGE random patches per training image, at most `max_steps` (a config's
    max_steps_per_epoch), so a big dataset gives a short epoch of random patches rather than a huge one."""
    return max(1, min(train_images * PATCHES_PER_IMAGE // batch_size, max_steps))


def training_intensity(info: DatasetInfo) -> dict[str, Any]:
    """How the training images were scaled, recorded in the rebuild spec (model.json) so enhancement feeds a run the same way:
    {"intensity": "full_range", "value_ranges": [...]} for data kept on each file's data range (imports with
    intensity "full_range", the built-in tiles, generated phantoms), else {"intensity": "window", "window": ...}
    with the import's window choice. "resize" says whether the images kept their native resolution."""
    prep = info.preprocessing or {}
    resize = str(prep.get("resize", ""))
    if prep.get("intensity") == "full_range" or prep.get("window") == "generated":
        found: dict[str, Any] = {"intensity": "full_range", "value_ranges": prep.get("value_ranges", [])}
    else:
        found = {"intensity": "window", "window": str(prep.get("window") or "default")}
    return {**found, "resize": resize, "native_resolution": resize in ("tile", "generated at size")}


def _upsampled(images: torch.Tensor, scale: int) -> torch.Tensor:
    if scale == 1:
        return images
    return F.interpolate(images, scale_factor=scale, mode="bicubic", align_corners=False).clamp(0, 1)


def _initial_run(config: RestoreConfig):
    """The folder of run `init_from`, checked to have trained the same network and to have weights."""
    folder = find_run_folder(config.init_from)
    source_config = read_config(folder)
    if (source_config.get("task"), source_config.get("model"), source_config.get("scale", 2)) != \
            (config.task, config.model, config.scale):
        raise UserError(f"Config field 'init_from': run '{config.init_from}' trained a different network "
                        f"({source_config.get('model')}, {source_config.get('task')}).")
    if not (folder / BEST_WEIGHTS).exists():
        raise UserError(f"Config field 'init_from': run '{config.init_from}' has no trained weights yet.")
    return folder
