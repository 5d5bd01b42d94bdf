"""PNG, JPEG, BMP and TIFF files read at their full depth, with the channels they hold, upright.

Decoders: Pillow for PNG up to 8 bits, JPEG and BMP; imagecodecs for 16-bit PNG (libpng), whose colour and
grey+alpha variants Pillow truncates to 8 bits, and for 12-bit and lossless JPEG (libjpeg-turbo), which Pillow
cannot read; tifffile, with imagecodecs' codecs (LZW, JPEG, ...), for TIFF, each same-sized page a frame, and
Pillow (libtiff) for a TIFF that tifffile cannot decode.
Depth: 1-bit -> 0/255; 8-, 12- and 16-bit samples, Pillow's I;16 in either byte order, 32-bit int (I) and
float (F) keep their values.
Channels: greyscale stays one channel (with alpha too, and palettes whose colours are all grey); colour becomes
RGB (palettes, YCbCr; CMYK by the naive formula, without its ICC profile, with a warning). Alpha is dropped
with the stored values kept, and a warning when some pixels are transparent.
Orientation: the EXIF / TIFF Orientation tag (274; TIFF 6.0, EXIF 2.3, values 1-8) is applied as
PIL.ImageOps.exif_transpose does, so every frame is upright.
Images above Pillow's pixel limit (Image.MAX_IMAGE_PIXELS) are refused, the warning band included, as
decompression bombs.
"""
from __future__ import annotations

import io
import re
import struct
import warnings

import imagecodecs
import numpy as np
import tifffile
from PIL import Image, UnidentifiedImageError

from core.data.medical_image import MedicalImage, Window
from core.data.windowing import auto_window
from core.errors import UserError

MAX_VALUES = 1 << 29  # samples in one decoded file (2 GiB as float32); any reader refuses more
ORIENTATION_TAG = 0x0112  # EXIF and TIFF "Orientation"

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "tiff"),  # BigTIFF
    (b"MM\x00+", "tiff"),
)
KIND_NAMES = {"png": "a PNG image", "jpeg": "a JPEG image", "tiff": "a TIFF image", "bmp": "a BMP image"}
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError, MemoryError,
                  RuntimeError)
_TIFF_COLOUR_SAMPLES = {0: 1, 1: 1, 2: 3, 3: 1, 5: 4, 6: 3}  # photometric -> samples of the image itself


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


def upright(array: np.ndarray, orientation: int | None) -> np.ndarray:
    """(H, W[, C]) as stored -> as meant to be seen, for an Orientation tag value 1-8 (EXIF 2.3 / TIFF 6.0).

    The same transposes as PIL.ImageOps.exif_transpose: 2 mirror, 3 rotate 180, 4 flip, 5 transpose,
    6 rotate 90 clockwise, 7 transverse, 8 rotate 90 anticlockwise; 1 and None leave the array as it is.
    """
    turned = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],
        8: lambda a: np.rot90(a, 1),
    }.get(orientation or 1)
    return np.ascontiguousarray(turned(array)) if turned else array


def _orientation(value: object, name: str, notes: list[str]) -> int | None:
    if value is None:
        return None
    if isinstance(value, (tuple, list)) and len(value) == 1:
        value = value[0]
    if isinstance(value, (int, np.integer)) and 1 <= int(value) <= 8:
        return int(value)
    notes.append(f"{name} has an orientation tag of {value!r}, which is not one of 1-8; it is shown as stored.")
    return None


def _note_alpha(alpha: np.ndarray, top: float, name: str, notes: list[str]) -> None:
    """Alpha is dropped (stored values kept); say so when it hid anything."""
    if alpha.size and float(alpha.min()) < top:
        notes.append(f"{name} has transparent pixels; the transparency was ignored and the stored values kept.")


def _cmyk_to_rgb(cmyk: np.ndarray, name: str, notes: list[str]) -> np.ndarray:
    """(..., 4) CMYK -> (..., 3) RGB by R = (1 - C)(1 - K) (as Pillow's CMYK -> RGB), in the same dtype."""
    top = float(np.iinfo(cmyk.dtype).max) if cmyk.dtype.kind in "ui" else 1.0
    values = cmyk.astype(np.float64)
    rgb = (top - values[..., :3]) * (top - values[..., 3:4]) / top
    notes.append(f"{name} is CMYK; it was converted to RGB without its colour profile, so colours are approximate.")
    return np.rint(rgb).astype(cmyk.dtype) if cmyk.dtype.kind in "ui" else rgb.astype(cmyk.dtype)


