"""SmallCNN: the teaching network, a VGG-style stack of 3x3 conv blocks with batch norm.

References:
    Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition", ICLR 2015
    (stacked 3x3 convolutions); Ioffe & Szegedy, "Batch Normalization", ICML 2015; Lin et al., "Network In
    Network", ICLR 2014 (global average pooling instead of large fully connected layers).
"""
from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from core.models.checks import is_whole
from core.models.classifier import (SCRATCH_MEAN, SCRATCH_STD, Classifier, InputNormalization,
                                    PerImageStandardization)


def conv_block(in_channels: int, out_channels: int, convs: int = 1) -> nn.Sequential:
    """`convs` times Conv3x3-BN-ReLU, then MaxPool2: halve the resolution.

    Args:
        in_channels: channels coming in.
        out_channels: channels going out.
        convs: convolutions before the pooling (1 is the fast default; 2 is the classic VGG block).

    Returns:
        the block as an `nn.Sequential`.
    """
    layers: list[nn.Module] = []
    for index in range(convs):
        layers += [nn.Conv2d(in_channels if index == 0 else out_channels, out_channels, 3, padding=1, bias=False),
                   nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers, nn.MaxPool2d(2))


class SmallCNN(Classifier):
    """A small CNN for teaching and for quick baselines on 28-128 px images.

    Per width one `conv_block`, then global average pooling, dropout and a linear head. The defaults are the
    recommended recipe's network (see bench/time_to_accuracy.py): four one-conv blocks of 16-32-64-128
    channels (98 k parameters) on per-image standardised input, fast enough to train in under a minute on a
    2-core CPU. It has the
    `Classifier` interface: `features` (the conv trunk, inside `backbone`), `head` (the Linear) and
    `target_layer` (the last conv block) for Grad-CAM.

    Args:
        in_channels: image channels (1 for grey, 3 for colour).
        num_classes: number of output logits.
        widths: output channels of each block; the input side shrinks by 2**len(widths).
        convs_per_block: convolutions in each block (1 or 2).
        dropout: dropout probability before the head.
        standardize: "image" (each image to zero mean and unit variance) or "dataset" (the fixed
            `input_mean` / `input_std`, one value or one per channel, for images in [0, 1]).

    Returns (forward):
        logits of shape (N, num_classes) for images of shape (N, in_channels, H, W).

    Raises:
        ValueError: a count below 1, or a `standardize` other than "image" or "dataset" (build it through
            `core.models.build_classifier`, which refuses a person's bad choice with a UserError first).
    """

    __jit_unused_properties__ = [*Classifier.__jit_unused_properties__, "features"]

    def __init__(self, in_channels: int, num_classes: int, widths: Sequence[int] = (16, 32, 64, 128),
                 convs_per_block: int = 1, dropout: float = 0.0, standardize: str = "image",
                 input_mean: float | Sequence[float] = SCRATCH_MEAN,
                 input_std: float | Sequence[float] = SCRATCH_STD) -> None:
        for field, value in (("in_channels", in_channels), ("num_classes", num_classes),
                             ("convs_per_block", convs_per_block)):
            if not is_whole(value, 1):
                raise ValueError(f"{field} must be a whole number of at least 1, got {value}.")
        widths = tuple(widths)
        if not widths or not all(is_whole(w, 1) for w in widths):
            raise ValueError(f"widths must be one or more positive channel counts, got {widths}.")
        widths = tuple(int(w) for w in widths)
        if standardize not in ("image", "dataset"):
            raise ValueError(f"standardize must be 'image' or 'dataset', got {standardize!r}.")
        channels = (in_channels, *widths)
        features = nn.Sequential(*(conv_block(c_in, c_out, convs_per_block)
                                   for c_in, c_out in zip(channels, channels[1:])))
        backbone = nn.Sequential()
        backbone.add_module("features", features)
        backbone.add_module("pool", nn.AdaptiveAvgPool2d(1))
        backbone.add_module("flatten", nn.Flatten(1))
        super().__init__(
            PerImageStandardization(in_channels) if standardize == "image" else InputNormalization(input_mean, input_std,
                                                                                          in_channels),
            backbone,
            nn.Linear(widths[-1], num_classes),
            target_layer=features[-1],
            dropout=dropout,
        )
        self.widths = widths
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    @property
    def features(self) -> nn.Sequential:
        """The conv trunk: one block per width."""
        return self.backbone.features
