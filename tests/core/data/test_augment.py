from __future__ import annotations

import numpy as np
import pytest
import torch

from core.data.augment import Augmentation, augment_batch, load_augmentation, preview, save_augmentation
from core.errors import UserError


def batch(n: int = 8, size: int = 16) -> torch.Tensor:
    x = torch.zeros(n, 1, size, size)
    x[:, :, 2:6, 2:6] = 1.0  # a bright square in the top-left corner
    return x


def test_identity_returns_input_unchanged():
    x = batch()
    assert augment_batch(x, Augmentation()) is x


def test_same_seed_same_result_and_per_image_randomness():
    aug = Augmentation(rotate_degrees=20, noise_sigma=0.05, brightness=0.1)
    first = augment_batch(batch(), aug, torch.Generator().manual_seed(1))
    again = augment_batch(batch(), aug, torch.Generator().manual_seed(1))
    assert torch.equal(first, again)
    assert not torch.allclose(first[0], first[1])  # each image gets its own parameters


def test_flips_mirror_some_images_exactly():
    out = augment_batch(batch(64), Augmentation(hflip=True), torch.Generator().manual_seed(0))
    mirrored = out[:, :, 2:6, -6:-2].mean(dim=(1, 2, 3)) == 1
    kept = out[:, :, 2:6, 2:6].mean(dim=(1, 2, 3)) == 1
    assert mirrored.any() and kept.any() and (mirrored ^ kept).all()


def test_rotation_moves_pixels_but_keeps_total_roughly():
    x = torch.zeros(4, 1, 32, 32)
    x[:, :, 10:14, 10:14] = 1.0  # off-centre, but far enough from the edge to stay inside when rotated
    out = augment_batch(x, Augmentation(rotate_degrees=45), torch.Generator().manual_seed(0))
    assert not torch.allclose(out, x)
    assert out.sum().item() == pytest.approx(x.sum().item(), rel=0.2)


def test_blur_spreads_and_noise_has_roughly_the_asked_sigma():
    x = batch(16, 32)
    blurred = augment_batch(x, Augmentation(blur_sigma=2.0), torch.Generator().manual_seed(0))
    peaks = blurred.amax(dim=(1, 2, 3))
    assert (peaks <= 1.0).all() and (peaks < 0.99).sum() >= 8  # sigma is drawn per image; most get blurred
    assert blurred[:, :, 0:10, 0:10].sum().item() == pytest.approx(x[:, :, 0:10, 0:10].sum().item(), rel=0.3)
    flat = torch.full((256, 1, 32, 32), 0.5)
    noisy = augment_batch(flat, Augmentation(noise_sigma=0.05), torch.Generator().manual_seed(0))
    # sigma is drawn uniformly in [0, 0.05] per image: the mean standard deviation is near 0.025
    assert (noisy - flat).std(dim=(1, 2, 3)).mean().item() == pytest.approx(0.025, abs=0.005)


def test_output_stays_in_unit_range():
    aug = Augmentation(rotate_degrees=30, elastic=0.05, noise_sigma=0.1, blur_sigma=1, brightness=0.5, contrast=0.5)
    out = augment_batch(torch.rand(16, 3, 24, 24), aug, torch.Generator().manual_seed(0))
    assert out.min() >= 0 and out.max() <= 1 and out.shape == (16, 3, 24, 24)


def test_out_of_range_or_unknown_settings_are_refused():
    with pytest.raises(UserError, match="rotate_degrees"):
        Augmentation(rotate_degrees=90)
    with pytest.raises(UserError, match="Unknown augmentation setting 'shear'"):
        Augmentation.from_dict({"shear": 3})


def test_preview_gives_count_images_of_same_shape():
    image = np.random.default_rng(0).random((20, 20, 1)).astype(np.float32)
    images = preview(image, Augmentation(rotate_degrees=10), count=5)
    assert len(images) == 5 and images[0].shape == (20, 20, 1)


def test_saved_per_workspace_and_dataset_with_defaults():
    assert load_augmentation("w1", "phantom-64").hflip  # built-in phantom default
    assert not load_augmentation("w1", "my-upload-abc123").hflip  # uploads: no flips (laterality)
    save_augmentation("w1", "phantom-64", Augmentation(rotate_degrees=5))
    assert load_augmentation("w1", "phantom-64") == Augmentation(rotate_degrees=5)
    assert load_augmentation("w2", "phantom-64").hflip  # other workspaces keep their own choice
