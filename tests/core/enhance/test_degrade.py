from __future__ import annotations

import numpy as np
import pytest
import torch

from core.enhance.degrade import Degradation, degrade, degrade_image, psnr
from core.errors import UserError


def flat(value: float = 0.5, n: int = 64) -> torch.Tensor:
    return torch.full((8, 1, n, n), value)


def test_gaussian_noise_has_the_asked_sigma_and_is_seeded():
    noisy = degrade(flat(), Degradation("gaussian", 0.1), torch.Generator().manual_seed(0))
    assert (noisy - 0.5).std().item() == pytest.approx(0.1, rel=0.05)
    again = degrade(flat(), Degradation("gaussian", 0.1), torch.Generator().manual_seed(0))
    assert torch.equal(noisy, again)


def test_poisson_noise_is_sigma_at_mid_grey_and_grows_with_intensity():
    mid = degrade(flat(0.5), Degradation("poisson", 0.05), torch.Generator().manual_seed(0))
    dark = degrade(flat(0.1), Degradation("poisson", 0.05), torch.Generator().manual_seed(0))
    assert (mid - 0.5).std().item() == pytest.approx(0.05, rel=0.1)
    assert (dark - 0.1).std().item() < (mid - 0.5).std().item()


def test_blur_and_downsampling():
    edge = torch.zeros(1, 1, 32, 32)
    edge[..., 16:] = 1
    blurred = degrade(edge, Degradation("blur", 0.0, blur=2.0))
    assert 0 < blurred[0, 0, 16, 15].item() < 1
    small = degrade(edge, Degradation("gaussian", 0.0, scale=4))
    assert small.shape == (1, 1, 8, 8)


def test_numpy_helper_keeps_layout_and_psnr_is_right():
    image = np.random.default_rng(0).random((30, 31, 3)).astype(np.float32)
    out = degrade_image(image, Degradation("gaussian", 0.0, scale=2))
    assert out.shape == (15, 15, 3)
    a, b = torch.zeros(1, 1, 4, 4), torch.full((1, 1, 4, 4), 0.1)
    assert psnr(a, b).item() == pytest.approx(20.0)


def test_bad_degradations_are_one_sentence():
    with pytest.raises(UserError, match="Unknown degradation"):
        Degradation("salt")
    with pytest.raises(UserError, match="scale"):
        Degradation(scale=3)
