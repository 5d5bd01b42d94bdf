"""PNG, JPEG, BMP (through Pillow) and TIFF (through tifffile, which keeps 16-bit colour and every page).

Alpha is dropped (LA -> L, RGBA -> RGB), palettes become RGB, EXIF orientation is applied. Images above
Pillow's pixel limit (Image.MAX_IMAGE_PIXELS) are refused, the warning band included, as decompression bombs.
"""
from __future__ import annotations

import io
import re
import warnings

import numpy as np
import tifffile
from PIL import Image, ImageOps, UnidentifiedImageError

from core.data.medical_image import MedicalImage, Window
from core.data.windowing import auto_window
from core.errors import UserError

MAX_VALUES = 1 << 29  # samples in one decoded file (2 GiB as float32); any reader refuses more

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "tiff"),  # BigTIFF
    (b"MM\x00+", "tiff"),
)
KIND_NAMES = {"png": "a PNG image", "jpeg": "a JPEG image", "tiff": "a TIFF image", "bmp": "a BMP image"}
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError, MemoryError)


def raster_kind(data: bytes) -> str | None:
    """'png' | 'jpeg' | 'tiff' | 'bmp' from the file's magic number, or None."""
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    # BMP: "BM", then a DIB header whose size is one of the known versions (core, V1-V5).
    if data[:2] == b"BM" and len(data) >= 18 and int.from_bytes(data[14:18], "little") in (12, 40, 52, 56, 64, 108, 124):
        return "bmp"
    return None


def _too_large(name: str, pixels: int | None) -> UserError:
    has = f"it has {pixels:,} pixels" if pixels else "it has more pixels than that"
    return UserError(f"{name} is larger than the limit of {Image.MAX_IMAGE_PIXELS:,} pixels: {has}.")


def _check_pixels(name: str, pixels: int, total_values: int) -> None:
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and pixels > limit:
        raise _too_large(name, pixels)
    if total_values > MAX_VALUES:
        raise UserError(f"{name} is larger than MedLab opens: it holds {total_values:,} values in all.")


def _from_pillow(data: bytes, name: str, kind: str) -> tuple[np.ndarray, str, list[str]]:
    """One (H, W) or (H, W, 3) array with its photometric name, read by Pillow."""
    notes: list[str] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                _check_pixels(name, im.width * im.height, im.width * im.height * len(im.getbands()))
                if getattr(im, "n_frames", 1) > 1:
                    notes.append(f"{name} has {im.n_frames} frames; only the first is shown.")
                im.load()
                frame, photometric = _pillow_array(ImageOps.exif_transpose(im))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))  # Pillow: "Image size (N pixels) exceeds limit ..."
        raise _too_large(name, int(found.group(1)) if found else None) from None
    except UnidentifiedImageError:
        raise UserError(f"{name} is damaged: it starts like {KIND_NAMES[kind]} but cannot be read as one.") from None
    except _DECODE_ERRORS:
        raise UserError(f"{name} is damaged or truncated: its {kind.upper()} data cannot be decoded.") from None
    if kind == "png" and data[24:25] == b"\x10" and data[25:26] in (b"\x02", b"\x06"):
        notes.append(f"{name} is 16-bit colour; Pillow reads it as 8-bit colour (save it as 16-bit TIFF to keep the depth).")
    return frame, photometric, notes


def _pillow_array(im: Image.Image) -> tuple[np.ndarray, str]:
    """Pillow modes to arrays: grey stays grey (alpha dropped), 16-bit stays 16-bit, the rest becomes RGB."""
    mode = im.mode
    if mode in ("L", "LA", "La", "1"):
        return np.asarray(im.convert("L")), "MONOCHROME2"
    if mode.startswith("I;16"):
        return np.asarray(im).astype(np.uint16), "MONOCHROME2"
    if mode in ("I", "F"):
        return np.asarray(im), "MONOCHROME2"
    return np.asarray(im.convert("RGB")), "PALETTE COLOR" if mode in ("P", "PA") else "RGB"


