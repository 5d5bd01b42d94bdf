"""Image classification: single-label (softmax, cross-entropy) and multi-label (sigmoid, binary cross-entropy
with per-label thresholds chosen on the validation split)."""
from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, precision_recall_curve, roc_auc_score

from core.data.augment import Augmentation, augment_batch, load_augmentation
from core.data.splits import SPLITS, cross_validation_fold, stratum_of
from core.data.store import Dataset, DatasetInfo
from core.errors import UserError
from core.models import CLASSIFIER_NAMES, build_classifier, check_input_size
from core.tasks.base import SingleNetworkTask
from core.tasks.tensors import SplitTensors, refuse_clips, step_seed
from core.train.config import TrainConfig
from core.train.distributed import data_parallel
from core.train.optim import Optimization, autocast_dtype

IMBALANCE_REMEDIES = ("none", "class_weights", "sampler")
SINGLE_LABEL_METRICS = ("val_loss", "val_accuracy", "val_balanced_accuracy")
MULTI_LABEL_METRICS = ("val_loss", "val_auc", "val_f1")
EVAL_BATCH = 256


@dataclass
class ClassifyConfig(TrainConfig):
    """Classification settings. The defaults are the recommended recipe: on the built-in 64 px phantom it
    reaches at least 95% test accuracy on a 2-core CPU (see bench/time_to_accuracy.py)."""

    pretrained: bool = False          # ImageNet weights (torchvision models only)
    freeze_backbone: bool = False     # train only the new head (needs pretrained)
    imbalance: str = "none"           # none | class_weights (weighted loss) | sampler (weighted sampling)
    augment: bool = True              # apply the augmentation saved with the dataset
    label_smoothing: float = 0.0
    folds: int = 0                    # k-fold cross-validation: train+val pooled into k folds (0 = the saved split)
    fold: int = 0                     # which fold validates (0 .. folds-1); the test split never changes
    cv_group: str = ""                # the runs of one cross-validation share this label
    tasks: ClassVar[tuple[str, ...]] = ("classification", "multilabel")  # the "task" values this config trains

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.task not in self.tasks:
            raise UserError(f"Config field 'task' must be {' or '.join(self.tasks)} here, not '{self.task}'.")
        if self.imbalance not in IMBALANCE_REMEDIES:
            raise UserError(f"Config field 'imbalance' must be one of {', '.join(IMBALANCE_REMEDIES)}, "
                            f"not '{self.imbalance}'.")
        if not 0 <= self.label_smoothing < 1:
            raise UserError(f"Config field 'label_smoothing' must be at least 0 and below 1, not {self.label_smoothing}.")
        if self.model not in CLASSIFIER_NAMES:
            raise UserError(f"Config field 'model' must be one of {', '.join(CLASSIFIER_NAMES)}, not '{self.model}'.")
        if self.folds == 1 or not 0 <= self.folds <= 20:
            raise UserError(f"Config field 'folds' must be 0 (no cross-validation) or 2 to 20, not {self.folds}.")
        if self.folds and not 0 <= self.fold < self.folds:
            raise UserError(f"Config field 'fold' must be 0 to {self.folds - 1}, not {self.fold}.")
        if self.freeze_backbone and not self.pretrained:
            raise UserError("Config field 'freeze_backbone' needs 'pretrained': a random backbone cannot be frozen.")


@dataclass
class SplitOutputs:
    logits: np.ndarray            # (N, K)
    labels: np.ndarray            # (N,) class indices or (N, K) multi-hot
    features: np.ndarray | None   # (N, F) penultimate features, when asked for
    indices: np.ndarray           # (N,) positions of these images in the dataset


@dataclass
class ClassificationOutputs:
    """What a trained classifier returns for its report (core.evaluate.report builds it from these alone)."""

    classes: list[str]
    multilabel: bool
    thresholds: list[float] | None  # per-label decision thresholds (multi-label), chosen on validation
    dataset_id: str
    train: SplitOutputs             # with features (the out-of-distribution reference)
    val: SplitOutputs               # with features
    test: SplitOutputs
    train_images: np.ndarray        # (n, C, S, S) up to 2048 training images as the network sees them, in [0, 1]


def probabilities(logits: np.ndarray, multilabel: bool) -> np.ndarray:
    """Class probabilities (N, K) from logits: sigmoid per label (multi-label) or softmax over classes."""
    tensor = torch.from_numpy(logits)
    return (torch.sigmoid(tensor) if multilabel else torch.softmax(tensor, dim=1)).numpy()


