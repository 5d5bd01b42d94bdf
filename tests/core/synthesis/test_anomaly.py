"""Anomaly ROC/AUC from scores, heat maps from reconstruction error, and 2-D latent maps."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from core.models.autoencoder import AutoencoderSampler, anomaly_scores
from core.synthesis.anomaly import ROC_POINTS, anomaly_maps, anomaly_roc, error_maps, latent_map

CLASSES = ["normal", "nodule", "effusion"]


def test_separable_scores_give_auc_one_per_class_and_overall():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 50)
    scores = np.where(labels == 0, rng.uniform(0, 1, 150), rng.uniform(2, 3, 150))
    result = anomaly_roc(scores, labels, normal=0, classes=CLASSES)
    assert result["normal_class"] == "normal" and result["auc"] == 1.0
    assert result["per_class"] == {"nodule": 1.0, "effusion": 1.0}
    assert result["counts"] == {"normal": 50, "nodule": 50, "effusion": 50}
    assert result["roc"]["tpr"][-1] == 1.0 and len(result["roc"]["fpr"]) <= ROC_POINTS
    reversed_ = anomaly_roc(-scores, labels, normal=0, classes=CLASSES)
    assert reversed_["auc"] == 0.0


def test_mixed_scores_unlabelled_images_and_missing_classes():
    labels = np.array([0, 0, 1, 1, -1, -1])
    scores = np.array([0.1, 0.6, 0.5, 0.9, 100.0, 100.0])  # unlabelled images are left out
    result = anomaly_roc(scores, labels, normal=0, classes=CLASSES)
    assert result["auc"] == pytest.approx(0.75)
    assert math.isnan(result["per_class"]["effusion"]) and result["per_class_roc"]["effusion"]["fpr"] == []
    only_normal = anomaly_roc(np.array([0.1, 0.2]), np.array([0, 0]), normal=0, classes=CLASSES)
    assert math.isnan(only_normal["auc"])


def _with_lesion(size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    normal = np.full((1, size, size, 1), 0.2, np.float32)
    lesion = normal.copy()
    lesion[0, 20:24, 6:10] = 0.9
    return normal, lesion


def test_error_maps_peak_where_the_image_departs_from_its_reconstruction():
    normal, lesion = _with_lesion()
    heat = error_maps(lesion, normal)
    assert heat.shape == (1, 32, 32)
    row, column = np.unravel_index(heat[0].argmax(), heat[0].shape)
    assert 20 <= row < 24 and 6 <= column < 10
    assert heat[0, 0, 0] < 1e-3 and 0 < heat.max() <= 0.7  # smoothed, so below the raw 0.7 error
    assert error_maps(normal, normal).max() == 0


class NormalOnly(AutoencoderSampler):
    """A stand-in autoencoder that has only learned the normal image: it reconstructs everything as it (its
    `anomaly` is the real AutoencoderSampler's, so maps and scores are computed as the report computes them)."""

    size, channels = 32, 1

    def __init__(self) -> None:
        pass

    def _batches(self, images: torch.Tensor):
        yield images

    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        return torch.full_like(images, 0.2)


def test_anomaly_maps_from_an_autoencoders_reconstructions():
    normal, lesion = _with_lesion()
    images = torch.from_numpy(np.concatenate([normal, lesion])).permute(0, 3, 1, 2)
    heat, rebuilt, scores = anomaly_maps(NormalOnly(), images)
    assert heat.shape == (2, 32, 32) and rebuilt.shape == (2, 32, 32, 1)
    assert scores[1] > scores[0] == pytest.approx(0.0)
    assert heat[1].max() > 10 * heat[0].max() + 1e-6
    # the score an upload gets is the report's score for a test image (one definition, in the model's module)
    reference = anomaly_scores(images, torch.full_like(images, 0.2)).numpy()
    np.testing.assert_allclose(scores, reference)
    np.testing.assert_allclose(heat, error_maps(images.permute(0, 2, 3, 1).numpy(), rebuilt))


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_latent_map_keeps_clusters_apart_and_is_seeded(method):
    rng = np.random.default_rng(0)
    latents = np.concatenate([rng.normal(0, 1, (20, 8)), rng.normal(8, 1, (20, 8))])
    points = latent_map(latents, method, seed=3)
    assert points.shape == (40, 2)
    np.testing.assert_allclose(points, latent_map(latents, method, seed=3))
    a, b = points[:20].mean(0), points[20:].mean(0)
    spread = max(points[:20].std(0).max(), points[20:].std(0).max())
    assert np.linalg.norm(a - b) > 3 * spread


def test_latent_map_of_few_points_and_bad_method():
    assert latent_map(np.ones((2, 4)), "tsne").shape == (2, 2)
    assert latent_map(np.zeros((0, 4))).shape == (0, 2)
    with pytest.raises(ValueError):
        latent_map(np.ones((5, 4)), "umap")
