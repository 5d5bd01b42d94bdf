"""Why did the model predict this? Class activation maps from the `grad-cam` package (pytorch-grad-cam).

Grad-CAM: Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via Gradient-based
Localization", ICCV 2017. Grad-CAM++: Chattopadhay et al., WACV 2018. Both weight the feature maps of the
model's last convolutional stage (`Classifier.target_layer`) by the gradient of the chosen class score.
"""
from __future__ import annotations

import numpy as np
import torch
from matplotlib import colormaps
from pytorch_grad_cam import GradCAM, GradCAMPlusPlus
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

from core.errors import UserError
from core.models import Classifier

EXPLAINERS = {"gradcam": ("Grad-CAM", GradCAM), "gradcam++": ("Grad-CAM++", GradCAMPlusPlus)}


def class_activation_map(model: Classifier, image: torch.Tensor, class_index: int, method: str = "gradcam"
                         ) -> np.ndarray:
    """A heat map (H, W) in [0, 1] of where `image` (1, C, H, W in [0, 1]) supports class `class_index`."""
    if method not in EXPLAINERS:
        raise UserError(f"Unknown explanation method '{method}'; choose one of {', '.join(EXPLAINERS)}.")
    model.eval()
    _, explainer = EXPLAINERS[method]
    with explainer(model=model, target_layers=[model.target_layer]) as cam:
        # a frozen backbone has no gradients of its own: ask for the input's, so they reach the target layer
        heat = cam(input_tensor=image.detach().clone().requires_grad_(True),
                   targets=[ClassifierOutputTarget(int(class_index))])
    return np.nan_to_num(heat[0]).astype(np.float32)


def overlay(image: np.ndarray, heat: np.ndarray, opacity: float = 0.45) -> np.ndarray:
    """The heat map in the 'jet' colour map blended over an (H, W) or (H, W, 1 | 3) image in [0, 1]; uint8 RGB."""
    grey = image[..., 0] if image.ndim == 3 and image.shape[2] == 1 else image
    base = np.repeat(grey[..., None], 3, axis=2) if grey.ndim == 2 else grey
    if heat.shape != base.shape[:2]:
        heat = _resize(heat, base.shape[:2])
    colours = colormaps["jet"](np.clip(heat, 0, 1))[..., :3]
    blended = (1 - opacity) * base + opacity * colours
    return (np.clip(blended, 0, 1) * 255).round().astype(np.uint8)


def _resize(heat: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    tensor = torch.from_numpy(heat)[None, None]
    return torch.nn.functional.interpolate(tensor, size=shape, mode="bilinear", align_corners=False)[0, 0].numpy()
