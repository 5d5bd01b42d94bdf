"""Every sequence model on tiny clips: shapes, the SequenceClassifier interface, learning, attention, the
single-frame average, Kinetics / ImageNet weights from files the tests write into the cache, the offline sentence,
argument checks, determinism and the memory layout."""
from __future__ import annotations

import io
import re
import urllib.error
import warnings
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch
from torch import nn

from core.errors import UserError
from core.models import imagenet_weights_file
from core.models.sequence_nets import (FRAME_ENCODERS, KINETICS_MEAN, KINETICS_STD, SEQUENCE_MODEL_INFO,
                                       SEQUENCE_MODELS, TEMPORAL_POOLING, VIDEO_NETS, ClipStandardization,
                                       SequenceClassifier, build_sequence_model, check_clip_size,
                                       kinetics_weights_file)
from core.models.torchvision_nets import TORCHVISION_NETS
from core.settings import cache_dir

SIZE = 16  # frame side: the small CNN's smallest input, plenty for the video networks

# (name, in_channels): every model for grey and colour clips (each of 1, 4 and 8 frames)
TEST_CASES_SHAPE = [(name, c) for name in SEQUENCE_MODELS for c in (1, 3)]
# (model, keyword arguments): the recurrent variants
TEST_CASES_RECURRENT = [(name, {"pooling": pooling, "bidirectional": bidirectional})
                        for name in ("cnn_lstm", "cnn_gru") for pooling in TEMPORAL_POOLING
                        for bidirectional in (False, True)]
TEST_CASES_BAD_ARGS = [
    ({"name": "lstm3d"}, "model 'lstm3d' is not a known sequence model"),
    ({"in_channels": 2}, "in_channels"),
    ({"num_classes": 0}, "num_classes"),
    ({"encoder": "vgg16"}, "frame encoder"),
    ({"hidden_size": 0}, "hidden_size"),
    ({"hidden_size": 1.5}, "hidden_size"),
    ({"bidirectional": "yes"}, "bidirectional"),
    ({"pooling": "max"}, "temporal pooling 'max'"),
    ({"dropout": 1.0}, "dropout"),
    ({"dropout": -0.1}, "dropout"),
    ({"pretrained": True}, "small_cnn encoder"),  # cnn_lstm with the small CNN has no pretrained weights
    ({"pretrained": "yes"}, "pretrained"),
    ({"name": "r3d_18", "input_std": 0.0}, "input_std"),
    ({"name": "r3d_18", "input_mean": (0.1, 0.2)}, "input_mean"),
    ({"name": "single_frame", "encoder": "resnet18", "input_std": (0.2, 0.2, 0.2)}, "input_std"),
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


def clips(batch: int, frames: int, channels: int, size: int = SIZE, seed: int = 0) -> torch.Tensor:
    return torch.rand(batch, frames, channels, size, size, generator=torch.Generator().manual_seed(seed))


def build(name: str, channels: int = 1, classes: int = 3, seed: int = 0, **kwargs: object) -> SequenceClassifier:
    torch.manual_seed(seed)
    return build_sequence_model(name, channels, classes, **kwargs)


@pytest.mark.parametrize("name,in_channels", TEST_CASES_SHAPE)
def test_shapes_target_layer_and_interface(name: str, in_channels: int) -> None:
    model = build(name, in_channels, 3)
    assert isinstance(model, SequenceClassifier) and model.training and model.architecture == name
    assert (model.in_channels, model.num_classes, model.is_video) == (in_channels, 3, name in VIDEO_NETS)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert model.head in linears and model.head.out_features == 3
    seen: list[torch.Tensor] = []
    model.target_layer.register_forward_hook(lambda module, args, out: seen.append(out))
    for frames in (1, 4, 8):
        x = clips(2, frames, in_channels)
        seen.clear()
        with torch.no_grad():  # training mode: batch-norm statistics of the batch
            logits, features = model(x), model.features(x)
        assert logits.shape == (2, 3) and torch.isfinite(logits).all()
        assert features.shape == (2, model.head.in_features)
        if name in VIDEO_NETS:  # (B, C', T', h, w)
            assert seen[0].ndim == 5 and seen[0].shape[:2] == (2, 512) and 1 <= seen[0].shape[2] <= frames
        else:  # (B*T, C', h, w)
            assert seen[0].ndim == 4 and seen[0].shape[0] == 2 * frames
    with pytest.raises(ValueError, match=re.escape(f"(B, T, {in_channels}, H, W)")):
        model(torch.rand(2, in_channels, SIZE, SIZE))


@pytest.mark.parametrize("name", SEQUENCE_MODELS)
def test_training_steps_give_finite_gradients_and_reduce_loss(name: str) -> None:
    model = build(name, 1, 2)
    video = name in VIDEO_NETS  # 11-33 M parameters: one small step is enough to see them learn
    x, y = clips(4, 2 if video else 4, 1), torch.tensor([0, 1, 0, 1])

    def loss_on_batch() -> torch.Tensor:
        torch.manual_seed(1)  # the same dropout masks every time
        return nn.functional.cross_entropy(model(x), y)

    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    first = loss_on_batch()
    first.backward()
    for key, parameter in model.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), key
    for _ in range(1 if video else 5):
        optimizer.step()
        optimizer.zero_grad()
        loss_on_batch().backward()
    assert loss_on_batch().item() < first.item()


