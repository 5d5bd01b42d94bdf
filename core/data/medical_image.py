"""The decoded form every reader returns: pixel frames in the file's own units plus what the viewer needs."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Window:
    """A linear window (level) in the image's own units, e.g. Hounsfield units for CT.

    `source` says where it came from: "file" (the DICOM's own centre/width), "auto" (chosen from the pixel
    values), "full-range" (the whole range of an 8-bit image), "preset:lung" and so on, or "manual".
    """

    center: float
    width: float
    source: str = "manual"

    @property
    def low(self) -> float:
        return self.center - self.width / 2

    @property
    def high(self) -> float:
        return self.center + self.width / 2

    def as_dict(self) -> dict[str, Any]:
        return {"center": float(self.center), "width": float(self.width), "source": self.source}


@dataclass
class MedicalImage:
    """One decoded file: all frames, in the units the file defines, with what is needed to show it.

    Greyscale frames are float32 (F, H, W) after the modality LUT (so CT is in HU); colour frames are float32
    (F, H, W, 3) in the file's sample range (0-255 or 0-65535), already converted to RGB (palette, YBR).
    """

    name: str                         # sanitised file name
    format: str                       # "png" | "jpeg" | "tiff" | "bmp" | "dicom" | "nifti"
    frames: np.ndarray
    is_color: bool
    bits: int                         # bits stored per sample (8, 12, 16, ...)
    value_range: tuple[float, float]  # the range window sliders should offer (min/max of the data or the type)
    default_window: Window            # the file's own window if it has one, else a sensible automatic one
    file_windows: list[Window] = field(default_factory=list)  # every window the file names (DICOM may list several)
    invert: bool = False              # MONOCHROME1: higher values are darker; applied after windowing
    modality: str | None = None       # DICOM Modality ("CT", "MR", "CR", ...) or None
    photometric: str = "MONOCHROME2"  # the file's photometric interpretation as found ("MONOCHROME1", "PALETTE COLOR", ...)
    spacing: tuple[float, float] | None = None  # pixel spacing in mm (row, column) when the file says
    patient_key: str | None = None    # pseudonymous patient key (for grouped splits); never the real ID
    tags: list[dict[str, str]] = field(default_factory=list)  # de-identified header as rows: tag, keyword, vr, value
    dicom: Any = None                 # the de-identified pydicom Dataset (DICOM only), pixel data kept, for storage
    voi_lut: Any = None               # DICOM VOI LUT Sequence item when the file windows with a LUT instead of C/W
    warnings: list[str] = field(default_factory=list)

    @property
    def frame_count(self) -> int:
        return int(self.frames.shape[0])

    @property
    def height(self) -> int:
        return int(self.frames.shape[1])

    @property
    def width(self) -> int:
        return int(self.frames.shape[2])


def image_from_array(name: str, array: np.ndarray) -> MedicalImage:
    """A stored dataset image, (H, W, C) uint8 or uint16, wrapped for the viewer with its full range as window."""
    top = float(np.iinfo(array.dtype).max)
    is_color = array.ndim == 3 and array.shape[2] == 3
    frames = array.astype(np.float32)[None] if is_color else array.reshape(array.shape[0], array.shape[1])[None]
    return MedicalImage(
        name=name, format="array", frames=frames.astype(np.float32), is_color=is_color,
        bits=8 if array.dtype == np.uint8 else 16, value_range=(0.0, top),
        default_window=Window(top / 2, top, "full-range"), photometric="RGB" if is_color else "MONOCHROME2",
    )
