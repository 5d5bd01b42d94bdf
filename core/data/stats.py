"""Summaries of a stored dataset for the Dataset page: class balance, intensity and original size."""
from __future__ import annotations

import numpy as np

from core.data.store import Dataset

IMBALANCE_WARNING_RATIO = 1.5


def imbalance_ratio(class_counts: dict[str, int]) -> float | None:
    """Largest over smallest class count (inf when a class is missing); None without at least two classes."""
    counts = list(class_counts.values())
    if len(counts) < 2:
        return None
    return max(counts) / min(counts) if min(counts) > 0 else float("inf")


def imbalance_advice(class_counts: dict[str, int]) -> str | None:
    """A warning sentence when the training classes present are imbalanced enough to matter, else None. Classes
    with no training images are left out here (the import warns about them; a synthetic dataset of one class
    has none of the others), so the ratio is never infinite."""
    class_counts = {name: count for name, count in class_counts.items() if count > 0}
    ratio = imbalance_ratio(class_counts)
    if ratio is None or ratio < IMBALANCE_WARNING_RATIO:
        return None
    smallest = min(class_counts, key=class_counts.get)
    largest = max(class_counts, key=class_counts.get)
    return (f"The training classes are imbalanced: '{largest}' has {ratio:.1f}× as many images as '{smallest}'. "
            "A model can then score well by favouring the large class; the Train page offers a class-weighted "
            "loss or a weighted sampler to compensate, and the Evaluate page reports balanced accuracy.")


def intensity_histogram(dataset: Dataset, bins: int = 64, max_images: int = 400, seed: int = 0
                        ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Pixel-intensity histograms (fraction of pixels per bin, values in [0, 1]) per class, from a random
    sample of at most `max_images` images. Returns (bin_edges, {class name or "all": fractions})."""
    rng = np.random.default_rng(seed)
    count = dataset.info.num_images
    chosen = np.sort(rng.choice(count, size=min(count, max_images), replace=False))
    pixels = dataset.unit_images(chosen)
    edges = np.linspace(0, 1, bins + 1)
    groups: dict[str, np.ndarray] = {"all": chosen}
    if dataset.info.task == "classification":
        labels = dataset.labels[chosen]
        groups = {name: chosen[labels == i] for i, name in enumerate(dataset.info.classes)}
    position = {index: row for row, index in enumerate(chosen)}
    result = {}
    for name, members in groups.items():
        if len(members):
            values = pixels[[position[m] for m in members]].ravel()
            result[name] = np.histogram(values, bins=edges)[0] / values.size
    return edges, result


def original_sizes(dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Width and height of each image before it was resized, as the import recorded them."""
    items = dataset.items
    return items["width"].to_numpy(), items["height"].to_numpy()
