"""ImageNet classifiers from torchvision, adapted to 1- or 3-channel medical images and any class count.

References:
    He et al., "Deep Residual Learning for Image Recognition", CVPR 2016 (ResNet-18, ResNet-50);
    Huang et al., "Densely Connected Convolutional Networks", CVPR 2017 (DenseNet-121);
    Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition", ICLR 2015
    (VGG-16, here torchvision's batch-norm variant vgg16_bn, which trains from scratch where plain VGG-16 stalls);
    Tan & Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks", ICML 2019 (B0).

Each network becomes a `Classifier`: `InputNormalization` (ImageNet statistics when pretrained), the
torchvision trunk as `backbone` (module names kept, so `backbone.<torchvision key>` is every weight's name),
a fresh `nn.Linear` head, and the last conv stage as `target_layer`. For 1-channel input the first conv is
replaced by a 1-channel conv; with pretrained weights it gets the sum of the RGB kernels, so a grey image gives
the activations the RGB network gives for that image repeated on three channels.
"""
from __future__ import annotations

import http.client
import pickle
import re
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torchvision import models
from torchvision.models import WeightsEnum

from core.errors import UserError
from core.models.classifier import (IMAGENET_MEAN, IMAGENET_STD, SCRATCH_MEAN, SCRATCH_STD, Classifier,
                                    InputNormalization)
from core.settings import cache_dir


@dataclass(frozen=True)
class _Split:
    backbone: nn.Module
    target_layer: nn.Module
    head_in_features: int
    dropout: float = 0.0


def _sequential(model: nn.Module, names: Sequence[str], **extra: nn.Module) -> nn.Sequential:
    return nn.Sequential(OrderedDict([(n, getattr(model, n)) for n in names] + list(extra.items())))


def _split_resnet(model: models.ResNet) -> _Split:
    names = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool")
    return _Split(_sequential(model, names, flatten=nn.Flatten(1)), model.layer4, model.fc.in_features)


def _split_densenet(model: models.DenseNet) -> _Split:
    # torchvision applies F.relu(inplace=True) in forward(); a ReLU module keeps the target output unmodified.
    model.features.add_module("relu5", nn.ReLU())
    backbone = _sequential(model, ("features",), pool=nn.AdaptiveAvgPool2d(1), flatten=nn.Flatten(1))
    return _Split(backbone, model.features, model.classifier.in_features)


def _split_vgg(model: models.VGG) -> _Split:
    # fc6 and fc7 (with their ReLU and first dropout) stay in the backbone; fc8 becomes the head.
    fc = nn.Sequential(*list(model.classifier)[:5])
    backbone = _sequential(model, ("features", "avgpool"), flatten=nn.Flatten(1), classifier=fc)
    return _Split(backbone, model.features, model.classifier[6].in_features, model.classifier[5].p)


def _split_efficientnet(model: models.EfficientNet) -> _Split:
    backbone = _sequential(model, ("features", "avgpool"), flatten=nn.Flatten(1))
    return _Split(backbone, model.features, model.classifier[1].in_features, model.classifier[0].p)


@dataclass(frozen=True)
class _Net:
    build: Callable[..., nn.Module]
    weights: WeightsEnum
    first_conv: str                     # dotted path of the first conv in the torchvision model
    split: Callable[[nn.Module], _Split]


TORCHVISION_NETS: dict[str, _Net] = {
    "resnet18": _Net(models.resnet18, models.ResNet18_Weights.DEFAULT, "conv1", _split_resnet),
    "resnet50": _Net(models.resnet50, models.ResNet50_Weights.DEFAULT, "conv1", _split_resnet),
    "densenet121": _Net(models.densenet121, models.DenseNet121_Weights.DEFAULT, "features.conv0", _split_densenet),
    "vgg16": _Net(models.vgg16_bn, models.VGG16_BN_Weights.DEFAULT, "features.0", _split_vgg),
    "efficientnet_b0": _Net(models.efficientnet_b0, models.EfficientNet_B0_Weights.DEFAULT, "features.0.0",
                            _split_efficientnet),
}

# Old DenseNet checkpoints name layers 'norm.1' where torchvision now has 'norm1' (see torchvision.models.densenet).
_DENSENET_OLD_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var|num_batches_tracked))$"
)


# Where MedLab reads, and downloads, ImageNet weights: MEDLAB_HOME/cache/torch/hub/checkpoints (by default
# ~/.medlab/cache/torch/hub/checkpoints). Not torchvision's own ~/.cache/torch: everything MedLab keeps lives under
# MEDLAB_HOME, so one folder can be copied to an offline server. README, errors and the Train form name this folder.
WEIGHTS_CACHE = ("torch", "hub", "checkpoints")


def imagenet_weights_folder() -> Path:
    """The absolute folder MedLab looks in for ImageNet weights (MEDLAB_HOME/cache/torch/hub/checkpoints)."""
    return cache_dir(*WEIGHTS_CACHE).resolve()


def imagenet_file_name(name: str) -> str:
    """The file name torchvision caches the ImageNet weights of `name` under (last part of the URL)."""
    return TORCHVISION_NETS[name].weights.url.rsplit("/", 1)[-1]


