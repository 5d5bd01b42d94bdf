"""Overlap-tile processing: run a filter or model on fixed-size tiles so memory stays bounded on large images.

Each tile is `tile` x `tile` pixels: a core of `tile - 2 * overlap` pixels plus an `overlap` margin on every
side, and only the core of each result is kept (the overlap-tile strategy of Ronneberger et al. 2015, U-Net).
Margins beyond the image are filled by half-sample reflection (scipy's "reflect", numpy's "symmetric"), so a
local filter whose reach is at most `overlap` pixels gives exactly its untiled result. Tiles are gathered
with index arrays, so no padded copy of the whole image is ever made; only the output is full size.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from core.errors import UserError


def needs_tiling(shape: tuple[int, ...], tile: int) -> bool:
    """True when an image of `shape` ((H, W) or (H, W, C)) is larger than one tile in either direction."""
    return int(shape[0]) > tile or int(shape[1]) > tile


def _reflect(start: int, length: int, size: int) -> np.ndarray:
    """Indices start .. start+length-1 folded into 0..size-1 by half-sample reflection (repeats if needed)."""
    idx = np.arange(start, start + length) % (2 * size)
    return np.where(idx < size, idx, 2 * size - 1 - idx)


def process_tiled(
    image: np.ndarray,
    fn: Callable[[np.ndarray], np.ndarray],
    tile: int = 256,
    overlap: int = 32,
    scale: int = 1,
) -> np.ndarray:
    """Apply `fn` tile by tile and stitch the tile centres; the output is `scale` times the input size.

    Args:
        image: (H, W) or (H, W, C) array.
        fn: maps a (tile, tile[, C]) array to a (scale*tile, scale*tile[, C']) array.
        tile: tile side in input pixels, including the overlap margins (must exceed 2 * overlap).
        overlap: margin on each side of a tile's core whose result is discarded.
        scale: the upscaling factor `fn` applies (1 for filters).

    Returns:
        The stitched result, (scale*H, scale*W[, C']), in the dtype `fn` returns.
    """
    image = np.asarray(image)
    if image.ndim not in (2, 3):
        raise UserError(f"Tiling needs a 2-D greyscale or colour image, not an array of shape {image.shape}.")
    if tile <= 0 or overlap < 0 or scale < 1:
        raise UserError(f"Tile size ({tile}), overlap ({overlap}) and scale ({scale}) must be positive.")
    core = tile - 2 * overlap
    if core <= 0:
        raise UserError(f"The tile ({tile} pixels) must be larger than twice the overlap ({overlap} pixels).")
    height, width = image.shape[:2]
    if height == 0 or width == 0:
        raise UserError("The image is empty: it has no pixels to process.")
    out: np.ndarray | None = None
    for y0 in range(0, height, core):
        rows = _reflect(y0 - overlap, tile, height)
        for x0 in range(0, width, core):
            cols = _reflect(x0 - overlap, tile, width)
            result = np.asarray(fn(image[np.ix_(rows, cols)]))
            if result.shape[:2] != (tile * scale, tile * scale):
                raise ValueError(f"fn returned {result.shape[:2]} for a {tile}x{tile} tile at scale {scale}")
            if out is None:
                out = np.empty((height * scale, width * scale) + result.shape[2:], dtype=result.dtype)
            keep_h, keep_w = min(core, height - y0) * scale, min(core, width - x0) * scale
            m = overlap * scale
            out[y0 * scale:y0 * scale + keep_h, x0 * scale:x0 * scale + keep_w] = result[m:m + keep_h, m:m + keep_w]
    assert out is not None  # the image has at least one pixel, so at least one tile ran
    return out
