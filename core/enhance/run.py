"""Enhance one image with a classical method or a trained restoration run: the one path used by the Enhance
page and `python -m core enhance`.

Classical methods work on the full value range of the image (min..max, e.g. every Hounsfield unit), so the
result keeps the input's units and range. Learned models work on the image as their training data were
prepared (through the image's own window, as imports store it); values outside that window, which the model
never saw, are passed through unchanged.
"""
from __future__ import annotations

import dataclasses
import re
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.data.medical_image import MedicalImage
from core.data.windowing import to_unit as window_to_unit
from core.enhance.classical import CLASSICAL_METHODS, run_classical, to_unit
from core.enhance.compare import quality
from core.enhance.degrade import Degradation, degrade_image
from core.enhance.learned import Restorer, load_restorer, restore_image
from core.errors import UserError
from core.jobs.store import RunStore

RUN_ID = re.compile(r"^run-[0-9]{6}-[0-9]{6}-[0-9a-f]{4}$")


@dataclass
class EnhanceResult:
    method: str
    input: MedicalImage        # the frame that was enhanced, as a one-frame image
    output: MedicalImage       # the result, in the input's units (scale x larger for super-resolution)
    seconds: float
    frame: int = 0             # which frame of the source file
    params: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def is_run_id(method: str) -> bool:
    return bool(RUN_ID.match(method))


def frame_image(image: MedicalImage, frame: int) -> MedicalImage:
    return dataclasses.replace(image, frames=image.frames[frame:frame + 1], warnings=[])


def with_values(image: MedicalImage, values: np.ndarray, scale: int = 1) -> MedicalImage:
    """`image` with one frame of new values (same units, windows and tags; spacing divided by `scale`)."""
    spacing = tuple(s / scale for s in image.spacing) if image.spacing else None
    return dataclasses.replace(image, frames=values[None].astype(np.float32), spacing=spacing, warnings=[])


def enhance(image: MedicalImage, frame: int, method: str, params: dict[str, Any] | None = None, scale: int = 1,
            store: RunStore | None = None) -> EnhanceResult:
    if not 0 <= frame < image.frame_count:
        raise UserError(f"{image.name} has {image.frame_count} frame(s); frame {frame} does not exist.")
    single = frame_image(image, frame)
    values = single.frames[0]
    start = time.perf_counter()
    if is_run_id(method):
        restorer = load_restorer(store or RunStore(), method)
        out, notes, used = _learned(single, restorer), [f"trained run {method} ({restorer.card['architecture']})"], {}
        scale = restorer.scale
    elif method in CLASSICAL_METHODS:
        unit, back = to_unit(values)
        result = run_classical(method, unit, params, scale)
        out, notes, used = back(result.image), result.notes, result.params
    else:
        raise UserError(f"Unknown method '{method}'; use one of {', '.join(CLASSICAL_METHODS)} or a trained run id.")
    return EnhanceResult(method, single, with_values(single, out, scale), time.perf_counter() - start, frame, used,
                         notes)


def _learned(single: MedicalImage, restorer: Restorer) -> np.ndarray:
    values = single.frames[0]
    if single.is_color:
        top = single.value_range[1] or 255.0
        return restore_image(restorer.model, values / top, restorer.scale) * top
    window = single.default_window
    unit = window_to_unit(single, 0, window)
    if single.invert:  # undo MONOCHROME1's display inversion: the model works on values, not on display
        unit = 1 - unit
    restored = restore_image(restorer.model, unit, restorer.scale)
    out = window.low + restored * window.width
    if restorer.scale == 1:  # values outside the window were clipped for the model: keep them as they were
        outside = (values < window.low) | (values > window.high)
        out = np.where(outside, values, out)
    return out


def simulate(single: MedicalImage, degradation: Degradation, seed: int = 0) -> tuple[MedicalImage, MedicalImage]:
    """(degraded input, clean reference) from a one-frame image: the degradation is applied on the image's full
    value range scaled to [0, 1], so sigma means the same for an 8-bit photo and a CT in HU."""
    values = single.frames[0]
    unit, back = to_unit(values)
    degraded = degrade_image(unit, degradation, seed)
    s = degradation.scale
    reference = values[: degraded.shape[0] * s, : degraded.shape[1] * s]
    return with_values(single, back(degraded), 1) if s == 1 else _shrunk(single, back(degraded), s), \
        with_values(single, reference)


def _shrunk(single: MedicalImage, values: np.ndarray, scale: int) -> MedicalImage:
    spacing = tuple(v * scale for v in single.spacing) if single.spacing else None
    return dataclasses.replace(single, frames=values[None].astype(np.float32), spacing=spacing, warnings=[])


def scores(output: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """PSNR (dB) and SSIM of `output` against `reference`, both scaled by the reference's value range."""
    if output.shape != reference.shape:
        raise UserError(f"The reference is {reference.shape[1]}x{reference.shape[0]} but the result is "
                        f"{output.shape[1]}x{output.shape[0]}; they must match.")
    low, high = float(reference.min()), float(reference.max())
    span = (high - low) or 1.0
    psnr, ssim = quality(np.clip((output - low) / span, 0, 1), np.clip((reference - low) / span, 0, 1))
    return {"psnr": psnr, "ssim": ssim}
