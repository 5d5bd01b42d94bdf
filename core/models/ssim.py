"""Differentiable SSIM for torch, and the L1 + SSIM restoration loss.

References:
    Wang, Bovik, Sheikh & Simoncelli, "Image Quality Assessment: From Error Visibility to Structural
    Similarity", IEEE TIP 2004 (SSIM: 11x11 Gaussian window, sigma 1.5, K1 = 0.01, K2 = 0.03);
    Zhao, Gallo, Frosio & Kautz, "Loss Functions for Image Restoration with Neural Networks", IEEE TCI 2017
    (a mix of L1 and (MS-)SSIM trains restoration networks better than L2 alone).

`ssim` matches `skimage.metrics.structural_similarity(..., gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=1)`: statistics from a normalised Gaussian window, population
(co)variances, the mean over the pixels whose window lies inside the image (skimage crops the same border).

Bad arguments raise ValueError (a programming error): the restoration config checks what a person sets
(ssim_weight, patch size) before a loss is built.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

WIN_SIZE = 11
SIGMA = 1.5
K1 = 0.01
K2 = 0.03
DEFAULT_SSIM_WEIGHT = 0.16


def gaussian_window(win_size: int = WIN_SIZE, sigma: float = SIGMA, *, dtype: torch.dtype = torch.float32,
                    device: torch.device | str | None = None) -> torch.Tensor:
    """The 1-D Gaussian window (win_size,), normalised to sum 1 (the separable factor of the 2-D window)."""
    coords = torch.arange(win_size, dtype=torch.float64) - (win_size - 1) / 2
    window = torch.exp(-0.5 * (coords / sigma) ** 2)
    return (window / window.sum()).to(dtype=dtype, device=device)


def _check_pair(x: torch.Tensor, y: torch.Tensor, win_size: int) -> None:
    if x.shape != y.shape:
        raise ValueError(f"SSIM needs two images of the same shape, got {tuple(x.shape)} and {tuple(y.shape)}.")
    if x.ndim != 4:
        raise ValueError(f"SSIM needs images of shape (N, C, H, W), got {tuple(x.shape)}.")
    if min(x.shape[-2:]) < win_size:
        raise ValueError(f"SSIM needs images of at least {win_size}x{win_size} pixels, "
                        f"got {x.shape[-2]}x{x.shape[-1]}.")


def ssim_map(x: torch.Tensor, y: torch.Tensor, *, data_range: float = 1.0, win_size: int = WIN_SIZE,
             sigma: float = SIGMA, k1: float = K1, k2: float = K2) -> torch.Tensor:
    """The local SSIM of each window position lying inside the image.

    Args:
        x, y: images of the same shape (N, C, H, W), H and W at least `win_size`.
        data_range: max - min of the value range (1 for images in [0, 1]).
        win_size: side of the Gaussian window (odd).
        sigma: standard deviation of the Gaussian window, in pixels.
        k1, k2: the stabilising constants; C1 = (k1 * data_range) ** 2, C2 = (k2 * data_range) ** 2.

    Returns:
        SSIM per channel and position, shape (N, C, H - win_size + 1, W - win_size + 1), in float32 or float64.
    """
    _check_pair(x, y, win_size)
    if win_size < 1 or win_size % 2 == 0:
        raise ValueError(f"win_size must be an odd whole number, got {win_size}.")
    if not data_range > 0 or not math.isfinite(data_range):
        raise ValueError(f"data_range must be greater than 0, got {data_range}.")
    with torch.autocast(device_type=x.device.type, enabled=False):  # statistics in full precision under AMP
        dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
        x, y = x.to(dtype), y.to(dtype)
        channels = x.shape[1]
        window = gaussian_window(win_size, sigma, dtype=dtype, device=x.device)
        # Separable Gaussian filtering ('valid': no padding) of x, y, x^2, y^2, xy, all in one batch.
        stack = torch.cat([x, y, x * x, y * y, x * y], dim=1)
        stack = F.conv2d(stack, window.view(1, 1, 1, -1).expand(5 * channels, 1, 1, win_size), groups=5 * channels)
        stack = F.conv2d(stack, window.view(1, 1, -1, 1).expand(5 * channels, 1, win_size, 1), groups=5 * channels)
        mu_x, mu_y, e_xx, e_yy, e_xy = stack.split(channels, dim=1)
        var_x, var_y, cov = e_xx - mu_x * mu_x, e_yy - mu_y * mu_y, e_xy - mu_x * mu_y
        c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
        return ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2))


def ssim(x: torch.Tensor, y: torch.Tensor, *, data_range: float = 1.0, reduction: str = "mean",
         win_size: int = WIN_SIZE, sigma: float = SIGMA, k1: float = K1, k2: float = K2) -> torch.Tensor:
    """Structural similarity (Wang et al. 2004) of two image batches; differentiable.

    Args:
        x, y: images of the same shape (N, C, H, W), H and W at least `win_size` (11).
        data_range: max - min of the value range (1 for images in [0, 1]).
        reduction: "mean" for the mean over the batch (a scalar), "none" for one value per image (N,).
        win_size, sigma, k1, k2: see `ssim_map`.

    Returns:
        the mean SSIM over channels and positions (1 for identical images), averaged over the batch or not.
    """
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}.")
    per_image = ssim_map(x, y, data_range=data_range, win_size=win_size, sigma=sigma, k1=k1, k2=k2).mean(dim=(1, 2, 3))
    return per_image.mean() if reduction == "mean" else per_image


class SSIMLoss(nn.Module):
    """`1 - SSIM(prediction, target)`, mean over the batch.

    Args:
        data_range: max - min of the value range (1 for images in [0, 1]).
    """

    def __init__(self, data_range: float = 1.0) -> None:
        super().__init__()
        self.data_range = float(data_range)

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return 1 - ssim(prediction, target, data_range=self.data_range)


class L1SSIMLoss(nn.Module):
    """`l1_weight * L1 + ssim_weight * (1 - SSIM)`: the mixed restoration loss of Zhao et al. 2017.

    L1 keeps intensities (and flat regions, where SSIM is insensitive to a small offset) right; the SSIM term
    rewards local structure and contrast. Zhao et al. put 0.84 on the (MS-)SSIM term; MedLab's default puts
    0.16 on it, because denoising is judged mainly by PSNR here and because 1 - SSIM of a noisy image is
    several times larger than its L1 error (about 0.5 against 0.08 at sigma 0.1), so even 0.16 gives the SSIM
    term a strong say in the gradient. Use ssim_weight=0.84 for Zhao et al.'s mix (single-scale SSIM here).

    Args:
        ssim_weight: weight of the 1 - SSIM term, in [0, 1].
        l1_weight: weight of the L1 term, at least 0; None means `1 - ssim_weight`.
        data_range: max - min of the value range (1 for images in [0, 1]).

    Returns (forward):
        a scalar loss; 0 when prediction equals target.
    """

    def __init__(self, ssim_weight: float = DEFAULT_SSIM_WEIGHT, l1_weight: float | None = None,
                 data_range: float = 1.0) -> None:
        super().__init__()
        if isinstance(ssim_weight, bool) or not isinstance(ssim_weight, (int, float)) or not 0 <= ssim_weight <= 1:
            raise ValueError(f"ssim_weight must be a number in [0, 1], got {ssim_weight}.")
        if l1_weight is None:
            l1_weight = 1.0 - float(ssim_weight)
        if isinstance(l1_weight, bool) or not isinstance(l1_weight, (int, float)) or not 0 <= l1_weight < math.inf:
            raise ValueError(f"l1_weight must be a number of at least 0, got {l1_weight}.")
        if ssim_weight == 0 and l1_weight == 0:
            raise ValueError("ssim_weight and l1_weight cannot both be 0: the loss would be constant.")
        if not data_range > 0:
            raise ValueError(f"data_range must be greater than 0, got {data_range}.")
        self.ssim_weight, self.l1_weight, self.data_range = float(ssim_weight), float(l1_weight), float(data_range)

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if prediction.shape != target.shape:
            raise ValueError(f"the loss needs prediction and target of the same shape, got "
                            f"{tuple(prediction.shape)} and {tuple(target.shape)}.")
        loss = self.l1_weight * F.l1_loss(prediction, target)
        if self.ssim_weight:
            loss = loss + self.ssim_weight * (1 - ssim(prediction, target, data_range=self.data_range))
        return loss

    def extra_repr(self) -> str:
        return f"ssim_weight={self.ssim_weight}, l1_weight={self.l1_weight}, data_range={self.data_range}"
