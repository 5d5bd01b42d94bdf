"""ResUNet: a small residual U-Net that denoises images by predicting the noise and subtracting it.

References:
    Ronneberger, Fischer & Brox, "U-Net: Convolutional Networks for Biomedical Image Segmentation", MICCAI 2015
    (encoder-decoder with skip connections at every resolution);
    Zhang, Zuo, Chen, Meng & Zhang, "Beyond a Gaussian Denoiser: Residual Learning of Deep CNN for Image
    Denoising" (DnCNN), IEEE TIP 2017 (predict the noise, return x - noise);
    Zhang, Zuo & Zhang, "FFDNet: Toward a Fast and Flexible Solution for CNN-Based Image Denoising", IEEE TIP 2018
    (a pixel-unshuffle first level, so no convolution runs at full resolution);
    Lim et al., "Enhanced Deep Residual Networks for Single Image Super-Resolution" (EDSR), CVPRW 2017
    (residual blocks without batch norm);
    Chaurasia & Culurciello, "LinkNet", VCIP 2017 (decoder skips added rather than concatenated).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from core.models.checks import is_whole

DEFAULT_WIDTHS = (32, 64, 128)
DEFAULT_BLOCKS = 1


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, int, int]:
    """Pad the bottom and right of `x` (N, C, H, W) so that H and W are multiples of `multiple`.

    Reflection padding (no artificial edge for the network to see) where the image is large enough for it,
    else edge replication.

    Returns:
        the padded tensor and the original height and width (to crop back to).
    """
    height, width = x.shape[-2:]
    pad_h, pad_w = (-height) % multiple, (-width) % multiple
    if pad_h or pad_w:
        mode = "reflect" if pad_h < height and pad_w < width else "replicate"
        x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
    return x, height, width


class ResBlock(nn.Module):
    """`x + conv(relu(conv(x)))` at constant width, without batch norm (EDSR's block).

    Args:
        width: channels in and out.
    """

    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, padding=1)
        self.act = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.act(self.conv1(x))).add_(x)


def _stage(width: int, blocks: int) -> nn.Sequential:
    return nn.Sequential(*(ResBlock(width) for _ in range(blocks)))


class ResUNet(nn.Module):
    """A residual U-Net denoiser for images in [0, 1]: returns `x - noise(x)`.

    The first level is a pixel-unshuffle (space-to-depth by 2, as FFDNet), so every convolution runs at half
    resolution or less, on channels-last activations: with the default widths (0.62 M parameters) a 1024x1024
    grey image takes about 0.45 s on an idle 2-core CPU (float32, inference mode). Then
    per width one stage of residual blocks; stride-2 convolutions go down, 2x2 transposed convolutions go up,
    and each decoder stage adds the encoder features of its resolution (additive skips). A last convolution
    and a pixel-shuffle give the noise estimate at full resolution.

    That last convolution starts at zero, so an untrained network is exactly the identity: residual learning
    starts from "do nothing" and only learns what to remove. The output is not clamped (clamp at inference).

    Any height and width are accepted: the input is padded to a multiple of `2 ** len(widths)` inside
    `forward` and the output cropped back.

    Args:
        in_channels: image channels (the app builds 1, grey, or 3, colour, through
            `core.models.restoration.build_restorer`).
        widths: channels of each resolution level, from 1/2 resolution down; at least one level.
        blocks_per_level: residual blocks in every encoder and decoder stage (the deepest level has one stage).

    Returns (forward):
        the denoised image, shape (N, in_channels, H, W), the same range convention as the input.

    Raises:
        ValueError: a count that is not a whole number of at least 1 (blocks_per_level: 0), no widths, or
            (forward) an input that is not (N, in_channels, H, W).
    """

    def __init__(self, in_channels: int, widths: Sequence[int] = DEFAULT_WIDTHS,
                 blocks_per_level: int = DEFAULT_BLOCKS) -> None:
        super().__init__()
        if not is_whole(in_channels, 1):
            raise ValueError(f"in_channels must be a whole number of at least 1, got {in_channels}.")
        if isinstance(widths, (str, bytes)) or not isinstance(widths, Sequence) or not widths \
                or not all(is_whole(w, 1) for w in widths):
            raise ValueError(f"widths must be one or more whole channel counts of at least 1, got {widths!r}.")
        if not is_whole(blocks_per_level, 0):
            raise ValueError(f"blocks_per_level must be a whole number of at least 0, got {blocks_per_level}.")
        in_channels, widths, blocks_per_level = int(in_channels), tuple(int(w) for w in widths), int(blocks_per_level)
        self.in_channels, self.widths, self.blocks_per_level = in_channels, widths, blocks_per_level
        self.multiple = 2 ** len(widths)  # one pixel-unshuffle, then one stride-2 conv per further level
        # oneDNN's CPU convolutions run faster on NHWC activations (1024x1024: 0.43 s instead of 0.71 s); the
        # weights stay NCHW, so state dicts stay contiguous for safetensors. A plain attribute, to compare layouts.
        self.channels_last = True

        packed = in_channels * 4
        self.unshuffle = nn.PixelUnshuffle(2)
        self.head = nn.Sequential(nn.Conv2d(packed, widths[0], 3, padding=1), nn.ReLU(inplace=True))
        self.encoders = nn.ModuleList(_stage(w, blocks_per_level) for w in widths[:-1])
        self.downs = nn.ModuleList(
            nn.Sequential(nn.Conv2d(w_in, w_out, 3, stride=2, padding=1), nn.ReLU(inplace=True))
            for w_in, w_out in zip(widths, widths[1:]))
        self.bottleneck = _stage(widths[-1], blocks_per_level)
        self.ups = nn.ModuleList(nn.ConvTranspose2d(w_in, w_out, 2, stride=2)
                                 for w_in, w_out in zip(widths[:0:-1], widths[-2::-1]))
        self.decoders = nn.ModuleList(_stage(w, blocks_per_level) for w in widths[-2::-1])
        self.tail = nn.Conv2d(widths[0], packed, 3, padding=1)
        self.shuffle = nn.PixelShuffle(2)

        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                nn.init.zeros_(module.bias)
        for block in self.modules():  # small residual branches at initialisation (in the spirit of Fixup)
            if isinstance(block, ResBlock):
                block.conv2.weight.data.mul_(0.1)
        nn.init.zeros_(self.tail.weight)  # identity at initialisation: predicted noise is 0

    def predict_noise(self, x: torch.Tensor) -> torch.Tensor:
        """The noise estimate for `x` (N, C, H, W), any H and W; the denoised image is `x - noise`.

        Raises:
            ValueError: `x` is not of shape (N, in_channels, H, W).
        """
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"ResUNet expects images of shape (N, {self.in_channels}, H, W), got {tuple(x.shape)}.")
        padded, height, width = pad_to_multiple(x, self.multiple)
        layout = torch.channels_last if self.channels_last else torch.contiguous_format
        h = self.head(self.unshuffle(padded).contiguous(memory_format=layout))
        skips: list[torch.Tensor] = []
        for encoder, down in zip(self.encoders, self.downs):
            h = encoder(h)
            skips.append(h)
            h = down(h)
        h = self.bottleneck(h)
        for up, decoder in zip(self.ups, self.decoders):
            h = decoder(up(h).add_(skips.pop()))
        noise = self.shuffle(self.tail(h).contiguous())
        return noise[..., :height, :width]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x - self.predict_noise(x)

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, widths={self.widths}, blocks_per_level={self.blocks_per_level}"
