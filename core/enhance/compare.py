"""How learned restoration compares with classical methods on held-out images: PSNR, SSIM and time per image.

Used for a restoration run's stored report (its test split) and by the Enhance page's comparison table.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from core.enhance.classical import CLASSICAL_METHODS, apply_classical
from core.enhance.degrade import Degradation, degrade_image
from core.train.run_folder import REPORT_FILE, write_json

DENOISERS = ("nl_means", "tv", "bilateral", "median")   # BM3D is left out of automatic tables: tens of seconds each
UPSCALERS = ("bicubic", "lanczos")


def quality(restored: np.ndarray, clean: np.ndarray) -> tuple[float, float]:
    """(PSNR in dB, SSIM) of an image in [0, 1] against its clean reference (Wang et al. 2004 SSIM settings)."""
    restored = np.clip(restored, 0, 1)
    channel_axis = 2 if clean.ndim == 3 else None
    return (float(peak_signal_noise_ratio(clean, restored, data_range=1.0)),
            float(structural_similarity(clean, restored, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                        use_sample_covariance=False, channel_axis=channel_axis)))


def compare_methods(images: list[np.ndarray], degradation: Degradation,
                    methods: dict[str, Callable[[np.ndarray], np.ndarray]]) -> list[dict[str, Any]]:
    """Degrade each clean image (seeded), restore it with each method, and average PSNR, SSIM and seconds."""
    degraded = [degrade_image(image, degradation, seed=i) for i, image in enumerate(images)]
    clean = [image[: d.shape[0] * degradation.scale, : d.shape[1] * degradation.scale] for image, d in zip(images, degraded)]
    rows = []
    for name, method in methods.items():
        scores, seconds = [], 0.0
        for source, reference in zip(degraded, clean):
            start = time.perf_counter()
            restored = method(source)
            seconds += time.perf_counter() - start
            scores.append(quality(restored, reference))
        rows.append({"method": name, "psnr": float(np.mean([s[0] for s in scores])),
                     "ssim": float(np.mean([s[1] for s in scores])), "seconds_per_image": seconds / len(images)})
    return sorted(rows, key=lambda row: -row["psnr"])


def classical_baselines(degradation: Degradation) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """The classical methods that do the same job: upscalers for super-resolution, denoisers otherwise."""
    if degradation.scale > 1:
        return {CLASSICAL_METHODS[m].title: (lambda image, m=m: apply_classical(m, image, scale=degradation.scale))
                for m in UPSCALERS}
    identity = {"degraded input (no method)": lambda image: image}
    return {**identity, **{CLASSICAL_METHODS[m].title: (lambda image, m=m: apply_classical(m, image)) for m in DENOISERS}}


def restoration_report(task, folder: Path, max_images: int = 24) -> dict[str, Any]:
    """The stored comparison for a restoration run: its network against the classical baselines on test images."""
    from core.enhance.learned import restore_image  # learned.py imports this module's helpers

    test = task.splits["test"]
    count = min(len(test), max_images)
    images = [batch[0].permute(1, 2, 0).cpu().numpy() for batch, _ in
              (test.batch(torch.tensor([i])) for i in range(count))]
    images = [image[..., 0] if image.shape[-1] == 1 else image for image in images]
    methods = {"MedLab " + task.config.model: lambda image: restore_image(task.model, image, task.degradation.scale),
               **classical_baselines(task.degradation)}
    report = {"task": task.config.task, "degradation": task.degradation.describe(), "n_images": count,
              "comparison": compare_methods(images, task.degradation, methods)}
    write_json(folder / REPORT_FILE, report)
    return report
