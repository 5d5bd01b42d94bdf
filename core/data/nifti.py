"""NIfTI-1/-2 volumes (.nii, .nii.gz) through nibabel, shown as axial slices the way radiologists view them.

The volume is reoriented to the closest canonical orientation (RAS+), then each axial slice is turned so
anterior is up and the patient's right is on the viewer's left (radiological convention). Values keep the
header's scaling (scl_slope/scl_inter), so CT stays in Hounsfield units.
"""
from __future__ import annotations

import zlib

import nibabel as nib
import numpy as np

from core.data.medical_image import MedicalImage
from core.data.raster import MAX_VALUES
from core.data.windowing import auto_window
from core.errors import UserError

MAX_NIFTI_BYTES = 2 << 30  # a .nii.gz may not expand past this (guards against gzip bombs)
_GZIP = b"\x1f\x8b"


def nifti_kind(data: bytes) -> str | None:
    """'nifti1' | 'nifti2' | 'analyze-pair' (header only; image in a separate .img) from the header, else None."""
    for size, magic_at in ((348, 344), (540, 4)):  # sizeof_hdr, then where the magic string sits
        if len(data) < size or size not in (int.from_bytes(data[:4], "little"), int.from_bytes(data[:4], "big")):
            continue
        magic = data[magic_at : magic_at + 4]
        if magic in (b"n+1\x00", b"n+2\x00"):
            return "nifti1" if size == 348 else "nifti2"
        if magic in (b"ni1\x00", b"ni2\x00") or size == 348:
            return "analyze-pair"
    return None


def gunzip(data: bytes, name: str, limit: int = MAX_NIFTI_BYTES) -> bytes:
    """Decompress a gzip file, refusing damaged data and anything that expands past `limit` bytes."""
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error:
        raise UserError(f"{name} is a damaged gzip file: it cannot be decompressed.") from None
    if len(out) > limit:
        raise UserError(f"{name} is too large: it expands to more than {limit >> 20:,} MiB.")
    if not inflater.eof:
        raise UserError(f"{name} is truncated: its gzip data ends early.")
    return out


def _radiological_slices(volume: np.ndarray) -> np.ndarray:
    """(X, Y, Z) in RAS+ -> (Z, rows, cols) with anterior up and the patient's right on the left."""
    return np.ascontiguousarray(np.flip(np.transpose(volume, (2, 1, 0)), axis=(1, 2)))


def _image_class(data: bytes, name: str) -> tuple[type, bytes]:
    """The nibabel class for a .nii / .nii.gz file's bytes, and the bytes uncompressed; UserError otherwise."""
    compressed = data[:2] == _GZIP
    if compressed:
        data = gunzip(data, name)
    kind = nifti_kind(data)
    if kind is None:
        held = "a gzip file that does not hold a NIfTI volume" if compressed else "not a NIfTI file: it has no NIfTI header"
        raise UserError(f"{name} is {held}.")
    if kind == "analyze-pair":
        raise UserError(f"{name} is a NIfTI/Analyze header whose image is in a separate file: save it as one .nii file.")
    return (nib.Nifti1Image if kind == "nifti1" else nib.Nifti2Image), data


def read_nifti(data: bytes, name: str) -> MedicalImage:
    """Read a .nii or .nii.gz file (given as bytes) into axial slices in the file's own units.

    A 4D file shows its first volume, with a warning; `read_nifti_sequence` reads one slice over time instead."""
    image_class, data = _image_class(data, name)
    warnings: list[str] = []
    try:
        img = image_class.from_bytes(data)
        shape = tuple(int(s) for s in img.shape)
        if img.get_data_dtype().fields is not None:
            raise UserError(f"{name} is a colour (RGB) NIfTI, which MedLab does not read.")
        if int(np.prod(shape[:3])) > MAX_VALUES:
            raise UserError(f"{name} is larger than MedLab opens: its first volume has {int(np.prod(shape[:3])):,} voxels.")
        if len(shape) > 3 and int(np.prod(shape[3:])) > 1:
            warnings.append(f"{name} holds {int(np.prod(shape[3:]))} volumes ({'x'.join(map(str, shape))}); only the first is shown.")
        if len(shape) > 3:  # keep the first volume, from the header's shape, before reading any voxels
            img = img.slicer[(slice(None),) * 3 + (0,) * (len(shape) - 3)]
        elif len(shape) < 3:
            img = image_class(np.asanyarray(img.dataobj).reshape(shape + (1,) * (3 - len(shape))), img.affine, img.header)
        canonical = nib.as_closest_canonical(img)
        volume = canonical.get_fdata(dtype=np.float32)
        zooms = tuple(float(z) for z in canonical.header.get_zooms()[:3])
        bits = int(img.header["bitpix"])
    except UserError:
        raise
    except Exception:  # noqa: BLE001 - nibabel raises many types for a garbled or truncated file
        raise UserError(f"{name} is damaged or truncated: its NIfTI data cannot be read.") from None
    frames = _radiological_slices(volume)
    finite = frames[np.isfinite(frames)]
    if finite.size < frames.size:
        warnings.append(f"{name} has {frames.size - finite.size:,} voxels that are not numbers (NaN/inf); they show as black.")
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    spacing = (zooms[1], zooms[0]) if all(z > 0 for z in zooms[:2]) else None
    return MedicalImage(
        name=name,
        format="nifti",
        frames=frames,
        is_color=False,
        bits=bits,
        value_range=(low, high if high > low else low + 1.0),
        default_window=auto_window(finite),
        spacing=spacing,
        warnings=warnings,
    )


