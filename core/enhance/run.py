"""Enhance one image with a classical method or a trained restoration run: the one path used by the Enhance
page and `python -m core enhance`.

Everything happens in the image's own scale: no display window on the way in, and the result holds values in
the input's units (16-bit samples, HU for CT) within its data range (core.data.native.data_range), so it can be
written back with the input's bit depth. Classical methods work on the image's own min..max scaled to [0, 1],
with noise levels stated as fractions of the data range. Learned models see the image as their training data
were stored: scaled by the file's data range (datasets imported with intensity "full_range", the built-in
tiles) or, for runs trained on windowed data, through the same window as at import, with values outside it
passed through unchanged. PSNR and SSIM are computed on the data range scaled to [0, 1] (data range 1), and
the range used is stated with them.
"""
from __future__ import annotations

import dataclasses
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.data.medical_image import MedicalImage
from core.data.native import DataRange, data_range, from_data_unit, to_data_unit
from core.data.windowing import resolve_window, window_to_unit
from core.enhance.classical import CLASSICAL_METHODS, run_classical, scale_to_unit
from core.enhance.compare import quality
from core.enhance.degrade import Degradation, degrade_image
from core.enhance.learned import Restorer, load_restorer, restore_image
from core.errors import UserError
from core.train.run_folder import find_run_folder

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
    data_range: DataRange | None = None  # the input's full value range: scores and written files use it


def is_run_id(method: str) -> bool:
    return bool(RUN_ID.match(method))


def frame_image(image: MedicalImage, frame: int) -> MedicalImage:
    return dataclasses.replace(image, frames=image.frames[frame:frame + 1], warnings=[])


def with_values(image: MedicalImage, values: np.ndarray, scale: int = 1) -> MedicalImage:
    """`image` with one frame of new values (same units, windows and tags; spacing divided by `scale`)."""
    spacing = tuple(s / scale for s in image.spacing) if image.spacing else None
    return dataclasses.replace(image, frames=values[None].astype(np.float32), spacing=spacing, warnings=[])


def enhance(image: MedicalImage, frame: int, method: str, params: dict[str, Any] | None = None, scale: int = 1,
            folder: Path | None = None) -> EnhanceResult:
    """Enhance one frame of `image` with a classical method or a trained run (a run id), in the image's units.

    Returns the result as a one-frame image of the same units, on the input's own levels (whole 16-bit samples,
    whole stored values of a DICOM), `scale` times larger for upscaling, with the data range it was judged on.
    `folder` is the run's folder when `method` is a run id (the run store's `run_folder`); without it the run
    is found under MEDLAB_HOME. Raises UserError for a missing frame, an unknown method, bad parameters or a run
    that cannot enhance.
    """
    if not 0 <= frame < image.frame_count:
        raise UserError(f"{image.name} has {image.frame_count} frame(s); frame {frame} does not exist.")
    single = frame_image(image, frame)
    values = single.frames[0]
    rng = data_range(image)
    start = time.perf_counter()
    if is_run_id(method):
        restorer = load_restorer(folder or find_run_folder(method))
        out, notes = _learned(single, restorer, rng)
        notes.insert(0, f"trained run {method} ({restorer.spec['architecture']})")
        used: dict[str, Any] = {}
        scale = restorer.scale
    elif method in CLASSICAL_METHODS:
        unit, back = scale_to_unit(values)
        finite = values[np.isfinite(values)]
        own = float(finite.max() - finite.min()) if finite.size else 0.0
        noise_unit = min(1.0, own / rng.span) if own > 0 else 1.0
        result = run_classical(method, unit, params, scale, noise_unit=noise_unit)
        out, notes, used = back(result.image), result.notes, result.params
    else:
        raise UserError(f"Unknown method '{method}'; use one of {', '.join(CLASSICAL_METHODS)} or a trained run id.")
    return EnhanceResult(method, single, with_values(single, quantised(out, rng), scale), time.perf_counter() - start,
                         frame, used, notes, rng)


