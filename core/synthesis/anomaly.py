"""What an autoencoder trained on one class says about the others: anomaly scores as ROC/AUC, per-pixel anomaly
heat maps, and a 2-D map of the latent space.

Reconstruction-error anomaly detection (as surveyed by Baur et al., "Autoencoders for unsupervised anomaly
segmentation in brain MR images: a comparative study", Medical Image Analysis 2021): a model that has only seen
`normal` images reconstructs them well and anything else worse, so the error ranks images (ROC/AUC against the
true labels) and, per pixel and lightly smoothed with a Gaussian, shows where an image departs from "normal".

Functions take arrays and samplers, never run ids: the pages and the command line load the runs.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

ROC_POINTS = 200      # at most this many points per stored ROC curve


def anomaly_roc(scores: np.ndarray, labels: np.ndarray, normal: int, classes: list[str]) -> dict[str, Any]:
    """How well `scores` (higher = more anomalous) separate the other classes from class `normal`.

    Args:
        scores: (N,) anomaly score per image, e.g. reconstruction error.
        labels: (N,) class index per image (-1 unlabelled: left out).
        normal: the index of the class the model was trained on.
        classes: the class names.

    Returns:
        {"normal_class", "auc" (all other classes against the normal one; NaN when either side is empty),
        "per_class": {class: AUC of that class against the normal one, or NaN}, "counts": {class: images},
        "roc": {"fpr", "tpr"} (at most ROC_POINTS points), "per_class_roc": {class: {"fpr", "tpr"}}}.
    """
    from sklearn.metrics import roc_auc_score, roc_curve

    scores, labels = np.asarray(scores, np.float64), np.asarray(labels)
    known = labels >= 0
    scores, labels = scores[known], labels[known]
    is_normal = labels == normal

    def curve(mask: np.ndarray) -> tuple[float, dict[str, list[float]]]:
        chosen = is_normal | mask
        truth = mask[chosen]
        if truth.all() or not truth.any():
            return math.nan, {"fpr": [], "tpr": []}
        fpr, tpr, _ = roc_curve(truth, scores[chosen])
        keep = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), ROC_POINTS)).round().astype(int))
        return float(roc_auc_score(truth, scores[chosen])), {"fpr": fpr[keep].tolist(), "tpr": tpr[keep].tolist()}

    auc, roc = curve(~is_normal)
    per_class, per_class_roc = {}, {}
    for index, name in enumerate(classes):
        if index != normal:
            per_class[name], per_class_roc[name] = curve(labels == index)
    return {"normal_class": classes[normal], "auc": auc, "per_class": per_class,
            "counts": {name: int((labels == index).sum()) for index, name in enumerate(classes)},
            "roc": roc, "per_class_roc": per_class_roc}


def error_maps(images: np.ndarray, reconstructions: np.ndarray) -> np.ndarray:
    """Per-pixel anomaly heat maps (N, H, W) from images and their reconstructions (N, H, W, C) in [0, 1]: the
    model's own definition (core.models.autoencoder.anomaly_maps: smoothed absolute residual), so the report's
    maps, an upload's map and the scores that rank them agree. Units: intensity error in [0, 1]."""
    import torch

    from core.models.autoencoder import anomaly_maps as model_maps

    if not len(images):
        return np.zeros(np.shape(images)[:3], np.float32)
    to_tensor = lambda array: torch.as_tensor(np.asarray(array, np.float32)).permute(0, 3, 1, 2)  # noqa: E731
    return model_maps(to_tensor(images), to_tensor(reconstructions)).numpy()


def anomaly_maps(sampler: Any, images: torch.Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Heat maps, reconstructions and anomaly scores of images from an autoencoder (core.models.autoencoder.
    AutoencoderSampler.anomaly), scored exactly as the run's report scores its test images.

    Args:
        sampler: anything with `anomaly(images (N, C, H, W) in [0, 1]) -> (maps (N, H, W), scores (N,),
            reconstructions (N, C, H, W))`.
        images: (N, C, H, W) in [0, 1].

    Returns:
        (heat maps (N, H, W), reconstructions (N, H, W, C), scores (N,): the mean of the most anomalous share of
        the map, core.models.autoencoder.anomaly_scores), all numpy.
    """
    import torch

    maps, scores, rebuilt = sampler.anomaly(torch.as_tensor(images, dtype=torch.float32))
    return (maps.detach().float().cpu().numpy(), rebuilt.detach().float().cpu().permute(0, 2, 3, 1).numpy(),
            scores.detach().float().cpu().numpy())


def latent_map(latents: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """A 2-D map (N, 2) of latent vectors (N, D) with scikit-learn: "pca" (linear, keeps global distances) or
    "tsne" (van der Maaten & Hinton 2008; keeps neighbourhoods, perplexity min(30, (N - 1) / 3)); seeded.
    Fewer than 3 points, or 1-D latents, are placed without fitting."""
    latents = np.asarray(latents, np.float64)
    latents = latents.reshape(len(latents), int(np.prod(latents.shape[1:], dtype=int)))
    if method not in ("pca", "tsne"):
        raise ValueError(f"method must be 'pca' or 'tsne', not {method!r}")
    n = len(latents)
    if n < 3 or latents.shape[1] < 2:
        out = np.zeros((n, 2))
        if n:
            out[:, : min(2, latents.shape[1])] = latents[:, :2] - latents[:, :2].mean(0)
        return out
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(latents)
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits  # (core.synthesis.quality.one_thread says why)

    perplexity = float(min(30.0, (n - 1) / 3))
    # one OpenMP thread: on a busy 2-core server the spinning threads of Barnes-Hut t-SNE made 500 points take
    # 40 s instead of 2 s (measured)
    with threadpool_limits(1):
        return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(latents)
