"""Overlap-tile processing: same result as untiled for local filters and upscalers, bounded memory."""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter, median_filter

from core.enhance.classical import apply_classical, run_classical
from core.enhance.tiling import needs_tiling, process_tiled
from core.errors import UserError


def _random(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random(shape).astype(np.float32)


def test_needs_tiling() -> None:
    assert needs_tiling((1024, 1024), 256)
    assert needs_tiling((256, 257, 3), 256)
    assert not needs_tiling((256, 256), 256)
    assert not needs_tiling((100, 30, 3), 256)


@pytest.mark.parametrize("shape", [(200, 170), (129, 300, 3)])
@pytest.mark.parametrize("name", ["gaussian", "median"])
def test_local_filters_match_untiled(name: str, shape: tuple[int, ...]) -> None:
    """A filter reaching at most `overlap` pixels gives its untiled result, image borders included (both mirror)."""
    spatial = (slice(None),) * 2
    if name == "gaussian":  # sigma 1.5, truncated at 4 sigma: reaches 6 pixels
        def fn(a: np.ndarray) -> np.ndarray:
            return gaussian_filter(a, sigma=(1.5, 1.5, 0)[: a.ndim], mode="reflect")
    else:
        def fn(a: np.ndarray) -> np.ndarray:
            return median_filter(a, size=(5, 5, 1)[: a.ndim], mode="reflect")
    image = _random(shape)
    tiled = process_tiled(image, fn, tile=64, overlap=16)
    assert tiled.shape == image.shape and tiled.dtype == image.dtype
    np.testing.assert_allclose(tiled[spatial], fn(image)[spatial], atol=1e-5)


@pytest.mark.parametrize("method", ["bicubic", "lanczos"])
def test_scale_two_upscaler_matches_untiled_away_from_the_border(method: str) -> None:
    image = gaussian_filter(_random((150, 130)), 1.0)
    def fn(a: np.ndarray) -> np.ndarray:
        return apply_classical(method, a, scale=2)
    tiled = process_tiled(image, fn, tile=64, overlap=16, scale=2)
    whole = fn(image)
    assert tiled.shape == (300, 260) == whole.shape
    inner = (slice(8, -8), slice(8, -8))  # Pillow clamps at the image edge, the tiles see mirrored pixels there
    np.testing.assert_allclose(tiled[inner], whole[inner], atol=1e-4)


def test_stitching_with_scale_is_exact_for_odd_sizes() -> None:
    image = _random((97, 203, 3))
    def nearest(a: np.ndarray) -> np.ndarray:
        return np.repeat(np.repeat(a, 4, axis=0), 4, axis=1)
    np.testing.assert_array_equal(process_tiled(image, nearest, tile=40, overlap=8, scale=4), nearest(image))
    np.testing.assert_array_equal(process_tiled(image, lambda a: a, tile=40, overlap=0), image)


def test_run_classical_tiles_large_images_seamlessly() -> None:
    image = _random((300, 280))
    tiled = run_classical("median", image, {"size": 5}, tile=128)
    whole = run_classical("median", image, {"size": 5}, tile=None)
    np.testing.assert_array_equal(tiled.image, whole.image)
    estimated = run_classical("nl_means", image, tile=128)  # the noise estimate is made once, on the whole image
    assert estimated.estimated_sigma == pytest.approx(run_classical("nl_means", image, tile=None).estimated_sigma)


def _peak_bytes(run) -> int:  # noqa: ANN001 - a zero-argument callable
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_1024_image_with_256_tiles_has_bounded_memory() -> None:
    """A filter that needs 9 float64 copies of its input: untiled that is 72 bytes per pixel of the whole image."""
    def hungry(a: np.ndarray) -> np.ndarray:
        wide = a.astype(np.float64)
        shifted = np.stack([np.roll(wide, (dy, dx), axis=(0, 1)) for dy in (-1, 0, 1) for dx in (-1, 0, 1)])
        return np.median(shifted, axis=0).astype(np.float32)
    image = _random((1024, 1024))
    result: dict[str, np.ndarray] = {}
    untiled = _peak_bytes(lambda: result.setdefault("whole", hungry(image)))
    tiled = _peak_bytes(lambda: result.setdefault("tiled", process_tiled(image, hungry, tile=256, overlap=16)))
    assert result["tiled"].shape == (1024, 1024)
    np.testing.assert_array_equal(result["tiled"][16:-16, 16:-16], result["whole"][16:-16, 16:-16])
    assert tiled < untiled / 4, f"tiled peak {tiled / 2**20:.1f} MiB vs untiled {untiled / 2**20:.1f} MiB"
    one_tile = _peak_bytes(lambda: hungry(image[:256, :256]))
    assert tiled < image.nbytes + 1.5 * one_tile  # the output plus about one tile's working set


def test_bad_arguments() -> None:
    with pytest.raises(UserError, match="twice the overlap"):
        process_tiled(_random((64, 64)), lambda a: a, tile=32, overlap=16)
    with pytest.raises(UserError, match="2-D"):
        process_tiled(np.zeros(10), lambda a: a)
    with pytest.raises(UserError, match="empty"):
        process_tiled(np.zeros((0, 5)), lambda a: a)
    with pytest.raises(ValueError, match="fn returned"):
        process_tiled(_random((64, 64)), lambda a: a[:10], tile=32, overlap=8)