@pytest.mark.parametrize("name,kwargs", TEST_CASES_RECURRENT)
def test_recurrent_pooling_and_directions(name: str, kwargs: dict) -> None:
    model = build(name, 1, 2, hidden_size=8, **kwargs)
    directions = 2 if kwargs["bidirectional"] else 1
    assert model.head.in_features == 8 * directions  # bidirectional doubles the recurrent output
    x = clips(3, 5, 1)
    assert model.sequence_outputs(x).shape == (3, 5, 8 * directions)
    assert model.features(x).shape == (3, 8 * directions) and model(x).shape == (3, 2)
    if kwargs["pooling"] == "attention":
        weights = model.frame_weights
        assert weights.shape == (3, 5) and (weights > 0).all() and not weights.requires_grad
        assert torch.allclose(weights.sum(dim=1), torch.ones(3))
        model(clips(2, 7, 1))
        assert model.frame_weights.shape == (2, 7)  # kept from the latest forward
    else:
        assert model.frame_weights is None and model.attention is None


def test_last_pooling_is_the_final_hidden_state_of_each_direction() -> None:
    model = build("cnn_gru", 1, 2, hidden_size=6, bidirectional=True, pooling="last").eval()
    x = clips(2, 4, 1)
    with torch.no_grad():
        outputs = model.sequence_outputs(x)  # (B, T, 2H): forward half ends at T-1, backward half at 0
        expected = torch.cat([outputs[:, -1, :6], outputs[:, 0, 6:]], dim=1)
        assert torch.allclose(model.features(x), expected, atol=1e-6)


def test_single_frame_averages_the_logits_of_each_frame_alone() -> None:
    model = build("single_frame", 1, 3).eval()
    x = clips(2, 6, 1)
    with torch.no_grad():
        alone = torch.stack([model(x[:, t:t + 1]) for t in range(6)], dim=1)  # (B, T, K), one frame at a time
        assert torch.allclose(model.frame_logits(x), alone, atol=1e-5)
        assert torch.allclose(model(x), alone.mean(dim=1), atol=1e-5)
        assert torch.allclose(model(x[:, [2, 0, 5, 1, 4, 3]]), model(x), atol=1e-5)  # order does not matter
    assert model.frame_weights is None


def test_recurrent_models_see_the_order_of_frames() -> None:
    model = build("cnn_lstm", 1, 3, pooling="mean").eval()
    x = clips(1, 6, 1)
    with torch.no_grad():
        assert not torch.allclose(model(x), model(x.flip(1)), atol=1e-5)


