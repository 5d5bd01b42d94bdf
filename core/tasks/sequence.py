"""Sequence classification (task "sequence"): one label per clip, clips of T frames from a sequence dataset.

The report is the classification report (core.evaluate.report): split_outputs returns ClassificationOutputs whose
features are the pooled clip features and whose train_images are the clips' middle frames.

Models (core.models.sequence_nets): CNN+LSTM/GRU, torchvision's video ResNets, and the single-frame baseline, which
trains on ONE random frame per clip (seeded per step) and is tested on every frame with the logits averaged, as
EchoNet-Dynamic's frames=1 arm (Ouyang et al., Nature 2020) measures what motion adds. Augmentation is the dataset's
saved one (core.data.augment) applied per clip: every frame of a clip gets the same flip, rotation, deformation,
blur, brightness and contrast (the clip's frames are treated as the channels of one image), so motion is untouched.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import accuracy_score, balanced_accuracy_score

from core.data.augment import Augmentation, augment_batch, load_augmentation
from core.data.splits import SPLITS
from core.data.store import Dataset, DatasetInfo
from core.errors import UserError
from core.models.sequence_nets import (FRAME_ENCODERS, SEQUENCE_MODELS, TEMPORAL_POOLING, VIDEO_NETS,
                                       build_sequence_model, check_clip_size)
from core.tasks.base import SingleNetworkTask
from core.tasks.classify import SINGLE_LABEL_METRICS, ClassificationOutputs, SplitOutputs, probabilities
from core.tasks.tensors import SplitTensors, step_seed
from core.train.config import TrainConfig
from core.train.optim import Optimization, autocast_dtype

EVAL_FRAMES = 2048      # frames per evaluation batch (clips per batch = this // T)
REFERENCE_CLIPS = 2048  # training clips whose middle frames are the out-of-distribution reference


@dataclass
class SequenceConfig(TrainConfig):
    """Sequence classification settings. The defaults are the recommended recipe: on the built-in cine phantom a
    CNN+LSTM reaches at least 90% test accuracy in under 5 minutes on a 2-core CPU, while the single-frame baseline
    stays at chance (see bench/sequences.py --part train)."""

    task: str = "sequence"
    model: str = "cnn_lstm"           # one of core.models.sequence_nets.SEQUENCE_MODELS
    epochs: int = 8
    batch_size: int = 16
    lr: float = 3e-3
    encoder: str = "small_cnn"        # the per-frame 2-D encoder of cnn_lstm, cnn_gru and single_frame
    hidden_size: int = 64             # width of the recurrent layer
    bidirectional: bool = False       # the recurrent layer reads the clip both ways
    temporal_pooling: str = "attention"  # attention | mean | last: how the recurrent outputs become one vector
    pretrained: bool = False          # ImageNet (resnet18 encoder) or Kinetics-400 (video networks) weights
    augment: bool = True              # apply the dataset's saved augmentation, the same to every frame of a clip

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.task != "sequence":
            raise UserError(f"Config field 'task' must be sequence here, not '{self.task}'.")
        for name, choices in (("model", SEQUENCE_MODELS), ("encoder", FRAME_ENCODERS),
                              ("temporal_pooling", TEMPORAL_POOLING)):
            if getattr(self, name) not in choices:
                raise UserError(f"Config field '{name}' must be one of {', '.join(choices)}, "
                                f"not '{getattr(self, name)}'.")
        if not 1 <= self.hidden_size <= 2048:
            raise UserError(f"Config field 'hidden_size' must be between 1 and 2048, not {self.hidden_size}.")
        if self.pretrained and self.model not in VIDEO_NETS and self.encoder == "small_cnn":
            raise UserError("Config field 'pretrained': the small_cnn encoder has no pretrained weights; choose the "
                            "resnet18 encoder or a video network.")


class SequenceTask(SingleNetworkTask):
    """Clip classification: one label per clip (the report: core.evaluate.report, as for images)."""

    kinds = ("sequence",)
    config_class = SequenceConfig

    @classmethod
    def build(cls, config: SequenceConfig, dataset: Dataset, workspace: str) -> SequenceTask:
        return cls(config, dataset, load_augmentation(workspace, config.dataset))

    def __init__(self, config: SequenceConfig, dataset: Dataset, augmentation: Augmentation) -> None:
        info = dataset.info
        self.monitor = self.check(config, info)
        self.monitor_mode = "min" if self.monitor == "val_loss" else "max"
        self.config, self.dataset, self.augmentation = config, dataset, augmentation
        self.classes = info.classes
        self.image_size = config.image_size or info.size
        self.frames = info.frames

    @staticmethod
    def check(config: SequenceConfig, info: DatasetInfo) -> str:
        """That `config` can be trained on the dataset `info` describes (clips, labels, splits, frame size,
        monitor), without loading any data; returns the monitored validation metric. Raises UserError otherwise."""
        if not info.is_sequence:
            raise UserError(f"Dataset '{info.id}' holds single images, not clips; train it with task "
                            "'classification'.")
        if info.task != "classification":
            raise UserError(f"Dataset '{info.id}' has no single class label per clip; a sequence classifier needs "
                            "clips imported with class folders or a CSV of filename,label.")
        if len(info.classes) < 2:
            raise UserError(f"Dataset '{info.id}' has only one class; a classifier needs at least two.")
        if not info.split_counts.get("train") or not info.split_counts.get("val"):
            raise UserError(f"Dataset '{info.id}' needs clips in both its train and val splits to train.")
        image_size = config.image_size or info.size
        check_clip_size(config.model, image_size, image_size, config.encoder)
        monitor = config.monitor or "val_accuracy"
        if monitor not in SINGLE_LABEL_METRICS:
            raise UserError(f"Config field 'monitor' must be one of {', '.join(SINGLE_LABEL_METRICS)} for this task, "
                            f"not '{monitor}'.")
        return monitor

    # --- set-up ---------------------------------------------------------------------------------------------
    def setup(self, device: torch.device) -> None:
        self.device = device
        torch.manual_seed(self.config.seed)  # the same seed gives the same initial weights
        self.splits = {split: SplitTensors(self.dataset, self.dataset.indices(split), device, self.image_size)
                       for split in SPLITS}
        # scratch models normalise with this dataset's statistics (the small-CNN encoder standardises each clip
        # itself); pretrained ones keep ImageNet's or Kinetics'
        mean, std = (None, None) if self.config.pretrained else _channel_stats(self.splits["train"])
        config = self.config
        self.model = build_sequence_model(
            config.model, self.dataset.info.channels, len(self.classes), encoder=config.encoder,
            hidden_size=config.hidden_size, bidirectional=config.bidirectional, pooling=config.temporal_pooling,
            pretrained=config.pretrained, input_mean=mean, input_std=std,
        ).to(device)
        self.model.to(memory_format=torch.channels_last if config.channels_last else torch.contiguous_format)
        self.amp_dtype = autocast_dtype(config, device)
        self.optimization = Optimization(self.model, config, self.steps_per_epoch, device)
        self.model.train()

    @property
    def single_frame(self) -> bool:
        return self.config.model == "single_frame"

    @property
    def steps_per_epoch(self) -> int:
        return max(1, len(self.splits["train"]) // self.config.batch_size)

    @property
    def images_per_step(self) -> int:
        """Frames the network sees per step (clips x frames; one frame per clip for the single-frame baseline)."""
        return min(self.config.batch_size, len(self.splits["train"])) * (1 if self.single_frame else self.frames)

    # --- training -------------------------------------------------------------------------------------------
    def train_batches(self, epoch: int, start_step: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(clips (B, T, C, S, S) augmented alike across each clip's frames, labels) for each step of `epoch` from
        `start_step`; for the single-frame baseline one random frame per clip, (B, 1, C, S, S)."""
        generator = torch.Generator().manual_seed(step_seed(self.config.seed, epoch))
        train = self.splits["train"]
        order = torch.randperm(len(train), generator=generator)
        size = self.config.batch_size
        for step in range(start_step, self.steps_per_epoch):
            clips, labels = train.batch(order[step * size:(step + 1) * size])
            if self.single_frame:
                chosen = torch.Generator().manual_seed(step_seed(self.config.seed, epoch, step, 1))
                frame = torch.randint(clips.shape[1], (len(clips),), generator=chosen).to(clips.device)
                clips = clips[torch.arange(len(clips), device=clips.device), frame].unsqueeze(1)
            if self.config.augment and not self.augmentation.is_identity:
                augment = torch.Generator(self.device).manual_seed(step_seed(self.config.seed, epoch, step))
                clips = augment_clips(clips, self.augmentation, augment)
            yield clips, labels

    def train_step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, Any]:
        clips, labels = batch
        lr = self.optimization.lr
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
            logits = self.model(clips)
        loss = F.cross_entropy(logits.float(), labels)
        self.optimization.step(loss)
        return {"loss": loss.detach(), "lr": lr}

    def end_epoch(self, val_metrics: dict[str, float]) -> None:
        self.optimization.end_epoch(val_metrics.get("val_loss"))

    # --- evaluation -----------------------------------------------------------------------------------------
    @torch.no_grad()
    def outputs(self, split: str, with_features: bool = False) -> SplitOutputs:
        """Logits (and pooled clip features, for out-of-distribution checks) of every clip of a split, each clip
        seen whole (the single-frame baseline: its per-frame logits averaged over the frames)."""
        self.model.eval()
        logits, labels, features = [], [], []
        for clips, targets in self.splits[split].batches(max(1, EVAL_FRAMES // max(1, self.frames))):
            with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
                pooled = self.model.features(clips)
                logits.append(self.model.head(pooled).float())
            labels.append(targets)
            if with_features:
                features.append(pooled.float().cpu())
        self.model.train()
        return SplitOutputs(
            logits=torch.cat(logits).cpu().numpy() if logits else np.zeros((0, len(self.classes)), np.float32),
            labels=torch.cat(labels).cpu().numpy() if labels else np.zeros(0, np.int64),
            features=torch.cat(features).numpy() if features else None,
            indices=self.splits[split].indices,
        )

    def evaluate(self, split: str) -> dict[str, float]:
        out = self.outputs(split)
        if not len(out.labels):
            return {f"{split}_loss": math.nan}
        loss = F.cross_entropy(torch.from_numpy(out.logits), torch.from_numpy(out.labels).long()).item()
        predicted = out.logits.argmax(1)
        metrics = {f"{split}_loss": loss, f"{split}_accuracy": float(accuracy_score(out.labels, predicted))}
        with warnings.catch_warnings():  # a class absent from a small split is expected, not a fault to print
            warnings.simplefilter("ignore", UserWarning)
            metrics[f"{split}_balanced_accuracy"] = float(balanced_accuracy_score(out.labels, predicted))
        return metrics

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        return probabilities(logits, multilabel=False)

    def split_outputs(self) -> ClassificationOutputs:
        """The outputs the report is built from, with the weights held now (the best ones): the classification
        report's, with pooled clip features and the training clips' middle frames as the OOD reference."""
        return ClassificationOutputs(
            classes=self.classes, multilabel=False, thresholds=None, dataset_id=self.dataset.info.id,
            train=self.outputs("train", with_features=True), val=self.outputs("val", with_features=True),
            test=self.outputs("test"), train_images=self.middle_frames("train").cpu().numpy())

    def middle_frames(self, split: str, limit: int = REFERENCE_CLIPS) -> torch.Tensor:
        """The middle frame of up to `limit` clips of a split, float (n, C, S, S) in [0, 1], as the network sees it."""
        tensors = self.splits[split]
        count = min(len(tensors), limit)
        return tensors.images[:count, self.frames // 2].float() / tensors.scale

    # --- what outlives training (state and weights: SingleNetworkTask) ---------------------------------------
    def rebuild_spec(self) -> dict[str, Any]:
        info, config = self.dataset.info, self.config
        return {
            "task": "sequence", "architecture": config.model, "encoder": config.encoder,
            "hidden_size": config.hidden_size, "bidirectional": config.bidirectional,
            "temporal_pooling": config.temporal_pooling, "in_channels": info.channels, "classes": self.classes,
            "image_size": self.image_size, "frames": info.frames, "frame_time_ms": info.frame_time_ms,
            "dataset": info.id, "dataset_name": info.name, "preprocessing": info.preprocessing,
            "pretrained": config.pretrained,
        }


def augment_clips(clips: torch.Tensor, augmentation: Augmentation, generator: torch.Generator | None = None
                  ) -> torch.Tensor:
    """Augment clips (B, T, C, H, W) in [0, 1] with one draw of `augmentation` per clip, the same for every frame
    (the frames are stacked as the channels of one image, so a flip, rotation, deformation, blur, brightness or
    contrast change applies to all of them alike; noise is drawn per pixel). Returns a new tensor in [0, 1]."""
    batch, frames, channels, height, width = clips.shape
    stacked = clips.reshape(batch, frames * channels, height, width)
    return augment_batch(stacked, augmentation, generator).reshape(clips.shape)


def _channel_stats(train: SplitTensors) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation of the training clips' frames (from up to 256 clips)."""
    if not len(train):
        return [0.5], [0.25]
    sample, _ = train.batch(torch.arange(min(len(train), 256)))
    mean = sample.mean(dim=(0, 1, 3, 4))
    std = sample.std(dim=(0, 1, 3, 4)).clamp_min(1e-3)
    return mean.tolist(), std.tolist()
