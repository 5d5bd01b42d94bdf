"""SSIM against scikit-image, its properties and gradients, and the L1 + SSIM loss."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage.metrics import structural_similarity

from core.models.ssim import L1SSIMLoss, SSIMLoss, gaussian_window, ssim, ssim_map


def _skimage_ssim(a: np.ndarray, b: np.ndarray, channel_axis: int | None = None) -> float:
    return float(structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                       data_range=1.0, channel_axis=channel_axis))


def _structured(height: int, width: int, seed: int) -> np.ndarray:
    """Shapes with edges, a ramp and texture: a disc, a bar and a sinusoid on a gradient."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:height, :width] / max(height, width)
    image = 0.2 + 0.3 * xx + 0.4 * (((yy - 0.5) ** 2 + (xx - 0.4) ** 2) < 0.08)
    image[height // 5 : height // 5 + 4, :] = 0.95
    image += 0.05 * np.sin(40 * xx + 10 * yy + rng.uniform(0, 6))
    return np.clip(image, 0, 1)


def _pair(kind: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if kind == "random":  # uniform noise against an independent noise image
        return rng.random((40, 33)), rng.random((40, 33))
    if kind == "noisy":  # uniform noise against itself plus Gaussian noise
        a = rng.random((64, 80))
        return a, np.clip(a + rng.normal(0, 0.1, a.shape), 0, 1)
    clean = _structured(72, 61, seed)
    if kind == "structured_noise":
        return clean, np.clip(clean + rng.normal(0, 0.1, clean.shape), 0, 1)
    return clean, 0.8 * clean + 0.1  # structured_contrast: lower contrast, shifted brightness


# (kind, seed, dtype): random and structured images, float32 and float64
TEST_CASES_SKIMAGE = [(kind, seed, dtype) for kind in ("random", "noisy", "structured_noise", "structured_contrast")
                      for seed in (0, 1) for dtype in (torch.float32, torch.float64)]


@pytest.mark.parametrize("kind,seed,dtype", TEST_CASES_SKIMAGE)
def test_ssim_matches_skimage(kind: str, seed: int, dtype: torch.dtype) -> None:
    a, b = _pair(kind, seed)
    expected = _skimage_ssim(a, b)
    value = ssim(torch.tensor(a, dtype=dtype)[None, None], torch.tensor(b, dtype=dtype)[None, None])
    assert value.shape == () and value.dtype == dtype
    assert abs(value.item() - expected) < 1e-3
    if dtype == torch.float64:  # the same formula, so the same number up to rounding
        assert abs(value.item() - expected) < 1e-9


def test_ssim_matches_skimage_for_colour_and_per_image_batches() -> None:
    rng = np.random.default_rng(0)
    clean = np.stack([_structured(48, 50, seed) for seed in range(3)], axis=-1)  # H, W, 3
    noisy = np.clip(clean + rng.normal(0, 0.08, clean.shape), 0, 1)
    expected = _skimage_ssim(clean, noisy, channel_axis=-1)
    x = torch.tensor(clean, dtype=torch.float32).permute(2, 0, 1)[None]
    y = torch.tensor(noisy, dtype=torch.float32).permute(2, 0, 1)[None]
    assert abs(ssim(x, y).item() - expected) < 1e-3
    # a batch: "none" gives each image's SSIM, "mean" their mean
    pairs = [_pair("structured_noise", seed) for seed in range(3)]
    xs = torch.tensor(np.stack([p[0] for p in pairs]), dtype=torch.float32)[:, None]
    ys = torch.tensor(np.stack([p[1] for p in pairs]), dtype=torch.float32)[:, None]
    per_image = ssim(xs, ys, reduction="none")
    expected_each = np.array([_skimage_ssim(*p) for p in pairs])
    assert per_image.shape == (3,)
    np.testing.assert_allclose(per_image.numpy(), expected_each, atol=1e-3)
    assert abs(ssim(xs, ys).item() - expected_each.mean()) < 1e-3


def test_ssim_of_an_image_with_itself_is_one_and_symmetric() -> None:
    torch.manual_seed(0)
    x, y = torch.rand(2, 3, 24, 30), torch.rand(2, 3, 24, 30)
    torch.testing.assert_close(ssim(x, x), torch.tensor(1.0), atol=1e-6, rtol=0)
    torch.testing.assert_close(ssim(x, y), ssim(y, x))
    assert ssim(x, y).item() < 0.2  # independent noise: hardly similar
    assert ssim_map(x, y).shape == (2, 3, 14, 20)  # positions whose 11x11 window lies inside the image


def test_ssim_window_is_the_normalised_gaussian() -> None:
    window = gaussian_window()
    assert window.shape == (11,) and abs(window.sum().item() - 1) < 1e-6
    assert torch.argmax(window).item() == 5 and torch.allclose(window, window.flip(0))


def test_ssim_gradients_flow_and_improve_similarity() -> None:
    torch.manual_seed(0)
    target = torch.rand(2, 1, 20, 20)
    x = (target + 0.2 * torch.randn_like(target)).requires_grad_(True)
    value = ssim(x, target)
    value.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    with torch.no_grad():  # a small step up the gradient raises SSIM
        assert ssim(x + 0.5 * x.grad / x.grad.norm(), target).item() > value.item()


def test_ssim_runs_in_full_precision_for_half_inputs() -> None:
    x = torch.rand(1, 1, 16, 16)
    assert ssim(x.half(), x.half()).dtype == torch.float32


@pytest.mark.parametrize("call,message", [
    (lambda: ssim(torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 17)), "same shape"),
    (lambda: ssim(torch.rand(1, 16, 16), torch.rand(1, 16, 16)), r"\(N, C, H, W\)"),
    (lambda: ssim(torch.rand(1, 1, 10, 40), torch.rand(1, 1, 10, 40)), "at least 11x11"),
    (lambda: ssim(torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 16), data_range=0), "data_range"),
    (lambda: ssim(torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 16), win_size=4), "win_size"),
    (lambda: ssim(torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 16), reduction="sum"), "reduction"),
    (lambda: L1SSIMLoss(ssim_weight=1.5), "ssim_weight"),
    (lambda: L1SSIMLoss(l1_weight=-1), "l1_weight"),
    (lambda: L1SSIMLoss(ssim_weight=0.0, l1_weight=0.0), "both be 0"),
    (lambda: L1SSIMLoss()(torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 12)), "same shape"),
])
def test_bad_arguments_raise_value_errors(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_l1_ssim_loss_is_zero_for_identical_inputs_and_mixes_its_terms() -> None:
    torch.manual_seed(0)
    target = torch.rand(2, 1, 24, 24)
    prediction = (target + 0.1 * torch.randn_like(target)).clamp(0, 1)
    l1, dissimilarity = F.l1_loss(prediction, target), 1 - ssim(prediction, target)
    assert L1SSIMLoss()(target, target).item() == pytest.approx(0.0, abs=1e-6)
    default = L1SSIMLoss()
    assert (default.ssim_weight, default.l1_weight) == (0.16, 0.84)
    torch.testing.assert_close(default(prediction, target), 0.84 * l1 + 0.16 * dissimilarity)
    torch.testing.assert_close(L1SSIMLoss(ssim_weight=0.84)(prediction, target), 0.16 * l1 + 0.84 * dissimilarity)
    torch.testing.assert_close(L1SSIMLoss(ssim_weight=0.0)(prediction, target), l1)
    torch.testing.assert_close(L1SSIMLoss(ssim_weight=1.0)(prediction, target), dissimilarity)
    torch.testing.assert_close(L1SSIMLoss(0.5, l1_weight=2.0)(prediction, target), 2 * l1 + 0.5 * dissimilarity)
    torch.testing.assert_close(SSIMLoss()(prediction, target), dissimilarity)


def test_l1_ssim_loss_trains_a_prediction_towards_the_target() -> None:
    torch.manual_seed(0)
    target = torch.rand(1, 1, 16, 16)
    prediction = torch.full_like(target, 0.5).requires_grad_(True)
    optimizer = torch.optim.Adam([prediction], lr=0.05)
    loss_fn = L1SSIMLoss()
    first = loss_fn(prediction, target).item()
    for _ in range(20):
        loss = loss_fn(prediction, target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss_fn(prediction, target).item() < 0.5 * first
