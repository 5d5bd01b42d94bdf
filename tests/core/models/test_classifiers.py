"""Every classifier: shapes, the Classifier interface, learning on a fixed batch, argument checks (a person's bad
choice is a UserError from `build_classifier`; a bad argument to a network itself is a ValueError)."""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from core.errors import UserError
from core.models import (CLASSIFIER_INFO, CLASSIFIER_NAMES, MIN_INPUT_SIZE, Classifier, SmallCNN, build_classifier,
                         check_input_size, imagenet_weights_file)
from core.models.classifier import IMAGENET_MEAN, IMAGENET_STD, InputNormalization
from core.models.torchvision_nets import TORCHVISION_NETS

# (name, in_channels, num_classes): every network for grey and colour input, two and five classes
TEST_CASES_SHAPE = [(name, c, k) for name in CLASSIFIER_NAMES for c in (1, 3) for k in (2, 5)]
TEST_CASES_BAD_ARGS = [
    ({"name": "alexnet"}, "model 'alexnet'"),
    ({"in_channels": 2}, "in_channels"),
    ({"in_channels": 4}, "in_channels"),
    ({"num_classes": 0}, "num_classes"),
    ({"num_classes": 2.5}, "num_classes"),
    ({"name": "small_cnn", "pretrained": True}, "pretrained"),
    ({"name": "resnet18", "freeze_backbone": True}, "freeze_backbone"),
    ({"name": "resnet18", "input_std": 0.0}, "input_std"),
    ({"name": "resnet18", "input_mean": (0.1, 0.2)}, "input_mean"),
    ({"name": "resnet18", "input_std": (0.2, 0.2, 0.2)}, "input_std"),  # 3 values for 1 channel
    ({"name": "small_cnn", "input_std": -1.0}, "input_std"),
    ({"name": "small_cnn", "input_mean": ()}, "input_mean"),
]
# (factory, message): the networks themselves refuse bad arguments with a ValueError (a programming error)
TEST_CASES_NETWORK_BAD_ARGS = [
    (lambda: SmallCNN(0, 2), "in_channels"),
    (lambda: SmallCNN(1, 0), "num_classes"),
    (lambda: SmallCNN(1, 2, widths=()), "widths"),
    (lambda: SmallCNN(1, 2, widths=(8, 0)), "widths"),
    (lambda: SmallCNN(1, 2, convs_per_block=0), "convs_per_block"),
    (lambda: SmallCNN(1, 2, standardize="batch"), "standardize"),
    (lambda: SmallCNN(1, 2, dropout=1.0), "dropout"),
    (lambda: InputNormalization(0.5, 0.0, 1), "input_std"),
    (lambda: InputNormalization((0.1, 0.2), 0.2, 3), "input_mean"),
    (lambda: Classifier(nn.Identity(), nn.Flatten(), nn.Linear(4, 2), nn.ReLU()), "target_layer"),
]


@pytest.mark.parametrize("name,in_channels,num_classes", TEST_CASES_SHAPE)
def test_shape_target_layer_and_head(name: str, in_channels: int, num_classes: int) -> None:
    torch.manual_seed(0)
    model = build_classifier(name, in_channels, num_classes)
    x = torch.rand(2, in_channels, 64, 64)
    assert isinstance(model, Classifier) and model.training
    features: list[torch.Tensor] = []
    handle = model.target_layer.register_forward_hook(lambda module, args, out: features.append(out))
    with torch.no_grad():  # training mode: batch-norm statistics of a batch of two
        logits = model(x)
    handle.remove()
    assert logits.shape == (2, num_classes) and torch.isfinite(logits).all()
    assert features[0].ndim == 4 and features[0].shape[0] == 2 and min(features[0].shape[2:]) >= 1
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert linears[-1] is model.head and model.head.out_features == num_classes
    assert (model.in_channels, model.num_classes) == (in_channels, num_classes)
    if name != "small_cnn":  # the small CNN standardises each image instead of using fixed statistics
        assert model.normalize.mean.shape == (1, in_channels, 1, 1)


@pytest.mark.parametrize("name", CLASSIFIER_NAMES)
def test_training_steps_change_weights_and_reduce_loss(name: str) -> None:
    torch.manual_seed(0)
    in_channels = 3 if name in ("resnet18", "densenet121", "efficientnet_b0") else 1
    model = build_classifier(name, in_channels, 3)
    size = 32 if name in ("resnet50", "densenet121", "vgg16") else 64  # the heavy ones at 32 px, to stay cheap
    x, y = torch.rand(2, in_channels, size, size), torch.tensor([0, 2])

    def loss_on_batch() -> torch.Tensor:
        torch.manual_seed(1)  # the same dropout / stochastic-depth masks every time
        return nn.functional.cross_entropy(model(x), y)

    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4 if name == "vgg16" else 1e-3)
    first_conv = next(p for p in model.backbone.parameters() if p.ndim == 4)
    head_before, conv_before = model.head.weight.detach().clone(), first_conv.detach().clone()
    first = loss_on_batch()
    for step in range(3):
        loss = first if step == 0 else loss_on_batch()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert not torch.equal(head_before, model.head.weight) and not torch.equal(conv_before, first_conv)
    with torch.no_grad():
        assert loss_on_batch().item() < first.item()


