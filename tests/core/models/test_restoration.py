"""Restoration networks: shapes for odd sizes, the registry, learning on a fixed pair, the start as identity.
A person's bad choice is a UserError from the registry; a bad argument to a network itself is a ValueError."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from core.errors import UserError
from core.models.discriminator import PatchDiscriminator
from core.models.restoration import (RESTORATION_INFO, RESTORATION_NAMES, RESTORATION_SCALES, build_discriminator,
                                     build_restorer, restore)
from core.models.srresnet import SRResNet
from core.models.unet import DEFAULT_BLOCKS, DEFAULT_WIDTHS, ResUNet

# (in_channels, height, width): grey and colour, odd and even sizes, smaller than the padding multiple (5x7
# is reflected, 3x2 too small to reflect so replicated)
TEST_CASES_UNET_SHAPE = [(c, h, w) for c in (1, 3) for h, w in ((37, 53), (32, 32), (5, 7), (3, 2))]
# (widths, blocks_per_level): the default, one level, four levels, no residual blocks
TEST_CASES_UNET_CONFIG = [(DEFAULT_WIDTHS, DEFAULT_BLOCKS), ((8,), 1), ((4, 8, 8, 16), 2), ((8, 16), 0)]
TEST_CASES_SR_SHAPE = [(c, scale, h, w) for c in (1, 3) for scale in (2, 4) for h, w in ((12, 17), (16, 16))]
TEST_CASES_DISC_SHAPE = [(c, h, w) for c in (1, 3) for h, w in ((32, 32), (48, 48), (64, 64), (40, 56))]
TEST_CASES_REGISTRY_BAD = [
    ({"name": "dncnn"}, "model 'dncnn'"),
    ({"in_channels": 2}, "in_channels"),
    ({"in_channels": True}, "in_channels"),
    ({"name": "resunet", "scale": 2}, "scale"),
    ({"name": "srresnet", "scale": 1}, "scale"),
    ({"name": "srresnet", "scale": 3}, "scale"),
    ({"name": "srresnet", "scale": 2.0}, "scale"),
    ({"name": "srresnet", "scale": 8}, "scale"),  # the network could (a power of two); the app offers 2 and 4
]


def _fixed_pair(channels: int, size: int, scale: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """A clean batch of 2 (a sharp disc on a sinusoid) and its degraded input: noise, or downsampling by `scale`."""
    g = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    images = [0.2 + 0.5 * (((xx - cx) ** 2 + (yy - cy) ** 2) < 0.2).float() + 0.15 * torch.sin(f * (xx + 0.5 * yy))
              for cx, cy, f in ((-0.3, 0.2, 9.0), (0.25, -0.35, 13.0))]
    clean = torch.stack(images)[:, None].repeat(1, channels, 1, 1)
    if scale == 1:
        return clean + 0.1 * torch.randn(clean.shape, generator=g), clean
    return F.avg_pool2d(clean, scale), clean


@pytest.mark.parametrize("in_channels,height,width", TEST_CASES_UNET_SHAPE)
def test_resunet_keeps_shape(in_channels: int, height: int, width: int) -> None:
    torch.manual_seed(0)
    model = ResUNet(in_channels)
    x = torch.rand(2, in_channels, height, width)
    out = model(x)
    assert out.shape == x.shape and out.dtype == x.dtype and torch.isfinite(out).all()
    assert out.is_contiguous()  # channels_last stays inside the network


@pytest.mark.parametrize("widths,blocks_per_level", TEST_CASES_UNET_CONFIG)
def test_resunet_configurations(widths: tuple[int, ...], blocks_per_level: int) -> None:
    torch.manual_seed(0)
    model = ResUNet(1, widths, blocks_per_level)
    assert model.multiple == 2 ** len(widths)
    x = torch.rand(1, 1, 19, 23)
    assert model(x).shape == x.shape
    for value in model.state_dict().values():  # safetensors needs contiguous tensors
        assert value.is_contiguous()


@pytest.mark.parametrize("in_channels,scale,height,width", TEST_CASES_SR_SHAPE)
def test_srresnet_upscales(in_channels: int, scale: int, height: int, width: int) -> None:
    torch.manual_seed(0)
    model = SRResNet(in_channels, scale)
    out = model(torch.rand(2, in_channels, height, width))
    assert out.shape == (2, in_channels, scale * height, scale * width) and torch.isfinite(out).all()
    assert out.is_contiguous()


@pytest.mark.parametrize("in_channels,height,width", TEST_CASES_DISC_SHAPE)
def test_discriminator_gives_one_logit_per_patch(in_channels: int, height: int, width: int) -> None:
    torch.manual_seed(0)
    model = PatchDiscriminator(in_channels)
    logits = model(torch.rand(3, in_channels, height, width))
    assert logits.shape == (3, 1) and torch.isfinite(logits).all()


def test_discriminator_rejects_small_patches_and_wrong_channels() -> None:
    model = PatchDiscriminator(1, width=8)
    with pytest.raises(ValueError, match="at least 32x32"):
        model(torch.rand(2, 1, 16, 48))
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        model(torch.rand(2, 3, 32, 32))


def test_discriminator_learns_to_separate_two_fixed_batches() -> None:
    torch.manual_seed(0)
    model = PatchDiscriminator(1, width=8)
    real, fake = _fixed_pair(1, 32)[1], torch.rand(2, 1, 32, 32)
    x, target = torch.cat([real, fake]), torch.tensor([[1.0], [1.0], [0.0], [0.0]])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    first = None
    for _ in range(5):
        loss = F.binary_cross_entropy_with_logits(model(x), target)
        first = loss.item() if first is None else first
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert F.binary_cross_entropy_with_logits(model(x), target).item() < first


def test_registry_names_info_scales_and_defaults() -> None:
    assert set(RESTORATION_INFO) == set(RESTORATION_NAMES) == set(RESTORATION_SCALES) == {"resunet", "srresnet"}
    assert all(isinstance(line, str) and "\n" not in line and line for line in RESTORATION_INFO.values())
    denoiser = build_restorer("ResUNet", 1)
    assert isinstance(denoiser, ResUNet) and denoiser.training
    for scale in (2, 4):
        upscaler = build_restorer("srresnet", 3, scale)
        assert isinstance(upscaler, SRResNet) and upscaler.scale == scale and upscaler.in_channels == 3
    critic = build_discriminator(3)
    assert isinstance(critic, PatchDiscriminator) and critic.in_channels == 3


@pytest.mark.parametrize("kwargs,message", TEST_CASES_REGISTRY_BAD)
def test_registry_rejects_bad_arguments(kwargs: dict, message: str) -> None:
    args = {"name": "resunet", "in_channels": 1, "scale": 1, **kwargs}
    with pytest.raises(UserError, match=message):
        build_restorer(**args)


@pytest.mark.parametrize("in_channels", [0, 2, 4, True])
def test_discriminator_registry_refuses_channels_other_than_grey_or_colour(in_channels: object) -> None:
    with pytest.raises(UserError, match="in_channels must be 1 \\(grey\\) or 3 \\(colour\\)"):
        build_discriminator(in_channels)


@pytest.mark.parametrize("factory,message", [
    (lambda: ResUNet(1, widths=()), "widths"),
    (lambda: ResUNet(1, widths=(8, 0)), "widths"),
    (lambda: ResUNet(1, widths="8"), "widths"),
    (lambda: ResUNet(1, blocks_per_level=-1), "blocks_per_level"),
    (lambda: ResUNet(0), "in_channels"),
    (lambda: SRResNet(1, 2, blocks=-1), "blocks"),
    (lambda: SRResNet(1, 2, width=0), "width"),
    (lambda: SRResNet(1, 3), "scale"),
    (lambda: SRResNet(1, 1), "scale"),
    (lambda: SRResNet(0, 2), "in_channels"),
    (lambda: PatchDiscriminator(1, width=0), "width"),
    (lambda: PatchDiscriminator(True), "in_channels"),
])
def test_networks_reject_bad_arguments_with_value_error(factory, message: str) -> None:
    with pytest.raises(ValueError, match=message):  # UserError is not a ValueError: this fails on a UserError
        factory()


@pytest.mark.parametrize("factory,shape", [(lambda: ResUNet(4, (4,)), (1, 4, 3, 3)),
                                           (lambda: SRResNet(2, 8, blocks=1, width=4), (1, 2, 24, 24))])
def test_networks_take_any_channel_count_and_power_of_two_scale(factory, shape: tuple[int, ...]) -> None:
    """Grey or colour is the app's choice, made in the registry; the networks themselves are general."""
    with torch.no_grad():
        assert factory()(torch.rand(1, shape[1], 3, 3)).shape == shape