def _from_tiff(data: bytes, name: str) -> tuple[np.ndarray, str, list[str]]:
    """All same-shaped pages of a TIFF as (F, H, W) or (F, H, W, 3), with the photometric name."""
    notes: list[str] = []
    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            pages = [p for p in tif.pages if isinstance(p, tifffile.TiffPage)]
            if not pages:
                raise UserError(f"{name} is a TIFF file with no image in it.")
            first = pages[0]
            same = [p for p in pages if p.shape == first.shape and p.photometric == first.photometric]
            if len(same) < len(pages):
                notes.append(f"{name}: {len(pages) - len(same)} page(s) of another size or kind were skipped.")
            height, width = int(first.imagelength), int(first.imagewidth)
            _check_pixels(name, height * width, int(np.prod(first.shape)) * len(same))
            arrays = [_tiff_page(p, name) for p in same]
            photometric = {0: "MONOCHROME1", 3: "PALETTE COLOR"}.get(int(first.photometric), "")
    except UserError:
        raise
    except Exception:  # noqa: BLE001 - tifffile raises many types (incl. its own) for a damaged file
        raise UserError(f"{name} is damaged or truncated: its TIFF data cannot be decoded.") from None
    frames = np.stack(arrays)
    if not photometric:
        photometric = "RGB" if frames.ndim == 4 else "MONOCHROME2"
    return frames, photometric, notes


def _tiff_page(page: tifffile.TiffPage, name: str) -> np.ndarray:
    arr = page.asarray()
    axes = page.axes
    if "S" in axes and axes.index("S") != len(axes) - 1:  # planar configuration "separate": samples first
        arr = np.moveaxis(arr, axes.index("S"), -1)
    arr = np.squeeze(arr) if arr.ndim > 3 else arr
    photometric = int(page.photometric)
    if photometric == 3 and page.colormap is not None:  # PALETTE: index -> RGB
        colormap = np.asarray(page.colormap)
        if np.all(colormap % 257 == 0):
            colormap = (colormap // 257).astype(np.uint8)
        arr = tifffile.apply_colormap(arr, colormap)
    elif photometric not in (0, 1, 2, 6) or arr.ndim not in (2, 3):
        raise UserError(f"{name} is a kind of TIFF MedLab does not read (photometric {page.photometric.name}).")
    if arr.ndim == 3:
        if arr.shape[-1] in (1, 2):  # grey (+ alpha)
            arr = arr[..., 0]
        else:
            arr = arr[..., :3]  # drop alpha / extra samples
    return arr


def _bits(arr: np.ndarray) -> int:
    if arr.dtype == np.uint8:
        return 8
    if arr.dtype.kind in "ui" and arr.size and arr.min() >= 0 and arr.max() <= 65535:
        return 16
    return int(arr.dtype.itemsize * 8)


def read_raster(data: bytes, name: str) -> MedicalImage:
    """Read a PNG/JPEG/TIFF/BMP file into a MedicalImage (frames in the file's own sample values)."""
    kind = raster_kind(data)
    if kind is None:
        raise UserError(f"{name} is not a PNG, JPEG, TIFF or BMP image: its content has none of their signatures.")
    if kind == "tiff":
        frames, photometric, notes = _from_tiff(data, name)
    else:
        frame, photometric, notes = _from_pillow(data, name, kind)
        frames = frame[np.newaxis]
    if frames.dtype == np.bool_:  # bilevel TIFF
        frames = frames.astype(np.uint8) * 255
    if frames.dtype.kind not in "uif":
        raise UserError(f"{name} holds {frames.dtype} samples, which MedLab does not read.")
    bits = _bits(frames)
    is_color = frames.ndim == 4
    values = frames.astype(np.float32)
    if is_color:
        top = float(2**bits - 1) if bits <= 16 else max(float(np.nanmax(values)), 1.0)
        value_range = (0.0, top)
        default = Window(center=top / 2, width=top, source="full-range")
    elif bits == 8:
        value_range = (0.0, 255.0)
        default = Window(center=127.5, width=255.0, source="full-range")
    else:
        finite = values[np.isfinite(values)]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        value_range = (low, high if high > low else low + 1.0)
        default = auto_window(values)
    return MedicalImage(
        name=name,
        format=kind,
        frames=values,
        is_color=is_color,
        bits=bits,
        value_range=value_range,
        default_window=default,
        invert=photometric == "MONOCHROME1",
        photometric=photometric,
        warnings=notes,
    )
