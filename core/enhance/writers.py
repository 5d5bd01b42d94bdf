"""Writing enhanced images back: PNG (8 or 16 bits per sample) and a derived, de-identified DICOM file.

The DICOM is derived from its (already de-identified) source as PS3.3 C.7.6.1.1.2 describes: Image Type
DERIVED\\SECONDARY, a Derivation Description and Derivation Code Sequence (CID 7203), a Source Image Sequence
pointing at the source, new Series and SOP Instance UIDs in the same study and frame of reference, and the
source's geometry, rescale and windows, with the pixel spacing divided by the upscaling factor.
"""
from __future__ import annotations

import copy
import io
import secrets
import struct
import zlib
from typing import Any

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid
from pydicom.valuerep import format_number_as_ds

from core.data.deid import Deidentifier
from core.data.native import DataRange, to_data_unit
from core.errors import UserError

# PS3.16 CID 7203 Image Derivation has no code for noise reduction or contrast enhancement: "Smoothing" is the
# closest for denoising and contrast methods get none (the description says what was done).
_DERIVATION_CODES = {
    "denoise": ("113087", "Smoothing"), "sharpen": ("113086", "Edge enhancement"),
    "unsharp": ("113089", "Unsharp mask"), "upscale": ("113085", "Spatial resampling"),
}
_SOURCE_PURPOSE = ("121322", "Source image for image processing operation")  # CID 7202
_DROP = {  # pixel-bound attributes the new pixels make wrong, and multi-frame structure a single frame lacks
    "PixelData", "FloatPixelData", "DoubleFloatPixelData", "ExtendedOffsetTable", "ExtendedOffsetTableLengths",
    "DataSetTrailingPadding", "SmallestImagePixelValue", "LargestImagePixelValue", "SmallestPixelValueInSeries",
    "LargestPixelValueInSeries", "PixelPaddingValue", "PixelPaddingRangeLimit", "IconImageSequence",
    "ModalityLUTSequence", "PlanarConfiguration", "NumberOfFrames", "FrameIncrementPointer", "FrameTimeVector",
    "PerFrameFunctionalGroupsSequence", "SharedFunctionalGroupsSequence", "DimensionIndexSequence",
    "DimensionOrganizationSequence", "SourceImageSequence", "DerivationCodeSequence", "PaletteColorLookupTableUID",
    "RedPaletteColorLookupTableDescriptor", "GreenPaletteColorLookupTableDescriptor",
    "BluePaletteColorLookupTableDescriptor", "RedPaletteColorLookupTableData", "GreenPaletteColorLookupTableData",
    "BluePaletteColorLookupTableData", "SegmentedRedPaletteColorLookupTableData",
    "SegmentedGreenPaletteColorLookupTableData", "SegmentedBluePaletteColorLookupTableData",
}
_GREY_ONLY = ("RescaleSlope", "RescaleIntercept", "RescaleType", "WindowCenter", "WindowWidth",
              "WindowCenterWidthExplanation", "VOILUTFunction", "VOILUTSequence")
_LIFTED = (  # functional group macro -> top-level attributes, for sources that are enhanced multi-frame images
    ("PixelMeasuresSequence", ("PixelSpacing", "SliceThickness")),
    ("PlaneOrientationSequence", ("ImageOrientationPatient",)),
    ("PlanePositionSequence", ("ImagePositionPatient",)),
    ("FrameVOILUTSequence", ("WindowCenter", "WindowWidth", "WindowCenterWidthExplanation")),
    ("PixelValueTransformationSequence", ("RescaleSlope", "RescaleIntercept", "RescaleType")),
)


# --- PNG -------------------------------------------------------------------------------------------------
def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def _png_rgb16(samples: np.ndarray) -> bytes:
    """16-bit-per-channel RGB PNG (colour type 2, bit depth 16), which Pillow cannot write, with the Up filter."""
    height, width, _ = samples.shape
    rows = np.ascontiguousarray(samples.astype(">u2")).view(np.uint8).reshape(height, width * 6)
    up = rows - np.vstack([np.zeros((1, width * 6), np.uint8), rows[:-1]])  # PNG filter 2, modulo 256
    raw = np.hstack([np.full((height, 1), 2, np.uint8), up])
    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", zlib.compress(raw.tobytes(), 6))
            + _png_chunk(b"IEND", b""))


