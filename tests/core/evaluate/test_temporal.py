"""Temporal explanations: occlusion importance peaks at the frame a model looks at, Grad-CAM of one frame has the
clip's size, lies in [0, 1] and points at what the class score uses, for per-frame encoders and video networks."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from core.evaluate.temporal import attention_weights, frame_gradcam, frame_importance, gradcam_grid, occluded_clips
from core.models.sequence_nets import build_sequence_model

T, C, S = 6, 1, 16


class OneFrameModel(nn.Module):
    """A hand-set stand-in for a SequenceClassifier (forward, target_layer, frame_weights): a per-frame encoder (a
    3x3 box filter, the target layer) whose class-0 logit is the mean brightness of the top-left quarter of frame
    `frame` only; attention weights put all weight on that frame."""

    def __init__(self, frame: int) -> None:
        super().__init__()
        self.frame = frame
        self.encoder = nn.Conv2d(C, 2, 3, padding=1, bias=False)
        with torch.no_grad():
            self.encoder.weight.fill_(1 / 9)
        self.target_layer = self.encoder
        self.head = nn.Linear(2, 2)
        with torch.no_grad():
            self.head.weight.copy_(torch.tensor([[8.0, 0.0], [-8.0, 0.0]]))
            self.head.bias.copy_(torch.tensor([-2.0, 2.0]))
        self.frame_weights = None

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(clips))

    def features(self, clips: torch.Tensor) -> torch.Tensor:
        b, t = clips.shape[:2]
        maps = self.encoder(clips.flatten(0, 1)).unflatten(0, (b, t))      # (B, T, 2, S, S)
        h, w = maps.shape[-2:]
        quarter = maps[:, :, :, : h // 2, : w // 2].mean(dim=(3, 4))         # (B, T, 2)
        weights = torch.zeros(b, t)
        weights[:, self.frame] = 1.0
        self.frame_weights = weights
        return quarter[:, self.frame]


class TinyVideoNet(nn.Module):
    """A 3-D convolution halving time (the target layer: (B, 4, T/2, S, S)), pooled, a linear head."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv3d(C, 4, 3, stride=(2, 1, 1), padding=1)
        self.target_layer = self.conv
        self.head = nn.Linear(4, 3)
        self.frame_weights = None

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(clips))

    def features(self, clips: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(clips.permute(0, 2, 1, 3, 4))).mean(dim=(2, 3, 4))


def bright_clip(frame: int) -> torch.Tensor:
    """(1, T, C, S, S) dark noise with a bright top-left square in `frame`."""
    generator = torch.Generator().manual_seed(1)
    clip = 0.1 * torch.rand(1, T, C, S, S, generator=generator)
    clip[0, frame, :, 2:7, 2:7] = 1.0
    return clip


@pytest.mark.parametrize("frame", [0, 3, T - 1])
def test_importance_of_a_model_that_looks_at_one_frame_peaks_there(frame):
    model = OneFrameModel(frame)
    importance = frame_importance(model, bright_clip(frame), class_index=0)
    assert importance.shape == (T,) and importance.dtype == np.float32
    assert int(np.argmax(importance)) == frame and importance[frame] > 0.3
    others = np.delete(importance, frame)
    assert np.abs(others).max() < 1e-6   # occluding a frame the model never reads changes nothing
    # for the other class the same frame argued against it: a negative importance
    assert frame_importance(model, bright_clip(frame), class_index=1)[frame] < -0.3


def test_occlusion_replaces_one_frame_by_the_mean_of_its_neighbours():
    clip = torch.arange(T, dtype=torch.float32).view(1, T, 1, 1, 1).expand(1, T, C, 2, 2).clone()
    batch = occluded_clips(clip, [0, 2, T - 1])
    assert batch.shape == (3, T, C, 2, 2)
    assert float(batch[0, 0, 0, 0, 0]) == 1.0                 # first frame: its one neighbour
    assert float(batch[1, 2, 0, 0, 0]) == 2.0                 # (1 + 3) / 2
    assert float(batch[2, T - 1, 0, 0, 0]) == T - 2
    assert torch.equal(batch[1, :2], clip[0, :2]) and torch.equal(batch[1, 3:], clip[0, 3:])


