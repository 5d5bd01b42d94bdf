"""How restoration methods compare on held-out images: PSNR, SSIM and time per image.

Clean images are degraded with a known seed (core.enhance.degrade), each method restores the degraded copies and
is scored against the clean originals (PSNR, and SSIM with Wang et al. 2004's settings). The Enhance page's
comparison table, `python -m core enhance --compare` and a restoration run's stored report
(core.enhance.report) all go through `compare`.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from core.data.store import Dataset
from core.enhance.classical import CLASSICAL_METHODS, apply_classical
from core.enhance.degrade import Degradation, degrade_image
from core.errors import UserError

DENOISERS = ("nl_means", "tv", "bilateral", "median")   # BM3D is left out of automatic tables: tens of seconds each
UPSCALERS = ("bicubic", "lanczos")
NO_METHOD = "degraded input (no method)"

Method = Callable[[np.ndarray], np.ndarray]  # a float image (H, W) or (H, W, C) in [0, 1] -> its restoration


@dataclass
class Comparison:
    """One comparison table: a row per method, best PSNR first."""

    rows: list[dict[str, Any]]   # {"method", "psnr" (dB), "ssim", "seconds_per_image"}
    n_images: int
    degradation: str             # Degradation.describe()
    source: str                  # where the clean images came from, in words

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def quality(restored: np.ndarray, clean: np.ndarray) -> tuple[float, float]:
    """(PSNR in dB, SSIM) of an image in [0, 1] against its clean reference (Wang et al. 2004 SSIM settings)."""
    restored = np.clip(restored, 0, 1)
    channel_axis = 2 if clean.ndim == 3 else None
    return (float(peak_signal_noise_ratio(clean, restored, data_range=1.0)),
            float(structural_similarity(clean, restored, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                        use_sample_covariance=False, channel_axis=channel_axis)))


def degraded_pairs(images: Sequence[np.ndarray], degradation: Degradation
                   ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Each clean image degraded with seed = its position, and the clean image cropped to a multiple of the
    scale, so restored (scale x degraded) and clean shapes match."""
    degraded = [degrade_image(image, degradation, seed=i) for i, image in enumerate(images)]
    clean = [image[: d.shape[0] * degradation.scale, : d.shape[1] * degradation.scale]
             for image, d in zip(images, degraded)]
    return degraded, clean


def score(name: str, restored: Sequence[np.ndarray], clean: Sequence[np.ndarray], seconds_per_image: float
          ) -> dict[str, Any]:
    """A table row: mean PSNR and SSIM of `restored` against `clean`."""
    scores = [quality(out, reference) for out, reference in zip(restored, clean)]
    return {"method": name, "psnr": float(np.mean([s[0] for s in scores])),
            "ssim": float(np.mean([s[1] for s in scores])), "seconds_per_image": seconds_per_image}


def run_methods(degraded: Sequence[np.ndarray], clean: Sequence[np.ndarray], methods: Mapping[str, Method]
                ) -> list[dict[str, Any]]:
    """Each method on every degraded image, timed and scored (in the order given)."""
    rows = []
    for name, method in methods.items():
        start = time.perf_counter()
        restored = [method(image) for image in degraded]
        rows.append(score(name, restored, clean, (time.perf_counter() - start) / max(len(degraded), 1)))
    return rows


def best_first(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda row: -row["psnr"])


def compare(images: Sequence[np.ndarray], degradation: Degradation, methods: Mapping[str, Method],
            source: str = "") -> Comparison:
    """Degrade each clean image (seeded), restore it with each method and score it; best PSNR first."""
    if not images:
        raise UserError("There are no images to compare methods on.")
    degraded, clean = degraded_pairs(images, degradation)
    return Comparison(best_first(run_methods(degraded, clean, methods)), len(images), degradation.describe(),
                      source)


def classical_baselines(degradation: Degradation, with_bm3d: bool = False) -> dict[str, Method]:
    """The classical methods that do the same job: upscalers for super-resolution (bicubic always among them),
    else the degraded input itself and the denoisers (BM3D only when asked: tens of seconds per image)."""
    if degradation.scale > 1:
        return {CLASSICAL_METHODS[m].title: (lambda image, m=m: apply_classical(m, image, scale=degradation.scale))
                for m in UPSCALERS}
    names = DENOISERS + (("bm3d",) if with_bm3d else ())
    return {NO_METHOD: lambda image: image,
            **{CLASSICAL_METHODS[m].title: (lambda image, m=m: apply_classical(m, image)) for m in names}}


def trained_methods(runs: Mapping[str, Path], scale: int) -> dict[str, Method]:
    """The networks of trained restoration runs ({label: run folder}) as methods; each must work at `scale`."""
    from core.enhance.learned import load_restorer, restore_image  # torch: only when a run is compared

    methods: dict[str, Method] = {}
    for label, folder in runs.items():
        restorer = load_restorer(folder)
        if restorer.scale != scale:
            raise UserError(f"Run {restorer.run_id} upscales x{restorer.scale}, not x{scale}: compare it with "
                            f"scale {restorer.scale}.")
        methods[label] = lambda image, model=restorer.model: restore_image(model, image, scale)
    return methods


def comparison_degradation(kind: str = "gaussian", sigma: float = 0.1, scale: int = 1, blur: float = 1.5
                           ) -> Degradation:
    """The degradation a comparison applies (Poisson noise needs a level above 0, so 0 becomes 0.01).
    Raises UserError for an unknown kind or an out-of-range level, blur or scale (see Degradation)."""
    return Degradation(kind, sigma if sigma or kind != "poisson" else 0.01, blur, scale)


def validation_images(dataset: Dataset, count: int) -> list[np.ndarray]:
    """Up to `count` validation images of `dataset` as float (H, W) or (H, W, C) arrays in [0, 1]."""
    indices = dataset.indices("val")[:count]
    if not len(indices):
        raise UserError(f"Dataset '{dataset.info.id}' has no validation images to compare methods on.")
    return [image[..., 0] if image.shape[-1] == 1 else image for image in dataset.unit_images(indices)]
