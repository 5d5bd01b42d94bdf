"""The DCGAN generator and projection discriminator, and the GAN sampler (truncation, rebuild from weights)."""
from __future__ import annotations

import pytest
import torch

from core.errors import UserError
from core.models.gan import SUPPORTED_SIZES, Discriminator, GanSampler, Generator, gan_layout, truncated

# (size, channels, classes)
SHAPE_CASES = [(28, 1, 0), (32, 3, 4), (64, 1, 4), (64, 3, 0), (128, 1, 2)]


@pytest.mark.parametrize("size,channels,classes", SHAPE_CASES)
def test_generator_and_discriminator_shapes(size, channels, classes):
    torch.manual_seed(0)
    generator = Generator(16, channels, size, classes, width=8)
    discriminator = Discriminator(channels, size, classes, width=8, spectral_norm=True)
    labels = torch.arange(3) % classes if classes else None
    images = generator(torch.randn(3, 16), labels)
    assert images.shape == (3, channels, size, size)
    assert images.min() >= -1 and images.max() <= 1
    logits = discriminator(images, labels)
    assert logits.shape == (3,)
    logits.sum().backward()
    assert generator.project.weight.grad is not None


def test_supported_sizes_and_refusals():
    assert {28, 32, 48, 56, 64, 96, 112, 128} <= set(SUPPORTED_SIZES)
    assert gan_layout(28) == (7, 2) and gan_layout(64) == (4, 4) and gan_layout(96) == (6, 4)
    for size in (16, 30, 36, 100, 256):
        with pytest.raises(UserError, match="image_size.*28, 32"):
            gan_layout(size)


def test_conditional_networks_need_labels_and_labels_change_the_output():
    torch.manual_seed(0)
    generator = Generator(16, 1, 32, 3, width=8).eval()
    with pytest.raises(ValueError):
        generator(torch.randn(2, 16))
    z = torch.randn(1, 16).expand(3, 16)
    images = generator(z, torch.arange(3))
    with torch.no_grad():  # conditional batch norm starts as the identity: give the classes their own gains
        for norm in generator.norms:
            norm.gain.weight.normal_(1.0, 0.5)
    images = generator(z, torch.arange(3))
    assert not torch.allclose(images[0], images[1])
    discriminator = Discriminator(1, 32, 3, width=8)
    with pytest.raises(ValueError):
        discriminator(images)


def test_discriminator_without_spectral_norm_has_plain_weights():
    plain = Discriminator(1, 32, 2, width=8, spectral_norm=False)
    normed = Discriminator(1, 32, 2, width=8, spectral_norm=True)
    assert not any("parametrizations" in name for name in plain.state_dict())
    assert any("parametrizations" in name for name in normed.state_dict())


def sampler(classes: list[str], channels: int = 1, size: int = 32) -> GanSampler:
    torch.manual_seed(1)
    generator = Generator(16, channels, size, len(classes), width=8)
    generator(torch.randn(8, 16), torch.arange(8) % len(classes) if classes else None)  # batch-norm statistics
    return GanSampler(generator, classes)


@pytest.mark.parametrize("classes,channels,size", [([], 1, 28), (["a", "b", "c"], 3, 32), (["a", "b"], 1, 64)])
def test_sampler_rebuilt_from_its_weights_draws_identical_images(classes, channels, size):
    original = sampler(classes, channels, size)
    spec = {"task": "gan", "latent_dim": 16, "width": 8, "channels": channels, "size": size, "classes": classes}
    rebuilt = GanSampler.from_weights(spec, original.generator.state_dict())
    first = original.generate(6, seed=3)
    assert first.shape == (6, channels, size, size) and first.dtype == torch.float32
    assert 0 <= first.min() and first.max() <= 1
    assert torch.equal(first, rebuilt.generate(6, seed=3))
    assert torch.equal(first, original.generate(6, seed=3))
    assert not torch.equal(first, original.generate(6, seed=4))
    assert rebuilt.kind == "gan" and rebuilt.temperature_name == "truncation" and rebuilt.classes == classes


def test_truncation_lowers_the_variety_of_latents_and_images():
    model = sampler(["a", "b"])
    z = model.scaled_noise(512, seed=0)
    assert torch.equal(z, model.noise(512, torch.Generator().manual_seed(0)))  # 1 = no truncation
    assert torch.equal(model.scaled_noise(512, seed=0, temperature=2.0), z)
    half = model.scaled_noise(512, seed=0, temperature=0.5)
    assert half.abs().max() <= 1.5 and half.std() < z.std()
    assert torch.equal(half, model.scaled_noise(512, seed=0, temperature=0.5))
    labels = torch.zeros(64, dtype=torch.long)
    varied = model.generate(64, seed=0, labels=labels).std(0).mean()
    typical = model.generate(64, seed=0, labels=labels, temperature=0.2).std(0).mean()
    assert typical < varied
    with pytest.raises(ValueError):
        model.scaled_noise(4, seed=0, temperature=0.0)


def test_truncated_normal_keeps_order_and_bounds():
    z = torch.linspace(-4, 4, 101)
    t = truncated(z, 1.0)
    assert t.abs().max() <= 1.0 and torch.all(t[1:] >= t[:-1])
    assert abs(float(t[50])) < 1e-5  # the median stays at 0


def test_interpolation_between_two_seeds_ends_at_both():
    model = sampler(["a", "b"])
    strip = model.interpolate(1, 2, steps=5, label=1)
    assert strip.shape == (5, 1, 32, 32)
    ends = model.generate(1, seed=1, labels=[1]), model.generate(1, seed=2, labels=[1])
    assert torch.allclose(strip[0], ends[0][0], atol=1e-5) and torch.allclose(strip[-1], ends[1][0], atol=1e-5)


def test_auxiliary_classifier_gives_class_logits_only_when_conditional():
    images = torch.rand(3, 1, 32, 32) * 2 - 1
    logits, classes = Discriminator(1, 32, 4, width=8, auxiliary=True)(images, torch.tensor([0, 1, 3]),
                                                                       with_classes=True)
    assert logits.shape == (3,) and classes.shape == (3, 4)
    assert Discriminator(1, 32, 0, width=8, auxiliary=True)(images, with_classes=True)[1] is None
    assert Discriminator(1, 32, 4, width=8)(images, torch.tensor([0, 1, 3]), with_classes=True)[1] is None
