"""Windowing (level/width): from an image's own units to display grey levels.

Greyscale frames hold modality values (CT in Hounsfield units, DICOM PS3.3 C.11.1), so a window chosen in
those units means the same on every CT. The window maps linearly with clipping (the LINEAR_EXACT form of
PS3.3 C.11.2.1.3.2): `low` -> 0, `center` -> 0.5, `high` -> 1. When the file carries a VOI LUT (PS3.3
C.11.2.1.1) and its own window is in use, the LUT is applied instead with pydicom's `apply_voi`.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import apply_voi

from core.data.medical_image import MedicalImage, Window
from core.errors import UserError

# Width/level as radiologists write them ("W1500/L-600").
PRESETS: dict[str, Window] = {
    name: Window(center=float(level), width=float(width), source=f"preset:{name}")
    for name, (width, level) in {
        "lung": (1500, -600),
        "mediastinum": (350, 50),
        "soft_tissue": (400, 40),
        "bone": (1800, 400),
        "brain": (80, 40),
        "liver": (150, 30),
    }.items()
}

_FILE_SOURCES = ("file", "file-lut")
_AUTO_SAMPLE = 1_000_000  # values looked at by auto_window; a strided sample keeps big volumes fast


def auto_window(values: Any, low_pct: float = 0.5, high_pct: float = 99.5) -> Window:
    """A window spanning the 0.5-99.5 percentiles of the finite values (robust to a few hot pixels).

    A constant (or empty) image gets width 1 around its value, so nothing divides by zero.
    """
    flat = np.asarray(values, dtype=np.float64).ravel()
    if flat.size > _AUTO_SAMPLE:
        flat = flat[:: flat.size // _AUTO_SAMPLE]
    flat = flat[np.isfinite(flat)]
    if flat.size == 0:
        return Window(center=0.5, width=1.0, source="auto")
    low, high = (float(v) for v in np.percentile(flat, [low_pct, high_pct]))
    if high <= low:  # (nearly) constant: fall back to the full range, then to width 1
        low, high = float(flat.min()), float(flat.max())
    if high <= low:
        return Window(center=low, width=1.0, source="auto")
    return Window(center=(low + high) / 2, width=high - low, source="auto")


def _window_error(choice: Any) -> UserError:
    return UserError(
        f"'{choice}' is not a window: use 'default', 'file', 'auto', one of the presets "
        f"({', '.join(PRESETS)}) or 'center,width' with a width above 0, e.g. '40,400'."
    )


def _checked(center: Any, width: Any, source: str, choice: Any) -> Window:
    try:
        center, width = float(center), float(width)
    except (TypeError, ValueError):
        raise _window_error(choice) from None
    if not (np.isfinite(center) and np.isfinite(width)) or width <= 0:
        raise _window_error(choice)
    return Window(center=center, width=width, source=source)


def resolve_window(image: MedicalImage, choice: Any = None) -> Window:
    """Turn a user's window choice into a Window for `image`.

    `choice` is None/"default" (the image's default), "file" (the file's first own window), "auto", a
    preset name, a "C,W" string such as "40,400", a (center, width) pair or a Window.
    """
    if isinstance(choice, Window):
        return _checked(choice.center, choice.width, choice.source, choice)
    if choice is None:
        return image.default_window
    if isinstance(choice, str):
        key = choice.strip().lower().replace(" ", "_").replace("-", "_")
        if key in ("", "default"):
            return image.default_window
        if key == "file":
            if not image.file_windows:
                raise UserError(f"{image.name} has no window of its own: choose 'auto' or a preset instead.")
            return image.file_windows[0]
        if key == "auto":
            return auto_window(image.frames)
        if key.removeprefix("preset:") in PRESETS:
            return PRESETS[key.removeprefix("preset:")]
        parts = choice.replace(";", ",").split(",")
        if len(parts) == 2:
            return _checked(parts[0], parts[1], "manual", choice)
        raise _window_error(choice)
    if isinstance(choice, Sequence) and len(choice) == 2:
        return _checked(choice[0], choice[1], "manual", choice)
    raise _window_error(choice)


def _color_top(image: MedicalImage) -> float:
    """The top of a colour image's sample range: 255 for 8 bits, 65535 for 16, else the range's top."""
    if 1 <= image.bits <= 16:
        return float(2**image.bits - 1)
    return max(float(image.value_range[1]), 1.0)


def _apply_voi_lut(frame: np.ndarray, item: Any) -> np.ndarray:
    """The file's VOI LUT (PS3.3 C.11.2.1.1) through pydicom, scaled by the LUT's own output range."""
    entries, first_map = int(item.LUTDescriptor[0]) or 2**16, int(item.LUTDescriptor[1])
    # pydicom indexes a LUT-sized unsigned array, so values past the table would wrap: clip them first.
    values = np.clip(np.rint(np.nan_to_num(frame)), first_map, first_map + entries - 1).astype(np.int64)
    holder = Dataset()
    holder.VOILUTSequence = [item]
    out = apply_voi(values, holder).astype(np.float32)
    lut = np.asarray(item.LUTData, dtype=np.float32)
    low, high = float(lut.min()), float(lut.max())
    return (out - low) / (high - low) if high > low else np.zeros_like(out)


def to_unit(image: MedicalImage, frame: int = 0, window: Any = None) -> np.ndarray:
    """One frame as float32 in [0, 1], shape (H, W) or (H, W, 3), ready to show or to feed a model.

    Greyscale: linear window (or the file's VOI LUT when its own window is used), then inverted for
    MONOCHROME1. Colour: divided by the top of its sample range unless an explicit window is given.
    """
    if not 0 <= frame < image.frame_count:
        raise UserError(f"{image.name} has {image.frame_count} frame(s): frame {frame} does not exist.")
    data = np.asarray(image.frames[frame], dtype=np.float32)
    if image.is_color and window is None:
        unit = data / _color_top(image)
    else:
        win = resolve_window(image, window)
        use_lut = (
            image.voi_lut is not None
            and not image.is_color
            and win.source in _FILE_SOURCES
            and win == image.default_window
        )
        unit = _apply_voi_lut(data, image.voi_lut) if use_lut else (data - np.float32(win.low)) / np.float32(win.width)
    unit = np.clip(np.nan_to_num(unit, nan=0.0), 0.0, 1.0).astype(np.float32, copy=False)
    if image.invert and not image.is_color:
        unit = 1.0 - unit
    return unit


def render_8bit(image: MedicalImage, frame: int = 0, window: Any = None) -> np.ndarray:
    """The same as `to_unit`, as uint8 grey levels 0-255 (rounded half up)."""
    return np.floor(to_unit(image, frame, window) * 255.0 + 0.5).astype(np.uint8)
