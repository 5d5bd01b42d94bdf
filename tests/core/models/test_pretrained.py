"""ImageNet weights from the cache (files the tests write themselves), the offline error, and freezing."""
from __future__ import annotations

import re
import urllib.error
from pathlib import Path

import pytest
import torch
from torch import nn

from core.errors import UserError
from core.models import build_classifier, imagenet_weights_file
from core.models.torchvision_nets import TORCHVISION_NETS
from core.settings import cache_dir

# (name, key of the first conv's weight in the torchvision state dict, keys of the replaced ImageNet head)
TEST_CASES_PRETRAINED = [
    ("resnet18", "conv1.weight", {"fc.weight", "fc.bias"}),
    ("efficientnet_b0", "features.0.0.weight", {"classifier.1.weight", "classifier.1.bias"}),
    ("densenet121", "features.conv0.weight", {"classifier.weight", "classifier.bias"}),
]


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Any download attempt fails as it does offline, and is recorded."""
    attempts: list[str] = []

    def refuse(url: str, *args: object, **kwargs: object) -> None:
        attempts.append(url)
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    return attempts


def checkpoints() -> Path:
    return cache_dir("torch", "hub", "checkpoints")


def write_cached_weights(name: str, old_densenet_keys: bool = False) -> dict[str, torch.Tensor]:
    """Save a randomly initialised torchvision network where torchvision would cache its ImageNet weights."""
    torch.manual_seed(123)
    state = TORCHVISION_NETS[name].build(weights=None).state_dict()
    saved = state
    if old_densenet_keys:  # the published DenseNet files use 'norm.1' where torchvision now says 'norm1'
        old_key = re.compile(r"(denselayer\d+\.(?:norm|conv))([12])\.")
        saved = {old_key.sub(r"\1.\2.", key): value for key, value in state.items()}
        assert saved.keys() != state.keys()
    torch.save(saved, checkpoints() / imagenet_weights_file(name))
    return state


@pytest.mark.parametrize("name,first_conv,head_keys", TEST_CASES_PRETRAINED)
def test_pretrained_loads_the_cached_file_exactly(name: str, first_conv: str, head_keys: set[str],
                                                  no_network: list[str]) -> None:
    state = write_cached_weights(name, old_densenet_keys=name == "densenet121")
    model = build_classifier(name, 3, 4, pretrained=True)
    backbone = model.backbone.state_dict()
    assert set(state) - set(backbone) == head_keys
    assert all(torch.equal(value, state[key]) for key, value in backbone.items())
    assert model.head.out_features == 4 and not no_network
    assert torch.allclose(model.normalize.mean.flatten(), torch.tensor([0.485, 0.456, 0.406]))

    grey = build_classifier(name, 1, 4, pretrained=True)
    assert torch.equal(grey.backbone.state_dict()[first_conv], state[first_conv].sum(dim=1, keepdim=True))
    assert grey.normalize.mean.item() == pytest.approx((0.485 + 0.456 + 0.406) / 3)
    assert grey.normalize.std.item() == pytest.approx((0.229 + 0.224 + 0.225) / 3)


@pytest.mark.parametrize("name", ["resnet18", "efficientnet_b0"])
def test_grey_model_matches_rgb_model_on_repeated_grey_image(name: str) -> None:
    write_cached_weights(name)
    stats = {"input_mean": 0.5, "input_std": 0.25}  # the same on every channel, so the sum trick is exact
    rgb = build_classifier(name, 3, 2, pretrained=True, **stats).eval()
    grey = build_classifier(name, 1, 2, pretrained=True, **stats).eval()
    image = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        expected = rgb.backbone(rgb.normalize(image.repeat(1, 3, 1, 1)))
        assert torch.allclose(grey.backbone(grey.normalize(image)), expected, atol=1e-4, rtol=1e-4)


def test_offline_without_cached_file_names_file_and_folder(no_network: list[str]) -> None:
    file_name = imagenet_weights_file("resnet18")
    with pytest.raises(UserError) as error:
        build_classifier("resnet18", 1, 2, pretrained=True)
    assert file_name in str(error.value) and str(checkpoints()) in str(error.value)
    assert len(no_network) == 1 and no_network[0].endswith("/" + file_name)
    assert list(checkpoints().iterdir()) == []  # nothing half-written


def test_unreadable_or_wrong_cached_file_is_a_user_error() -> None:
    path = checkpoints() / imagenet_weights_file("efficientnet_b0")
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="could not be read"):
        build_classifier("efficientnet_b0", 3, 2, pretrained=True)
    torch.save({"weight": torch.zeros(3)}, path)
    with pytest.raises(UserError, match="does not hold the ImageNet weights of efficientnet_b0"):
        build_classifier("efficientnet_b0", 3, 2, pretrained=True)


@pytest.mark.parametrize("name", ["resnet18", "efficientnet_b0"])
def test_frozen_backbone_trains_head_only_and_keeps_batchnorm_stats(name: str) -> None:
    write_cached_weights(name)
    model = build_classifier(name, 1, 3, pretrained=True, freeze_backbone=True)
    assert {key for key, p in model.named_parameters() if p.requires_grad} == {"head.weight", "head.bias"}
    model.train()
    assert model.training and model.head.training and model.dropout.training
    assert not any(module.training for module in model.backbone.modules())
    backbone = {key: value.clone() for key, value in model.backbone.state_dict().items()}
    assert any(key.endswith("running_mean") for key in backbone)
    head = model.head.weight.detach().clone()

    torch.manual_seed(0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)  # all parameters on purpose
    for _ in range(2):
        loss = nn.functional.cross_entropy(model(torch.rand(2, 1, 32, 32)), torch.tensor([0, 2]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert all(torch.equal(value, backbone[key]) for key, value in model.backbone.state_dict().items())
    assert not torch.equal(model.head.weight, head)
    model.eval()
    assert not model.head.training and not model.dropout.training

    features: list[torch.Tensor] = []  # Grad-CAM still gets gradients at the target layer (input needs grad)
    model.target_layer.register_forward_hook(lambda module, args, out: features.append(out))
    logits = model(torch.rand(1, 1, 32, 32).requires_grad_(True))
    (gradient,) = torch.autograd.grad(logits[0, 1], features[0])
    assert gradient.shape == features[0].shape and gradient.abs().sum() > 0


def test_one_cache_folder_named_by_the_code_the_readme_and_the_error(no_network: list[str], tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from core.models.torchvision_nets import WEIGHTS_CACHE, imagenet_weights_folder

    folder = imagenet_weights_folder()
    assert folder.is_absolute() and folder == checkpoints().resolve()
    with pytest.raises(UserError) as error:
        build_classifier("resnet18", 1, 2, pretrained=True)
    assert f"in the folder {folder}." in str(error.value)
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    relative = "/".join(("cache", *WEIGHTS_CACHE))
    assert f"`MEDLAB_HOME/{relative}`" in readme and f"`~/.medlab/{relative}`" in readme
    monkeypatch.delenv("MEDLAB_HOME")  # the README's default MEDLAB_HOME is the code's
    monkeypatch.setenv("HOME", str(tmp_path))
    assert imagenet_weights_folder() == (tmp_path / ".medlab" / relative).resolve()