def _grey_if_equal(rgb: np.ndarray) -> np.ndarray:
    """An (H, W, 3) palette rendering whose three channels agree everywhere is greyscale (H, W)."""
    if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2]):
        return np.ascontiguousarray(rgb[..., 0])
    return rgb


def _from_pillow(data: bytes, name: str, kind: str) -> tuple[np.ndarray, str, list[str], int | None]:
    """One (H, W) or (H, W, 3) upright array, its photometric name, notes and declared bits (None: from values).

    Pillow decodes; libpng (imagecodecs) decodes 16-bit PNG and libjpeg-turbo 12-bit and lossless JPEG.
    """
    notes: list[str] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                _check_pixels(name, im.width * im.height, im.width * im.height * len(im.getbands()))
                if getattr(im, "n_frames", 1) > 1:
                    notes.append(f"{name} has {im.n_frames} frames; only the first is shown.")
                im.load()
                try:
                    orientation = _orientation(im.getexif().get(ORIENTATION_TAG), name, notes)
                except _DECODE_ERRORS:
                    orientation = None
                    notes.append(f"{name} has an EXIF block that cannot be read; it is shown as stored.")
                if kind == "png" and data[24:25] == b"\x10":  # 16 bits per sample: Pillow keeps only grey at depth
                    frame, photometric = _png16_array(data, name, notes)
                else:
                    frame, photometric = _pillow_array(im, name, notes)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))  # Pillow: "Image size (N pixels) exceeds limit ..."
        raise _too_large(name, int(found.group(1)) if found else None) from None
    except UnidentifiedImageError:
        if kind == "jpeg":  # Pillow reads only 8-bit lossy JPEG
            return _deep_jpeg(data, name)
        raise UserError(f"{name} is damaged: it starts like {KIND_NAMES[kind]} but cannot be read as one.") from None
    except _DECODE_ERRORS + (imagecodecs.PngError,):
        raise UserError(f"{name} is damaged or truncated: its {kind.upper()} data cannot be decoded.") from None
    return upright(frame, orientation), photometric, notes, None


def _jpeg_headers(data: bytes) -> tuple[bytes | None, bytes | None]:
    """The frame header (SOFn: precision, height, width, components) and EXIF segment of a JPEG (ITU T.81)."""
    frame = exif = None
    position = 2
    while position + 4 <= len(data) and data[position] == 0xFF:
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        length = int.from_bytes(data[position + 2:position + 4], "big")
        body = data[position + 4:position + 2 + length]
        if marker == 0xE1 and body.startswith(b"Exif\0\0") and exif is None:
            exif = body
        elif 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC) and len(body) >= 6:
            frame = body
        elif marker == 0xDA:  # start of scan: the headers are over
            break
        position += 2 + length
    return frame, exif


def _deep_jpeg(data: bytes, name: str) -> tuple[np.ndarray, str, list[str], int | None]:
    """A 12-bit or lossless (up to 16-bit) JPEG through libjpeg-turbo, at its own depth, upright."""
    frame_header, exif_segment = _jpeg_headers(data)
    damaged = UserError(f"{name} is damaged: it starts like {KIND_NAMES['jpeg']} but cannot be read as one.")
    if frame_header is None:
        raise damaged
    precision, height, width = frame_header[0], *struct.unpack(">HH", frame_header[1:5])
    _check_pixels(name, height * width, height * width * frame_header[5])
    try:
        array = imagecodecs.jpeg8_decode(data)
    except _DECODE_ERRORS + (imagecodecs.Jpeg8Error,):
        raise damaged from None
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim != 2 and not (array.ndim == 3 and array.shape[2] == 3):
        raise UserError(f"{name} is a kind of JPEG MedLab does not read ({array.shape[2]} colour components).")
    notes: list[str] = []
    orientation = None
    if exif_segment is not None:
        exif = Image.Exif()
        try:
            exif.load(exif_segment)
            orientation = _orientation(exif.get(ORIENTATION_TAG), name, notes)
        except _DECODE_ERRORS:
            notes.append(f"{name} has an EXIF block that cannot be read; it is shown as stored.")
    photometric = "RGB" if array.ndim == 3 else "MONOCHROME2"
    return upright(array, orientation), photometric, notes, int(precision) if precision < 16 else None


