"""The Sampler base every generative model shares: seeded generation, class labels in turn, temperature, and
spherical interpolation between two seeds (with a fake model whose image is its noise)."""
from __future__ import annotations

import pytest
import torch

from core.models.sampler import Sampler, slerp


class NoiseImages(Sampler):
    """An 'image' of 1 x 2 x 2 pixels that is the noise itself, shifted by its class label."""

    kind, channels, size = "fake", 1, 2

    def __init__(self, classes: list[str]) -> None:
        self.classes = classes

    @classmethod
    def from_weights(cls, spec, weights, device=torch.device("cpu")) -> NoiseImages:
        return cls(spec["classes"])

    def noise(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randn(n, 4, generator=generator)

    def from_noise(self, noise: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        shift = 0 if labels is None else labels.float()[:, None]
        return (noise + 10 * shift).reshape(-1, 1, 2, 2)


def test_the_same_seed_gives_the_same_images_and_batches_do_not_change_them() -> None:
    sampler = NoiseImages([])
    assert torch.equal(sampler.generate(5, seed=3), sampler.generate(5, seed=3, batch_size=2))
    assert not torch.equal(sampler.generate(5, seed=3), sampler.generate(5, seed=4))
    assert sampler.generate(0).shape == (0, 1, 2, 2)


def test_a_conditional_model_gets_the_classes_in_turn_or_the_ones_asked_for() -> None:
    sampler = NoiseImages(["normal", "lesion", "cyst"])
    assert sampler.balanced_labels(5).tolist() == [0, 1, 2, 0, 1]
    means = sampler.generate(6, seed=0, batch_size=4).mean(dim=(1, 2, 3))
    assert (means.round(decimals=-1) // 10).tolist() == [0, 1, 2, 0, 1, 2]
    assert (sampler.generate(3, seed=0, labels=[2]).mean(dim=(1, 2, 3)) > 15).all()  # one label for all
    with pytest.raises(ValueError):
        sampler.generate(2, labels=[0, 3])
    assert NoiseImages([]).balanced_labels(3) is None


def test_temperature_scales_the_noise() -> None:
    sampler = NoiseImages([])
    assert torch.allclose(sampler.generate(4, seed=1, temperature=0.5), 0.5 * sampler.generate(4, seed=1))


def test_interpolation_runs_from_one_seed_to_the_other_on_the_sphere() -> None:
    sampler = NoiseImages([])
    strip = sampler.interpolate(1, 2, steps=5)
    assert strip.shape == (5, 1, 2, 2)
    assert torch.allclose(strip[0], sampler.generate(1, seed=1)[0], atol=1e-5)
    assert torch.allclose(strip[-1], sampler.generate(1, seed=2)[0], atol=1e-5)
    a, b = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    assert torch.allclose(slerp(a, b, 0.5).norm(), torch.tensor(1.0))  # a straight line would shrink to 0.71
    assert torch.allclose(slerp(a, 2 * a, 0.5), 1.5 * a)  # parallel: a straight line
