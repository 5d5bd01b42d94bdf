"""The dataset's feature network: a small classifier trained once per workspace and dataset, whose penultimate
features every generative run of that dataset is judged on ("FD on MedLab features", KID, precision/recall,
the two-sample test and the memorisation check in core.synthesis.quality).

FID (Heusel et al. 2017) uses ImageNet Inception-v3 features; those weights would have to be downloaded and know
little of radiographs, so MedLab trains its own small network (core.models SmallCNN) on the dataset's labels
through the shared task and loop (ClassifyTask + core.train.loop.fit), with a short fixed recipe and seed. It is
cached as

    MEDLAB_HOME/workspaces/<ws>/feature_nets/<dataset id>.safetensors   the weights
    MEDLAB_HOME/workspaces/<ws>/feature_nets/<dataset id>.json          recipe, input size, test accuracy

so the distances of every run on a dataset are measured with the same features and can be compared. Both files
are written atomically (the JSON last: it marks the cache complete), and builders hold a file lock, so two runs
starting together train it once. Nothing is ever downloaded.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from core.data.augment import default_augmentation
from core.data.store import Dataset
from core.errors import UserError
from core.models import Classifier, build_classifier
from core.settings import workspace_dir
from core.tasks.classify import ClassifyConfig, ClassifyTask
from core.tasks.tensors import SplitTensors
from core.train.checkpoint import load_weights, save_weights
from core.train.loop import LoopState, fit

RECIPE_VERSION = 1           # bump when the recipe changes: cached networks of older recipes are retrained
ARCHITECTURE = "small_cnn"
MAX_EPOCHS, MIN_EPOCHS = 6, 2
TARGET_STEPS = 900           # about this many optimisation steps in all (fewer epochs on large datasets)
BATCH_SIZE, LR, SEED = 64, 3e-3, 0
FEATURE_BATCH = 256


@dataclass
class FeatureNet:
    """A trained SmallCNN used as a feature extractor. `features` takes images (N, C, H, W) in [0, 1] of any
    size (resized to `image_size`) and returns its global-average-pooled penultimate features (N, F) as float32
    numpy, the same features the OOD check of a classifier uses (backbone(normalize(x)))."""

    model: Classifier
    image_size: int
    channels: int
    test_accuracy: float
    recipe: dict[str, Any]
    device: torch.device

    @torch.no_grad()
    def features(self, images: torch.Tensor | np.ndarray) -> np.ndarray:
        """(N, F) float32 features of `images` (N, C, H, W) in [0, 1], a tensor on any device or a numpy array."""
        tensor = torch.as_tensor(images)
        if tensor.ndim != 4:
            raise ValueError(f"images must be (N, C, H, W), got shape {tuple(tensor.shape)}")
        self.model.eval()
        out = [self._features(tensor[start:start + FEATURE_BATCH]) for start in range(0, len(tensor), FEATURE_BATCH)]
        width = self.model.head.in_features
        return np.concatenate(out) if out else np.zeros((0, width), np.float32)

    def _features(self, batch: torch.Tensor) -> np.ndarray:
        batch = batch.to(self.device, torch.float32)
        if batch.shape[1] != self.channels:  # grey <-> colour, should a caller pass the other kind
            batch = (batch.mean(1, keepdim=True) if self.channels == 1
                     else batch[:, :1].expand(-1, self.channels, -1, -1))
        if batch.shape[-2:] != (self.image_size, self.image_size):
            batch = F.interpolate(batch, size=(self.image_size, self.image_size), mode="bilinear",
                                  align_corners=False, antialias=batch.shape[-1] > self.image_size)
        return self.model.backbone(self.model.normalize(batch)).float().cpu().numpy()

    def features_of_split(self, split: SplitTensors) -> np.ndarray:
        """(N, F) features of every image of a split, in its order."""
        parts = [self.features(images) for images, _ in split.batches(FEATURE_BATCH)]
        return np.concatenate(parts) if parts else self.features(torch.zeros(0, self.channels, 1, 1))


def feature_image_size(size: int) -> int:
    """The input size of a dataset's feature network: its own size within 16-128 px, else 64 (as the generative
    tasks choose theirs; others are resized to it)."""
    return size if 16 <= size <= 128 else 64


def cache_paths(workspace: str, dataset_id: str) -> tuple[Path, Path]:
    """(weights, facts) of the cached feature network of `dataset_id` in `workspace`."""
    folder = workspace_dir(workspace) / "feature_nets"
    return folder / f"{dataset_id}.safetensors", folder / f"{dataset_id}.json"


def feature_network(workspace: str, dataset: Dataset, device: torch.device) -> FeatureNet:
    """The feature network of `dataset` in `workspace` on `device`: loaded from the cache, else trained (one to
    two minutes for the 64 px phantom on a 2-core CPU, 0.99 test accuracy) and cached.

    Raises:
        UserError: the dataset has no single-label classes to train a classifier on (unlabelled or multi-label).
    """
    info = dataset.info
    if info.task == "multilabel":
        raise UserError(f"Dataset '{info.id}' has several labels per image; the classifier whose features the "
                        "quality figures are measured on needs one class per image.")
    if info.task != "classification" or len(info.classes) < 2:
        raise UserError(f"Dataset '{info.id}' has no class labels, so MedLab cannot train the classifier whose "
                        "features the quality figures are measured on.")
    weights_path, facts_path = cache_paths(workspace, info.id)
    cached = _load(weights_path, facts_path, dataset, device)
    if cached is not None:
        return cached
    with _locked(facts_path.with_suffix(".lock")):
        cached = _load(weights_path, facts_path, dataset, device)  # another builder may have finished meanwhile
        if cached is not None:
            return cached
        net = _train(dataset, device)
        save_weights(weights_path, net.model.state_dict())
        accuracy = None if math.isnan(net.test_accuracy) else net.test_accuracy
        facts = {"recipe": net.recipe, "test_accuracy": accuracy, "image_size": net.image_size,
                 "channels": net.channels, "classes": info.classes, "dataset": _dataset_stamp(dataset)}
        tmp = facts_path.with_name(f".{facts_path.name}.tmp")
        tmp.write_text(json.dumps(facts, indent=1))
        os.replace(tmp, facts_path)
        return net


def recipe_for(dataset: Dataset) -> dict[str, Any]:
    """The fixed training recipe of a dataset's feature network (a ClassifyConfig, as a dict)."""
    info = dataset.info
    train_images = max(1, info.split_counts.get("train", 0))
    steps_per_epoch = max(1, train_images // BATCH_SIZE)
    epochs = max(MIN_EPOCHS, min(MAX_EPOCHS, math.ceil(TARGET_STEPS / steps_per_epoch)))
    return {"dataset": info.id, "task": "classification", "model": ARCHITECTURE,
            "image_size": feature_image_size(info.size), "epochs": epochs, "batch_size": BATCH_SIZE, "lr": LR,
            "scheduler": "onecycle", "seed": SEED, "augment": True, "version": RECIPE_VERSION}


def _train(dataset: Dataset, device: torch.device) -> FeatureNet:
    """Train the recipe on the shared loop (no run-store callbacks) and measure its test accuracy."""
    recipe = recipe_for(dataset)
    config = ClassifyConfig(**{k: v for k, v in recipe.items() if k != "version"},
                            device="cuda" if device.type == "cuda" else "cpu")
    task = ClassifyTask(config, dataset, default_augmentation(dataset.info.id))
    # the caller's random streams stay as they were: a generative run gives the same numbers whether its
    # feature network was trained just now or loaded from the cache
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        task.setup(device)
        fit(task, LoopState(), [])
    accuracy = task.evaluate("test").get("test_accuracy", math.nan) if len(task.splits["test"]) else math.nan
    model = task.model.to(memory_format=torch.contiguous_format).eval()
    return FeatureNet(model=model, image_size=task.image_size, channels=dataset.info.channels,
                      test_accuracy=float(accuracy), recipe=recipe, device=device)


def _load(weights_path: Path, facts_path: Path, dataset: Dataset, device: torch.device) -> FeatureNet | None:
    """The cached network, or None when there is none, or it was trained with another recipe or on another
    dataset of the same id."""
    if not facts_path.exists() or not weights_path.exists():
        return None
    try:
        facts = json.loads(facts_path.read_text())
    except (OSError, ValueError):
        return None
    if facts.get("recipe") != recipe_for(dataset) or facts.get("dataset") != _dataset_stamp(dataset):
        return None
    info = dataset.info
    model = build_classifier(ARCHITECTURE, info.channels, len(info.classes))
    model.load_state_dict(load_weights(weights_path))
    accuracy = facts.get("test_accuracy")
    return FeatureNet(model=model.to(device).eval(), image_size=int(facts["image_size"]), channels=info.channels,
                      test_accuracy=math.nan if accuracy is None else float(accuracy), recipe=facts["recipe"],
                      device=device)


def _dataset_stamp(dataset: Dataset) -> dict[str, Any]:
    """What identifies the dataset's contents well enough to notice that a cached network is stale."""
    info = dataset.info
    return {"id": info.id, "created": info.created, "num_images": info.num_images, "classes": list(info.classes),
            "size": info.size, "channels": info.channels}


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on `path` between processes (fcntl; without it, e.g. on Windows, none)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
