"""Which frames mattered to a sequence model's prediction, and where in the most important one.

    frame_importance   temporal occlusion (Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks",
                       ECCV 2014, applied over time): the drop in the class probability when frame t is replaced by
                       the mean of its neighbours (so the clip stays smooth and only that frame's own content goes)
    attention_weights  the model's attention over time (cnn_lstm/cnn_gru with attention pooling), shown beside it
    gradcam_grid       the target layer's spatial size: how coarse the Grad-CAM map is before upsampling
    frame_gradcam      Grad-CAM (Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via
                       Gradient-based Localization", ICCV 2017) on one frame of the clip, through the model's
                       target layer: per-frame 2-D encoders give (B*T, C', h, w), so the frame's own map is taken;
                       video networks give (B, C', T', h, w), so the gradients and activations at the temporal
                       position nearest the frame are used

Clips are (1, T, C, H, W) float tensors in [0, 1], as at every sequence interface. Grad-CAM uses hooks rather than
the grad-cam package: that package reads a 5-D input as a 3-D volume and expects one activation map per input.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from core.models.sequence_nets import SequenceClassifier

OCCLUSION_BUDGET = 2 ** 25   # float elements per forward of occluded clips (128 MB); tiny clips: all T in one forward


def occluded_clips(clip: torch.Tensor, frames: list[int]) -> torch.Tensor:
    """(1, T, C, H, W) -> (len(frames), T, C, H, W): copy i has frame frames[i] replaced by the mean of its
    neighbours (the one neighbour at either end)."""
    count = clip.shape[1]
    batch = clip.repeat(len(frames), 1, 1, 1, 1)
    for row, t in enumerate(frames):
        neighbours = [n for n in (t - 1, t + 1) if 0 <= n < count]
        batch[row, t] = clip[0, neighbours].mean(dim=0)
    return batch


def class_probabilities(model: SequenceClassifier, clips: torch.Tensor, class_index: int,
                        temperature: float = 1.0) -> torch.Tensor:
    """(B, T, C, H, W) -> (B,) softmax probability of `class_index` (logits divided by `temperature`)."""
    return torch.softmax(model(clips) / temperature, dim=1)[:, class_index]


def frame_importance(model: SequenceClassifier, clip: torch.Tensor, class_index: int,
                     temperature: float = 1.0) -> np.ndarray:
    """clip (1, T, C, H, W) in [0, 1] -> (T,) float: probability of `class_index` lost when each frame is occluded
    (negative: the frame argued against the class). All T occluded clips go through the model in one forward
    while they fit OCCLUSION_BUDGET, else in as few as fit. A one-frame clip has nothing to occlude it with: (0,)."""
    model.eval()
    count = clip.shape[1]
    if count < 2:
        return np.zeros(count, dtype=np.float32)
    per_clip = max(1, clip[0].numel())
    chunk = max(1, OCCLUSION_BUDGET // per_clip)
    with torch.no_grad():
        base = class_probabilities(model, clip, class_index, temperature)[0]
        dropped = [class_probabilities(model, occluded_clips(clip, list(range(start, min(count, start + chunk)))),
                                       class_index, temperature)
                   for start in range(0, count, chunk)]
    return (base - torch.cat(dropped)).numpy().astype(np.float32)


def attention_weights(model: SequenceClassifier, clip: torch.Tensor) -> np.ndarray | None:
    """The model's attention over the T frames of `clip` (1, T, C, H, W), (T,) summing to 1, or None when the
    model pools without attention."""
    model.eval()
    with torch.no_grad():
        model(clip)
    weights = getattr(model, "frame_weights", None)
    return None if weights is None else weights[0].detach().float().cpu().numpy()


def gradcam_grid(model: SequenceClassifier, clip: torch.Tensor) -> tuple[int, int]:
    """(h, w) of the target layer's map for `clip` (1, T, C, H, W): the resolution of Grad-CAM before upsampling
    (a small CNN on 16 px frames ends at 1 x 1, where a map cannot localise anything)."""
    model.eval()
    shapes: list[tuple[int, ...]] = []
    handle = model.target_layer.register_forward_hook(lambda module, args, output: shapes.append(tuple(output.shape)))
    try:
        with torch.no_grad():
            model(clip)
    finally:
        handle.remove()
    return int(shapes[0][-2]), int(shapes[0][-1])


def frame_gradcam(model: SequenceClassifier, clip: torch.Tensor, class_index: int, frame: int) -> np.ndarray:
    """clip (1, T, C, H, W) -> Grad-CAM heat map (H, W) in [0, 1] of frame `frame` for `class_index`: the target
    layer's activations of that frame weighted by the spatial mean of the class score's gradient, ReLU, bilinear
    upsampling, scaled by its maximum (all zeros where nothing supports the class). ValueError for a frame outside
    the clip or a target layer of neither shape."""
    count, height, width = clip.shape[1], clip.shape[-2], clip.shape[-1]
    if not 0 <= frame < count:
        raise ValueError(f"frame {frame} is outside the clip's {count} frames")
    model.eval()
    outputs: list[torch.Tensor] = []
    handle = model.target_layer.register_forward_hook(lambda module, args, output: outputs.append(output))
    try:
        # cuDNN's recurrent layers refuse a backward pass in eval mode: the plain CUDA kernels take it
        with torch.enable_grad(), torch.backends.cudnn.flags(enabled=False):
            # a frozen encoder has no gradients of its own: ask for the input's, so they reach the target layer
            logits = model(clip.detach().clone().requires_grad_(True))
            gradients = torch.autograd.grad(logits[0, class_index], outputs)
    finally:
        handle.remove()
    activation, gradient = _frame_maps(torch.cat(outputs), torch.cat(gradients), frame, count)
    weights = gradient.mean(dim=(1, 2))                                   # (C',)
    cam = F.relu((weights[:, None, None] * activation).sum(dim=0))        # (h, w)
    cam = F.interpolate(cam[None, None], size=(height, width), mode="bilinear", align_corners=False)[0, 0]
    cam = cam - cam.min()
    top = float(cam.max())
    cam = cam / top if top > 1e-12 else torch.zeros_like(cam)
    return np.nan_to_num(cam.detach().numpy()).astype(np.float32)


def _frame_maps(activation: torch.Tensor, gradient: torch.Tensor, frame: int, count: int
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """(C', h, w) activations and gradients of `frame` out of a per-frame (T, C', h, w) or a video
    (1, C', T', h, w) target layer output (batch of one clip)."""
    if activation.dim() == 4 and activation.shape[0] == count:
        return activation[frame].detach(), gradient[frame]
    if activation.dim() == 5:
        positions = activation.shape[2]
        # frame centres at (t + 0.5) / T of the clip's duration; the nearest temporal cell of T' positions
        position = min(positions - 1, max(0, int(np.floor((frame + 0.5) * positions / count))))
        return activation[0, :, position].detach(), gradient[0, :, position]
    raise ValueError(f"Grad-CAM needs a target layer output of (T, C, h, w) or (1, C, T', h, w), got "
                     f"{tuple(activation.shape)}")