_TIME_UNITS_MS = {"sec": 1000.0, "msec": 1.0, "usec": 0.001}


def read_nifti_sequence(data: bytes, name: str) -> MedicalImage:
    """A 4D NIfTI (x, y, z, t) as a sequence: the middle slice along the file's own third (slice) axis, over time.

    Frames are (T, rows, cols) float32 in the file's units (header scaling applied), shown the way `read_nifti`
    shows slices (the plane oriented as in the closest RAS+ orientation, then the patient's right on the viewer's
    left, anterior or superior up); only that slice is read from the file;
    frame_time_ms comes from pixdim[4] in the header's time unit (xyzt_units; none when it names no time unit).
    Raises UserError for a file that is not a 4D volume with at least two time points.
    """
    image_class, data = _image_class(data, name)
    warnings: list[str] = []
    try:
        img = image_class.from_bytes(data)
        shape = tuple(int(s) for s in img.shape)
        if img.get_data_dtype().fields is not None:
            raise UserError(f"{name} is a colour (RGB) NIfTI, which MedLab does not read.")
        if len(shape) < 4 or shape[3] < 2:
            raise UserError(f"{name} is a {'x'.join(map(str, shape))} volume without time points: a sequence "
                            "needs a 4D NIfTI (x, y, z, time).")
        if len(shape) > 4 and int(np.prod(shape[4:])) > 1:
            warnings.append(f"{name} has more than four dimensions ({'x'.join(map(str, shape))}); only the first "
                            "value of the fifth and later ones is used.")
        if int(np.prod(shape[:2])) * shape[3] > MAX_VALUES:
            raise UserError(f"{name} is larger than MedLab opens: {shape[3]} time points of {shape[0]}x{shape[1]}.")
        # Only the middle slab is read: orient the plane as nib.as_closest_canonical would, without loading the rest
        ornt = nib.io_orientation(img.affine)  # per voxel axis: (world axis, +1 or -1)
        count = shape[2]
        middle = count // 2 if ornt[2, 1] > 0 else count - 1 - count // 2  # the canonical middle slice
        plane = np.asarray(img.dataobj[(slice(None), slice(None), middle, slice(None)) + (0,) * (len(shape) - 4)],
                           dtype=np.float32)  # (i, j, T), header scaling applied
        for axis in (0, 1):
            if ornt[axis, 1] < 0:
                plane = np.flip(plane, axis=axis)
        if ornt[0, 0] > ornt[1, 0]:
            plane = np.transpose(plane, (1, 0, 2))  # (a, b, T): a the lower world axis (R before A before S)
        zooms = [float(z) for z in img.header.get_zooms()[:3]]
        in_plane = [zooms[axis] for axis in sorted((0, 1), key=lambda axis: ornt[axis, 0])]
        _, time_unit = img.header.get_xyzt_units()
        step = float(img.header["pixdim"][4])
        bits = int(img.header["bitpix"])
    except UserError:
        raise
    except Exception:  # noqa: BLE001 - nibabel raises many types for a garbled or truncated file
        raise UserError(f"{name} is damaged or truncated: its NIfTI data cannot be read.") from None
    # (a, b, T) -> (T, b, a) flipped: b (anterior or superior) up, a (right or anterior) towards the viewer's left
    frames = np.ascontiguousarray(np.flip(np.transpose(plane, (2, 1, 0)), axis=(1, 2)))
    frame_time = step * _TIME_UNITS_MS[time_unit] if time_unit in _TIME_UNITS_MS and step > 0 else None
    if frame_time is None:
        warnings.append(f"{name} does not state the time between its volumes (pixdim[4] with a time unit), so the "
                        "frame time is unknown.")
    finite = frames[np.isfinite(frames)]
    if finite.size < frames.size:
        warnings.append(f"{name} has {frames.size - finite.size:,} voxels that are not numbers (NaN/inf); they show as black.")
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    spacing = (in_plane[1], in_plane[0]) if all(z > 0 for z in in_plane) else None
    return MedicalImage(
        name=name, format="nifti", frames=frames, is_color=False, bits=bits,
        value_range=(low, high if high > low else low + 1.0), default_window=auto_window(finite),
        spacing=spacing, warnings=warnings, frame_time_ms=frame_time,
    )
