"""DICOM files through pydicom: de-identified first, then decoded to modality values (HU for CT).

Order matters: the header is de-identified (PS3.15 Annex E, see deid.py) before anything is derived from
it. Pixels decode through pydicom's plugins (JPEG baseline/lossless, JPEG-LS, JPEG 2000, RLE), YBR becomes
RGB on decoding, PALETTE COLOR goes through `apply_color_lut`, and greyscale through the chain of PS3.3 C.11
frame by frame (dicom_grey.py): modality values (HU for CT) are stored in `frames`, the file's own VOI per
frame, the presentation inversion and the padding mask are kept for windowing.py to render.
"""
from __future__ import annotations

import io
import warnings

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.pixels import apply_color_lut, pixel_array
from pydicom.pixels.utils import get_expected_length, get_nr_frames
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from core.data.deid import Deidentifier, deidentified_tag_rows
from core.data.dicom_grey import frame_vois, functional, modality_frames, padding_mask, presentation_inverts, values
from core.data.medical_image import FrameVOI, MedicalImage, Window
from core.data.nifti import nifti_kind
from core.data.raster import KIND_NAMES, MAX_VALUES, raster_kind
from core.data.windowing import auto_window, lut_window
from core.errors import UserError

_PIXEL_TAGS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
_REQUIRED = ("Rows", "Columns", "BitsAllocated", "SamplesPerPixel", "PhotometricInterpretation")
_GREY = ("MONOCHROME1", "MONOCHROME2")
_COLOUR = ("RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT", "PALETTE COLOR")


def has_dicom_prefix(data: bytes) -> bool:
    """The DICOM file format: a 128-byte preamble, then 'DICM' (PS3.10 7.1)."""
    return data[128:132] == b"DICM"


def looks_like_dicom(data: bytes) -> bool:
    """A file starting with a DICOM tag of group 0002/0008 (a dataset written without the PS3.10 preamble)."""
    if has_dicom_prefix(data):
        return True
    if len(data) < 8:
        return False
    little, big = int.from_bytes(data[:2], "little"), int.from_bytes(data[:2], "big")
    return little in (0x0002, 0x0008) and int.from_bytes(data[2:4], "little") < 0x0100 or (
        big in (0x0002, 0x0008) and int.from_bytes(data[2:4], "big") < 0x0100
    )


def not_dicom_error(data: bytes, name: str) -> UserError:
    """Say what a file that claims to be DICOM really is, and how to open it."""
    stem = name.rsplit(".", 1)[0] if "." in name else name
    kind = raster_kind(data)
    if kind:
        suffix = {"jpeg": "jpg", "tiff": "tif"}.get(kind, kind)
        return UserError(f"{name} is {KIND_NAMES[kind]}, not a DICOM file: rename it to {stem}.{suffix} to open it as an image.")
    if nifti_kind(data):
        return UserError(f"{name} is a NIfTI volume, not a DICOM file: rename it to {stem}.nii to open it.")
    if data[:2] == b"\x1f\x8b":
        return UserError(f"{name} is a gzip file, not a DICOM file: if it holds a NIfTI volume, rename it to {stem}.nii.gz.")
    return UserError(f"{name} is not a DICOM file: it has no DICOM header.")