def test_small_cnn_structure_follows_widths() -> None:
    model = SmallCNN(1, 4, widths=(8, 16), convs_per_block=2, dropout=0.0)
    assert len(model.features) == 2 and model.target_layer is model.features[-1]
    assert model.head.in_features == 16 and isinstance(model.dropout, nn.Identity)
    convs = [m for m in model.features.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 4 and all(conv.bias is None and conv.kernel_size == (3, 3) for conv in convs)
    assert model(torch.rand(2, 1, 28, 28)).shape == (2, 4)
    assert sum(p.numel() for p in SmallCNN(1, 2).parameters()) == 97_650
    assert CLASSIFIER_INFO["small_cnn"].startswith("Small CNN, 0.1 M parameters")  # the figure quoted to users
    assert len([m for m in SmallCNN(1, 2).features.modules() if isinstance(m, nn.Conv2d)]) == 4  # one per block


def test_normalization_defaults_and_explicit_values() -> None:
    scratch = build_classifier("resnet18", 3, 2)
    assert torch.allclose(scratch.normalize.mean.flatten(), torch.full((3,), 0.5))
    assert torch.allclose(scratch.normalize.std.flatten(), torch.full((3,), 0.25))
    given = build_classifier("resnet18", 1, 2, input_mean=0.2, input_std=0.1)
    assert given.normalize(torch.full((1, 1, 2, 2), 0.3)).allclose(torch.ones(1, 1, 2, 2))
    standardised = build_classifier("small_cnn", 1, 2).normalize(torch.rand(3, 1, 8, 8) * 5 + 2)
    assert torch.allclose(standardised.mean(dim=(1, 2, 3)), torch.zeros(3), atol=1e-5)  # per image
    assert torch.allclose(standardised.std(dim=(1, 2, 3)), torch.ones(3), atol=1e-4)
    per_channel = InputNormalization(IMAGENET_MEAN, IMAGENET_STD, 3)
    x = torch.rand(1, 3, 4, 4)
    expected = (x - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    assert torch.allclose(per_channel(x), expected)
    assert "normalize.mean" in given.state_dict()  # saved with the weights, so exports take [0, 1] images


def test_copies_keep_their_own_target_layer() -> None:
    model = build_classifier("resnet18", 1, 2)
    clone = copy.deepcopy(model)
    assert clone.target_layer is clone.backbone.layer4 and clone.target_layer is not model.target_layer


def test_registry_names_info_and_weight_files() -> None:
    assert CLASSIFIER_NAMES[0] == "small_cnn" and set(CLASSIFIER_NAMES[1:]) == set(TORCHVISION_NETS)
    assert set(CLASSIFIER_INFO) == set(CLASSIFIER_NAMES) == set(MIN_INPUT_SIZE)
    assert all(info and "\n" not in info for info in CLASSIFIER_INFO.values())
    assert imagenet_weights_file("small_cnn") is None
    for name in CLASSIFIER_NAMES[1:]:
        assert imagenet_weights_file(name).endswith(".pth") and "/" not in imagenet_weights_file(name)
    assert imagenet_weights_file("vgg16").startswith("vgg16_bn-")
    with pytest.raises(UserError, match="model 'nope'"):
        imagenet_weights_file("nope")


@pytest.mark.parametrize("name", ["vgg16", "densenet121"])
def test_min_input_size_is_checked(name: str) -> None:
    size = MIN_INPUT_SIZE[name]
    check_input_size(name, size, size)
    build_classifier(name, 1, 2).eval()(torch.rand(1, 1, size, size))
    with pytest.raises(UserError, match=f"at least {size}x{size}"):
        check_input_size(name, 28, 28)


@pytest.mark.parametrize("changes,message", TEST_CASES_BAD_ARGS)
def test_bad_arguments_raise_user_error(changes: dict, message: str) -> None:
    kwargs = {"name": "small_cnn", "in_channels": 1, "num_classes": 2} | changes
    with pytest.raises(UserError, match=message):
        build_classifier(**kwargs)


@pytest.mark.parametrize("factory,message", TEST_CASES_NETWORK_BAD_ARGS)
def test_networks_raise_value_error(factory, message: str) -> None:
    with pytest.raises(ValueError, match=message):  # UserError is not a ValueError: this fails on a UserError
        factory()


@pytest.mark.filterwarnings("ignore:`torch.jit:FutureWarning")  # deprecated in torch 2.15, still used by exporters
def test_small_cnn_exports_with_torch_export_and_torchscript() -> None:
    model = SmallCNN(1, 3, widths=(8, 16)).eval()
    x = torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        expected = model(x)
        assert torch.allclose(torch.export.export(model, (x,)).module()(x), expected, atol=1e-6)
        assert torch.allclose(torch.jit.script(model)(x), expected, atol=1e-6)
        assert torch.allclose(torch.jit.trace(model, x)(x), expected, atol=1e-6)