class ClassifyTask(SingleNetworkTask):
    """Single-label or multi-label image classification (the report: core.evaluate.report)."""

    kinds = ("classification", "multilabel")
    config_class = ClassifyConfig
    data_parallel = True

    @classmethod
    def build(cls, config: ClassifyConfig, dataset: Dataset, workspace: str) -> ClassifyTask:
        return cls(config, dataset, load_augmentation(workspace, config.dataset))

    def __init__(self, config: ClassifyConfig, dataset: Dataset, augmentation: Augmentation) -> None:
        info = dataset.info
        self.monitor = self.check(config, info)
        self.monitor_mode = "min" if self.monitor == "val_loss" else "max"
        self.multilabel = info.task == "multilabel"
        self.config, self.dataset, self.augmentation = config, dataset, augmentation
        self.classes = info.classes
        self.image_size = config.image_size or info.size
        self.thresholds = [0.5] * len(self.classes)

    @staticmethod
    def check(config: ClassifyConfig, info: DatasetInfo) -> str:
        """That `config` can be trained on the dataset `info` describes (labels, splits, input size, monitor),
        without loading any data; returns the monitored validation metric. Raises UserError otherwise."""
        refuse_clips(info)
        if info.task == "unlabelled":
            raise UserError(f"Dataset '{info.id}' has no labels, so a classifier cannot be trained on it; import it "
                            "with class folders or a CSV of filename,label.")
        if len(info.classes) < 2:
            raise UserError(f"Dataset '{info.id}' has only one class; a classifier needs at least two.")
        if config.task == "multilabel" and info.task != "multilabel":
            raise UserError(f"Dataset '{info.id}' has one label per image; use task 'classification'.")
        multilabel = info.task == "multilabel"
        if multilabel and config.imbalance == "sampler":
            raise UserError("Config field 'imbalance': the weighted sampler needs one label per image; "
                            "use class_weights for multi-label data.")
        if not info.split_counts.get("train") or not info.split_counts.get("val"):
            raise UserError(f"Dataset '{info.id}' needs images in both its train and val splits to train.")
        image_size = config.image_size or info.size
        check_input_size(config.model, image_size, image_size)
        per_step = config.batch_size * config.workers
        if config.workers > 1 and info.split_counts["train"] < per_step:
            raise UserError(f"Config field 'workers': {config.workers} workers x batch size {config.batch_size} = "
                            f"{per_step} images per step, but the training split has {info.split_counts['train']}; "
                            "use fewer workers or a smaller batch size.")
        metrics = MULTI_LABEL_METRICS if multilabel else SINGLE_LABEL_METRICS
        monitor = config.monitor or ("val_auc" if multilabel else "val_accuracy")
        if monitor not in metrics:
            raise UserError(f"Config field 'monitor' must be one of {', '.join(metrics)} for this task, "
                            f"not '{monitor}'.")
        return monitor

    # --- set-up ---------------------------------------------------------------------------------------------
    def setup(self, device: torch.device) -> None:
        self.device = device
        torch.manual_seed(self.config.seed)  # the same seed gives the same initial weights
        self.splits = {split: SplitTensors(self.dataset, indices, device, self.image_size)
                       for split, indices in self.split_indices().items()}
        train = self.splits["train"]
        # scratch models normalise with this dataset's statistics; pretrained ones keep ImageNet's
        mean, std = (None, None) if self.config.pretrained else _channel_stats(train)
        self.model = build_classifier(
            self.config.model, self.dataset.info.channels, len(self.classes), pretrained=self.config.pretrained,
            freeze_backbone=self.config.freeze_backbone, input_mean=mean, input_std=std,
        ).to(device)
        self.channels_last = self.config.channels_last  # ~1.6x faster convolutions on CPU too (measured)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.amp_dtype = autocast_dtype(self.config, device)
        self.class_weights = self._class_weights(train)
        self.sample_weights = self._sample_weights(train) if self.config.imbalance == "sampler" else None
        self.optimization = Optimization(self.model, self.config, self.steps_per_epoch, device)
        self.train_model = data_parallel(self.model, self.ranks, device)  # the model itself when training alone
        self.model.train()

    def split_indices(self) -> dict[str, np.ndarray]:
        """Dataset indices per split: the saved split, or for k-fold runs this fold's train/val and the saved test."""
        dataset = self.dataset
        if not self.config.folds:
            return {split: dataset.indices(split) for split in SPLITS}
        pool = np.concatenate([dataset.indices("train"), dataset.indices("val")])
        groups = dataset.items["group"].to_numpy()[pool]
        train, val = cross_validation_fold(pool, stratum_of(dataset.labels[pool]), groups, self.config.folds,
                                           self.config.fold, self.config.seed, keep_in_train=dataset.synthetic[pool])
        return {"train": train, "val": val, "test": dataset.indices("test")}

    @property
    def steps_per_epoch(self) -> int:
        return max(1, len(self.splits["train"]) // (self.config.batch_size * self.ranks.world))

    @property
    def images_per_step(self) -> int:
        """Over all ranks: each trains on its own batch_size images."""
        return min(self.config.batch_size * self.ranks.world, len(self.splits["train"]))

    def _class_weights(self, train: SplitTensors) -> torch.Tensor | None:
        if self.config.imbalance != "class_weights":
            return None
        labels = train.labels
        if self.multilabel:  # positives of a rare label weigh as much as its negatives (pos_weight = neg / pos)
            positives = labels.sum(0).clamp_min(1)
            return ((len(labels) - positives) / positives).clamp(max=100)
        counts = torch.bincount(labels, minlength=len(self.classes)).float().clamp_min(1)
        return len(labels) / (len(self.classes) * counts)  # each class contributes equally to the loss

    def _sample_weights(self, train: SplitTensors) -> torch.Tensor:
        counts = torch.bincount(train.labels, minlength=len(self.classes)).float().clamp_min(1)
        return (1.0 / counts)[train.labels].cpu()

    # --- training -------------------------------------------------------------------------------------------
    def train_batches(self, epoch: int, start_step: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(images (B, C, S, S) augmented on the device, labels) for each step of `epoch` from `start_step`. With
        several ranks, step s of rank r takes the (s * world + r)-th batch of the epoch's one shared order."""
        generator = torch.Generator().manual_seed(step_seed(self.config.seed, epoch))
        train = self.splits["train"]
        if self.sample_weights is not None:
            order = torch.multinomial(self.sample_weights, len(train), replacement=True, generator=generator)
        else:
            order = torch.randperm(len(train), generator=generator)
        size, world, rank = self.config.batch_size, self.ranks.world, self.ranks.rank
        for step in range(start_step, self.steps_per_epoch):
            shard = step * world + rank
            images, labels = train.batch(order[shard * size:(shard + 1) * size])
            if self.config.augment and not self.augmentation.is_identity:
                augment = torch.Generator(self.device).manual_seed(step_seed(self.config.seed, epoch, shard))
                images = augment_batch(images, self.augmentation, augment)
            if self.channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            yield images, labels

    def train_step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, Any]:
        images, labels = batch
        lr = self.optimization.lr
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
            logits = self.train_model(images)
        loss = self._loss(logits.float(), labels, training=True)
        self.optimization.step(loss)
        return {"loss": loss.detach(), "lr": lr}

    def _loss(self, logits: torch.Tensor, labels: torch.Tensor, training: bool) -> torch.Tensor:
        if self.multilabel:
            return F.binary_cross_entropy_with_logits(
                logits, labels, pos_weight=self.class_weights if training else None)
        return F.cross_entropy(logits, labels, weight=self.class_weights if training else None,
                               label_smoothing=self.config.label_smoothing if training else 0.0)

    def end_epoch(self, val_metrics: dict[str, float]) -> None:
        # only rank 0 validates: a plateau schedule follows its validation loss on every rank
        self.optimization.end_epoch(self.ranks.share(val_metrics.get("val_loss")))

    # --- evaluation -----------------------------------------------------------------------------------------
    @torch.no_grad()
    def outputs(self, split: str, with_features: bool = False) -> SplitOutputs:
        """Logits (and penultimate features, for out-of-distribution checks) of every image of a split."""
        self.model.eval()
        logits, labels, features = [], [], []
        for images, targets in self.splits[split].batches(EVAL_BATCH):
            if self.channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
                pooled = self.model.backbone(self.model.normalize(images))
                logits.append(self.model.head(pooled).float())
            labels.append(targets)
            if with_features:
                features.append(pooled.float().cpu())
        self.model.train()
        empty_labels = torch.zeros((0, len(self.classes)) if self.multilabel else 0, device=self.device)
        return SplitOutputs(
            logits=torch.cat(logits).cpu().numpy() if logits else np.zeros((0, len(self.classes)), np.float32),
            labels=torch.cat(labels).cpu().numpy() if labels else empty_labels.cpu().numpy(),
            features=torch.cat(features).numpy() if features else None,
            indices=self.splits[split].indices,
        )

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        return probabilities(logits, self.multilabel)

    def evaluate(self, split: str) -> dict[str, float]:
        if not self.ranks.leader:  # the other data-parallel ranks only train; rank 0 validates and reports
            return {}
        out = self.outputs(split)
        if not len(out.labels):
            return {f"{split}_loss": math.nan}
        logits = torch.from_numpy(out.logits)
        labels = torch.from_numpy(out.labels).float() if self.multilabel else torch.from_numpy(out.labels).long()
        metrics = {f"{split}_loss": self._loss(logits, labels, training=False).item()}
        probabilities = self.probabilities(out.logits)
        if self.multilabel:
            metrics[f"{split}_auc"] = _macro_auc(out.labels, probabilities)
            predicted = probabilities >= np.asarray(self.thresholds)
            metrics[f"{split}_f1"] = float(f1_score(out.labels, predicted, average="macro", zero_division=0))
        else:
            predicted = probabilities.argmax(1)
            metrics[f"{split}_accuracy"] = float(accuracy_score(out.labels, predicted))
            with warnings.catch_warnings():  # a class absent from a small split is expected, not a fault to print
                warnings.simplefilter("ignore", UserWarning)
                metrics[f"{split}_balanced_accuracy"] = float(balanced_accuracy_score(out.labels, predicted))
        return metrics

    def final_report(self) -> dict[str, Any]:
        if self.multilabel:  # per-label thresholds that maximise F1 on validation, then used on test
            val = self.outputs("val")
            probabilities = self.probabilities(val.logits)
            self.thresholds = [_best_threshold(val.labels[:, k], probabilities[:, k]) for k in range(len(self.classes))]
        return {**self.evaluate("test"), **({"thresholds": self.thresholds} if self.multilabel else {})}

    def split_outputs(self) -> ClassificationOutputs:
        """The outputs the report is built from, with the weights held now (the best ones, after final_report
        has chosen multi-label thresholds)."""
        train = self.splits["train"]
        return ClassificationOutputs(
            classes=self.classes, multilabel=self.multilabel,
            thresholds=self.thresholds if self.multilabel else None, dataset_id=self.dataset.info.id,
            train=self.outputs("train", with_features=True), val=self.outputs("val", with_features=True),
            test=self.outputs("test"), train_images=train.batch(torch.arange(min(len(train), 2048)))[0].cpu().numpy())

    # --- what outlives training (state and weights: SingleNetworkTask) ---------------------------------------
    def rebuild_spec(self) -> dict[str, Any]:
        info = self.dataset.info
        return {
            "task": "multilabel" if self.multilabel else "classification", "architecture": self.config.model,
            "in_channels": info.channels, "classes": self.classes, "image_size": self.image_size,
            "dataset": info.id, "dataset_name": info.name, "preprocessing": info.preprocessing,
            "thresholds": self.thresholds if self.multilabel else None, "pretrained": self.config.pretrained,
        }


def _channel_stats(train: SplitTensors) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation of the training images (from up to 2048 of them)."""
    if not len(train):
        return [0.5], [0.25]
    sample, _ = train.batch(torch.arange(min(len(train), 2048)))
    mean = sample.mean(dim=(0, 2, 3))
    std = sample.std(dim=(0, 2, 3)).clamp_min(1e-3)
    return mean.tolist(), std.tolist()


def _macro_auc(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """Mean ROC-AUC over labels that have both positives and negatives in this split."""
    scores = [roc_auc_score(labels[:, k], probabilities[:, k]) for k in range(labels.shape[1])
              if 0 < labels[:, k].sum() < len(labels)]
    return float(np.mean(scores)) if scores else math.nan


def _best_threshold(labels: np.ndarray, scores: np.ndarray) -> float:
    """The score threshold with the highest F1 for one label (0.5 when the split has no positives)."""
    if labels.sum() == 0 or labels.sum() == len(labels):
        return 0.5
    precision, recall, thresholds = precision_recall_curve(labels, scores)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    return float(thresholds[int(np.argmax(f1[:-1]))])
