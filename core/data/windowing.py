"""Windowing (level/width): from an image's own units to display grey levels, per frame.

Greyscale frames hold modality values (CT in Hounsfield units, DICOM PS3.3 C.11.1), so a window chosen in
those units means the same on every CT. A window the user chooses (preset, "C,W", sliders, "auto") maps
linearly with clipping, `low` -> 0, `center` -> 0.5, `high` -> 1 (the LINEAR_EXACT form of PS3.3
C.11.2.1.3.2). When the file's own window is in use, each frame gets the file's VOI for that frame
(C.11.2): its window with the file's VOI LUT Function (LINEAR C.11.2.1.2.1, LINEAR_EXACT, SIGMOID
C.11.2.1.3.1) through pydicom's `apply_windowing`, or its VOI LUT (C.11.2.1.1) through `apply_voi`, scaled by
the LUT's bit depth. Then the presentation inversion (MONOCHROME1 / Presentation LUT Shape INVERSE, C.11.6)
and last the padding (C.7.5.1.1.2), shown as background: black, the darkest output.

pydicom's `apply_presentation_lut` is not used: its INVERSE subtracts from each frame's own maximum rather
than from the top of the output range, so a frame without a white pixel would not invert onto 0..1.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

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

_AUTO_SAMPLE = 1_000_000  # values looked at by auto_window; a strided sample keeps big volumes fast
_FUNCTIONS = ("LINEAR", "LINEAR_EXACT", "SIGMOID")


def auto_window(values: Any, low_pct: float = 0.5, high_pct: float = 99.5) -> Window:
    """A window spanning the 0.5-99.5 percentiles of the finite values (robust to a few hot pixels).

    Pass image data only (`MedicalImage.image_values()` leaves DICOM padding out). A constant (or empty)
    image gets width 1 around its value, so nothing divides by zero.
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


def lut_window(item: Any, number: int = 1) -> Window:
    """The file's `number`-th VOI LUT described as the window of its input range (for sliders and summaries)."""
    entries, first = int(item.LUTDescriptor[0]) or 65536, int(item.LUTDescriptor[1])
    source = "file-lut" if number == 1 else f"file-lut:{number}"
    return Window(center=first + (entries - 1) / 2, width=float(entries), source=source, function="LUT")


def _window_error(choice: Any) -> UserError:
    return UserError(
        f"'{choice}' is not a window: use 'default', 'file', 'auto', one of the presets "
        f"({', '.join(PRESETS)}) or 'center,width' with a width above 0, e.g. '40,400'."
    )


def _checked(center: Any, width: Any, source: str, choice: Any, function: str = "LINEAR_EXACT") -> Window:
    try:
        center, width = float(center), float(width)
    except (TypeError, ValueError):
        raise _window_error(choice) from None
    if not (np.isfinite(center) and np.isfinite(width)) or width <= 0:
        raise _window_error(choice)
    return Window(center=center, width=width, source=source, function=function)


def resolve_window(image: MedicalImage, choice: Any = None) -> Window:
    """Turn a user's window choice into a Window for `image`.

    `choice` is None/"default" (the image's default), "file" (the file's first own window), "auto", a
    preset name, a "C,W" string such as "40,400", a (center, width) pair or a Window.
    """
    if isinstance(choice, Window):
        return _checked(choice.center, choice.width, choice.source, choice, choice.function)
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
            return auto_window(image.image_values())
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


def _windowed(data: np.ndarray, window: Window) -> np.ndarray:
    """A window through pydicom's `apply_windowing`, onto [0, 1] (output range y_min 0, y_max 1).

    LINEAR follows C.11.2.1.2.1 (centre - 0.5, width - 1), LINEAR_EXACT and SIGMOID C.11.2.1.3; anything
    else (a LUT's descriptive window used without its LUT) maps LINEAR_EXACT.
    """
    from pydicom.dataset import Dataset  # here, not at the top: pydicom takes a third of a second to import
    from pydicom.pixels import apply_windowing

    function = window.function if window.function in _FUNCTIONS else "LINEAR_EXACT"
    if function == "LINEAR" and window.width < 1:
        function = "LINEAR_EXACT"
    holder = Dataset()
    holder.PhotometricInterpretation = "MONOCHROME2"
    holder.BitsStored, holder.PixelRepresentation = 1, 0  # makes pydicom's output range 0..1
    holder.add_new(0x00281050, "FD", float(window.center))  # FD, not DS: no 16-character rounding
    holder.add_new(0x00281051, "FD", float(window.width))
    holder.VOILUTFunction = function
    with np.errstate(over="ignore", invalid="ignore"):
        return apply_windowing(np.asarray(data, dtype=np.float64), holder).astype(np.float32)