def test_small_cnn_encoder_standardises_each_clip() -> None:
    """Exposure and contrast of a whole clip do not matter; brightness changes between its frames do."""
    model = build("cnn_lstm", 1, 3).eval()
    x = clips(2, 4, 1)
    with torch.no_grad():
        assert torch.allclose(model(0.3 * x + 0.2), model(x), atol=1e-4)
        brighter_later = x * torch.linspace(0.5, 1.0, 4).view(1, 4, 1, 1, 1)
        assert not torch.allclose(model(brighter_later), model(x), atol=1e-3)
    standardized = ClipStandardization(1, "frame")(x)
    assert torch.allclose(standardized.mean(dim=(2, 3, 4)), torch.zeros(2, 4), atol=1e-5)
    assert torch.allclose(ClipStandardization(1)(torch.full((1, 3, 1, 4, 4), 0.7)), torch.zeros(1, 3, 1, 4, 4),
                          atol=1e-3)


@pytest.mark.parametrize("name", ["cnn_lstm", "mc3_18"])
def test_same_seed_same_numbers_on_cpu(name: str) -> None:
    results = []
    for _ in range(2):
        model = build(name, 1, 2, seed=7)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        torch.manual_seed(3)
        nn.functional.cross_entropy(model(clips(2, 4, 1)), torch.tensor([0, 1])).backward()
        optimizer.step()
        results.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.equal(results[0], results[1])


@pytest.mark.parametrize("name", ["cnn_gru", "mc3_18"])
def test_memory_format_sets_the_activation_layout_only_and_onnx_exports(name: str) -> None:
    model = build(name, 3, 2).eval()
    x = clips(2, 4, 3)
    with torch.no_grad():
        expected = model(x)
        assert model.to(memory_format=torch.contiguous_format) is model and not model.channels_last
        assert torch.allclose(model(x), expected, atol=1e-4)
        model = model.to(torch.float32, memory_format=torch.channels_last)  # the classification task's call
        assert model.channels_last and torch.allclose(model(x), expected, atol=1e-4)
    assert all(p.is_contiguous() for p in model.state_dict().values())  # safetensors needs contiguous tensors

    buffer = io.BytesIO()  # ONNX has no memory formats: tracing skips the layout change
    with warnings.catch_warnings():  # the exporter's own deprecation and tracer notes
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (clips(1, 4, 3),), buffer, dynamo=False, input_names=["clips"],
                          dynamic_axes={"clips": {0: "batch"}})
    session = onnxruntime.InferenceSession(buffer.getvalue())
    assert np.allclose(session.run(None, {"clips": x.numpy()})[0], expected.numpy(), atol=1e-4)


def test_info_sentence_for_every_model_states_its_size() -> None:
    assert set(SEQUENCE_MODEL_INFO) == set(SEQUENCE_MODELS)
    for name, sentence in SEQUENCE_MODEL_INFO.items():
        stated = float(re.search(r"([\d.]+) M parameters", sentence).group(1))
        count = sum(p.numel() for p in build(name, 1, 2).parameters()) / 1e6
        assert round(count, 1 if stated >= 1 or name == "single_frame" else 2) == pytest.approx(stated), name
        assert sentence.endswith(".") and "CPU" in sentence


@pytest.mark.parametrize("overrides,message", TEST_CASES_BAD_ARGS)
def test_bad_arguments_are_user_errors(overrides: dict, message: str) -> None:
    arguments = {"name": "cnn_lstm", "in_channels": 1, "num_classes": 2} | overrides
    name, channels, classes = arguments.pop("name"), arguments.pop("in_channels"), arguments.pop("num_classes")
    with pytest.raises(UserError, match=re.escape(message)):
        build_sequence_model(name, channels, classes, **arguments)


def test_clip_size_check_and_kinetics_file_names() -> None:
    check_clip_size("cnn_lstm", 16, 16)
    check_clip_size("r3d_18", 4, 4)
    check_clip_size("single_frame", 8, 8, encoder="resnet18")
    with pytest.raises(UserError, match="at least 16x16 pixels, got 12x20"):
        check_clip_size("cnn_lstm", 12, 20)
    assert {name: kinetics_weights_file(name) for name in VIDEO_NETS} == {
        "r2plus1d_18": "r2plus1d_18-91a641e6.pth", "mc3_18": "mc3_18-a90a0ba3.pth", "r3d_18": "r3d_18-b3b3357e.pth"}
    with pytest.raises(UserError, match="not a known video network"):
        kinetics_weights_file("cnn_lstm")
    assert set(FRAME_ENCODERS) <= {"small_cnn", *TORCHVISION_NETS}