def load_imagenet_state_dict(name: str) -> dict[str, torch.Tensor]:
    """The ImageNet state dict of torchvision network `name`, from MEDLAB_HOME/cache/torch/hub/checkpoints,
    downloaded there first if missing.

    Raises:
        UserError: the file is missing and cannot be downloaded, or the cached file cannot be read.
    """
    state_dict = load_cached_state_dict(TORCHVISION_NETS[name].weights.url, "ImageNet", name)
    if name == "densenet121":
        state_dict = {_DENSENET_OLD_KEY.sub(r"\1\2", key): value for key, value in state_dict.items()}
    return state_dict


def load_cached_state_dict(url: str, kind: str, name: str) -> dict[str, torch.Tensor]:
    """The state dict published at `url` (`kind` weights, e.g. "ImageNet" or "Kinetics-400", of network `name`),
    read from MEDLAB_HOME/cache/torch/hub/checkpoints under the URL's last part, downloaded there first if missing.

    Raises:
        UserError: the file is missing and cannot be downloaded (the sentence names the file and the folder), or
            the cached file cannot be read.
    """
    folder = imagenet_weights_folder()
    file_name = url.rsplit("/", 1)[-1]
    was_cached = (folder / file_name).exists()
    try:
        state_dict = torch.hub.load_state_dict_from_url(url, model_dir=str(folder), map_location="cpu",
                                                        weights_only=True, progress=False, check_hash=False)
    except (OSError, http.client.HTTPException) as exc:
        if was_cached:
            raise UserError(f"The cached {kind} weights {folder / file_name} could not be read ({exc}); "
                            "delete the file and try again.") from exc
        raise UserError(f"The {kind} weights for {name} could not be downloaded ({exc}): download {url} "
                        f"and place the file {file_name} in the folder {folder}.") from exc
    except (RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as exc:  # torch.load: bad file
        raise UserError(f"The cached {kind} weights {folder / file_name} could not be read "
                        f"({type(exc).__name__}); delete the file and try again.") from exc
    if not isinstance(state_dict, dict):
        raise UserError(f"The file {folder / file_name} does not hold a state dict; delete it and try again.")
    return state_dict


def one_channel_conv(conv: nn.Conv2d | nn.Conv3d, pretrained: bool) -> nn.Conv2d | nn.Conv3d:
    """`conv` (2-D or 3-D) taking one input channel: the sum of its RGB kernels when pretrained, else fresh."""
    new = type(conv)(1, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
                    conv.groups, conv.bias is not None, conv.padding_mode)
    with torch.no_grad():
        if pretrained:  # grey x on one channel == x repeated on RGB, convolved with the RGB kernel
            new.weight.copy_(conv.weight.sum(dim=1, keepdim=True))
        else:
            nn.init.kaiming_normal_(new.weight, mode="fan_out", nonlinearity="relu")
        if conv.bias is not None:
            new.bias.copy_(conv.bias if pretrained else torch.zeros_like(conv.bias))
    return new


def build_torchvision_classifier(name: str, in_channels: int, num_classes: int, *, pretrained: bool = False,
                                 freeze_backbone: bool = False,
                                 input_mean: float | Sequence[float] | None = None,
                                 input_std: float | Sequence[float] | None = None) -> Classifier:
    """Build torchvision network `name` as a `Classifier` (arguments are checked by `build_classifier`).

    Args:
        name: a key of `TORCHVISION_NETS`.
        in_channels: 1 or 3.
        num_classes: number of logits of the fresh head.
        pretrained: start from torchvision's ImageNet weights (see `load_imagenet_state_dict`).
        freeze_backbone: train the head only (see `Classifier.freeze_backbone`).
        input_mean, input_std: input normalisation for [0, 1] images; when None, ImageNet statistics for
            pretrained models (averaged over RGB for 1 channel) and 0.5 / 0.25 for models trained from scratch.

    Returns:
        the classifier, in training mode.
    """
    net = TORCHVISION_NETS[name]
    model = net.build(weights=None)
    if pretrained:
        try:
            model.load_state_dict(load_imagenet_state_dict(name))
        except RuntimeError as exc:
            raise UserError(f"The file {imagenet_file_name(name)} does not hold the ImageNet weights of {name}; "
                            f"delete it from {imagenet_weights_folder()} and try again.") from exc
    if in_channels == 1:
        parent_name, _, child = net.first_conv.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, one_channel_conv(getattr(parent, child), pretrained))
    split = net.split(model)
    if input_mean is None:
        input_mean = IMAGENET_MEAN if pretrained else SCRATCH_MEAN
        input_mean = sum(input_mean) / 3 if in_channels == 1 and pretrained else input_mean
    if input_std is None:
        input_std = IMAGENET_STD if pretrained else SCRATCH_STD
        input_std = sum(input_std) / 3 if in_channels == 1 and pretrained else input_std
    classifier = Classifier(InputNormalization(input_mean, input_std, in_channels), split.backbone,
                            nn.Linear(split.head_in_features, num_classes), split.target_layer, split.dropout)
    if freeze_backbone:
        classifier.freeze_backbone()
    return classifier
