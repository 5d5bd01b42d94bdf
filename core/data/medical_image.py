"""The decoded form every reader returns: pixel frames in the file's own units plus what the viewer needs."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Window:
    """A window (level) in the image's own units, e.g. Hounsfield units for CT.

    `source` says where it came from: "file" (the DICOM's own centre/width), "file-lut" / "file-lut:2" (the
    file's first / second VOI LUT, described by its input range), "auto" (chosen from the pixel values),
    "full-range" (the whole range of an 8-bit image), "preset:lung" and so on, or "manual".
    `function` is the VOI LUT Function of DICOM PS3.3 C.11.2.1.2-3: "LINEAR_EXACT" (`low` -> 0, `high` -> 1,
    used for every window a user chooses), "LINEAR" (the DICOM default for a file's own window), "SIGMOID",
    or "LUT" for a VOI LUT's descriptive window.
    """

    center: float
    width: float
    source: str = "manual"
    function: str = "LINEAR_EXACT"

    @property
    def low(self) -> float:
        return self.center - self.width / 2

    @property
    def high(self) -> float:
        return self.center + self.width / 2

    def as_dict(self) -> dict[str, Any]:
        """center, width and source; plus function when it is not the LINEAR_EXACT every user window uses."""
        out: dict[str, Any] = {"center": float(self.center), "width": float(self.width), "source": self.source}
        if self.function != "LINEAR_EXACT":
            out["function"] = self.function
        return out


@dataclass(frozen=True)
class FrameVOI:
    """The file's own VOI transform for one frame (PS3.3 C.11.2): its windows (each with its VOI LUT Function)
    and its VOI LUT Sequence items, in file order; items hold a checked LUT Descriptor and LUT Data as integers."""

    windows: tuple[Window, ...] = ()
    luts: tuple[Any, ...] = ()


@dataclass
class MedicalImage:
    """One decoded file: all frames, in the units the file defines, with what is needed to show it.

    Greyscale frames are float32 (F, H, W) after the modality LUT (so CT is in HU); colour frames are float32
    (F, H, W, 3) in the file's sample range (0-255 or 0-65535), already converted to RGB (palette, YBR).
    """

    name: str                         # sanitised file name
    format: str                       # "png" | "jpeg" | "tiff" | "bmp" | "dicom" | "nifti" | "video" | "frames"
    frames: np.ndarray
    is_color: bool
    bits: int                         # bits stored per sample (8, 12, 16, ...)
    value_range: tuple[float, float]  # the range window sliders should offer (min/max of the data or the type)
    default_window: Window            # the file's own window if it has one, else a sensible automatic one
    file_windows: list[Window] = field(default_factory=list)  # every window the file names (DICOM may list several)
    invert: bool = False              # shown inverted after windowing: MONOCHROME1 or Presentation LUT Shape INVERSE
    modality: str | None = None       # DICOM Modality ("CT", "MR", "CR", ...) or None
    photometric: str = "MONOCHROME2"  # the file's photometric interpretation as found ("MONOCHROME1", "PALETTE COLOR", ...)
    spacing: tuple[float, float] | None = None  # pixel spacing in mm (row, column) when the file says
    patient_key: str | None = None    # pseudonymous patient key (for grouped splits); never the real ID
    tags: list[dict[str, str]] = field(default_factory=list)  # de-identified header as rows: tag, keyword, vr, value
    dicom: Any = None                 # the de-identified pydicom Dataset (DICOM only), pixel data kept, for storage
    voi_lut: Any = None               # DICOM VOI LUT Sequence item when the file windows with a LUT instead of C/W
    warnings: list[str] = field(default_factory=list)
    frame_vois: list[FrameVOI] = field(default_factory=list)  # DICOM: the file's own VOI per frame (empty: use file_windows)
    padding: Any = None               # bool (F, H, W): True where Pixel Padding Value/Range marks no image data
    frame_time_ms: float | None = None  # time between frames of a sequence (cine, video) when the file says

    def image_values(self) -> np.ndarray:
        """Every value that is image data (padding left out), flattened: what automatic windows look at."""
        if not self._padding_fits():
            return np.asarray(self.frames).ravel()
        return np.asarray(self.frames)[~np.asarray(self.padding, dtype=bool)].ravel()

    def frame_padding(self, frame: int) -> np.ndarray | None:
        """The (H, W) padding mask of one frame, or None when the frame has none."""
        if not self._padding_fits():
            return None
        mask = np.asarray(self.padding[frame], dtype=bool)
        return mask if mask.any() else None

    def frame_voi(self, frame: int) -> FrameVOI:
        """The file's own VOI for `frame`; images without per-frame VOI use their file windows and VOI LUT."""
        if len(self.frame_vois) == self.frame_count:
            return self.frame_vois[frame]
        return FrameVOI(tuple(w for w in self.file_windows if w.source == "file"),
                        (self.voi_lut,) if self.voi_lut is not None else ())

    def select_frames(self, start: int, stop: int) -> MedicalImage:
        """A copy holding frames start..stop-1 with their own VOI and padding (for one-frame tools)."""
        frame_vois = self.frame_vois[start:stop] if len(self.frame_vois) == self.frame_count else []
        padding = self.padding[start:stop] if self._padding_fits() else None
        return replace(self, frames=self.frames[start:stop], frame_vois=frame_vois, padding=padding, warnings=[])

    def _padding_fits(self) -> bool:
        """Padding applies only while its mask matches the frames (a resized copy drops it)."""
        return self.padding is not None and np.shape(self.padding) == self.frames.shape[:3]

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