def test_importance_goes_through_the_model_in_chunks_when_clips_are_large(monkeypatch):
    import core.evaluate.temporal as temporal

    model = OneFrameModel(2)
    whole = frame_importance(model, bright_clip(2), 0)
    calls = []
    forward = model.forward
    monkeypatch.setattr(model, "forward", lambda clips: calls.append(len(clips)) or forward(clips))
    monkeypatch.setattr(temporal, "OCCLUSION_BUDGET", 4 * C * S * S * T)   # room for 4 occluded clips per forward
    np.testing.assert_allclose(frame_importance(model, bright_clip(2), 0), whole, atol=1e-6)
    assert calls == [1, 4, 2]


def test_a_one_frame_clip_has_no_importance():
    assert frame_importance(TinyVideoNet(), torch.rand(1, 1, C, S, S), 0).shape == (1,)


def test_attention_weights_are_read_after_a_forward():
    weights = attention_weights(OneFrameModel(4), bright_clip(4))
    assert weights.shape == (T,) and weights[4] == 1.0
    assert attention_weights(TinyVideoNet(), bright_clip(4)) is None


def test_gradcam_of_a_per_frame_encoder_points_at_the_bright_square_of_the_frame():
    model = OneFrameModel(3)
    heat = frame_gradcam(model, bright_clip(3), class_index=0, frame=3)
    assert heat.shape == (S, S) and heat.dtype == np.float32
    assert heat.min() >= 0 and heat.max() == pytest.approx(1.0)
    assert heat[2:7, 2:7].mean() > 2 * heat[S // 2:, S // 2:].mean()
    # a frame the class score never reads has no gradient: an all-zero map, not noise scaled up
    assert np.all(frame_gradcam(model, bright_clip(3), 0, frame=1) == 0)


@pytest.mark.parametrize("frame", [0, T // 2, T - 1])
def test_gradcam_of_a_video_network_has_the_clip_size_and_unit_range(frame):
    heat = frame_gradcam(TinyVideoNet(), bright_clip(frame), class_index=1, frame=frame)
    assert heat.shape == (S, S) and np.isfinite(heat).all()
    assert 0 <= heat.min() and heat.max() <= 1


def test_gradcam_refuses_a_frame_outside_the_clip():
    with pytest.raises(ValueError, match="outside"):
        frame_gradcam(TinyVideoNet(), bright_clip(0), 0, frame=T)


@pytest.mark.parametrize("name, size", [("cnn_lstm", 16), ("single_frame", 16), ("r2plus1d_18", 16), ("mc3_18", 8)])
def test_real_sequence_models_give_importance_gradcam_and_attention(name, size):
    torch.manual_seed(0)
    model = build_sequence_model(name, 1, 3, hidden_size=8).eval()
    clip = torch.rand(1, T, 1, size, size, generator=torch.Generator().manual_seed(2))
    importance = frame_importance(model, clip, 1)
    assert importance.shape == (T,) and np.isfinite(importance).all()
    for frame in (0, T - 1):
        heat = frame_gradcam(model, clip, 1, frame)
        assert heat.shape == (size, size) and heat.min() >= 0 and heat.max() <= 1
    weights = attention_weights(model, clip)
    if name == "cnn_lstm":   # attention pooling is the recipe's default
        assert weights.shape == (T,) and weights.sum() == pytest.approx(1, abs=1e-5)
    else:
        assert weights is None


def test_gradcam_grid_is_the_target_layers_map_size():
    assert gradcam_grid(OneFrameModel(0), bright_clip(0)) == (S, S)
    model = build_sequence_model("cnn_lstm", 1, 2, hidden_size=8)
    assert gradcam_grid(model, torch.rand(1, T, 1, 32, 32)) == (2, 2)   # the small CNN pools four times