def _parse(data: bytes, name: str) -> Dataset:
    prefixed = has_dicom_prefix(data)
    if not prefixed and not looks_like_dicom(data):
        raise not_dicom_error(data, name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(io.BytesIO(data), force=not prefixed)
            _ = [elem.VR for elem in ds]  # convert every raw element now, so a damaged header fails here
    except Exception:  # noqa: BLE001 - pydicom raises many types for a damaged header
        raise UserError(f"{name} is damaged or truncated: its DICOM header cannot be read.") from None
    if not prefixed and not any(k in ds for k in ("SOPClassUID", "StudyInstanceUID", "Modality") + _PIXEL_TAGS):
        raise not_dicom_error(data, name)
    if len(ds) == 0:
        raise UserError(f"{name} is truncated: the file ends inside its DICOM header.")
    meta = ds.file_meta
    if "TransferSyntaxUID" not in meta:  # no file meta: the encoding pydicom found while parsing says it
        implicit, little = ds.original_encoding
        meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian if little else ExplicitVRBigEndian
    return ds


def _sop_class(ds: Dataset) -> UID | None:
    uid = ds.get("SOPClassUID") or ds.file_meta.get("MediaStorageSOPClassUID")
    return UID(str(uid)) if uid else None


def _check_image(ds: Dataset, name: str) -> None:
    """Raise the right one-sentence error when `ds` holds no decodable image."""
    sop = _sop_class(ds)
    if not any(k in ds for k in _PIXEL_TAGS):
        if "Rows" in ds or (sop is not None and "Image" in sop.name):
            raise UserError(f"{name} is truncated: the file ends before its pixel data.")
        what = f"a DICOM {sop.name} object" if sop is not None and sop.name != str(sop) else "a DICOM object without pixel data"
        raise UserError(f"{name} holds no image: it is {what}.")
    missing = [k for k in _REQUIRED if k not in ds]
    if missing:
        raise UserError(f"{name} has an incomplete image header: it lacks {', '.join(missing)}.")
    photometric = str(ds.PhotometricInterpretation).strip()
    if photometric not in _GREY + _COLOUR:
        raise UserError(f"{name} uses the photometric interpretation {photometric}, which MedLab does not read.")
    try:
        frames, rows, cols = int(get_nr_frames(ds, warn=False)), int(ds.Rows), int(ds.Columns)
        values = frames * rows * cols * int(ds.SamplesPerPixel)
    except (TypeError, ValueError):
        raise UserError(f"{name} has an invalid image header: its frame count or image size is not a number.") from None
    if min(frames, rows, cols) < 1:
        raise UserError(f"{name} has an invalid image header: it describes {frames} frame(s) of {rows}x{cols} pixels.")
    if values > MAX_VALUES:
        raise UserError(f"{name} is larger than MedLab opens: {frames} frame(s) of {rows}x{cols} pixels.")
    tsyntax = UID(str(ds.file_meta.TransferSyntaxUID))
    if "PixelData" in ds and not tsyntax.is_compressed:
        expected, found = get_expected_length(ds), len(ds.PixelData)
        if found < expected:
            raise UserError(f"{name} is truncated: its pixel data holds {found:,} of the {expected:,} bytes its header describes.")


def _decode(ds: Dataset, name: str) -> np.ndarray:
    """All frames as (F, H, W) or (F, H, W, S); YBR already converted to RGB by pydicom."""
    tsyntax = UID(str(ds.file_meta.TransferSyntaxUID))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            arr = pixel_array(ds)
    except NotImplementedError:
        raise UserError(f"{name} uses a transfer syntax MedLab cannot decode ({tsyntax.name}): convert it to uncompressed DICOM first.") from None
    except Exception:  # noqa: BLE001 - the decoding plugins raise many types for damaged data
        raise UserError(f"{name} could not be decoded: its {tsyntax.name} pixel data is damaged or incomplete.") from None
    if int(get_nr_frames(ds, warn=False)) == 1:
        arr = arr[np.newaxis]
    return arr


def _spacing(ds: Dataset) -> tuple[float, float] | None:
    """Pixel Spacing (row, column) in mm: the patient plane, else the detector plane, else functional groups."""
    measures = functional(ds, 0, "PixelMeasuresSequence")
    value = ds.get("PixelSpacing") or ds.get("ImagerPixelSpacing") or (measures.get("PixelSpacing") if measures else None)
    try:
        row, col = (float(v) for v in values(value)[:2])
    except (TypeError, ValueError):
        return None
    return (row, col) if row > 0 and col > 0 else None


def _finite(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def _positive(value: object) -> float | None:
    number = _finite(value)
    return number if number is not None and number > 0 else None


def trigger_time_ms(ds: Dataset) -> float | None:
    """Trigger Time (0018,1060): ms from the R wave to this image (cine MR), or None when absent."""
    return _finite(ds.get("TriggerTime"))


def series_frame_time_ms(trigger_times: list[float | None]) -> float | None:
    """The time between the images of a series in frame order, from their Trigger Times: the median of the
    positive steps, or None when fewer than two images carry one."""
    known = np.array([t for t in trigger_times if t is not None], dtype=float)
    steps = np.diff(known)
    steps = steps[steps > 0]
    return float(np.median(steps)) if steps.size else None


def frame_time_ms(ds: Dataset) -> float | None:
    """Milliseconds between the frames of a multi-frame object (PS3.3 C.7.6.5 Cine Module, C.7.6.16 enhanced).

    Frame Time (0018,1063); else the mean of Frame Time Vector (0018,1065) after its first entry (the time
    from the previous frame, 0 for the first); else the steps of the per-frame Nominal Cardiac Trigger Delay
    Time (enhanced MR cine); else 1000 / Cine Rate (0018,0040) or Recommended Display Frame Rate (0008,2144).
    None when the file gives none of them.
    """
    found = _positive(ds.get("FrameTime"))
    if found:
        return found
    vector = [_positive(v) for v in values(ds.get("FrameTimeVector"))[1:]] if "FrameTimeVector" in ds else []
    if vector and all(vector):
        return float(np.mean(vector))
    items = ds.get("PerFrameFunctionalGroupsSequence")
    if items and len(items) > 1:
        delays = []
        for frame in range(len(items)):
            cardiac = functional(ds, frame, "CardiacSynchronizationSequence")
            delay = cardiac.get("NominalCardiacTriggerDelayTime") if cardiac is not None else None
            delays.append(_finite(delay))
        found = series_frame_time_ms(delays) if all(d is not None for d in delays) else None
        if found:
            return found
    for keyword in ("CineRate", "RecommendedDisplayFrameRate"):
        rate = _positive(ds.get(keyword))
        if rate:
            return 1000.0 / rate
    return None


def read_dicom(data: bytes, name: str, deidentifier: Deidentifier) -> MedicalImage:
    """Read a DICOM file: de-identify the header, then decode every frame into a MedicalImage."""
    if not data:
        raise UserError(f"{name} is empty.")
    ds = _parse(data, name)
    notes: list[str] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom warns about odd values in nested items as it converts them
            patient_key = deidentifier(ds, notes)
    except Exception:  # noqa: BLE001 - a header we cannot clean must not be imported
        raise UserError(f"{name} could not be de-identified, so it was not opened: its header is damaged.") from None
    _check_image(ds, name)
    if "PixelData" not in ds:
        raise UserError(f"{name} holds float pixel data (parametric map), which MedLab does not read.")
    photometric = str(ds.PhotometricInterpretation).strip()
    stored = _decode(ds, name)
    bits = int(ds.get("BitsStored") or ds.BitsAllocated)
    file_windows: list[Window] = []
    vois: list[FrameVOI] = []
    padding = None
    invert = False
    if photometric == "PALETTE COLOR":
        try:
            rgb = apply_color_lut(stored, ds)[..., :3]
        except Exception:  # noqa: BLE001 - missing/odd palette descriptors
            raise UserError(f"{name} is PALETTE COLOR but its palette cannot be used.") from None
        bits = 8 if rgb.dtype == np.uint8 else 16
        frames = rgb.astype(np.float32)
    elif photometric in _COLOUR:
        frames = stored.astype(np.float32)
    else:
        try:
            frames, ranges = modality_frames(stored, ds, name, notes)
        except (TypeError, ValueError, IndexError, OverflowError):
            raise UserError(f"{name} has an invalid Modality LUT or rescale slope/intercept.") from None
        padding = padding_mask(stored, ds, name, notes)
        vois = frame_vois(ds, ranges, name, notes)
        invert = presentation_inverts(ds, photometric, name, notes)
    is_color = frames.ndim == 4
    if is_color:
        top = float(2**bits - 1)
        value_range, default = (0.0, top), Window(center=top / 2, width=top, source="full-range")
    else:
        first = vois[0]
        file_windows = [*first.windows, *(lut_window(item, n) for n, item in enumerate(first.luts, start=1))]
        image_data = frames[~padding] if padding is not None else frames
        finite = image_data[np.isfinite(image_data)]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        value_range = (low, high if high > low else low + 1.0)
        default = file_windows[0] if file_windows else auto_window(finite)
    if str(ds.get("LossyImageCompression", "")).strip() == "01":
        notes.append(f"{name} was lossy compressed at some point; fine detail may differ from the original.")
    spacing = _spacing(ds)
    return MedicalImage(
        name=name,
        format="dicom",
        frames=frames,
        is_color=is_color,
        bits=bits,
        value_range=value_range,
        default_window=default,
        file_windows=file_windows,
        invert=invert,
        modality=str(ds.get("Modality") or "") or None,
        photometric=photometric,
        spacing=spacing,
        patient_key=patient_key,
        tags=deidentified_tag_rows(ds),
        dicom=ds,
        voi_lut=vois[0].luts[0] if vois and vois[0].luts else None,
        warnings=notes,
        frame_vois=vois,
        padding=padding,
        frame_time_ms=frame_time_ms(ds) if frames.shape[0] > 1 else None,
    )
