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
in [0, 1].
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

SEQUENCE_MODELS = ("cnn_lstm", "cnn_gru", "single_frame", "r2plus1d_18", "mc3_18", "r3d_18")
VIDEO_NETS = ("r2plus1d_18", "mc3_18", "r3d_18")
FRAME_ENCODERS = ("small_cnn", "resnet18")
TEMPORAL_POOLING = ("attention", "mean", "last")
SEQUENCE_MODEL_INFO: dict[str, str] = {}  # name -> one sentence for the Train form (size, speed, when to use)


class SequenceClassifier(nn.Module):
    """What every sequence model offers the task, evaluation and prediction.

    Members:
        in_channels, num_classes: ints.
        head: the final nn.Linear (features -> logits).
        target_layer: the module whose output Grad-CAM weighs: (B*T, C', h, w) for per-frame encoders, (B, C', T', h, w)
            for video networks.
        frame_weights: the attention weights over time of the last forward, (B, T), or None.
    """

    def features(self, clips: torch.Tensor) -> torch.Tensor:
        """(B, T, C, H, W) in [0, 1] -> pooled clip features (B, F): what the head sees (used for OOD checks)."""
        raise NotImplementedError

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        """(B, T, C, H, W) in [0, 1] -> logits (B, num_classes)."""
        return self.head(self.features(clips))


def kinetics_weights_file(name: str) -> str:
    """The file name torchvision caches the Kinetics-400 weights of video network `name` under (users without
    internet place it in MEDLAB_HOME/cache/torch/hub/checkpoints, as for ImageNet weights)."""
    raise NotImplementedError


def build_sequence_model(name: str, in_channels: int, num_classes: int, *, encoder: str = "small_cnn",
                         hidden_size: int = 64, bidirectional: bool = False, pooling: str = "attention",
                         pretrained: bool = False, input_mean: float | Sequence[float] | None = None,
                         input_std: float | Sequence[float] | None = None) -> SequenceClassifier:
    """Build sequence model `name` (SEQUENCE_MODELS). `encoder`, `hidden_size`, `bidirectional` and `pooling` apply
    to cnn_lstm/cnn_gru (encoder also to single_frame); `pretrained` loads ImageNet (2-D encoders) or Kinetics-400
    (video networks) weights from the cache, else downloads them; offline without the file: UserError with one
    sentence naming the file and folder. Raises UserError for a bad name or argument."""
    raise NotImplementedError
