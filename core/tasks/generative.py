"""What the generative tasks (GAN, VAE / autoencoder, diffusion) share: their config keys, their data, the
validation metric that picks the best epoch, the preview grid and the outputs their report is built from.

Each generative task is a task on the shared loop (a GAN step is a task step, not a second loop). After every
epoch the loop's PreviewSaver callback asks `preview()` for a grid of images from a fixed noise batch, so a
person can replay how the samples evolved (run folder samples/epoch-NNN.png).

The best epoch is chosen by "val_fd": the Fréchet distance (Heusel et al. 2017) between generated images and the
real validation images on the features of a small classifier trained on the same dataset (core.tasks.feature_net;
"FD on MedLab features", not FID, which needs ImageNet Inception weights). Unlabelled datasets have no such
classifier; those tasks that can then monitor "val_loss" (VAE, diffusion) do so.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from core.data.store import Dataset, DatasetInfo
from core.errors import UserError
from core.models.sampler import Sampler
from core.synthesis.quality import frechet_distance
from core.tasks.base import Task
from core.tasks.feature_net import FeatureNet, feature_network
from core.tasks.tensors import SplitTensors, refuse_clips
from core.train.config import TrainConfig

GENERATIVE_TASKS = ("gan", "vae", "autoencoder", "diffusion")
MIN_SIZE, MAX_SIZE = 16, 128
PREVIEW_IMAGES = 16     # images in the per-epoch preview grid (a multiple of the class count when conditional)
PREVIEW_SEED = 2024     # the fixed noise batch of the preview grid
VAL_SEED = 7            # the fixed noise batch of the validation FD
REPORT_SAMPLES = 500    # at most this many generated images for the quality report (and as many real test images)
TRAIN_REFERENCE = 2000  # at most this many training images for the memorisation check


@dataclass
class GenerativeConfig(TrainConfig):
    """Keys shared by the generative tasks (each task's config adds its own; the defaults are its recipe)."""

    train_class: str = ""       # "" = every class; else only this class's training images (e.g. "normal", to
                                # score the other classes as anomalies)
    val_samples: int = 256      # generated images per validation FD
    report_samples: int | None = None  # generated images for the final quality report (None: REPORT_SAMPLES, or
                                       # the task's device recipe, e.g. fewer for diffusion on a CPU); at most
                                       # as many as the test split has images, at least 64

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.image_size is not None and not MIN_SIZE <= self.image_size <= MAX_SIZE:
            raise UserError(f"Config field 'image_size' must be between {MIN_SIZE} and {MAX_SIZE} for generative "
                            f"models, not {self.image_size}.")
        if not 16 <= self.val_samples <= 5000:
            raise UserError(f"Config field 'val_samples' must be between 16 and 5000, not {self.val_samples}.")
        self.report_samples = self.report_samples or REPORT_SAMPLES
        if not 64 <= self.report_samples <= 5000:
            raise UserError(f"Config field 'report_samples' must be between 64 and 5000, not {self.report_samples}.")


@dataclass
class GenerativeOutputs:
    """What a trained generative model returns for its report (core.synthesis.report builds it from these alone).
    Images are float32 (N, H, W, C) in [0, 1]; features are (N, F) from the dataset's feature network, or None
    for an unlabelled dataset."""

    task: str
    model: str
    workspace: str
    dataset_id: str
    classes: list[str]                    # the dataset's classes
    conditional: bool
    train_class: str                      # "" = all classes
    samples: np.ndarray                   # generated images
    sample_labels: np.ndarray | None      # (N,) class index per sample (conditional models)
    train_images: np.ndarray              # up to TRAIN_REFERENCE training images the model learned from
    test_images: np.ndarray               # the held-out real test split (up to REPORT_SAMPLES)
    test_labels: np.ndarray               # (N,) class index (-1 unlabelled)
    sample_features: np.ndarray | None
    train_features: np.ndarray | None
    test_features: np.ndarray | None
    feature_accuracy: float | None        # the feature network's test accuracy: how much its features know
    seconds_per_sample: float
    anomaly_scores: np.ndarray | None = None     # autoencoders: reconstruction error per test image
    reconstructions: np.ndarray | None = None    # autoencoders: the test images' reconstructions


def generative_image_size(config: GenerativeConfig, info: DatasetInfo) -> int:
    """The size a generative model works at: the config's, else the dataset's within 16-128 px, else 64."""
    if config.image_size:
        return config.image_size
    return info.size if MIN_SIZE <= info.size <= MAX_SIZE else 64


def check_generative(config: GenerativeConfig, info: DatasetInfo, needs_labels: bool) -> str:
    """The checks every generative task makes before queuing (splits, train_class, labels); returns the
    monitored metric ("val_fd" on labelled datasets, else "val_loss"). Raises UserError with one sentence."""
    refuse_clips(info)
    if not info.split_counts.get("train") or not info.split_counts.get("val"):
        raise UserError(f"Dataset '{info.id}' needs images in both its train and val splits to train.")
    labelled = info.task == "classification" and len(info.classes) >= 2
    if needs_labels and not labelled:
        raise UserError(f"Dataset '{info.id}' has no class labels; a {config.task.upper()} is judged on the features "
                        "of a classifier trained on them, so import it with class folders or a CSV of labels.")
    if config.train_class:
        if config.train_class not in info.classes:
            raise UserError(f"Config field 'train_class' must be one of the dataset's classes "
                            f"({', '.join(info.classes) or 'none'}), not '{config.train_class}'.")
        if not info.class_counts.get("train", {}).get(config.train_class):
            raise UserError(f"Dataset '{info.id}' has no training images of class '{config.train_class}'.")
    monitor = config.monitor or ("val_fd" if labelled else "val_loss")
    if monitor not in ("val_fd", "val_loss"):
        raise UserError(f"Config field 'monitor' must be val_fd or val_loss for generative models, not '{monitor}'.")
    if monitor == "val_fd" and not labelled:
        raise UserError(f"Config field 'monitor': val_fd needs a labelled dataset; '{info.id}' has no labels.")
    return monitor


class GenerativeTask(Task):
    """The shared part of the generative tasks. A subclass sets up its networks in `setup` (after calling
    `load_data`), implements the loop's step and state, `sampler()` (its networks as a Sampler: for a GAN the
    EMA generator) and `rebuild_spec()`; `evaluate` adds its own validation terms to `validation_fd()`."""

    config: GenerativeConfig
    monitor_mode = "min"

    def __init__(self, config: GenerativeConfig, dataset: Dataset, workspace: str) -> None:
        self.monitor = self.check(config, dataset.info)
        self.config, self.dataset, self.workspace = config, dataset, workspace
        self.classes = list(dataset.info.classes)
        self.image_size = generative_image_size(config, dataset.info)
        self.channels = dataset.info.channels

    @classmethod
    def build(cls, config: GenerativeConfig, dataset: Dataset, workspace: str) -> GenerativeTask:
        """The task; its data, networks and the dataset's feature network are loaded in `setup`."""
        return cls(config, dataset, workspace)

    # --- data -------------------------------------------------------------------------------------------------
    def load_data(self, device: torch.device) -> None:
        """The train (only `train_class` when set), val and test splits as tensors at `image_size`, and the
        dataset's feature network when the validation metric is val_fd."""
        self.device = device
        dataset = self.dataset
        train = dataset.indices("train")
        if self.config.train_class:
            wanted = self.classes.index(self.config.train_class)
            train = train[dataset.labels[train] == wanted]
        self.splits = {"train": SplitTensors(dataset, train, device, self.image_size),
                       "val": SplitTensors(dataset, dataset.indices("val"), device, self.image_size),
                       "test": SplitTensors(dataset, dataset.indices("test"), device, self.image_size)}
        self.feature_net: FeatureNet | None = None
        if self.monitor == "val_fd" or self.dataset.info.task == "classification" and len(self.classes) >= 2:
            self.feature_net = feature_network(self.workspace, dataset, device)
        self._references: dict[str, np.ndarray] = {}  # real features per split, computed once

    @property
    def conditional(self) -> bool:
        return bool(getattr(self.config, "conditional", False))

    # --- what every generative model offers -------------------------------------------------------------------
    def sampler(self) -> Sampler:
        """The networks as they are now, wrapped for sampling (eval mode; a GAN's EMA generator)."""
        raise NotImplementedError

    def preview(self) -> torch.Tensor:
        """The preview grid's images (PREVIEW_IMAGES, C, H, W) in [0, 1] from the fixed noise batch; for a
        conditional model the classes in turn, so each column of a grid `len(classes)` wide is one class."""
        sampler = self.sampler()
        count = PREVIEW_IMAGES
        if sampler.classes:
            count = max(len(sampler.classes), PREVIEW_IMAGES // len(sampler.classes) * len(sampler.classes))
        images = sampler.generate(count, seed=PREVIEW_SEED)
        self.train_mode()
        return images

    def preview_columns(self) -> int:
        return len(self.classes) if self.conditional else 4

    def train_mode(self) -> None:
        """Put the networks back into training mode after sampling (subclasses with several networks override)."""
        model = getattr(self, "model", None)
        if model is not None:
            model.train()

    def _split_labels(self, split: str, n: int) -> torch.Tensor | None:
        """For a conditional model: labels drawn in the split's class proportions (seeded), so its samples are
        compared with a like-for-like real set."""
        if not self.conditional:
            return None
        labels = self.splits[split].labels.cpu()
        picks = torch.randint(len(labels), (n,), generator=torch.Generator().manual_seed(VAL_SEED))
        return labels[picks]

    def split_fd(self, split: str) -> dict[str, float]:
        """{"<split>_fd": ...} between `val_samples` generated images and the real images of `split` ("val" or
        "test"; only `train_class`'s when set), or {} when the dataset has no feature network. Subclasses add it
        to their `evaluate`."""
        if self.feature_net is None:
            return {}
        if split not in self._references:
            reference = self.feature_net.features_of_split(self.splits[split])
            if self.config.train_class:  # a model of one class is compared with that class's real images only
                wanted = self.classes.index(self.config.train_class)
                reference = reference[self.splits[split].labels.cpu().numpy() == wanted]
            self._references[split] = reference
        n = self.config.val_samples
        images = self.sampler().generate(n, seed=VAL_SEED, labels=self._split_labels(split, n))
        self.train_mode()
        return {f"{split}_fd": frechet_distance(self.feature_net.features(images), self._references[split])}

    # --- the report -------------------------------------------------------------------------------------------
    def reconstruction_scores(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Autoencoders: (per-test-image reconstruction error, reconstructions (N, H, W, C)); None otherwise."""
        return None

    def split_outputs(self) -> GenerativeOutputs:
        """Generated images (as many as the test split, at most `report_samples` and at least 64; for a
        conditional model in the test split's class proportions) with the real training and test images (at most
        REPORT_SAMPLES) and their features."""
        test = self.splits["test"]
        n_test = min(len(test), REPORT_SAMPLES)
        test_images = torch.cat([test.batch(torch.arange(s, min(s + 256, n_test)))[0] for s in range(0, n_test, 256)]) \
            if n_test else torch.zeros(0, self.channels, self.image_size, self.image_size, device=self.device)
        test_labels = test.labels[:n_test].cpu()
        train = self.splits["train"]
        n_train = min(len(train), TRAIN_REFERENCE)
        train_images = torch.cat([train.batch(torch.arange(s, min(s + 256, n_train)))[0]
                                  for s in range(0, n_train, 256)])
        sampler = self.sampler()
        n = max(min(n_test, self.config.report_samples), 64)
        labels = None
        if self.conditional:  # the test split's classes: all of its labels, a seeded share of them, or in turn
            if n == n_test:
                labels = test_labels
            elif n < n_test:
                labels = test_labels[torch.randperm(n_test, generator=torch.Generator().manual_seed(VAL_SEED))[:n]]
            else:
                labels = sampler.balanced_labels(n)
        start = time.perf_counter()
        samples = sampler.generate(n, seed=self.config.seed + 1, labels=labels)
        seconds = (time.perf_counter() - start) / max(n, 1)
        self.train_mode()
        features = self.feature_net
        scores = self.reconstruction_scores()
        return GenerativeOutputs(
            task=self.config.task, model=self.config.model, workspace=self.workspace, dataset_id=self.dataset.info.id,
            classes=self.classes, conditional=self.conditional, train_class=self.config.train_class,
            samples=_hwc(samples), sample_labels=None if labels is None else labels.numpy(),
            train_images=_hwc(train_images), test_images=_hwc(test_images), test_labels=test_labels.numpy(),
            sample_features=None if features is None else features.features(samples),
            train_features=None if features is None else features.features(train_images),
            test_features=None if features is None else features.features(test_images),
            feature_accuracy=None if features is None else features.test_accuracy,
            seconds_per_sample=seconds,
            anomaly_scores=None if scores is None else scores[0],
            reconstructions=None if scores is None else scores[1])

    def spec_common(self) -> dict[str, Any]:
        """The rebuild-spec keys every generative run stores (model.json), besides its networks' own."""
        info = self.dataset.info
        return {"task": self.config.task, "architecture": self.config.model, "channels": self.channels,
                "size": self.image_size, "classes": self.classes if self.conditional else [],
                "dataset_classes": self.classes, "train_class": self.config.train_class, "dataset": info.id,
                "dataset_name": info.name, "image_size": self.image_size}

    def final_report(self) -> dict[str, Any]:
        """The test split's metrics for the run's summary, without test_fd: the report's FD on MedLab features
        (more samples, the same features) is the one figure to quote, and two FDs for one run confused people."""
        metrics = self.evaluate("test")
        metrics.pop("test_fd", None)
        return metrics


def _hwc(images: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) tensor -> (N, H, W, C) float32 numpy on the CPU."""
    return images.detach().float().cpu().permute(0, 2, 3, 1).numpy()
