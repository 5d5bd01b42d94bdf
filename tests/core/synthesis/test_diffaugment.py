"""DiffAugment: shapes kept, differentiable, seeded, and each operation does what it says."""
from __future__ import annotations

import pytest
import torch

from core.synthesis.diffaugment import diff_augment, parse_policy


def images(channels: int = 3, n: int = 4, size: int = 16) -> torch.Tensor:
    return torch.rand(n, channels, size, size, generator=torch.Generator().manual_seed(0)) * 2 - 1


@pytest.mark.parametrize("policy", ["color", "translation", "cutout", "color,translation,cutout"])
@pytest.mark.parametrize("channels", [1, 3])
def test_keeps_shape_is_seeded_and_differentiable(policy, channels):
    x = images(channels).requires_grad_(True)
    out = diff_augment(x, policy, torch.Generator().manual_seed(5))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert torch.equal(out, diff_augment(x, policy, torch.Generator().manual_seed(5)))
    assert not torch.equal(out, diff_augment(x, policy, torch.Generator().manual_seed(6)))
    out.square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_empty_policy_is_the_identity_and_unknown_operations_are_refused():
    x = images()
    assert torch.equal(diff_augment(x, "", torch.Generator()), x)
    assert parse_policy(" color , cutout ") == ("color", "cutout")
    with pytest.raises(ValueError, match="flip"):
        parse_policy("color,flip")


def test_translation_moves_content_and_pads_with_zeros():
    x = torch.zeros(64, 1, 16, 16)
    x[:, :, 6:10, 6:10] = 1
    out = diff_augment(x, "translation", torch.Generator().manual_seed(0))
    assert torch.equal(out.sum((1, 2, 3)), x.sum((1, 2, 3)))  # the square stays inside: nothing lost
    assert (out != x).flatten(1).any(1).float().mean() > 0.5   # most images moved
    edge = torch.ones(64, 1, 16, 16)
    shifted = diff_augment(edge, "translation", torch.Generator().manual_seed(0))
    assert (shifted == 0).any() and set(shifted.unique().tolist()) <= {0.0, 1.0}


def test_cutout_zeroes_a_quarter_at_most():
    x = torch.ones(32, 1, 16, 16)
    out = diff_augment(x, "cutout", torch.Generator().manual_seed(0))
    zeroed = (out == 0).float().mean((1, 2, 3))
    assert torch.all(zeroed > 0) and torch.all(zeroed <= 0.25)


def test_colour_on_grey_changes_brightness_and_contrast_only():
    x = images(channels=1, n=16)
    out = diff_augment(x, "color", torch.Generator().manual_seed(0))
    assert not torch.allclose(out.mean((1, 2, 3)), x.mean((1, 2, 3)))
    # per image an affine map of the pixel values: the correlation with the input is 1
    for a, b in zip(x.flatten(1), out.flatten(1)):
        assert torch.corrcoef(torch.stack([a, b]))[0, 1] > 0.999