def _png16_array(data: bytes, name: str, notes: list[str]) -> tuple[np.ndarray, str]:
    """A 16-bit PNG of any colour type through libpng, at full depth: grey (+alpha) -> (H, W), colour -> RGB."""
    array = imagecodecs.png_decode(data)  # uint16; a tRNS chunk comes back as an alpha channel
    colour_type = data[25]
    colours = 3 if colour_type in (2, 6) else 1
    if array.ndim == 3 and array.shape[2] > colours:
        _note_alpha(array[..., colours], 65535, name, notes)
    if array.ndim == 3:
        array = array[..., 0] if colours == 1 else array[..., :3]
    return np.ascontiguousarray(array, dtype=np.uint16), "RGB" if colours == 3 else "MONOCHROME2"


def _pillow_array(im: Image.Image, name: str, notes: list[str]) -> tuple[np.ndarray, str]:
    """Pillow modes to arrays: grey stays grey (palettes of greys too), deep stays deep, colour becomes RGB."""
    if im.mode in ("La", "RGBa"):  # premultiplied alpha
        im = im.convert(im.mode.upper())
    mode = im.mode
    if mode in ("LA", "PA", "RGBA") or (mode in ("1", "L", "P", "RGB") and im.has_transparency_data):
        _note_alpha(np.asarray(im.convert("RGBA").getchannel("A")), 255, name, notes)
    if mode in ("1", "L", "LA"):
        return np.asarray(im.convert("L")), "MONOCHROME2"
    if mode.startswith("I;16"):
        return np.asarray(im).astype(np.uint16), "MONOCHROME2"
    if mode in ("I", "F"):
        return np.asarray(im), "MONOCHROME2"
    if mode in ("P", "PA"):
        return _grey_if_equal(np.asarray(im.convert("RGB"))), "PALETTE COLOR"
    if mode == "CMYK":
        return _cmyk_to_rgb(np.asarray(im), name, notes), "RGB"
    if mode in ("RGB", "RGBA", "RGBX", "YCbCr", "HSV"):
        return np.asarray(im.convert("RGB")), "RGB"
    raise UserError(f"{name} holds {mode} pixels, which MedLab does not read: save it as greyscale or RGB.")


def _from_tiff(data: bytes, name: str) -> tuple[np.ndarray, str, list[str], int | None]:
    """All same-shaped upright pages of a TIFF as (F, H, W) or (F, H, W, 3), photometric name, notes, bits."""
    notes: list[str] = []
    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            pages = [p for p in tif.pages if isinstance(p, tifffile.TiffPage)]
            if not pages:
                raise UserError(f"{name} is a TIFF file with no image in it.")
            full = [p for p in pages if not int(p.subfiletype) & 1] or pages  # bit 0: reduced (thumbnail, pyramid)
            if len(full) < len(pages):
                notes.append(f"{name}: {len(pages) - len(full)} reduced-resolution page(s) (thumbnails) were skipped.")
            first = full[0]
            same = [p for p in full if p.shape == first.shape and p.photometric == first.photometric
                    and p.dtype == first.dtype]
            _check_pixels(name, int(first.imagelength) * int(first.imagewidth), int(np.prod(first.shape)) * len(same))
            arrays = [_tiff_page(p, name, notes) for p in same]
            kept = [a for a in arrays if a.shape == arrays[0].shape and a.dtype == arrays[0].dtype]
            if len(kept) < len(full):
                notes.append(f"{name}: {len(full) - len(kept)} page(s) of another size or kind were skipped.")
            photometric = {0: "MONOCHROME1", 3: "PALETTE COLOR"}.get(int(first.photometric), "")
            stored_bits = int(first.bitspersample)
            depth_known = int(first.photometric) in (0, 1, 2) and kept[0].dtype.kind == "u"
            bits = stored_bits if depth_known and stored_bits < kept[0].dtype.itemsize * 8 else None
    except UserError:
        raise
    except Exception:  # noqa: BLE001 - tifffile raises many types (incl. its own): libtiff (Pillow) may still read it
        frame, photometric, pillow_notes, bits = _from_pillow(data, name, "tiff")
        return frame[np.newaxis], photometric, pillow_notes, bits
    frames = np.stack(kept)
    if not photometric:
        photometric = "RGB" if frames.ndim == 4 else "MONOCHROME2"
    return frames, photometric, list(dict.fromkeys(notes)), bits


