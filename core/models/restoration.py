"""The restoration networks by name: denoising (ResUNet) and super-resolution (SRResNet), and the SRGAN critic.

Every restorer takes images in [0, 1] of shape (N, C, H, W), C = 1 or 3, and returns images in the same range
convention without clamping (training needs the unclamped values); `restore` clamps for inference.

This module is the boundary for restoration networks: what a person chose (in a config or a saved model card)
is checked here (core.models.checks) and refused with a `UserError`; the networks raise `ValueError`.
"""
from __future__ import annotations

import torch
from torch import nn

from core.models.checks import check_in_channels, check_name, check_scale
from core.models.discriminator import MIN_PATCH, PatchDiscriminator
from core.models.srresnet import SRResNet
from core.models.unet import ResUNet

RESTORATION_NAMES = ("resunet", "srresnet")
RESTORATION_INFO: dict[str, str] = {
    "resunet": "Residual U-Net denoiser, 0.62 M parameters: predicts the noise and subtracts it; about 0.5 s for "
               "a 1024x1024 image on a 2-core CPU.",
    "srresnet": "SRResNet (SRGAN's generator without batch norm), 0.20 M parameters: adds learned detail to "
                "bicubic upsampling, x2 or x4; trains in minutes on a CPU.",
}
# The upscaling factors each network supports (1: same size out as in).
RESTORATION_SCALES: dict[str, tuple[int, ...]] = {"resunet": (1,), "srresnet": (2, 4)}

__all__ = ["MIN_PATCH", "RESTORATION_INFO", "RESTORATION_NAMES", "RESTORATION_SCALES", "PatchDiscriminator",
           "ResUNet", "SRResNet", "build_discriminator", "build_restorer", "restore"]


def build_restorer(name: str, in_channels: int, scale: int = 1) -> nn.Module:
    """Build restoration network `name` (default size) for images in [0, 1] of shape (N, in_channels, H, W).

    Args:
        name: one of RESTORATION_NAMES.
        in_channels: 1 (grey) or 3 (colour).
        scale: output size over input size: 1 for resunet (denoising), 2 or 4 for srresnet.

    Returns:
        the network, in training mode, mapping (N, C, H, W) to (N, C, scale * H, scale * W).

    Raises:
        UserError: an unknown name, bad channels, or a scale the network does not support.
    """
    key = check_name(name, RESTORATION_NAMES, "restoration network")
    in_channels = check_in_channels(in_channels)
    scale = check_scale(scale, RESTORATION_SCALES[key], key)
    if key == "resunet":
        return ResUNet(in_channels)
    return SRResNet(in_channels, scale)


def build_discriminator(in_channels: int) -> nn.Module:
    """The SRGAN discriminator (default width) for patches of at least MIN_PATCH (32) px: logits of shape (N, 1).

    Raises:
        UserError: in_channels other than 1 or 3.
    """
    return PatchDiscriminator(check_in_channels(in_channels))


@torch.inference_mode()
def restore(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Run a restorer for inference: evaluation mode, no autograd, output clamped to [0, 1].

    Args:
        model: a network from `build_restorer` (its train/eval mode is put back afterwards).
        images: (N, C, H, W) in [0, 1], on the model's device.

    Returns:
        the restored images, clamped to [0, 1].
    """
    was_training = model.training
    model.eval()
    try:
        return model(images).clamp_(0.0, 1.0)
    finally:
        model.train(was_training)
