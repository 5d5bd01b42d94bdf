"""The diffusers UNet and DDIM sampler: shapes (sizes, channels, conditional or not), deterministic sampling per
seed, and a rebuild from published weights that gives the same images."""
from __future__ import annotations

import pytest
import torch

from core.models.diffusion import DiffusionSampler, build_unet, unet_levels


def tiny(channels: int, size: int, classes: int) -> dict:
    return {"task": "diffusion", "channels": channels, "size": size, "classes": [f"c{k}" for k in range(classes)],
            "base_channels": 8, "layers_per_block": 1, "sample_steps": 3}


def sampler_of(spec: dict, seed: int = 0) -> DiffusionSampler:
    torch.manual_seed(seed)
    unet = build_unet(spec["channels"], spec["size"], len(spec["classes"]), 8, 1)
    return DiffusionSampler(unet, spec["classes"], spec["channels"], spec["size"], spec["sample_steps"])


@pytest.mark.parametrize("size, channels, classes", [(16, 1, 0), (28, 1, 3), (32, 3, 0), (64, 1, 2)])
def test_unet_and_sampler_shapes(size, channels, classes):
    sampler = sampler_of(tiny(channels, size, classes))
    x = torch.randn(2, channels, size, size)
    labels = torch.tensor([0, 1]) if classes else None
    out = sampler.unet(x, torch.tensor([5, 900]), class_labels=labels).sample
    assert out.shape == x.shape
    images = sampler.generate(3, seed=0)
    assert images.shape == (3, channels, size, size) and 0 <= images.min() and images.max() <= 1
    assert sampler.conditional == bool(classes)
    assert unet_levels(size) == {16: 2, 28: 3, 32: 3, 64: 4}[size]


def test_ddim_sampling_is_deterministic_per_seed_and_interpolates_from_the_ends():
    sampler = sampler_of(tiny(1, 16, 2))
    first, again = sampler.generate(4, seed=11), sampler.generate(4, seed=11)
    assert torch.equal(first, again)
    assert not torch.allclose(first, sampler.generate(4, seed=12))
    strip = sampler.interpolate(11, 12, steps=4, label=1)
    assert strip.shape == (4, 1, 16, 16)
    end = sampler.from_noise(sampler.noise(1, torch.Generator().manual_seed(12)), torch.tensor([1]))
    assert torch.allclose(strip[-1], end[0], atol=1e-4)
    with pytest.raises(ValueError):
        sampler.from_noise(sampler.noise(1, torch.Generator().manual_seed(0)))  # conditional needs labels


@pytest.mark.parametrize("classes", [0, 3])
def test_rebuilt_from_published_weights_samples_the_same_images(classes):
    spec = tiny(1, 16, classes)
    live = sampler_of(spec, seed=4)
    rebuilt = DiffusionSampler.from_weights(spec, {k: v.clone() for k, v in live.unet.state_dict().items()})
    assert rebuilt.sample_steps == 3 and rebuilt.classes == spec["classes"]
    assert torch.equal(live.generate(5, seed=2), rebuilt.generate(5, seed=2))