def png_bytes(unit: np.ndarray, bits: int = 8, levels: int | None = None) -> bytes:
    """A PNG of a [0, 1] image, (H, W) greyscale or (H, W, 3) RGB, with 8 or 16 bits per sample.

    Samples are round(unit * levels), levels = 2^bits - 1 unless given (4095 keeps a 12-bit image's own values
    in a 16-bit PNG). 8-bit and 16-bit greyscale go through Pillow; 16-bit RGB is encoded here with numpy and
    zlib, since Pillow only writes 8-bit RGB.
    """
    if bits not in (8, 16):
        raise UserError(f"PNG export writes 8 or 16 bits per sample, not {bits}.")
    a = np.asarray(unit, dtype=np.float32)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 3)) or a.size == 0:
        raise UserError(f"PNG export needs a greyscale or RGB image, not one of shape {tuple(a.shape)}.")
    top = min(levels or 2**bits - 1, 2**bits - 1)
    samples = np.rint(np.clip(np.nan_to_num(a), 0.0, 1.0) * top).astype(np.uint8 if bits == 8 else np.uint16)
    if bits == 16 and a.ndim == 3:
        return _png_rgb16(samples)
    buffer = io.BytesIO()
    Image.fromarray(samples).save(buffer, format="PNG")  # uint8 -> L/RGB, uint16 -> I;16 (16-bit greyscale)
    return buffer.getvalue()


def native_bits(rng: DataRange) -> int:
    """The PNG/TIFF sample depth that holds an image of data range `rng`: 8 up to 8 bits, else 16."""
    return 8 if rng.bits is not None and rng.bits <= 8 else 16


def native_png(values: np.ndarray, rng: DataRange, bits: int | None = None) -> bytes:
    """A PNG of values in the image's own units (H, W) or (H, W, 3), at the input's own scale and depth.

    The data range maps to the samples 0 .. 2^b - 1 of the file's own bit depth b (a 16-bit PNG gets its values
    back exactly, a 12-bit DICOM its stored values in a 16-bit PNG, float data 0..65535); `bits` asks for
    another depth (8 or 16), filled to its full range.
    """
    unit = to_data_unit(values, rng)
    if bits is None:
        return png_bytes(unit, native_bits(rng), rng.levels)
    return png_bytes(unit, bits)


def native_tiff(values: np.ndarray, rng: DataRange, bits: int | None = None) -> bytes:
    """A TIFF of values in the image's own units: integer samples as `native_png` for integer data, float32
    values as they are for float data (no range to fit), unless `bits` (8 or 16) asks for integers."""
    import tifffile  # only TIFF output needs it

    buffer = io.BytesIO()
    if rng.bits is None and bits is None:
        tifffile.imwrite(buffer, np.asarray(values, dtype=np.float32))
        return buffer.getvalue()
    depth = bits or native_bits(rng)
    top = rng.levels if bits is None else 2**depth - 1
    samples = np.rint(to_data_unit(values, rng).astype(np.float64) * top).astype(np.uint8 if depth == 8 else np.uint16)
    tifffile.imwrite(buffer, samples, photometric="rgb" if samples.ndim == 3 else "minisblack")
    return buffer.getvalue()


# --- DICOM -----------------------------------------------------------------------------------------------
def _ds(value: float) -> str:
    return format_number_as_ds(float(value))  # DS holds at most 16 characters


