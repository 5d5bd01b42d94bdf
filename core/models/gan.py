"""A DCGAN generator and discriminator for square images of 28-128 px, unconditional or class-conditional, and
the Sampler around a trained generator.

References:
- Radford, Metz & Chintala, "Unsupervised Representation Learning with Deep Convolutional GANs" (DCGAN),
  ICLR 2016: strided (transposed) convolutions, batch norm in the generator, ReLU / LeakyReLU(0.2), tanh output.
- Miyato & Koyama, "cGANs with Projection Discriminator", ICLR 2018: the discriminator's class term is the inner
  product of a class embedding with its features; the generator is conditioned by conditional batch norm
  (a class-specific gain and bias after each normalisation; de Vries et al. 2017, Dumoulin et al. 2017).
- Miyato et al., "Spectral Normalization for GANs", ICLR 2018 (torch.nn.utils.parametrizations.spectral_norm).
- Brock, Donahue & Simonyan, "Large Scale GAN Training" (BigGAN), ICLR 2019: the truncation trick.

A size is s0 * 2^k with s0 in 4..7 (28, 32, 40, 48, 56, 64, 80, 96, 112, 128): the generator starts from an
s0 x s0 map and doubles it k times; the discriminator halves the image k times back to s0 x s0.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from core.errors import UserError
from core.models.sampler import Sampler

SUPPORTED_SIZES: tuple[int, ...] = tuple(sorted(s0 * 2 ** k for s0 in range(4, 8) for k in range(2, 6)
                                                if 28 <= s0 * 2 ** k <= 128))
MAX_CHANNELS = 512


def gan_layout(size: int) -> tuple[int, int]:
    """(s0, k) with size = s0 * 2^k, s0 in 4..7. Raises UserError naming the supported sizes otherwise."""
    if size in SUPPORTED_SIZES:
        for s0 in range(4, 8):
            ratio = size // s0
            if size % s0 == 0 and ratio & (ratio - 1) == 0:
                return s0, ratio.bit_length() - 1
    raise UserError(f"Config field 'image_size' must be one of {', '.join(map(str, SUPPORTED_SIZES))} for a GAN, "
                    f"not {size}.")


def _width(width: int, level: int) -> int:
    return min(width * 2 ** level, MAX_CHANNELS)


class ConditionalBatchNorm2d(nn.Module):
    """Batch norm whose gain and bias are looked up per class (conditional batch norm); a plain affine batch
    norm when `num_classes` is 0. x: (N, C, H, W), labels: (N,) class indices or None."""

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.norm = nn.BatchNorm2d(channels, affine=not num_classes)
        if num_classes:
            self.gain = nn.Embedding(num_classes, channels)
            self.bias = nn.Embedding(num_classes, channels)
            nn.init.ones_(self.gain.weight)
            nn.init.zeros_(self.bias.weight)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        x = self.norm(x)
        if not self.num_classes:
            return x
        return x * self.gain(labels)[:, :, None, None] + self.bias(labels)[:, :, None, None]


class Generator(nn.Module):
    """z (N, latent_dim) [+ labels (N,)] -> images (N, channels, size, size) in [-1, 1] (tanh).

    A linear layer makes an s0 x s0 map of width * 2^(k-1) channels (at most 512), then k transposed
    convolutions (kernel 4, stride 2) each double the size and halve the channels, the last one to `channels`.
    Every hidden layer is (conditional) batch norm + ReLU, as DCGAN. Weights keep torch's default (Kaiming-uniform)
    initialisation rather than DCGAN's N(0, 0.02): a short CPU run's FD falls several times faster from it.
    """

    def __init__(self, latent_dim: int, channels: int, size: int, num_classes: int = 0, width: int = 32) -> None:
        super().__init__()
        self.latent_dim, self.channels, self.size, self.num_classes = latent_dim, channels, size, num_classes
        s0, k = gan_layout(size)
        self.s0, top = s0, _width(width, k - 1)
        self.project = nn.Linear(latent_dim, top * s0 * s0, bias=False)
        self.norms = nn.ModuleList([ConditionalBatchNorm2d(top, num_classes)])
        self.ups = nn.ModuleList()
        for level in range(k - 1, 0, -1):
            out = _width(width, level - 1)
            self.ups.append(nn.ConvTranspose2d(_width(width, level), out, 4, 2, 1, bias=False))
            self.norms.append(ConditionalBatchNorm2d(out, num_classes))
        self.to_image = nn.ConvTranspose2d(width, channels, 4, 2, 1)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.num_classes and labels is None:
            raise ValueError("a class-conditional generator needs labels")
        x = self.project(z).view(len(z), -1, self.s0, self.s0)              # (N, top, s0, s0)
        x = torch.relu(self.norms[0](x, labels))
        for up, norm in zip(self.ups, self.norms[1:]):
            x = torch.relu(norm(up(x), labels))                             # (N, C / 2, 2H, 2W)
        return torch.tanh(self.to_image(x))                                 # (N, channels, size, size)


class Discriminator(nn.Module):
    """Images (N, channels, size, size) in [-1, 1] [+ labels (N,)] -> logits (N,).

    k strided convolutions (kernel 4, stride 2, LeakyReLU 0.2) halve the image to s0 x s0 while the channels
    double from `width` (at most 512); the head is a linear layer on the flattened features plus, when
    conditional, the projection term <embed(label), features> (Miyato & Koyama 2018). With `auxiliary`, a
    conditional discriminator also has an auxiliary classifier on its features (AC-GAN, Odena et al. 2017), which
    the task trains on real images and the generator learns to satisfy, so the classes' own details are drawn.
    Spectral normalisation on every layer when `spectral_norm` (no batch norm: real and fake batches are judged
    apart).
    """

    def __init__(self, channels: int, size: int, num_classes: int = 0, width: int = 32,
                 spectral_norm: bool = True, auxiliary: bool = False) -> None:
        super().__init__()
        self.num_classes = num_classes
        s0, k = gan_layout(size)
        sn = _spectral_norm if spectral_norm else (lambda module: module)
        layers: list[nn.Module] = []
        inputs = channels
        for level in range(k):
            layers += [sn(nn.Conv2d(inputs, _width(width, level), 4, 2, 1)), nn.LeakyReLU(0.2)]
            inputs = _width(width, level)
        self.features = nn.Sequential(*layers)
        flat = inputs * s0 * s0
        self.head = sn(nn.Linear(flat, 1))
        self.embed = sn(nn.Embedding(num_classes, flat)) if num_classes else None
        if self.embed is not None and not spectral_norm:
            nn.init.normal_(self.embed.weight, 0.0, 0.02)
        self.classify = sn(nn.Linear(flat, num_classes)) if auxiliary and num_classes else None

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None, with_classes: bool = False
                ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor | None]:
        """Logits (N,); with `with_classes` also the auxiliary classifier's class logits (N, K) (None without
        one)."""
        h = self.features(images).flatten(1)                                # (N, F)
        logits = self.head(h).squeeze(1)                                    # (N,)
        if self.embed is not None:
            if labels is None:
                raise ValueError("a class-conditional discriminator needs labels")
            logits = logits + (self.embed(labels) * h).sum(1)               # projection term
        if with_classes:
            return logits, None if self.classify is None else self.classify(h)
        return logits


def truncated(z: torch.Tensor, threshold: float) -> torch.Tensor:
    """Each component of standard normal `z` mapped to a normal truncated to [-threshold, threshold] through
    its own quantile, so it follows the same law as resampling every component beyond the threshold (Brock et
    al. 2019) while a seed keeps its look as the threshold changes."""
    normal = torch.distributions.Normal(0.0, 1.0)
    low = normal.cdf(torch.tensor(-threshold))
    quantile = low + normal.cdf(z) * (1 - 2 * low)
    return normal.icdf(quantile.clamp(1e-7, 1 - 1e-7)).clamp(-threshold, threshold)


TRUNCATION_SCALE = 3.0  # truncation t < 1 keeps latent components within t * 3 standard deviations


class GanSampler(Sampler):
    """Draws images from a (EMA) DCGAN generator; noise is z ~ N(0, I) of `latent_dim` components.

    `temperature` is the truncation: 1 (or more) leaves z untouched; below 1 every component is truncated to
    +-3t (0.5: +-1.5), trading variety for typical images (Brock et al. 2019)."""

    kind = "gan"
    temperature_name = "truncation"

    def __init__(self, generator: Generator, classes: list[str], device: torch.device | str = "cpu") -> None:
        if generator.num_classes != len(classes):
            raise ValueError(f"the generator has {generator.num_classes} classes, not {len(classes)}")
        self.device = torch.device(device)
        self.generator = generator.to(self.device).eval()
        self.classes, self.channels, self.size = list(classes), generator.channels, generator.size
        self.latent_dim = generator.latent_dim

    @classmethod
    def from_weights(cls, spec: dict[str, Any], weights: dict[str, torch.Tensor],
                     device: torch.device = torch.device("cpu")) -> GanSampler:
        classes = list(spec.get("classes") or [])
        generator = Generator(int(spec["latent_dim"]), int(spec["channels"]), int(spec["size"]), len(classes),
                              int(spec["width"]))
        generator.load_state_dict(weights)
        return cls(generator, classes, device)

    def noise(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randn(n, self.latent_dim, generator=generator)

    def scaled_noise(self, n: int, seed: int, temperature: float = 1.0) -> torch.Tensor:
        if temperature <= 0:
            raise ValueError("truncation must be above 0")
        z = self.noise(n, torch.Generator().manual_seed(seed))
        return z if temperature >= 1 else truncated(z, TRUNCATION_SCALE * temperature)

    @torch.no_grad()
    def from_noise(self, noise: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        noise = noise.to(self.device, torch.float32)
        labels = None if labels is None or not self.classes else labels.to(self.device, torch.long)
        images = self.generator(noise, labels)
        return ((images.float() + 1) / 2).clamp(0, 1).cpu()