def test_networks_reject_inputs_with_the_wrong_channels() -> None:
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        ResUNet(1)(torch.rand(1, 3, 16, 16))
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        SRResNet(3, 2)(torch.rand(1, 1, 16, 16))


@pytest.mark.parametrize("in_channels", [1, 3])
def test_initial_resunet_is_the_identity(in_channels: int) -> None:
    """Residual learning starts from "do nothing": the untrained denoiser returns its input."""
    torch.manual_seed(0)
    clean = _fixed_pair(in_channels, 37)[1]
    with torch.no_grad():
        out = ResUNet(in_channels)(clean)
    torch.testing.assert_close(out, clean, atol=1e-6, rtol=0)


@pytest.mark.parametrize("in_channels,scale", [(1, 2), (3, 4)])
def test_initial_srresnet_is_bicubic_upsampling(in_channels: int, scale: int) -> None:
    torch.manual_seed(0)
    low = _fixed_pair(in_channels, 32, scale)[0]
    with torch.no_grad():
        out = SRResNet(in_channels, scale)(low)
    bicubic = F.interpolate(low, scale_factor=scale, mode="bicubic", align_corners=False)
    torch.testing.assert_close(out, bicubic, atol=1e-6, rtol=0)


@pytest.mark.parametrize("name,scale", [("resunet", 1), ("srresnet", 2), ("srresnet", 4)])
def test_adam_steps_lower_the_loss_on_a_fixed_pair(name: str, scale: int) -> None:
    torch.manual_seed(0)
    model = build_restorer(name, 1, scale)
    degraded, clean = _fixed_pair(1, 32, scale)
    # 5e-4: SR starts from bicubic, already close, and Adam's first steps move every weight by about lr
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3 if scale == 1 else 5e-4)
    losses = []
    for _ in range(8):
        loss = F.l1_loss(model(degraded), clean)
        losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        final = F.l1_loss(model(degraded), clean).item()
    assert final < 0.9 * losses[0], losses
    for parameter in model.parameters():  # every layer takes part after the zero-initialised output layer moved
        assert parameter.grad is not None


def test_restore_clamps_and_keeps_the_training_mode() -> None:
    torch.manual_seed(0)
    model = build_restorer("srresnet", 1, 2)
    with torch.no_grad():
        model.tail.bias.fill_(2.0)  # push every output above 1
    x = torch.rand(1, 1, 12, 12)
    out = restore(model, x)
    assert out.shape == (1, 1, 24, 24) and out.max().item() == 1.0 and not out.requires_grad
    assert model.training
    model.eval()
    restore(model, x)
    assert not model.training


def test_same_seed_same_network() -> None:
    outputs = []
    for _ in range(2):
        torch.manual_seed(3)
        model = ResUNet(1, (8, 16), 1)
        with torch.no_grad():
            model.tail.weight.normal_()  # make the output depend on every layer
            outputs.append(model(torch.linspace(0, 1, 256).view(1, 1, 16, 16)))
    torch.testing.assert_close(outputs[0], outputs[1], atol=0, rtol=0)


def test_networks_have_no_batch_norm_except_the_discriminator() -> None:
    """Generators without batch norm behave the same in train and eval mode (EDSR's choice)."""
    for model in (build_restorer("resunet", 1), build_restorer("srresnet", 1, 2)):
        assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in build_discriminator(1).modules())
