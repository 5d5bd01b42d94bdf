"""Sequence classifiers: clips in [0, 1] of shape (B, T, C, H, W) -> logits (B, classes).

    cnn_lstm, cnn_gru  a per-frame 2-D encoder (MedLab's small CNN, or a torchvision backbone with optional ImageNet
                       weights), an LSTM/GRU over time (bidirectional option), pooled over time by attention
                       (Bahdanau-style additive weights; `frame_weights` keeps the last ones), mean, or the last step
                       (Donahue et al., "Long-term Recurrent Convolutional Networks", CVPR 2015)
    single_frame       the same 2-D encoder and a linear head on each frame, logits averaged over the frames given:
                       trained on one random frame per clip, it measures what motion adds (EchoNet-Dynamic's frames=1
                       arm, Ouyang et al., Nature 2020)
    r2plus1d_18, mc3_18, r3d_18
                       torchvision's video ResNets (Tran et al., "A Closer Look at Spatiotemporal Convolutions",
                       CVPR 2018), Kinetics-400 weights when cached, the stem adapted to 1- or 3-channel input

Every model normalises its input inside (as core.models.classifier does), so saved and exported models take clips
in [0, 1]. Memory layout: the models choose their activations' layout themselves (`channels_last`, on by default:
NHWC frames for the 2-D encoders, NDHWC volumes for the video networks); `model.to(memory_format=...)` only sets
that flag (torch refuses channels_last on the 5-D weights of a video network), so the weights stay contiguous for
safetensors. On a CPU, with a seed, every model gives the same numbers run after run.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from numbers import Real

import torch
from torch import nn
from torchvision.models import WeightsEnum
from torchvision.models import video as video_models

from core.errors import UserError
from core.models import build_classifier
from core.models.checks import check_channel_values, check_count, check_in_channels, check_name
from core.models.classifier import SCRATCH_MEAN, SCRATCH_STD, InputNormalization
from core.models.torchvision_nets import imagenet_weights_folder, load_cached_state_dict, one_channel_conv

SEQUENCE_MODELS = ("cnn_lstm", "cnn_gru", "single_frame", "r2plus1d_18", "mc3_18", "r3d_18")
VIDEO_NETS = ("r2plus1d_18", "mc3_18", "r3d_18")
RECURRENT_MODELS = ("cnn_lstm", "cnn_gru")
FRAME_ENCODERS = ("small_cnn", "resnet18")
TEMPORAL_POOLING = ("attention", "mean", "last")
# name -> one sentence for the Train form (size, speed, when to use). Parameters for 1 channel, 2 classes, the
# small-CNN encoder and hidden size 64; speed: a training step (forward + backward) per clip of 16 frames of 48 px,
# 1 channel, batch 8, on a shared 2-core CPU (measured for issue 12; about 1.5x per doubling of frames or pixels).
SEQUENCE_MODEL_INFO: dict[str, str] = {
    "cnn_lstm": "Small CNN per frame + LSTM with attention over time, 0.15 M parameters, about 12 ms per clip on a "
                "2-core CPU: learns motion in minutes without a GPU; the recommended start.",
    "cnn_gru": "Small CNN per frame + GRU, 0.14 M parameters, about 11 ms per clip on a 2-core CPU: CNN+LSTM with a "
               "lighter recurrent layer.",
    "single_frame": "Small CNN on each frame alone, 0.1 M parameters, about 10 ms per clip on a 2-core CPU, logits "
                    "averaged over the frames: the no-motion baseline that shows how much the motion adds.",
    "r2plus1d_18": "R(2+1)D-18 video ResNet, 31.3 M parameters, about 0.3 s per clip on a 2-core CPU: split spatial "
                   "and temporal 3-D convolutions, the strongest with Kinetics-400 weights; wants a GPU.",
    "mc3_18": "MC3-18 video ResNet, 11.5 M parameters, about 0.2 s per clip on a 2-core CPU: 3-D convolutions in "
              "the stem and first stage only, the lightest video ResNet; wants a GPU.",
    "r3d_18": "R3D-18 video ResNet, 33.1 M parameters, about 0.8 s per clip on a 2-core CPU: full 3-D convolutions "
              "in every stage, the plainest video ResNet; use a GPU.",
}
# Kinetics-400 statistics of torchvision's video weights (VideoClassification transform of their weights enums).
KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)
# Smallest frame side each encoder accepts (the small CNN's four poolings need 16 px); video networks take any size.
MIN_FRAME_SIZE = {"small_cnn": 16, "resnet18": 1}


@dataclass(frozen=True)
class _VideoNet:
    build: Callable[..., nn.Module]
    weights: WeightsEnum


_VIDEO_NETS: dict[str, _VideoNet] = {
    "r2plus1d_18": _VideoNet(video_models.r2plus1d_18, video_models.R2Plus1D_18_Weights.KINETICS400_V1),
    "mc3_18": _VideoNet(video_models.mc3_18, video_models.MC3_18_Weights.KINETICS400_V1),
    "r3d_18": _VideoNet(video_models.r3d_18, video_models.R3D_18_Weights.KINETICS400_V1),
}


class ClipStandardization(nn.Module):
    """Each clip (or each frame) minus its own mean, divided by its own standard deviation.

    The sequence form of `core.models.classifier.PerImageStandardization`: `over="clip"` standardises over
    (T, C, H, W), so brightness changes across the frames (contrast wash-in, a chamber filling) survive; `over="frame"`
    standardises each frame over (C, H, W), so a frame looks the same whether it comes alone or within a clip.

    Args:
        channels: input channels (recorded for `SequenceClassifier.in_channels`).
        over: "clip" or "frame".
        eps: the smallest standard deviation divided by, so a constant clip gives (nearly) zeros rather than NaN or
            amplified rounding noise (a clip of 8-bit levels that differ at all has a larger one).

    Returns (forward):
        clips of the input's shape (B, T, C, H, W), standardised.
    """

    def __init__(self, channels: int, over: str = "clip", eps: float = 1e-3) -> None:
        super().__init__()
        if over not in ("clip", "frame"):
            raise ValueError(f"over must be 'clip' or 'frame', got {over!r}.")
        self.channels, self.over, self.eps = channels, over, eps

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        dims = (1, 2, 3, 4) if self.over == "clip" else (2, 3, 4)
        mean = clips.mean(dim=dims, keepdim=True)
        std = clips.std(dim=dims, keepdim=True, correction=0)  # population std: 0, not NaN, for one value
        return (clips - mean) / std.clamp_min(self.eps)

    def extra_repr(self) -> str:
        return f"over={self.over}"


class SequenceClassifier(nn.Module):
    """What every sequence model offers the task, evaluation and prediction.

    Members:
        architecture: the name in SEQUENCE_MODELS.
        in_channels, num_classes: ints.
        normalize: the input normalisation, applied to the (B, T, C, H, W) clips in [0, 1].
        head: the final nn.Linear (features -> logits).
        dropout: applied to the pooled features before the head (not in `features`).
        target_layer: the module whose output Grad-CAM weighs: (B*T, C', h, w) for per-frame encoders, (B, C', T', h, w)
            for video networks (`is_video`).
        frame_weights: the attention weights over time of the last forward, (B, T) float32 summing to 1 over T,
            detached; None for models without attention.
        channels_last: whether activations run in channels-last layout (see the module docstring).
    """

    is_video = False

    def __init__(self, architecture: str, normalize: nn.Module, head: nn.Linear, target_layer_name: str,
                 dropout: float) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}.")
        self.architecture = architecture
        self.normalize = normalize
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.head = head
        self.target_layer_name = target_layer_name  # by name, so copies and state dicts stay simple
        self.frame_weights: torch.Tensor | None = None
        self.channels_last = True

    @property
    def target_layer(self) -> nn.Module:
        return self.get_submodule(self.target_layer_name)

    @property
    def in_channels(self) -> int:
        return int(self.normalize.channels)

    @property
    def num_classes(self) -> int:
        return self.head.out_features

    def _check(self, clips: torch.Tensor) -> None:
        if torch.jit.is_tracing():  # traced sizes are tensors; the exporters check the example's shape themselves
            return
        if clips.ndim != 5 or clips.shape[2] != self.in_channels:
            raise ValueError(f"{self.architecture} expects clips of shape (B, T, {self.in_channels}, H, W), "
                             f"got {tuple(clips.shape)}.")

    def _layout(self, x: torch.Tensor, channels_last: torch.memory_format) -> torch.Tensor:
        """`x` in `channels_last` layout when the flag is on; as it is while tracing (ONNX has no memory formats)."""
        if torch.jit.is_tracing() or torch.jit.is_scripting():
            return x
        return x.contiguous(memory_format=channels_last if self.channels_last else torch.contiguous_format)

    def features(self, clips: torch.Tensor) -> torch.Tensor:
        """(B, T, C, H, W) in [0, 1] -> pooled clip features (B, F): what the head sees (used for OOD checks)."""
        raise NotImplementedError

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        """(B, T, C, H, W) in [0, 1] -> logits (B, num_classes)."""
        return self.head(self.dropout(self.features(clips)))

    def to(self, *args, **kwargs) -> SequenceClassifier:  # type: ignore[override]
        """As `nn.Module.to`, but `memory_format` only sets the activations' layout (`channels_last`)."""
        memory_format = kwargs.pop("memory_format", None)
        if memory_format is not None:
            self.channels_last = memory_format in (torch.channels_last, torch.channels_last_3d)
        return super().to(*args, **kwargs) if args or kwargs else self


class _FrameModel(SequenceClassifier):
    """A 2-D encoder applied to every frame: `encoder` maps normalised frames (N, C, H, W) to features (N, F)."""

    def __init__(self, architecture: str, normalize: nn.Module, encoder: nn.Module, target_layer_name: str,
                 head: nn.Linear, dropout: float) -> None:
        super().__init__(architecture, normalize, head, f"encoder.{target_layer_name}", dropout)
        self.encoder = encoder

    def frame_features(self, clips: torch.Tensor) -> torch.Tensor:
        """(B, T, C, H, W) in [0, 1] -> per-frame encoder features (B, T, F)."""
        self._check(clips)
        batch, frames = clips.shape[:2]
        x = self.normalize(clips).reshape(batch * frames, *clips.shape[2:])
        return self.encoder(self._layout(x, torch.channels_last)).reshape(batch, frames, -1)


class SingleFrameClassifier(_FrameModel):
    """The no-motion baseline: encoder and linear head on each frame, logits averaged over the frames given.

    Trained on one random frame per clip (T = 1) and tested on every frame, as EchoNet-Dynamic's frames=1 arm
    (Ouyang et al., "Video-based AI for beat-to-beat assessment of cardiac function", Nature 2020). The head is
    linear, so the mean of the per-frame logits equals the head on the mean of the per-frame features: `features`
    returns that mean (B, F) and `forward` the averaged logits (B, K); `frame_logits` gives them per frame (B, T, K).
    """

    def features(self, clips: torch.Tensor) -> torch.Tensor:
        return self.frame_features(clips).mean(dim=1)

    def frame_logits(self, clips: torch.Tensor) -> torch.Tensor:
        """(B, T, C, H, W) in [0, 1] -> logits of each frame on its own (B, T, num_classes)."""
        return self.head(self.dropout(self.frame_features(clips)))


class RecurrentClassifier(_FrameModel):
    """CNN+LSTM / CNN+GRU (Donahue et al., "Long-term Recurrent Convolutional Networks for Visual Recognition and
    Description", CVPR 2015): per-frame features (B, T, F) -> LSTM/GRU outputs (B, T, H') with H' = hidden_size, or
    2 x hidden_size when bidirectional -> pooled over time (B, H') -> dropout -> linear head.

    Pooling: "attention" scores each step with additive attention (Bahdanau et al., ICLR 2015:
    v^T tanh(W h_t + b)), softmax over T, and sums the steps with these weights (kept in `frame_weights`); "mean"
    averages the steps; "last" takes the final hidden state (of both directions when bidirectional).
    """

    def __init__(self, architecture: str, normalize: nn.Module, encoder: nn.Module, target_layer_name: str,
                 encoder_features: int, num_classes: int, *, hidden_size: int, bidirectional: bool, pooling: str,
                 dropout: float) -> None:
        output_size = hidden_size * (2 if bidirectional else 1)
        super().__init__(architecture, normalize, encoder, target_layer_name, nn.Linear(output_size, num_classes),
                         dropout)
        recurrent = nn.LSTM if architecture == "cnn_lstm" else nn.GRU
        self.rnn = recurrent(encoder_features, hidden_size, batch_first=True, bidirectional=bidirectional)
        self.pooling = pooling
        self.attention = (nn.Sequential(nn.Linear(output_size, output_size), nn.Tanh(),
                                        nn.Linear(output_size, 1, bias=False)) if pooling == "attention" else None)

    def sequence_outputs(self, clips: torch.Tensor) -> torch.Tensor:
        """(B, T, C, H, W) in [0, 1] -> recurrent outputs at every step (B, T, H')."""
        return self.rnn(self.frame_features(clips))[0]

    def features(self, clips: torch.Tensor) -> torch.Tensor:
        outputs, state = self.rnn(self.frame_features(clips))
        if self.pooling == "attention":
            weights = torch.softmax(self.attention(outputs).squeeze(-1), dim=1)  # (B, T)
            self.frame_weights = weights.detach().float()  # float32 also under mixed precision
            return (weights.unsqueeze(-1) * outputs).sum(dim=1)
        self.frame_weights = None
        if self.pooling == "mean":
            return outputs.mean(dim=1)
        hidden = state[0] if isinstance(state, tuple) else state  # (directions, B, hidden_size)
        return hidden.transpose(0, 1).reshape(outputs.shape[0], -1)


class VideoResNetClassifier(SequenceClassifier):
    """torchvision's video ResNets (Tran et al., "A Closer Look at Spatiotemporal Convolutions for Action
    Recognition", CVPR 2018): R3D (3-D convolutions), MC3 (3-D in the first stages, 2-D after), R(2+1)D (each 3-D
    convolution split into a spatial and a temporal one). Clips (B, T, C, H, W) are normalised, permuted to
    (B, C, T, H, W), and `backbone` (stem, layer1-4, average pooling) gives features (B, 512); `target_layer` is
    layer4, output (B, 512, T', h, w). The stem keeps time (stride 1) and halves space; layer2-4 halve both (the
    MC3 stages after the first 3-D one halve space only), with padding, so clips as small as 1 frame of 1 px work.
    """

    is_video = True

    def __init__(self, architecture: str, normalize: nn.Module, backbone: nn.Sequential, num_classes: int,
                 dropout: float) -> None:
        super().__init__(architecture, normalize, nn.Linear(512, num_classes), "backbone.layer4", dropout)
        self.backbone = backbone

    def features(self, clips: torch.Tensor) -> torch.Tensor:
        self._check(clips)
        x = self.normalize(clips).permute(0, 2, 1, 3, 4)  # (B, C, T, H, W)
        return self.backbone(self._layout(x, torch.channels_last_3d))


def kinetics_weights_file(name: str) -> str:
    """The file name torchvision caches the Kinetics-400 weights of video network `name` under (users without
    internet place it in MEDLAB_HOME/cache/torch/hub/checkpoints, as for ImageNet weights).

    Raises:
        UserError: `name` is not one of VIDEO_NETS.
    """
    key = check_name(name, VIDEO_NETS, "video network")
    return _VIDEO_NETS[key].weights.url.rsplit("/", 1)[-1]


def check_clip_size(name: str, height: int, width: int, encoder: str = "small_cnn") -> None:
    """A UserError if frames of height x width are too small for model `name` (with 2-D `encoder`)."""
    key = check_name(name, SEQUENCE_MODELS, "sequence model")
    if key in VIDEO_NETS:
        return
    encoder_key = check_name(encoder, FRAME_ENCODERS, "frame encoder")
    low = MIN_FRAME_SIZE[encoder_key]
    if min(height, width) < low:
        raise UserError(f"{key} with the {encoder_key} encoder needs frames of at least {low}x{low} pixels, got "
                        f"{height}x{width}; resize the frames or choose another model.")


def _normalization(in_channels: int, mean: float | Sequence[float] | None, std: float | Sequence[float] | None,
                   pretrained_stats: tuple[Sequence[float], Sequence[float]] | None) -> InputNormalization:
    """Fixed statistics: the given ones, else the pretrained ones (their RGB mean for 1 channel), else 0.5 / 0.25."""
    def default(stats: Sequence[float] | None, scratch: float) -> float | Sequence[float]:
        if stats is None:
            return scratch
        return sum(stats) / len(stats) if in_channels == 1 else tuple(stats)

    mean = default(pretrained_stats and pretrained_stats[0], SCRATCH_MEAN) if mean is None else mean
    std = default(pretrained_stats and pretrained_stats[1], SCRATCH_STD) if std is None else std
    return InputNormalization(mean, std, in_channels)


def _build_frame_encoder(encoder: str, in_channels: int, pretrained: bool, standardize_over: str,
                         input_mean: float | Sequence[float] | None,
                         input_std: float | Sequence[float] | None) -> tuple[nn.Module, nn.Module, str, int]:
    """(normalize, encoder, target layer name inside the encoder, feature size) for 2-D encoder `encoder`."""
    if encoder == "small_cnn":
        if pretrained:
            raise UserError("pretrained weights are not available for the small_cnn encoder; train it from scratch "
                            "or choose the resnet18 encoder.")
        classifier = build_classifier("small_cnn", in_channels, 1)
        normalize: nn.Module = ClipStandardization(in_channels, standardize_over)
    else:
        classifier = build_classifier(encoder, in_channels, 1, pretrained=pretrained, input_mean=input_mean,
                                      input_std=input_std)
        normalize = classifier.normalize
    target = classifier.target_layer_name.removeprefix("backbone.")
    return normalize, classifier.backbone, target, classifier.head.in_features


def _build_video_net(name: str, in_channels: int, num_classes: int, pretrained: bool, dropout: float,
                     input_mean: float | Sequence[float] | None,
                     input_std: float | Sequence[float] | None) -> VideoResNetClassifier:
    net = _VIDEO_NETS[name]
    model = net.build(weights=None)
    if pretrained:
        try:
            model.load_state_dict(load_cached_state_dict(net.weights.url, "Kinetics-400", name))
        except RuntimeError as exc:
            raise UserError(f"The file {kinetics_weights_file(name)} does not hold the Kinetics-400 weights of "
                            f"{name}; delete it from {imagenet_weights_folder()} and try again.") from exc
    if in_channels == 1:
        model.stem[0] = one_channel_conv(model.stem[0], pretrained)
    backbone = nn.Sequential()
    for part in ("stem", "layer1", "layer2", "layer3", "layer4", "avgpool"):
        backbone.add_module(part, getattr(model, part))
    backbone.add_module("flatten", nn.Flatten(1))
    normalize = _normalization(in_channels, input_mean, input_std,
                               (KINETICS_MEAN, KINETICS_STD) if pretrained else None)
    return VideoResNetClassifier(name, normalize, backbone, num_classes, dropout)


def build_sequence_model(name: str, in_channels: int, num_classes: int, *, encoder: str = "small_cnn",
                         hidden_size: int = 64, bidirectional: bool = False, pooling: str = "attention",
                         pretrained: bool = False, input_mean: float | Sequence[float] | None = None,
                         input_std: float | Sequence[float] | None = None, dropout: float = 0.2) -> SequenceClassifier:
    """Build sequence model `name` (SEQUENCE_MODELS) for clips in [0, 1] of shape (B, T, in_channels, H, W).

    Args:
        name: one of SEQUENCE_MODELS.
        in_channels: 1 (grey) or 3 (colour).
        num_classes: number of output logits, at least 1.
        encoder: the 2-D frame encoder of cnn_lstm, cnn_gru and single_frame (FRAME_ENCODERS); ignored by the
            video networks.
        hidden_size, bidirectional, pooling: the recurrent layer's width, direction(s) and the pooling over time
            (TEMPORAL_POOLING) of cnn_lstm/cnn_gru; ignored by the others.
        pretrained: ImageNet weights for the resnet18 encoder, Kinetics-400 weights for the video networks, from
            MEDLAB_HOME/cache/torch/hub/checkpoints, downloaded there when missing and online.
        input_mean, input_std: fixed input statistics (one value or one per channel) for the resnet18 encoder and the
            video networks; when None, ImageNet / Kinetics statistics for pretrained models (their RGB mean for 1
            channel), else 0.5 / 0.25. The small-CNN encoder ignores them and standardises each clip (each frame for
            single_frame), as core.models.SmallCNN standardises each image.
        dropout: dropout probability on the pooled features before the head, in [0, 1).

    Returns:
        a `SequenceClassifier` in training mode: logits (B, num_classes).

    Raises:
        UserError: a bad name or argument, or pretrained weights that are neither cached nor downloadable (the
            sentence names the file and the folder).
    """
    key = check_name(name, SEQUENCE_MODELS, "sequence model")
    in_channels, num_classes = check_in_channels(in_channels), check_count(num_classes, "num_classes", 1)
    encoder_key = check_name(encoder, FRAME_ENCODERS, "frame encoder")
    hidden_size = check_count(hidden_size, "hidden_size", 1)
    if not isinstance(bidirectional, bool):
        raise UserError(f"bidirectional must be true or false, got {bidirectional!r}.")
    if not isinstance(pretrained, bool):
        raise UserError(f"pretrained must be true or false, got {pretrained!r}.")
    pooling_key = str(pooling).strip().lower()
    if pooling_key not in TEMPORAL_POOLING:
        raise UserError(f"temporal pooling '{pooling}' is not known; choose one of {', '.join(TEMPORAL_POOLING)}.")
    if isinstance(dropout, bool) or not isinstance(dropout, Real) or not 0.0 <= float(dropout) < 1.0:
        raise UserError(f"dropout must be a number in [0, 1), got {dropout!r}.")
    check_channel_values(input_mean, in_channels, "input_mean")
    check_channel_values(input_std, in_channels, "input_std", positive=True)
    if key in VIDEO_NETS:
        return _build_video_net(key, in_channels, num_classes, pretrained, float(dropout), input_mean, input_std)
    normalize, trunk, target, width = _build_frame_encoder(encoder_key, in_channels, pretrained,
                                                           "frame" if key == "single_frame" else "clip",
                                                           input_mean, input_std)
    if key == "single_frame":
        return SingleFrameClassifier(key, normalize, trunk, target, nn.Linear(width, num_classes), float(dropout))
    return RecurrentClassifier(key, normalize, trunk, target, width, num_classes, hidden_size=hidden_size,
                               bidirectional=bidirectional, pooling=pooling_key, dropout=float(dropout))
