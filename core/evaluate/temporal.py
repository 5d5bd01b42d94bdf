"""Which frames mattered to a sequence model's prediction, and where in the most important one.

    frame_importance   temporal occlusion (Zeiler & Fergus 2014, over time): the drop in the class probability when
                       frame t is replaced by the mean of its neighbours; attention weights are shown beside it
                       when the model has them
    frame_gradcam      Grad-CAM (Selvaraju et al. 2017) on one frame of the clip, through the model's target layer
"""
from __future__ import annotations

import numpy as np
import torch

from core.models.sequence_nets import SequenceClassifier


def frame_importance(model: SequenceClassifier, clip: torch.Tensor, class_index: int) -> np.ndarray:
    """clip (1, T, C, H, W) in [0, 1] -> (T,) float: probability of `class_index` lost when each frame is occluded
    (negative: the frame argued against the class)."""
    raise NotImplementedError


def frame_gradcam(model: SequenceClassifier, clip: torch.Tensor, class_index: int, frame: int) -> np.ndarray:
    """clip (1, T, C, H, W) -> Grad-CAM heat map (H, W) in [0, 1] of frame `frame` for `class_index`."""
    raise NotImplementedError