def _tiff_page(page: tifffile.TiffPage, name: str, notes: list[str]) -> np.ndarray:
    """One page as an upright (H, W) grey or (H, W, 3) RGB array in its own sample type."""
    photometric = int(page.photometric)
    colours = _TIFF_COLOUR_SAMPLES.get(photometric)
    if colours is None or (photometric == 5 and int(page.tags.valueof(332, 1)) != 1):  # InkSet 1: CMYK
        raise UserError(f"{name} is a kind of TIFF MedLab does not read (photometric {page.photometric.name}).")
    arr = page.asarray()
    axes = page.axes
    if "S" in axes and axes.index("S") != len(axes) - 1:  # planar configuration "separate": samples first
        arr = np.moveaxis(arr, axes.index("S"), -1)
    if arr.ndim > 3:
        arr = np.squeeze(arr)
    if arr.ndim == 2:
        arr = arr[..., np.newaxis]
    if arr.ndim != 3 or arr.shape[2] < colours:
        raise UserError(f"{name} is a kind of TIFF MedLab does not read (a page of shape {page.shape}).")
    extras, arr = arr[..., colours:], arr[..., :colours]
    kinds = [int(k) for k in page.extrasamples][: extras.shape[2]]
    alpha = next((i for i, k in enumerate(kinds) if k in (1, 2)), None)  # associated / unassociated alpha
    if alpha is not None:
        top = float((1 << int(page.bitspersample)) - 1) if arr.dtype.kind in "ui" else 1.0
        _note_alpha(extras[..., alpha], top, name, notes)
    unread = extras.shape[2] - (alpha is not None)
    if unread:
        notes.append(f"{name} has {unread} extra sample(s) per pixel besides the image; only the image was read.")
    if photometric == 3:  # PALETTE: index -> colour; a palette of greys stays greyscale
        colormap = np.asarray(page.colormap)
        if np.all(colormap % 257 == 0):
            colormap = (colormap // 257).astype(np.uint8)
        arr = _grey_if_equal(np.moveaxis(np.take(colormap, arr[..., 0], axis=1, mode="clip"), 0, -1))
    elif photometric == 5:
        arr = _cmyk_to_rgb(arr, name, notes)
    elif photometric == 6 and int(page.compression) not in (6, 7):  # JPEG-compressed YCbCr decodes to RGB
        if arr.dtype != np.uint8:
            raise UserError(f"{name} is a kind of TIFF MedLab does not read ({arr.dtype} YCbCr).")
        arr = np.asarray(Image.fromarray(np.ascontiguousarray(arr), "YCbCr").convert("RGB"))
    elif colours == 1:
        arr = arr[..., 0]
    return upright(arr, _orientation(page.tags.valueof(ORIENTATION_TAG), name, notes))


def _bits(arr: np.ndarray) -> int:
    if arr.dtype == np.uint8:
        return 8
    if arr.dtype.kind in "ui" and arr.size and arr.min() >= 0 and arr.max() <= 65535:
        return 16
    return int(arr.dtype.itemsize * 8)


def read_raster(data: bytes, name: str) -> MedicalImage:
    """Read a PNG/JPEG/TIFF/BMP file into a MedicalImage: upright frames in the file's own sample values.

    Frames are float32 (F, H, W) for greyscale or (F, H, W, 3) for colour; `bits` is the stored depth (1-bit
    images become 0/255, 8). What could not be kept (transparency, extra samples, CMYK's profile, other pages)
    is said in `warnings`. Raises UserError for a damaged, too large or unsupported file.
    """
    kind = raster_kind(data)
    if kind is None:
        raise UserError(f"{name} is not a PNG, JPEG, TIFF or BMP image: its content has none of their signatures.")
    bits: int | None = None
    if kind == "tiff":
        frames, photometric, notes, bits = _from_tiff(data, name)
    else:
        frame, photometric, notes, bits = _from_pillow(data, name, kind)
        frames = frame[np.newaxis]
    if frames.dtype == np.bool_:  # bilevel TIFF
        frames = frames.astype(np.uint8) * 255
    if frames.dtype.kind not in "uif":
        raise UserError(f"{name} holds {frames.dtype} samples, which MedLab does not read.")
    bits = bits or _bits(frames)
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
