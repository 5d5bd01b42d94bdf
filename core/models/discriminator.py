"""PatchDiscriminator: the SRGAN discriminator, made fully convolutional so it takes any patch of 32 px or more.

References:
    Ledig et al., "Photo-Realistic Single Image Super-Resolution Using a Generative Adversarial Network"
    (SRGAN), CVPR 2017 (eight 3x3 conv layers, channels doubling every second layer, strided convolutions
    instead of pooling, batch norm and LeakyReLU 0.2, then two dense layers);
    Radford, Metz & Chintala, "Unsupervised Representation Learning with Deep Convolutional Generative
    Adversarial Networks" (DCGAN), ICLR 2016 (the conv-BN-LeakyReLU discriminator design);
    Lin et al., "Network In Network", ICLR 2014 (global average pooling instead of a fixed-size dense layer).
"""
from __future__ import annotations

import torch
from torch import nn

from core.models.checks import is_whole

MIN_PATCH = 32  # four stride-2 halvings leave 2x2 features


def _block(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
                         nn.BatchNorm2d(out_channels), nn.LeakyReLU(0.2, inplace=True))


class PatchDiscriminator(nn.Module):
    """Real-or-generated critic for image patches in [0, 1]: one logit per image.

    As SRGAN's discriminator: a 3x3 conv with LeakyReLU (no batch norm on the input layer), then seven
    conv-BN-LeakyReLU blocks with widths w, 2w, 2w, 4w, 4w, 8w, 8w and strides alternating 2 and 1 (four
    halvings: a 32 px patch ends at 2x2). Global average pooling replaces the flatten, so any patch of at least
    32 px works; then the two dense layers (8w -> 16w, LeakyReLU, -> 1) as 1x1-equivalent linear layers. No
    sigmoid: train with `BCEWithLogitsLoss`.

    Args:
        in_channels: image channels (the app builds 1, grey, or 3, colour, through
            `core.models.restoration.build_discriminator`).
        width: channels of the first layer (the paper used 64).

    Returns (forward):
        logits of shape (N, 1) for patches of shape (N, in_channels, H, W), H and W at least MIN_PATCH (32).

    Raises:
        ValueError: a count that is not a whole number of at least 1, or (forward) patches that are not
            (N, in_channels, H, W) or smaller than MIN_PATCH (the restoration config refuses such a patch size).
    """

    def __init__(self, in_channels: int, width: int = 32) -> None:
        super().__init__()
        for field, value in (("in_channels", in_channels), ("width", width)):
            if not is_whole(value, 1):
                raise ValueError(f"{field} must be a whole number of at least 1, got {value}.")
        in_channels, width = int(in_channels), int(width)
        self.in_channels, self.width = in_channels, width
        plan = [(width, width, 2), (width, 2 * width, 1), (2 * width, 2 * width, 2), (2 * width, 4 * width, 1),
                (4 * width, 4 * width, 2), (4 * width, 8 * width, 1), (8 * width, 8 * width, 2)]
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1), nn.LeakyReLU(0.2, inplace=True),
            *(_block(c_in, c_out, stride) for c_in, c_out, stride in plan))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Flatten(1), nn.Linear(8 * width, 16 * width),
                                        nn.LeakyReLU(0.2, inplace=True), nn.Linear(16 * width, 1))
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight, a=0.2, nonlinearity="leaky_relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"the discriminator expects patches of shape (N, {self.in_channels}, H, W), "
                             f"got {tuple(x.shape)}.")
        if min(x.shape[-2:]) < MIN_PATCH:
            raise ValueError(f"the discriminator needs patches of at least {MIN_PATCH}x{MIN_PATCH} pixels, "
                             f"got {x.shape[-2]}x{x.shape[-1]}.")
        return self.classifier(self.pool(self.features(x)))

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, width={self.width}"
