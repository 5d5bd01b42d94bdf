from __future__ import annotations

import numpy as np
import pytest
import skimage.data

from core.enhance.compare import (NO_METHOD, classical_baselines, compare, comparison_degradation, degraded_pairs,
                                  quality)
from core.enhance.degrade import Degradation
from core.errors import UserError


def _images(count: int = 2, size: int = 33) -> list[np.ndarray]:
    camera = skimage.data.camera().astype(np.float32) / 255
    return [camera[i * 64: i * 64 + size, 100: 100 + size] for i in range(count)]


# (degradation, degraded shape, clean shape) for a 33 x 33 image
TEST_CASES_PAIRS = [
    (Degradation("gaussian", 0.1), (33, 33), (33, 33)),
    (Degradation("gaussian", 0.0, scale=2), (16, 16), (32, 32)),
    (Degradation("blur", 0.0, 1.5, scale=4), (8, 8), (32, 32)),
]


@pytest.mark.parametrize("degradation,degraded_shape,clean_shape", TEST_CASES_PAIRS)
def test_degraded_pairs_match_in_shape_and_are_seeded(degradation, degraded_shape, clean_shape):
    degraded, clean = degraded_pairs(_images(), degradation)
    assert [d.shape for d in degraded] == [degraded_shape] * 2 and [c.shape for c in clean] == [clean_shape] * 2
    again, _ = degraded_pairs(_images(), degradation)
    assert all(np.array_equal(a, b) for a, b in zip(degraded, again))  # the same images every time


def test_rows_are_scored_against_the_clean_images_best_first():
    images = _images(3)
    degradation = Degradation("gaussian", 0.1)
    result = compare(images, degradation, classical_baselines(degradation), "three crops")
    rows = {row["method"]: row for row in result.rows}
    assert set(rows) == {NO_METHOD, "Non-local means", "Total variation", "Bilateral filter", "Median filter"}
    degraded, clean = degraded_pairs(images, degradation)
    expected = np.mean([quality(d, c)[0] for d, c in zip(degraded, clean)])
    assert rows[NO_METHOD]["psnr"] == pytest.approx(expected)
    assert [row["psnr"] for row in result.rows] == sorted((row["psnr"] for row in result.rows), reverse=True)
    assert rows["Non-local means"]["psnr"] > rows[NO_METHOD]["psnr"] + 3
    assert (result.n_images, result.degradation, result.source) == (3, "Gaussian noise σ=0.1", "three crops")


def test_super_resolution_compares_upscalers_including_bicubic():
    assert set(classical_baselines(Degradation("gaussian", 0.0, scale=2))) == {"Bicubic", "Lanczos"}
    assert "BM3D" in classical_baselines(Degradation("gaussian", 0.1), with_bm3d=True)
    assert "BM3D" not in classical_baselines(Degradation("gaussian", 0.1))


def test_bad_comparisons_are_one_sentence():
    assert comparison_degradation("poisson", 0.0).sigma == 0.01  # Poisson noise needs a level above 0
    with pytest.raises(UserError, match="gaussian, poisson, blur"):
        comparison_degradation("speckle")
    with pytest.raises(UserError, match="scale"):
        comparison_degradation("gaussian", 0.1, scale=3)
    with pytest.raises(UserError, match="no images"):
        compare([], Degradation(), {})
