"""The common shape of every MedLab classifier: input normalisation, backbone, dropout, linear head.

Grad-CAM (Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via Gradient-based
Localization", ICCV 2017) hooks `target_layer`; transfer learning (Yosinski et al., "How transferable are
features in deep neural networks?", NeurIPS 2014) freezes `backbone` and trains `head` only.
"""
from __future__ import annotations

from collections.abc import Sequence
from numbers import Real

import torch
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SCRATCH_MEAN = 0.5
SCRATCH_STD = 0.25


def _per_channel(value: float | Sequence[float], channels: int, field: str) -> tuple[float, ...]:
    values = (float(value),) if isinstance(value, Real) else tuple(float(v) for v in value)
    if len(values) == 1:
        values = values * channels
    if len(values) != channels:
        raise ValueError(f"{field} has {len(values)} values but the model takes {channels} input channel(s).")
    return values


class InputNormalization(nn.Module):
    """`(x - mean) / std` per channel, kept as buffers so saved and exported models take [0, 1] images.

    Args:
        mean: one value, or one per channel.
        std: one value, or one per channel; every value must be > 0.
        channels: the number of input channels.

    Returns (forward):
        the normalised images, the shape of the input (N, channels, H, W).

    Raises:
        ValueError: neither one value nor one per channel, or a std that is not > 0.
    """

    def __init__(self, mean: float | Sequence[float], std: float | Sequence[float], channels: int) -> None:
        super().__init__()
        mean_values = _per_channel(mean, channels, "input_mean")
        std_values = _per_channel(std, channels, "input_std")
        if min(std_values) <= 0:
            raise ValueError(f"input_std must be greater than 0, got {std_values}.")
        self.channels = channels
        self.register_buffer("mean", torch.tensor(mean_values).view(1, channels, 1, 1))
        self.register_buffer("std", torch.tensor(std_values).view(1, channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"mean={self.mean.flatten().tolist()}, std={self.std.flatten().tolist()}"


class PerImageStandardization(nn.Module):
    """Each image minus its own mean, divided by its own standard deviation (over channels and pixels).

    Radiographs differ in exposure and window from image to image; standardising each image removes that
    nuisance before the first convolution (as tf.image.per_image_standardization does).

    Args:
        channels: the number of input channels (recorded for `Classifier.in_channels`).
        eps: added to the standard deviation, so a constant image gives zeros rather than NaN.

    Returns (forward):
        the standardised images, the shape of the input (N, channels, H, W).
    """

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.channels, self.eps = channels, eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        std = x.std(dim=(1, 2, 3), keepdim=True)
        return (x - mean) / (std + self.eps)


class Classifier(nn.Module):
    """`head(dropout(backbone(normalize(x))))`: images in [0, 1] of shape (N, C, H, W) -> logits (N, classes).

    Args:
        normalize: the input normalisation (first layer).
        backbone: maps normalised images to a flat feature vector (N, head.in_features).
        head: the classifier `nn.Linear`.
        target_layer: the module inside `backbone` whose 4-D output Grad-CAM should use (last conv stage).
        dropout: dropout probability applied to the features before the head.

    A frozen backbone (see `freeze_backbone`) stays in eval mode even when `train()` is called, so its
    BatchNorm running statistics and any stochastic layers (dropout, stochastic depth) inside it do not
    change or add noise; the dropout before the head still follows `train()`. Its parameters do not require
    gradients, so Grad-CAM on a frozen model needs an input with `requires_grad_(True)`.

    Raises:
        ValueError: a dropout outside [0, 1), or a target_layer that is not inside backbone.
    """

    __jit_unused_properties__ = ["target_layer", "in_channels", "num_classes"]

    def __init__(self, normalize: nn.Module, backbone: nn.Module, head: nn.Linear,
                 target_layer: nn.Module, dropout: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}.")
        self.normalize = normalize
        self.backbone = backbone
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.head = head
        names = {module: name for name, module in backbone.named_modules()}
        if target_layer not in names:
            raise ValueError("target_layer must be a module inside backbone.")
        # Stored by name, not as a second reference, so copies, state dicts and exports stay simple.
        self.target_layer_name = f"backbone.{names[target_layer]}".rstrip(".")
        self.backbone_frozen = False

    @property
    def target_layer(self) -> nn.Module:
        """The last conv stage: its output (N, C, h, w) is what Grad-CAM weights by gradients."""
        return self.get_submodule(self.target_layer_name)

    @property
    def in_channels(self) -> int:
        return int(self.normalize.channels)

    @property
    def num_classes(self) -> int:
        return self.head.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args: x: images in [0, 1], shape (N, C, H, W). Returns: logits, shape (N, num_classes)."""
        return self.head(self.dropout(self.backbone(self.normalize(x))))

    def freeze_backbone(self) -> None:
        """Train the head only: the backbone stops requiring gradients and is held in eval mode."""
        self.backbone.requires_grad_(False)
        self.backbone_frozen = True
        self.train(self.training)

    def train(self, mode: bool = True) -> Classifier:
        super().train(mode)
        if self.backbone_frozen:
            self.backbone.eval()
        return self

