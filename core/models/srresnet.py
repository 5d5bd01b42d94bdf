"""SRResNet: the super-resolution generator of SRGAN, without batch norm, learning the detail over bicubic.

References:
    Ledig et al., "Photo-Realistic Single Image Super-Resolution Using a Generative Adversarial Network"
    (SRGAN / SRResNet), CVPR 2017 (residual blocks, global skip, sub-pixel upsampling, PReLU);
    Shi et al., "Real-Time Single Image and Video Super-Resolution Using an Efficient Sub-Pixel Convolutional
    Neural Network", CVPR 2016 (PixelShuffle);
    Lim et al., "Enhanced Deep Residual Networks for Single Image Super-Resolution" (EDSR), CVPRW 2017
    (batch norm removed from the residual blocks);
    Aitken et al., "Checkerboard artifact free sub-pixel convolution" (ICNR initialisation), arXiv 2017;
    Kim, Lee & Lee, "Accurate Image Super-Resolution Using Very Deep Convolutional Networks" (VDSR), CVPR 2016
    (learn the residual over the bicubic-upsampled input).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from core.models.checks import is_whole

DEFAULT_BLOCKS = 8
DEFAULT_WIDTH = 32


class SRBlock(nn.Module):
    """`x + conv(prelu(conv(x)))`: SRResNet's residual block with its batch norm layers removed (EDSR).

    Args:
        width: channels in and out.
    """

    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, padding=1)
        self.act = nn.PReLU(width)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.act(self.conv1(x))).add_(x)


class Upsample2x(nn.Sequential):
    """Sub-pixel convolution: conv to 4x the channels, PixelShuffle(2), PReLU (Shi et al. 2016).

    The convolution starts ICNR-initialised (the four sub-pixel kernels equal), i.e. as a convolution followed
    by nearest-neighbour upsampling, which avoids checkerboard artefacts at the start of training.

    Args:
        width: channels in and out.
    """

    def __init__(self, width: int) -> None:
        conv = nn.Conv2d(width, width * 4, 3, padding=1)
        super().__init__(conv, nn.PixelShuffle(2), nn.PReLU(width))
        with torch.no_grad():
            base = torch.empty(width, width, 3, 3)
            nn.init.kaiming_normal_(base, a=0.25, nonlinearity="leaky_relu")
            conv.weight.copy_(base.repeat_interleave(4, dim=0))
            nn.init.zeros_(conv.bias)


class SRResNet(nn.Module):
    """Single-image super-resolution by 2 or 4 for images in [0, 1]: `bicubic(x) + detail(x)`.

    Head convolution, `blocks` residual blocks (conv-PReLU-conv), a body convolution with the global skip
    from the head, one or two sub-pixel x2 upsampling steps and an output convolution. The bicubic upsampling
    of the input is added at the end, so the network learns only the missing detail (as VDSR); the output
    convolution starts at zero, so an untrained network is exactly bicubic upsampling.

    Batch norm is dropped from the residual blocks, as EDSR did: it normalises away the absolute intensity
    range the output must reproduce, costs time and memory, behaves differently in training and evaluation,
    and its statistics are unreliable in the small batches of CPU training. 3x3 head and output convolutions
    replace the paper's 9x9 to keep a CPU fast. The output is not clamped (clamp at inference).

    The default (8 blocks of width 32, 0.20 M parameters; the paper: 16 of 64, 1.5 M) upscales a 256x256 grey
    image to 512x512 in about 0.3 s on an idle 2-core CPU and trains on 64-128 px patches in minutes. It starts
    close to a good answer, so keep Adam's learning rate at about 1e-4 to 5e-4 or warm it up: Adam's first
    steps move every weight by about the learning rate whatever the gradient's size.

    Args:
        in_channels: image channels (the app builds 1, grey, or 3, colour, through
            `core.models.restoration.build_restorer`).
        scale: upscaling factor, a power of two (one sub-pixel x2 step each; the app offers 2 and 4).
        blocks: residual blocks (the paper used 16).
        width: feature channels (the paper used 64).

    Returns (forward):
        the upscaled image, shape (N, in_channels, scale * H, scale * W).

    Raises:
        ValueError: a count that is not a whole number of at least 1 (blocks: 0), a scale that is not a power
            of two of at least 2, or (forward) an input that is not (N, in_channels, H, W).
    """

    def __init__(self, in_channels: int, scale: int, blocks: int = DEFAULT_BLOCKS,
                 width: int = DEFAULT_WIDTH) -> None:
        super().__init__()
        for field, value, low in (("in_channels", in_channels, 1), ("blocks", blocks, 0), ("width", width, 1)):
            if not is_whole(value, low):
                raise ValueError(f"{field} must be a whole number of at least {low}, got {value}.")
        if not is_whole(scale, 2) or int(scale) & (int(scale) - 1):
            raise ValueError(f"scale must be a power of two of at least 2, got {scale}.")
        in_channels, scale, blocks, width = int(in_channels), int(scale), int(blocks), int(width)
        self.in_channels, self.scale, self.blocks, self.width = in_channels, scale, blocks, width
        self.head = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1), nn.PReLU(width))
        self.body = nn.Sequential(*(SRBlock(width) for _ in range(blocks)), nn.Conv2d(width, width, 3, padding=1))
        self.upsample = nn.Sequential(*(Upsample2x(width) for _ in range(scale.bit_length() - 1)))
        self.tail = nn.Conv2d(width, in_channels, 3, padding=1)
        self.channels_last = True  # NHWC activations as ResUNet (about even on a CPU at width 32; weights stay NCHW)

        for name, module in self.named_modules():
            if isinstance(module, nn.Conv2d) and not name.startswith("upsample"):
                nn.init.kaiming_normal_(module.weight, a=0.25, nonlinearity="leaky_relu")
                nn.init.zeros_(module.bias)
        for block in self.body:
            if isinstance(block, SRBlock):  # small residual branches: the trunk starts near the identity
                block.conv2.weight.data.mul_(0.1)
        nn.init.zeros_(self.tail.weight)  # start as bicubic upsampling: the learned detail is 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"SRResNet expects images of shape (N, {self.in_channels}, H, W), got {tuple(x.shape)}.")
        base = F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        layout = torch.channels_last if self.channels_last else torch.contiguous_format
        features = self.head(x.contiguous(memory_format=layout))
        features = self.body(features) + features
        detail = self.tail(self.upsample(features))
        return base + detail.contiguous()

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, scale={self.scale}, blocks={self.blocks}, width={self.width}"
