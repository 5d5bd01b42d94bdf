"""The greyscale chain of DICOM PS3.3 C.11 read from a header, frame by frame.

Modality LUT (C.11.1: Rescale Slope/Intercept or Modality LUT Sequence; in enhanced objects the per-frame
Pixel Value Transformation Sequence, else the shared one, C.7.6.16.2.9), VOI (C.11.2: Window Center/Width
with VOI LUT Function LINEAR, LINEAR_EXACT or SIGMOID, or a VOI LUT Sequence; in enhanced objects the
per-frame Frame VOI LUT Sequence, else the shared one, C.7.6.16.2.10), Presentation LUT Shape (C.11.6) with
the Photometric Interpretation, and Pixel Padding Value / Pixel Padding Range Limit (C.7.5.1.1.2).

The values are applied with pydicom's `apply_modality_lut` here and `apply_windowing` / `apply_voi` in
windowing.py; this module reads and checks what they are given. Anything present but unusable is left out
with a one-sentence note in `notes` (shown by `inspect --json` and on the viewer).
"""
from __future__ import annotations

from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.pixels import apply_modality_lut

from core.data.medical_image import FrameVOI, Window

VOI_FUNCTIONS = ("LINEAR", "LINEAR_EXACT", "SIGMOID")


def note(notes: list[str], text: str) -> None:
    """Add a warning once (a per-frame fault would otherwise repeat for every frame)."""
    if text not in notes:
        notes.append(text)


def values(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple, MultiValue)) else [value]


def functional(ds: Dataset, frame: int, sequence: str) -> Dataset | None:
    """An item of a functional group macro (PS3.3 C.7.6.16) for `frame`: per-frame first, then shared."""
    for groups, index in (("PerFrameFunctionalGroupsSequence", frame), ("SharedFunctionalGroupsSequence", 0)):
        items = ds.get(groups)
        if items and index < len(items) and items[index].get(sequence):
            return items[index].get(sequence)[0]
    return None


def stored_range(ds: Dataset) -> tuple[int, int]:
    """The range of stored values Bits Stored and Pixel Representation allow."""
    bits = int(ds.get("BitsStored") or ds.BitsAllocated)
    if int(ds.get("PixelRepresentation") or 0) == 1:
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


def _as_signed_if(value: int, low: float, high: float) -> int:
    """A 16-bit descriptor value read with the wrong sign (US/SS is ambiguous in implicit VR, PS3.5 A.1):
    the reading that falls inside the input range [low, high] wins; if neither does, signed when inputs can
    be negative (PS3.3 C.11.1.1.1 and C.11.2.1.1)."""
    unsigned = value % 65536
    signed = unsigned - 65536 if unsigned >= 32768 else unsigned
    inside = [v for v in (unsigned, signed) if low <= v <= high]
    if len(inside) == 1:
        return inside[0]
    return signed if low < 0 else unsigned


