"""An image's own scale: the full sample range of its file, and native-resolution patches for restoration.

Restoration must work on the values a file holds, not on a display window: a fundus crop whose values span
0.30-0.55 of a 16-bit PNG is denoised, scored and written back on that 16-bit scale. The *data range* of an image
is the full range its samples can take, in the image's own units:

    8/16-bit PNG, TIFF, JPEG, BMP (grey or colour)   0 .. 2^bits - 1
    DICOM greyscale                                  the stored range (BitsStored, Pixel Representation) through
                                                     the Modality LUT (rescale slope/intercept, per frame when
                                                     the functional groups carry it): -1024..3071 HU for a
                                                     12-bit CT with intercept -1024 (PS3.3 C.7.6.3, C.11.1)
    DICOM colour                                     0 .. 2^bits - 1 per sample
    float TIFF, NIfTI and anything else              the file's own min..max over every frame

and it always includes the image's own value range (MedicalImage.value_range). `to_data_unit` maps values to
[0, 1] by it and
`from_data_unit` maps back, so PSNR/SSIM (with data range 1 on that scale) and the noise level sigma mean the
same thing for a PNG, a CT in HU and a training patch of a dataset imported with intensity "full_range".
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from core.data.medical_image import MedicalImage

RASTER_FORMATS = ("png", "jpeg", "tiff", "bmp", "array")


@dataclass(frozen=True)
class DataRange:
    """The full value range of an image in its own units, and where it comes from (stated with every score)."""

    low: float
    high: float
    basis: str  # e.g. "16-bit samples", "12-bit stored values through the modality LUT (HU)"
    bits: int | None = None  # the range holds 2^bits levels (integer samples); None for float data

    @property
    def levels(self) -> int:
        """The top sample value when written as integers: 2^bits - 1, or 65535 for float data."""
        return 2**self.bits - 1 if self.bits else 65535

    @property
    def span(self) -> float:
        return self.high - self.low if self.high > self.low else 1.0

    def as_dict(self) -> dict[str, Any]:
        return {"low": float(self.low), "high": float(self.high), "basis": self.basis, "bits": self.bits}

    def describe(self) -> str:
        return f"{self.low:g}..{self.high:g} ({self.basis})"


def _stored_range(ds: Any) -> tuple[int, int, int]:
    bits = int(ds.get("BitsStored") or ds.get("BitsAllocated") or 16)
    if int(ds.get("PixelRepresentation") or 0) == 1:
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1, bits
    return 0, 2**bits - 1, bits


def _rescale_items(ds: Any) -> list[Any]:
    """The datasets holding the Modality LUT: the top level, or each frame's Pixel Value Transformation."""
    if ds.get("ModalityLUTSequence") or ("RescaleSlope" in ds and "RescaleIntercept" in ds):
        return [ds]
    items = []
    for groups in ("PerFrameFunctionalGroupsSequence", "SharedFunctionalGroupsSequence"):
        for group in ds.get(groups) or []:
            found = group.get("PixelValueTransformationSequence")
            if found and "RescaleSlope" in found[0] and "RescaleIntercept" in found[0]:
                items.append(found[0])
    return items


def _dicom_range(ds: Any) -> tuple[float, float, str, int] | None:
    """The stored range of a greyscale DICOM through its Modality LUT(s) (pydicom's apply_modality_lut)."""
    from pydicom.pixels import apply_modality_lut

    try:
        low, high, bits = _stored_range(ds)
        holders = _rescale_items(ds)
        if not holders:
            return float(low), float(high), f"{bits}-bit stored values", bits
        ends: list[float] = []
        for holder in holders:
            if holder.get("ModalityLUTSequence"):  # a LUT need not be monotonic: map every stored value
                stored = np.arange(low, high + 1, dtype=np.int64) if high - low < 2**17 else np.array([low, high])
            else:
                stored = np.array([low, high], dtype=np.float64)
            mapped = np.asarray(apply_modality_lut(stored, holder), dtype=np.float64)
            ends += [float(mapped.min()), float(mapped.max())]
        unit = " (HU)" if str(ds.get("Modality", "")).upper() == "CT" else ""
        return min(ends), max(ends), f"{bits}-bit stored values through the modality LUT{unit}", bits
    except (AttributeError, KeyError, TypeError, ValueError, IndexError):
        return None