def quantised(values: np.ndarray, rng: DataRange) -> np.ndarray:
    """Values on the data range's own levels (whole 16-bit samples, whole stored values of a DICOM), so the
    result has the input's bit depth; float data are kept as they are."""
    if rng.bits is None:
        return np.asarray(values, dtype=np.float32)
    levels = np.rint(to_data_unit(values, rng).astype(np.float64) * rng.levels)
    return (rng.low + levels * (rng.span / rng.levels)).astype(np.float32)


def run_intensity(spec: dict[str, Any]) -> tuple[str, str]:
    """How a restoration run's training images were scaled: ("full_range", "") or ("window", window choice).
    Runs recorded before intensities were kept name neither, and were trained on the default window."""
    return str(spec.get("intensity") or "window"), str(spec.get("window") or "default")


def _learned(single: MedicalImage, restorer: Restorer, rng: DataRange) -> tuple[np.ndarray, list[str]]:
    """The model applied as it was trained: on the data range, or through the training data's window."""
    values = single.frames[0]
    intensity, window_choice = run_intensity(restorer.spec)
    if intensity == "full_range" or single.is_color:
        restored = restore_image(restorer.model, to_data_unit(values, rng), restorer.scale)
        return from_data_unit(restored, rng), [f"on the image's data range {rng.describe()}"]
    window = resolve_window(single, window_choice)
    unit = window_to_unit(single, 0, window)
    if single.invert:  # undo MONOCHROME1's display inversion: the model works on values, not on display
        unit = 1 - unit
    restored = restore_image(restorer.model, unit, restorer.scale)
    out = window.low + restored * window.width
    if restorer.scale == 1:  # values outside the window were clipped for the model: keep them as they were
        outside = (values < window.low) | (values > window.high)
        out = np.where(outside, values, out)
    note = (f"this run was trained on windowed images, so the image went through the same window "
            f"({window.center:g}/{window.width:g}, {window.source}); values outside it were kept as they were")
    return out.astype(np.float32), [note]


def simulate(single: MedicalImage, degradation: Degradation, seed: int = 0) -> tuple[MedicalImage, MedicalImage]:
    """(degraded input, clean reference) from a one-frame image: the degradation is applied on the image's data
    range scaled to [0, 1] (core.data.native), so sigma 0.1 is a tenth of a 16-bit PNG's 0..65535 or of a CT's
    stored range in HU, the scale a restoration run trained on full-range data learned, and an image that
    fills only part of its range is not stretched first."""
    values = single.frames[0]
    rng = data_range(single)
    degraded = from_data_unit(degrade_image(to_data_unit(values, rng), degradation, seed), rng)
    s = degradation.scale
    reference = values[: degraded.shape[0] * s, : degraded.shape[1] * s]
    return with_values(single, degraded, 1) if s == 1 else _shrunk(single, degraded, s), \
        with_values(single, reference)


def _shrunk(single: MedicalImage, values: np.ndarray, scale: int) -> MedicalImage:
    spacing = tuple(v * scale for v in single.spacing) if single.spacing else None
    return dataclasses.replace(single, frames=values[None].astype(np.float32), spacing=spacing, warnings=[])


def scores(output: np.ndarray, reference: np.ndarray, rng: DataRange) -> dict[str, Any]:
    """PSNR (dB) and SSIM of `output` against `reference`, both in the image's units, on the data range `rng`
    scaled to [0, 1] (PSNR = 10 log10(1 / MSE); SSIM of Wang et al. 2004 with data range 1). The range used is
    returned with them, as "data_range"."""
    if output.shape != reference.shape:
        raise UserError(f"The reference is {reference.shape[1]}x{reference.shape[0]} but the result is "
                        f"{output.shape[1]}x{output.shape[0]}; they must match.")
    psnr, ssim = quality(to_data_unit(output, rng), to_data_unit(reference, rng))
    return {"psnr": psnr, "ssim": ssim, "data_range": rng.as_dict()}