def _code(value: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
    return item


def _lift_functional_groups(source: Dataset, ds: Dataset, frame: int) -> None:
    """Copy the frame's geometry, rescale and window from the source's functional groups to `ds`, where absent."""
    for macro, keywords in _LIFTED:
        for groups, index in (("PerFrameFunctionalGroupsSequence", frame), ("SharedFunctionalGroupsSequence", 0)):
            items = source.get(groups)
            if items and index < len(items) and items[index].get(macro):
                found = items[index].get(macro)[0]
                for keyword in keywords:
                    if keyword in found and keyword not in ds:
                        setattr(ds, keyword, copy.deepcopy(found[keyword].value))


def _uid_values(ds: Dataset) -> set[str]:
    found: set[str] = set()
    for elem in ds:
        if elem.VR == "UI" and elem.value:
            found.update(str(v) for v in (elem.value if isinstance(elem.value, list) else [elem.value]))
        elif elem.VR == "SQ":
            for item in elem.value:
                found |= _uid_values(item)
    return found


def _map_uids(ds: Dataset, mapping: dict[str, str]) -> None:
    for elem in ds:
        if elem.VR == "UI" and elem.value:
            if isinstance(elem.value, list):
                elem.value = [mapping.get(str(v), v) for v in elem.value]
            else:
                elem.value = mapping.get(str(elem.value), elem.value)
        elif elem.VR == "SQ":
            for item in elem.value:
                _map_uids(item, mapping)


def _safety_net(ds: Dataset, keep_uids: set[str], deidentified_source: bool) -> None:
    """Run the basic profile again with a throwaway key, then put back what is ours or already pseudonymous."""
    kept: dict[str, Any] = {k: ds.get(k) for k in ("SeriesDescription", "DerivationDescription")}
    if deidentified_source:  # the source's UIDs and Patient ID are already the workspace's pseudonyms
        keep_uids = keep_uids | _uid_values(ds)
        kept["PatientID"] = ds.get("PatientID")
    deidentifier = Deidentifier(secrets.token_bytes(32))
    deidentifier(ds)
    _map_uids(ds, {deidentifier.new_uid(uid): uid for uid in keep_uids})
    for keyword, value in kept.items():
        if value is not None:
            setattr(ds, keyword, value)


def _sample_bits(source: Dataset) -> int:
    """Bits per colour sample in the source's decoded RGB (palette entries may be 16-bit)."""
    descriptor = source.get("RedPaletteColorLookupTableDescriptor")
    if descriptor is not None and len(descriptor) == 3:
        return 16 if int(descriptor[2]) > 8 else 8
    return int(source.get("BitsStored") or source.get("BitsAllocated") or 8)


def _pixel_module(ds: Dataset, source: Dataset, pixels: np.ndarray, colour: bool) -> None:
    """Rows, Columns, the Image Pixel Module and Pixel Data for uncompressed little-endian pixels."""
    ds.Rows, ds.Columns = int(pixels.shape[0]), int(pixels.shape[1])
    if colour:  # the source's sample range -> 8-bit RGB
        top = float(2 ** _sample_bits(source) - 1)
        data = np.rint(np.clip(np.nan_to_num(pixels / top), 0.0, 1.0) * 255).astype(np.uint8)
        ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
        for keyword in _GREY_ONLY:
            if keyword in ds:
                del ds[keyword]
    else:  # modality values -> stored values through the source's rescale, clipped to its stored range
        slope = float(ds.get("RescaleSlope") or 1.0)
        intercept = float(ds.get("RescaleIntercept") or 0.0)
        bits = max(1, min(int(source.get("BitsStored") or 16), 16))
        signed = int(source.get("PixelRepresentation") or 0) == 1
        low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
        stored = np.clip(np.rint((np.nan_to_num(pixels.astype(np.float64)) - intercept) / slope), low, high)
        data = stored.astype("<i2" if signed else "<u2")
        photometric = str(source.get("PhotometricInterpretation", "")).strip()
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME1" if photometric == "MONOCHROME1" else "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, bits, bits - 1, int(signed)
    raw = data.tobytes()
    ds.add_new(0x7FE00010, "OB" if colour else "OW", raw + b"\0" * (len(raw) % 2))


def _geometry(ds: Dataset, scale: int) -> None:
    """Pixel spacings divided by `scale`; the position moved to the centre of the new first pixel."""
    spacing = [float(v) for v in ds.PixelSpacing] if "PixelSpacing" in ds else None
    if scale > 1 and spacing and "ImagePositionPatient" in ds and "ImageOrientationPatient" in ds:
        iop = np.array([float(v) for v in ds.ImageOrientationPatient])
        shift = (scale - 1) / (2 * scale)  # old pixel centres at 0, 1, ...; new first centre at -shift
        position = np.array([float(v) for v in ds.ImagePositionPatient])
        position -= shift * (spacing[1] * iop[:3] + spacing[0] * iop[3:])
        ds.ImagePositionPatient = [_ds(v) for v in position]
    for keyword in ("PixelSpacing", "ImagerPixelSpacing", "NominalScannedPixelSpacing"):
        if keyword in ds and scale > 1:
            setattr(ds, keyword, [_ds(float(v) / scale) for v in ds[keyword].value])


def enhanced_dicom(source: Dataset, pixels: np.ndarray, *, description: str, scale: int = 1,
                   kind: str | None = None, frame: int = 0) -> bytes:
    """A PS3.10 DICOM file (explicit VR little endian) of an enhanced image derived from `source`.

    Args:
        source: the de-identified Dataset of the original (MedicalImage.dicom).
        pixels: one frame at `scale` times the source size, (H, W) in the source's modality units (HU for
            CT) for greyscale sources, (H, W, 3) in the source's sample range for colour ones.
        description: what was done, stored as Derivation Description and in the Series Description.
        scale: the upscaling factor applied (1 for filters).
        kind: "denoise" | "contrast" | "sharpen" | "unsharp" | "upscale", for the Derivation Code Sequence.
        frame: the source frame the pixels came from (geometry of multi-frame sources).
    """
    photometric = str(source.get("PhotometricInterpretation", "")).strip()
    colour = int(source.get("SamplesPerPixel") or 1) > 1 or photometric == "PALETTE COLOR"
    if not isinstance(scale, (int, np.integer)) or scale < 1:
        raise UserError(f"The upscaling factor must be a whole number of at least 1, not {scale}.")
    pixels = np.asarray(pixels)
    expected = (int(source.Rows) * scale, int(source.Columns) * scale)
    if pixels.shape[:2] != expected or pixels.ndim != (3 if colour else 2) or (colour and pixels.shape[2] != 3):
        what = "RGB" if colour else "greyscale"
        raise UserError(f"The enhanced image ({'x'.join(map(str, pixels.shape))}) does not match its {what} source "
                        f"at scale {scale} ({expected[0]}x{expected[1]}).")
    frames = int(source.get("NumberOfFrames") or 1)
    if not 0 <= frame < frames:
        raise UserError(f"Frame {frame + 1} does not exist: the source holds {frames} frame(s).")
    ds = Dataset()
    for elem in source:
        if elem.keyword not in _DROP and not (0x6000 <= elem.tag.group <= 0x60FF) and elem.tag.group != 0x0002:
            ds.add(copy.deepcopy(elem))
    multi_frame = frames > 1 or "SharedFunctionalGroupsSequence" in source
    if multi_frame:  # one frame taken out of a multi-frame object: a Secondary Capture image of that frame
        _lift_functional_groups(source, ds, frame)
        ds.SOPClassUID, ds.ConversionType = SecondaryCaptureImageStorage, "WSD"
    _pixel_module(ds, source, pixels, colour)
    _geometry(ds, scale)

    image_type = [str(v) for v in source.get("ImageType", [])] if "ImageType" in source else []
    ds.ImageType = ["DERIVED", "SECONDARY"] + image_type[2:]
    ds.DerivationDescription = " ".join(description.split())[:1024]
    kinds = dict.fromkeys([kind, "upscale" if scale > 1 else None])  # ordered, without repeats
    codes = [_DERIVATION_CODES[k] for k in kinds if k in _DERIVATION_CODES]
    if codes:
        ds.DerivationCodeSequence = Sequence([_code(*c) for c in codes])
    if "SOPInstanceUID" in source and "SOPClassUID" in source:
        reference = Dataset()
        reference.ReferencedSOPClassUID, reference.ReferencedSOPInstanceUID = source.SOPClassUID, source.SOPInstanceUID
        if multi_frame:
            reference.ReferencedFrameNumber = frame + 1
        reference.PurposeOfReferenceCodeSequence = Sequence([_code(*_SOURCE_PURPOSE)])
        ds.SourceImageSequence = Sequence([reference])
    ds.SeriesDescription = f"MedLab enhanced: {' '.join(description.split())}"[:64]
    ds.SeriesInstanceUID, ds.SOPInstanceUID = generate_uid(), generate_uid()
    if "SOPClassUID" not in ds:
        ds.SOPClassUID = SecondaryCaptureImageStorage
    deidentified = str(source.get("PatientIdentityRemoved", "")).strip().upper() == "YES"
    _safety_net(ds, {str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)}, deidentified)

    if not description.isascii():  # text is held as str, so switching the whole dataset to UTF-8 loses nothing
        ds.SpecificCharacterSet = "ISO_IR 192"
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.file_meta.ImplementationVersionName = "MEDLAB"
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
