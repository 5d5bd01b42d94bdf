"""Turning stored or computed images into something st.image shows crisply."""
from __future__ import annotations

import numpy as np


def display_image(image: np.ndarray, min_pixels: int = 112) -> np.ndarray:
    """uint8 (H, W) or (H, W, 3) from a stored uint8/uint16 image or a float image in [0, 1] (H, W[, 1 | 3]),
    enlarged by pixel repetition to at least `min_pixels` so small images are not blurred by the browser."""
    if image.dtype == np.uint16:
        pixels = (image >> 8).astype(np.uint8)
    elif image.dtype == np.uint8:
        pixels = image
    else:
        pixels = (np.clip(image, 0, 1) * 255).round().astype(np.uint8)
    if pixels.ndim == 3 and pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    factor = max(1, min_pixels // pixels.shape[0])
    return pixels.repeat(factor, axis=0).repeat(factor, axis=1)