def write_kinetics_weights(name: str) -> dict[str, torch.Tensor]:
    """Save a randomly initialised torchvision video network where torchvision caches its Kinetics-400 weights."""
    from torchvision.models import video

    torch.manual_seed(123)
    state = getattr(video, name)(weights=None).state_dict()
    torch.save(state, checkpoints() / kinetics_weights_file(name))
    return state


def test_kinetics_weights_load_from_the_cache(no_network: list[str]) -> None:
    state = write_kinetics_weights("mc3_18")
    model = build("mc3_18", 3, 4, seed=0, pretrained=True)
    backbone = model.backbone.state_dict()
    assert set(state) - set(backbone) == {"fc.weight", "fc.bias"}
    assert all(torch.equal(value, state[key]) for key, value in backbone.items())
    scratch = build("mc3_18", 3, 4, seed=0).backbone.state_dict()
    assert not torch.equal(scratch["layer1.0.conv1.0.weight"], backbone["layer1.0.conv1.0.weight"])
    assert torch.allclose(model.normalize.mean.flatten(), torch.tensor(KINETICS_MEAN))
    assert torch.allclose(model.normalize.std.flatten(), torch.tensor(KINETICS_STD))
    assert not no_network

    grey = build("mc3_18", 1, 4, pretrained=True, input_mean=0.5, input_std=0.25).eval()
    stem = "stem.0.weight"
    assert torch.equal(grey.backbone.state_dict()[stem], state[stem].sum(dim=1, keepdim=True))
    rgb = build("mc3_18", 3, 4, pretrained=True, input_mean=0.5, input_std=0.25).eval()
    x = clips(1, 4, 1)
    with torch.no_grad():  # a grey clip gives what the RGB network gives for it repeated on three channels
        assert torch.allclose(grey.features(x), rgb.features(x.repeat(1, 1, 3, 1, 1)), atol=1e-4, rtol=1e-4)
    assert build("mc3_18", 1, 2, pretrained=True).normalize.mean.item() == pytest.approx(sum(KINETICS_MEAN) / 3)


@pytest.mark.parametrize("name", VIDEO_NETS)
def test_offline_without_kinetics_file_names_file_and_folder(name: str, no_network: list[str]) -> None:
    file_name = kinetics_weights_file(name)
    with pytest.raises(UserError) as error:
        build_sequence_model(name, 1, 2, pretrained=True)
    message = str(error.value)
    assert "Kinetics-400 weights" in message and file_name in message
    assert f"in the folder {checkpoints().resolve()}." in message
    assert len(no_network) == 1 and no_network[0].endswith("/" + file_name)
    assert list(checkpoints().iterdir()) == []  # nothing half-written


def test_wrong_or_unreadable_kinetics_file_is_a_user_error() -> None:
    path = checkpoints() / kinetics_weights_file("r2plus1d_18")
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="could not be read"):
        build_sequence_model("r2plus1d_18", 3, 2, pretrained=True)
    torch.save({"weight": torch.zeros(3)}, path)
    with pytest.raises(UserError, match="does not hold the Kinetics-400 weights of r2plus1d_18"):
        build_sequence_model("r2plus1d_18", 3, 2, pretrained=True)


@pytest.mark.parametrize("name", ["cnn_lstm", "single_frame"])
def test_resnet18_encoder_loads_imagenet_weights(name: str, no_network: list[str]) -> None:
    torch.manual_seed(123)
    state = TORCHVISION_NETS["resnet18"].build(weights=None).state_dict()
    torch.save(state, checkpoints() / imagenet_weights_file("resnet18"))
    model = build(name, 1, 2, encoder="resnet18", pretrained=True)
    encoder = model.encoder.state_dict()
    assert torch.equal(encoder["layer4.1.conv2.weight"], state["layer4.1.conv2.weight"])
    assert torch.equal(encoder["conv1.weight"], state["conv1.weight"].sum(dim=1, keepdim=True))
    assert model.normalize.mean.item() == pytest.approx((0.485 + 0.456 + 0.406) / 3)
    assert model.target_layer is model.encoder.layer4 and model(clips(2, 3, 1)).shape == (2, 2)
    assert not no_network