def clean_lut(item: Dataset, ds: Dataset, input_range: tuple[float, float], what: str, name: str,
              notes: list[str]) -> Dataset | None:
    """A copy of a Modality/VOI LUT item with LUT Descriptor fixed (entries, signed first value, bits) and
    LUT Data as plain integers, so pydicom applies it whatever the encoding; None (with a note) if malformed."""
    try:
        entries, first, bits = (int(v) for v in values(item.LUTDescriptor)[:3])
        data = item.LUTData
        entries = entries % 65536 or 65536
        if isinstance(data, (bytes, bytearray)):
            little = ds.original_encoding[1] is not False
            data = np.frombuffer(data[: len(data) // 2 * 2], dtype="<u2" if little else ">u2")
        table = np.asarray([int(v) for v in np.atleast_1d(data)], dtype=np.int64)
    except (AttributeError, TypeError, ValueError, KeyError):
        note(notes, f"{name} has a {what} whose LUT Descriptor or LUT Data cannot be read; it was not used.")
        return None
    if table.size < entries or table.min() < 0:
        note(notes, f"{name} has a {what} with {table.size} entries where its descriptor says {entries}; it was not used.")
        return None
    table = table[:entries]
    if not 8 <= bits <= 16 or int(table.max()) > 2**bits - 1:
        found = max(8, int(table.max()).bit_length())
        note(notes, f"{name} has a {what} whose descriptor says {bits} bits per entry but whose data need "
                    f"{found}; it was read as {found}-bit.")
        bits = found
    if 8 < bits < 10:  # pydicom reads 8 or 10-16 bits per entry; 9-bit tables fit in 10
        bits = 10
    clean = Dataset()
    clean.add_new(0x00283002, "SS", [entries, _as_signed_if(first, *input_range), bits])
    clean.add_new(0x00283006, "US", table.tolist())
    if "LUTExplanation" in item:
        clean.LUTExplanation = item.LUTExplanation
    return clean


def _rescale_source(ds: Dataset, frame: int) -> Dataset | None:
    """Where the Modality LUT of `frame` lives: per-frame, then shared Pixel Value Transformation, then top level."""
    item = functional(ds, frame, "PixelValueTransformationSequence")
    for source in (item, ds):
        if source is not None and (source.get("ModalityLUTSequence")
                                   or "RescaleSlope" in source or "RescaleIntercept" in source):
            return source
    return None


def modality_frames(stored: np.ndarray, ds: Dataset, name: str, notes: list[str]) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Stored (F, H, W) -> modality values float32 (HU for CT) per frame with pydicom's `apply_modality_lut`,
    plus each frame's possible output range (what a VOI LUT's first mapped value is read against).

    Raises ValueError when a rescale slope or intercept is not a number.
    """
    low, high = stored_range(ds)
    out = np.empty(stored.shape, dtype=np.float32)
    ranges: list[tuple[float, float]] = []
    cache: dict[int, tuple[Dataset | None, tuple[float, float]]] = {}
    for index in range(stored.shape[0]):
        source = _rescale_source(ds, index)
        key = id(source)
        if key not in cache:
            holder: Dataset | None = None
            span = (float(low), float(high))
            if source is not None and source.get("ModalityLUTSequence"):
                clean = clean_lut(source.ModalityLUTSequence[0], ds, (low, high), "Modality LUT", name, notes)
                if clean is not None:
                    entries, first, bits = clean.LUTDescriptor
                    clean.LUTDescriptor = [entries, first, 8 if bits <= 8 else 16]  # pydicom reads uint8/uint16 tables
                    holder = Dataset()
                    holder.ModalityLUTSequence = [clean]
                    span = (0.0, float(max(clean.LUTData)))  # C.11.1.1.1: the output is unsigned
            if holder is None and source is not None and ("RescaleSlope" in source or "RescaleIntercept" in source):
                if "RescaleSlope" not in source:  # C.11.1: both or neither; the other's neutral value is used
                    note(notes, f"{name} names a rescale intercept without a slope; slope 1 was used.")
                elif "RescaleIntercept" not in source:
                    note(notes, f"{name} names a rescale slope without an intercept; intercept 0 was used.")
                slope, intercept = float(source.get("RescaleSlope", 1)), float(source.get("RescaleIntercept", 0))
                if not (np.isfinite(slope) and np.isfinite(intercept)):
                    raise ValueError("rescale is not finite")
                holder = Dataset()
                holder.add_new(0x00281053, "FD", slope)  # FD, not DS: no 16-character rounding or warning
                holder.add_new(0x00281052, "FD", intercept)
                ends = (low * slope + intercept, high * slope + intercept)
                span = (min(ends), max(ends))
            cache[key] = (holder, span)
        holder, span = cache[key]
        frame = stored[index]
        out[index] = frame if holder is None else apply_modality_lut(frame.astype(np.int64), holder)
        ranges.append(span)
    return out, ranges


def _windows(source: Dataset, name: str, notes: list[str]) -> list[Window]:
    """Every Window Center/Width pair of one VOI source (VM 1-n), with the source's VOI LUT Function."""
    if "WindowCenter" not in source or "WindowWidth" not in source:
        return []
    function = str(source.get("VOILUTFunction") or "LINEAR").strip().upper()
    if function not in VOI_FUNCTIONS:
        note(notes, f"{name} names the VOI LUT Function {function}, which DICOM does not define; its window is shown LINEAR.")
        function = "LINEAR"
    windows: list[Window] = []
    for center, width in zip(values(source.WindowCenter), values(source.WindowWidth)):
        try:
            window = Window(center=float(center), width=float(width), source="file", function=function)
        except (TypeError, ValueError):
            window = None
        if window is None or not window.width > 0 or not np.isfinite(window.center) or not np.isfinite(window.width):
            note(notes, f"{name} names a window ({center}, {width}) that cannot be used; it was skipped.")
            continue
        if function == "LINEAR" and window.width < 1:  # C.11.2.1.2.1 asks width >= 1 for LINEAR
            note(notes, f"{name} names a LINEAR window of width {width}, below the 1 DICOM requires; it is shown LINEAR_EXACT.")
            window = Window(window.center, window.width, "file", "LINEAR_EXACT")
        if window not in windows:  # files often repeat one window
            windows.append(window)
    return windows


def _luts(source: Dataset, ds: Dataset, input_range: tuple[float, float], name: str, notes: list[str]) -> list[Dataset]:
    items = source.get("VOILUTSequence") or []
    cleaned = [clean_lut(item, ds, input_range, "VOI LUT", name, notes) for item in items]
    return [item for item in cleaned if item is not None]


def frame_vois(ds: Dataset, ranges: list[tuple[float, float]], name: str, notes: list[str]) -> list[FrameVOI]:
    """The file's own VOI for every frame: per-frame Frame VOI LUT, else shared, else the top-level module."""
    out: list[FrameVOI] = []
    cache: dict[tuple[int, tuple[float, float]], FrameVOI] = {}
    for index, span in enumerate(ranges):
        source = functional(ds, index, "FrameVOILUTSequence")
        if source is None or not ("WindowCenter" in source or source.get("VOILUTSequence")):
            source = ds
        key = (id(source), span)
        if key not in cache:
            cache[key] = FrameVOI(tuple(_windows(source, name, notes)), tuple(_luts(source, ds, span, name, notes)))
        out.append(cache[key])
    return out


def presentation_inverts(ds: Dataset, photometric: str, name: str, notes: list[str]) -> bool:
    """Whether the display is inverted after the VOI (C.11.6): MONOCHROME1 (minimum white), or Presentation
    LUT Shape INVERSE. For MONOCHROME1, INVERSE is that same inversion (the DX Image Module, PS3.3 C.8.11.1,
    asks INVERSE exactly when the image is MONOCHROME1), not a second one."""
    invert = photometric == "MONOCHROME1"
    if ds.get("PresentationLUTSequence"):
        note(notes, f"{name} has a Presentation LUT Sequence, which MedLab does not apply; it is shown without it.")
    shape = str(ds.get("PresentationLUTShape") or "").strip().upper()
    if shape == "INVERSE":
        return True
    if shape == "IDENTITY" and invert:
        note(notes, f"{name} is MONOCHROME1 with Presentation LUT Shape IDENTITY, which DICOM does not allow; "
                    "it is shown as MONOCHROME1 (lowest value white).")
    elif shape not in ("", "IDENTITY"):
        note(notes, f"{name} names the Presentation LUT Shape {shape}, which applies to film, not screens; it was ignored.")
    return invert


def padding_mask(stored: np.ndarray, ds: Dataset, name: str, notes: list[str]) -> np.ndarray | None:
    """bool (F, H, W): stored values equal to Pixel Padding Value, or between it and Pixel Padding Range Limit
    inclusive (PS3.3 C.7.5.1.1.2); None when the file names no padding or no pixel is padding."""
    if "PixelPaddingValue" not in ds:
        return None
    low, high = stored_range(ds)
    try:
        ends = [_as_signed_if(int(values(ds.PixelPaddingValue)[0]), low, high)]
        if "PixelPaddingRangeLimit" in ds:
            ends.append(_as_signed_if(int(values(ds.PixelPaddingRangeLimit)[0]), low, high))
    except (TypeError, ValueError, IndexError):
        note(notes, f"{name} names a Pixel Padding Value that is not a number; no pixel was treated as padding.")
        return None
    mask = (stored >= min(ends)) & (stored <= max(ends))
    return mask if mask.any() else None
