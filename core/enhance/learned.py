"""Enhancing with a trained restoration run: rebuilt from its model.json and safetensors weights, applied in
overlapping tiles so memory stays bounded for 1024x1024 images and larger."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from core.enhance.tiling import needs_tiling, process_tiled
from core.models.restoration import build_restorer, restore
from core.train.run_folder import load_trained_run

TILE = 1024  # one pass up to 1024 x 1024; larger images in tiles of this size (memory stays bounded)
OVERLAP = 32


@dataclass
class Restorer:
    run_id: str
    model: nn.Module
    scale: int
    spec: dict[str, Any]


def load_restorer(folder: Path) -> Restorer:
    """The network of the restoration run in `folder` (core.train.run_folder), rebuilt from its model.json."""
    trained = load_trained_run(folder, ("denoise", "super_resolution"),
                               "is not a restoration model, so it cannot enhance images")
    spec = trained.spec
    model = build_restorer(spec["architecture"], spec["in_channels"], spec["scale"])
    model.load_state_dict(trained.weights)
    return Restorer(trained.run_id, model.eval(), int(spec["scale"]), spec)


def restore_image(model: nn.Module, image: np.ndarray, scale: int = 1) -> np.ndarray:
    """Restore an (H, W) or (H, W, C) float image in [0, 1]. A greyscale network treats each colour channel as
    a greyscale image; a colour network gets greyscale input on all three channels."""
    channels = model.in_channels
    if image.ndim == 3 and channels == 1:
        return np.stack([restore_image(model, image[..., c], scale) for c in range(image.shape[2])], axis=-1)
    grey_in = image.ndim == 2
    work = np.repeat(image[..., None], channels, axis=2) if grey_in else image

    # a run's report restores on the device it trained on (a parameterless stand-in: the CPU)
    device = next(model.parameters(), torch.empty(0)).device

    def run(tile: np.ndarray) -> np.ndarray:
        tensor = torch.from_numpy(np.ascontiguousarray(tile, dtype=np.float32)).permute(2, 0, 1)[None].to(device)
        return restore(model, tensor)[0].permute(1, 2, 0).float().cpu().numpy()

    out = process_tiled(work, run, tile=TILE, overlap=OVERLAP, scale=scale) if needs_tiling(work.shape, TILE) else run(work)
    return out.mean(axis=2) if grey_in else out
