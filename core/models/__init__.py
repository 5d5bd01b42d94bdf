"""Networks. Classifiers are built by name through `build_classifier`; every one is a `Classifier`
(`normalize`, `backbone`, `head`, `target_layer`) taking images in [0, 1].

Restoration networks (U-Net, SRResNet) live in their own modules with their own registry
(core.models.restoration); the names here are classifiers only. This module is the boundary for classifiers:
what a person chose is checked here (core.models.checks) and refused with a `UserError`; the networks below it
raise `ValueError`, a programming error.
"""
from __future__ import annotations

from collections.abc import Sequence

from core.errors import UserError
from core.models.checks import check_channel_values, check_count, check_in_channels, check_name
from core.models.classifier import Classifier, InputNormalization
from core.models.small_cnn import SmallCNN
from core.models.torchvision_nets import TORCHVISION_NETS, build_torchvision_classifier, imagenet_file_name

CLASSIFIER_NAMES = ("small_cnn", "resnet18", "resnet50", "densenet121", "vgg16", "efficientnet_b0")
CLASSIFIER_INFO: dict[str, str] = {
    "small_cnn": "Small CNN, 0.1 M parameters: 4 conv blocks on per-image standardised input; trains in under a "
                 "minute on a CPU; the teaching baseline.",
    "resnet18": "ResNet-18, 11.2 M parameters: the usual first choice for transfer learning from ImageNet.",
    "resnet50": "ResNet-50, 23.5 M parameters: stronger ImageNet transfer, needs a GPU for larger images.",
    "densenet121": "DenseNet-121, 7.0 M parameters: the CheXNet backbone, common for chest X-rays.",
    "vgg16": "VGG-16 with batch norm, 134 M parameters (mostly its fully connected layers): heavy, a classic.",
    "efficientnet_b0": "EfficientNet-B0, 4.0 M parameters: accurate for its size, good pretrained on a CPU.",
}
# Smallest square input each network accepts (VGG's and DenseNet's pooling stages run out of pixels below it).
MIN_INPUT_SIZE: dict[str, int] = {"small_cnn": 16, "resnet18": 1, "resnet50": 1, "densenet121": 29, "vgg16": 32,
                                  "efficientnet_b0": 1}

__all__ = ["CLASSIFIER_INFO", "CLASSIFIER_NAMES", "Classifier", "InputNormalization", "MIN_INPUT_SIZE", "SmallCNN",
           "build_classifier", "check_input_size", "imagenet_weights_file"]


def _check_name(name: str) -> str:
    return check_name(name, CLASSIFIER_NAMES, "classifier")


def check_input_size(name: str, height: int, width: int) -> None:
    """Raise a UserError if images of height x width are too small for classifier `name` (default widths)."""
    key = _check_name(name)
    if min(height, width) < MIN_INPUT_SIZE[key]:
        raise UserError(f"{key} needs images of at least {MIN_INPUT_SIZE[key]}x{MIN_INPUT_SIZE[key]} pixels, "
                        f"got {height}x{width}; resize the images or choose another model.")


def imagenet_weights_file(name: str) -> str | None:
    """The file name torchvision caches the ImageNet weights of classifier `name` under (None for small_cnn).

    Users without internet place this file in MEDLAB_HOME/cache/torch/hub/checkpoints.
    """
    key = _check_name(name)
    return imagenet_file_name(key) if key in TORCHVISION_NETS else None


def build_classifier(name: str, in_channels: int, num_classes: int, *, pretrained: bool = False,
                     freeze_backbone: bool = False, input_mean: float | Sequence[float] | None = None,
                     input_std: float | Sequence[float] | None = None) -> Classifier:
    """Build classifier `name` for images in [0, 1] of shape (N, in_channels, H, W).

    Args:
        name: one of CLASSIFIER_NAMES.
        in_channels: 1 (grey) or 3 (colour).
        num_classes: number of output logits, at least 1.
        pretrained: start from torchvision's ImageNet weights (not for small_cnn); loaded from, or downloaded
            to, MEDLAB_HOME/cache/torch/hub/checkpoints.
        freeze_backbone: train the head only (needs pretrained); the backbone stays in eval mode, so its
            BatchNorm statistics do not change.
        input_mean, input_std: input normalisation, one value or one per channel. When None: ImageNet
            statistics for pretrained models (their mean over RGB for 1 channel), else 0.5 and 0.25.
            Values given here are used as given, also for pretrained models.

    Returns:
        a `Classifier` (in training mode) mapping images to logits of shape (N, num_classes).

    Raises:
        UserError: a bad argument, or pretrained weights that are neither cached nor downloadable.
    """
    key = _check_name(name)
    in_channels, num_classes = check_in_channels(in_channels), check_count(num_classes, "num_classes", 1)
    check_channel_values(input_mean, in_channels, "input_mean")
    check_channel_values(input_std, in_channels, "input_std", positive=True)
    if pretrained and key not in TORCHVISION_NETS:
        raise UserError(f"pretrained weights are not available for {key}; train it from scratch.")
    if freeze_backbone and not pretrained:
        raise UserError("freeze_backbone needs pretrained weights: a frozen random backbone cannot learn.")
    if key == "small_cnn":
        kwargs = {"input_mean": input_mean, "input_std": input_std}
        return SmallCNN(in_channels, num_classes, **{k: v for k, v in kwargs.items() if v is not None})
    return build_torchvision_classifier(key, in_channels, num_classes, pretrained=pretrained,
                                        freeze_backbone=freeze_backbone, input_mean=input_mean,
                                        input_std=input_std)
