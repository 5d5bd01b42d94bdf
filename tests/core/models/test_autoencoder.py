"""The convolutional VAE / autoencoder and its sampler: shapes, the KL term, the fitted latent Gaussian of the
plain autoencoder, and a rebuild from published weights that gives the same images."""
from __future__ import annotations

import pytest
import torch

from core.models.autoencoder import AutoencoderSampler, ConvAutoencoder, build_autoencoder, downsamplings, kl_divergence


def spec(kind: str, channels: int, size: int, latent_dim: int = 8) -> dict:
    return {"task": kind, "channels": channels, "size": size, "latent_dim": latent_dim, "base_channels": 8}


@pytest.mark.parametrize("size, channels, kind", [(16, 1, "vae"), (28, 1, "autoencoder"), (32, 3, "vae"),
                                                  (64, 1, "autoencoder"), (128, 3, "vae")])
def test_shapes_at_every_size_and_channel_count(size, channels, kind):
    torch.manual_seed(0)
    model = build_autoencoder(spec(kind, channels, size))
    images = torch.rand(2, channels, size, size)
    logits, mean, logvar = model(images)
    assert logits.shape == images.shape and mean.shape == (2, 8)
    assert (logvar is None) == (kind == "autoencoder")
    assert model.bottom == size // 2 ** downsamplings(size) and model.bottom <= 7
    sampler = AutoencoderSampler(model, kind)
    generated = sampler.generate(3, seed=1)
    assert generated.shape == (3, channels, size, size) and 0 <= generated.min() and generated.max() <= 1
    assert sampler.encode(images).shape == (2, 8)
    assert sampler.reconstruct(images).shape == images.shape
    other = torch.rand(2, channels, size + 8, size + 8)  # another size is resized to the model's
    assert sampler.reconstruct(other).shape == images.shape


def test_sizes_that_do_not_halve_twice_and_odd_channels_are_refused():
    with pytest.raises(ValueError):
        ConvAutoencoder(1, 30, 8)
    with pytest.raises(ValueError):
        ConvAutoencoder(2, 32, 8)
    with pytest.raises(ValueError, match="images must be"):
        AutoencoderSampler(ConvAutoencoder(1, 16, 8), "vae").encode(torch.rand(2, 3, 16, 16))


def test_kl_is_zero_for_the_plain_autoencoder_and_positive_for_the_vae():
    torch.manual_seed(0)
    images = torch.rand(4, 1, 16, 16)
    vae, plain = ConvAutoencoder(1, 16, 8, variational=True), ConvAutoencoder(1, 16, 8, variational=False)
    assert torch.all(kl_divergence(*vae(images)[1:]) > 0)
    assert torch.equal(kl_divergence(*plain(images)[1:]), torch.zeros(4))
    assert float(kl_divergence(torch.zeros(2, 8), torch.zeros(2, 8)).abs().max()) == 0  # N(0, I) itself


def test_the_plain_autoencoder_samples_from_a_gaussian_fitted_to_its_latents():
    model = ConvAutoencoder(1, 16, 4, variational=False)
    generator = torch.Generator().manual_seed(0)
    mixing = torch.tensor([[2.0, 0, 0, 0], [1.0, 0.5, 0, 0], [0, 0, 1.0, 0], [0, 0, 0, 0.1]])
    latents = torch.randn(4000, 4, generator=generator) @ mixing.T + torch.tensor([1.0, -2.0, 0.0, 3.0])
    model.fit_latent_gaussian(latents)
    sampler = AutoencoderSampler(model, "autoencoder")
    z = model.latent_mean + sampler.noise(4000, torch.Generator().manual_seed(1)) @ model.latent_scale.T
    assert torch.allclose(z.mean(0), latents.mean(0), atol=0.1)
    assert torch.allclose(torch.cov(z.T), torch.cov(latents.T), atol=0.2)


@pytest.mark.parametrize("kind", ["vae", "autoencoder"])
def test_rebuilt_from_published_weights_gives_identical_images_and_reconstructions(kind):
    torch.manual_seed(0)
    model = build_autoencoder(spec(kind, 1, 32))
    if kind == "autoencoder":
        model.fit_latent_gaussian(torch.randn(50, 8) * 3 + 1)
    live = AutoencoderSampler(model, kind)
    rebuilt = AutoencoderSampler.from_weights(spec(kind, 1, 32), {k: v.clone() for k, v in model.state_dict().items()})
    images = torch.rand(5, 1, 32, 32)
    assert torch.equal(live.generate(6, seed=3), rebuilt.generate(6, seed=3))
    assert torch.equal(live.reconstruct(images), rebuilt.reconstruct(images))
    assert torch.equal(live.encode(images), rebuilt.encode(images))
    assert not torch.equal(live.generate(6, seed=3), live.generate(6, seed=4))
    strip = live.interpolate(1, 2, steps=5)
    assert strip.shape == (5, 1, 32, 32)
    assert torch.allclose(strip[0], live.generate(1, seed=1)[0], atol=1e-5)


def test_anomaly_gives_maps_scores_and_reconstructions_at_the_model_size():
    torch.manual_seed(0)
    sampler = AutoencoderSampler(build_autoencoder(spec("vae", 1, 32)), "vae")
    maps, scores, reconstructions = sampler.anomaly(torch.rand(3, 1, 48, 48))
    assert maps.shape == (3, 32, 32) and scores.shape == (3,) and reconstructions.shape == (3, 1, 32, 32)
    assert torch.all(scores >= maps.flatten(1).mean(1))  # the top share of a map is at least its mean