def data_range(image: MedicalImage) -> DataRange:
    """The full value range of `image`'s file (see the module docstring), widened to every value it holds."""
    seen = (float(image.value_range[0]), float(image.value_range[1]))  # the readers' min..max (or type range)
    found: tuple[float, float, str, int | None] | None = None
    if image.dicom is not None and not image.is_color:
        found = _dicom_range(image.dicom)
    elif (image.is_color or image.format in RASTER_FORMATS) and 1 <= image.bits <= 16 and seen[0] >= 0:
        top = float(2**image.bits - 1)
        found = (0.0, top, f"{image.bits}-bit samples", image.bits)
    elif image.format in RASTER_FORMATS and image.bits == 16 and seen[0] < 0:
        found = (-32768.0, 32767.0, "signed 16-bit samples", 16)
    if found is None:
        found = (*seen, "the image's own minimum..maximum", None)
    low, high, basis, bits = min(found[0], seen[0]), max(found[1], seen[1]), found[2], found[3]
    if (low, high) != (found[0], found[1]):  # values beyond the type's range (odd files): no longer whole levels
        bits, basis = None, f"{basis}, widened to the values present"
    if high <= low:
        high = low + 1.0
    return DataRange(low, high, basis, bits)


def to_data_unit(values: np.ndarray, rng: DataRange) -> np.ndarray:
    """Values in the image's units -> float32 [0, 1] by its data range (non-finite values -> 0)."""
    unit = (np.asarray(values, dtype=np.float64) - rng.low) / rng.span
    return np.clip(np.nan_to_num(unit, nan=0.0), 0.0, 1.0).astype(np.float32)


def from_data_unit(unit: np.ndarray, rng: DataRange) -> np.ndarray:
    """[0, 1] -> the image's units (float32), clipped to the data range."""
    return (rng.low + np.clip(np.nan_to_num(np.asarray(unit, np.float64)), 0.0, 1.0) * rng.span).astype(np.float32)


def full_range_unit(image: MedicalImage, frame: int) -> np.ndarray:
    """One frame as float32 [0, 1] by the file's data range, (H, W) or (H, W, 3): no window, no inversion
    (MONOCHROME1 values stay values), so it maps back exactly with `from_data_unit`."""
    return to_data_unit(image.frames[frame], data_range(image))


def native_patches(array: np.ndarray, size: int) -> list[tuple[np.ndarray, int, int]]:
    """Cut an (H, W, C) array into size x size patches at its own resolution: [(patch, top, left), ...].

    The patches tile the image on a regular grid; where the side is not a multiple of `size`, one more patch is
    placed against the far edge (overlapping its neighbour), so every pixel is in some patch. Arrays smaller
    than `size` in either direction give no patch.
    """
    height, width = array.shape[:2]
    if height < size or width < size:
        return []

    def starts(length: int) -> list[int]:
        found = list(range(0, length - size + 1, size))
        return found if found[-1] == length - size else [*found, length - size]

    return [(array[top:top + size, left:left + size], top, left) for top in starts(height) for left in starts(width)]


def centre_patch(array: np.ndarray, size: int) -> np.ndarray:
    """The central size x size region of an (H, W, C) array at its own resolution (mirrored where smaller)."""
    height, width = array.shape[:2]
    pad = [(max(0, size - height + 1) // 2 + 1, max(0, size - height + 1) // 2 + 1),
           (max(0, size - width + 1) // 2 + 1, max(0, size - width + 1) // 2 + 1), (0, 0)]
    if height < size or width < size:
        array = np.pad(array, pad, mode="symmetric")
        height, width = array.shape[:2]
    top, left = (height - size) // 2, (width - size) // 2
    return np.ascontiguousarray(array[top:top + size, left:left + size], dtype=np.float32)