def _apply_voi_lut(frame: np.ndarray, item: Any) -> np.ndarray:
    """The file's VOI LUT (PS3.3 C.11.2.1.1) through pydicom's `apply_voi`, scaled by its output range
    0..2^n-1 (n: the descriptor's bits per entry). Values below / above the table take its first / last entry."""
    from pydicom.dataset import Dataset
    from pydicom.pixels import apply_voi

    entries, first_map, bits = int(item.LUTDescriptor[0]) or 65536, int(item.LUTDescriptor[1]), int(item.LUTDescriptor[2])
    # pydicom indexes with an unsigned array, so values past the table would wrap: clip them first.
    values = np.clip(np.rint(np.nan_to_num(frame)), first_map, first_map + entries - 1).astype(np.int64)
    holder = Dataset()
    holder.VOILUTSequence = [item]
    return (apply_voi(values, holder).astype(np.float64) / float(2**bits - 1)).astype(np.float32)


def own_voi(image: MedicalImage, frame: int, window: Window) -> Window | Any | None:
    """When `window` is one of the file's own, the file's VOI for `frame`: that frame's Window (with its VOI
    LUT Function) or VOI LUT item; None for any other window (a user's choice, applied LINEAR_EXACT)."""
    if image.is_color or not window.source.startswith("file"):
        return None
    same = [w for w in image.file_windows if (w.source, w.center, w.width) == (window.source, window.center, window.width)]
    if not same:
        return None
    voi = image.frame_voi(frame)
    if window.source == "file":
        number = [w for w in image.file_windows if w.source == "file"].index(same[0])
        return voi.windows[number] if number < len(voi.windows) else same[0]
    number = int(window.source.partition(":")[2] or 1) - 1
    return voi.luts[number] if number < len(voi.luts) else None


def frame_window(image: MedicalImage, frame: int = 0, window: Any = None) -> Window:
    """The window `window_to_unit` really uses for `frame` (a file's per-frame window, or its VOI LUT's range)."""
    win = resolve_window(image, window)
    own = own_voi(image, frame, win)
    if isinstance(own, Window):
        return own
    if own is not None:
        return lut_window(own, int(win.source.partition(":")[2] or 1))
    return win


def window_to_unit(image: MedicalImage, frame: int = 0, window: Any = None) -> np.ndarray:
    """One frame as float32 in [0, 1], shape (H, W) or (H, W, 3), ready to show or to feed a model.

    Greyscale, in the order of PS3.3 C.11: the window (a user's: LINEAR_EXACT; the file's own: that frame's
    VOI, see module docstring), then inversion for MONOCHROME1 / Presentation LUT Shape INVERSE, then padding
    set to 0 (black). Colour: divided by the top of its sample range unless an explicit window is given.
    Raises UserError for a frame that does not exist or a window that is not one.
    """
    if not 0 <= frame < image.frame_count:
        raise UserError(f"{image.name} has {image.frame_count} frame(s): frame {frame} does not exist.")
    data = np.asarray(image.frames[frame], dtype=np.float32)
    if image.is_color and window is None:
        unit = data / _color_top(image)
    else:
        win = resolve_window(image, window)
        own = own_voi(image, frame, win)
        if own is None or isinstance(own, Window):
            unit = _windowed(data, own or win)
        else:
            unit = _apply_voi_lut(data, own)
    unit = np.clip(np.nan_to_num(unit, nan=0.0), 0.0, 1.0).astype(np.float32, copy=False)
    if not image.is_color:
        if image.invert:
            unit = 1.0 - unit
        padding = image.frame_padding(frame)
        if padding is not None:
            unit = np.where(padding, np.float32(0.0), unit)
    return unit


def render_8bit(image: MedicalImage, frame: int = 0, window: Any = None) -> np.ndarray:
    """The same as `window_to_unit`, as uint8 grey levels 0-255 (rounded half up)."""
    return np.floor(window_to_unit(image, frame, window) * 255.0 + 0.5).astype(np.uint8)
