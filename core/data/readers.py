"""One entry point for every file a user brings: the content decides the reader, never the name.

The extension only serves to catch mistakes: a PNG named scan.dcm is refused with a hint to rename it (the
user expected DICOM semantics: HU, de-identification, header), while a PNG named .jpg just gets a warning.
DICOM is always de-identified: without a workspace Deidentifier a throwaway one with a random key is used.
"""
from __future__ import annotations

import re
import secrets

from core.data.deid import Deidentifier
from core.data.dicom import looks_like_dicom, not_dicom_error, read_dicom
from core.data.medical_image import MedicalImage
from core.data.nifti import nifti_kind, read_nifti
from core.data.raster import KIND_NAMES, raster_kind, read_raster
from core.data.video import looks_like_video, read_video
from core.errors import UserError

SUFFIX_FORMATS: dict[str, str] = {
    ".dcm": "dicom", ".dicom": "dicom", ".dic": "dicom", ".ima": "dicom",
    ".nii": "nifti", ".nii.gz": "nifti",
    ".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".tif": "tiff", ".tiff": "tiff", ".bmp": "bmp",
    ".mp4": "video", ".m4v": "video", ".mov": "video", ".avi": "video", ".mkv": "video", ".webm": "video",
}
SUPPORTED_SUFFIXES: tuple[str, ...] = tuple(SUFFIX_FORMATS)
SUPPORTED_TEXT = "DICOM (.dcm), NIfTI (.nii, .nii.gz), PNG, JPEG, TIFF, BMP and video (MP4, MOV, AVI, MKV, WebM)"
FORMAT_NAMES = {**KIND_NAMES, "dicom": "a DICOM file", "nifti": "a NIfTI volume", "video": "a video"}
_OTHER_KINDS = (  # recognisable files MedLab does not read, so the message can say what they are
    (b"PK\x03\x04", "a ZIP archive (import it as a dataset instead)"),
    (b"%PDF", "a PDF document"),
    (b"GIF8", "a GIF image"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "a JPEG 2000 image"),
    (b"RIFF", "a RIFF file other than AVI video (such as WebP or WAV)"),
)
_MAX_NAME = 100


def suffix_of(name: str) -> str:
    """The lower-case extension, treating .nii.gz as one."""
    lower = name.lower()
    if lower.endswith(".nii.gz"):
        return ".nii.gz"
    dot = lower.rfind(".")
    return lower[dot:] if dot > 0 else ""


def sanitize_filename(name: str) -> str:
    """A safe file name: no folders or '..', only letters, digits and . - _, at most 100 characters with
    the extension kept, never empty and never starting with a dot."""
    base = re.split(r"[\\/]", str(name))[-1].strip()
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base)
    base = re.sub(r"\.{2,}", ".", base).strip("._") or "file"
    if len(base) > _MAX_NAME:
        suffix = suffix_of(base)
        suffix = suffix if 0 < len(suffix) <= 16 else ""
        base = base[: _MAX_NAME - len(suffix)].rstrip("._") + suffix
    return base


def sniff_format(data: bytes) -> str | None:
    """'dicom' | 'nifti' | 'png' | 'jpeg' | 'tiff' | 'bmp' | 'video' from the content alone, or None."""
    if looks_like_dicom(data):
        return "dicom"
    kind = raster_kind(data)
    if kind:
        return kind
    if data[:2] == b"\x1f\x8b" or nifti_kind(data):
        return "nifti"  # a gzip file is taken for .nii.gz; read_nifti says so if it holds something else
    if looks_like_video(data):
        return "video"
    return None


def _unknown(data: bytes, name: str) -> UserError:
    what = next((text for magic, text in _OTHER_KINDS if data.startswith(magic)), None)
    if what is None and data[:1] == b"<":
        what = "a text (HTML/XML) file"
    lead = f"{name} is {what}, which MedLab does not read" if what else f"{name} is not an image MedLab can read"
    return UserError(f"{lead}: use {SUPPORTED_TEXT} files.")


def read_medical_image(data: bytes, name: str, *, deidentifier: Deidentifier | None = None) -> MedicalImage:
    """Read any supported file from its bytes. `name` is the user's file name; it is sanitised here."""
    name = sanitize_filename(name)
    if not data:
        raise UserError(f"{name} is empty.")
    found = sniff_format(data)
    claimed = SUFFIX_FORMATS.get(suffix_of(name))
    if found is None:
        if claimed == "dicom":
            raise not_dicom_error(data, name)
        raise _unknown(data, name)
    if claimed == "dicom" and found != "dicom":
        raise not_dicom_error(data, name)
    if claimed == "nifti" and found != "nifti":
        raise UserError(f"{name} is {FORMAT_NAMES[found]}, not a NIfTI volume: rename it to match what it is.")
    if claimed == "video" and found != "video":
        raise UserError(f"{name} is {FORMAT_NAMES[found]}, not a video: rename it to match what it is.")
    if found == "dicom":
        image = read_dicom(data, name, deidentifier or Deidentifier(secrets.token_bytes(32)))
    elif found == "nifti":
        image = read_nifti(data, name)
    elif found == "video":
        image = read_video(data, name)
    else:
        image = read_raster(data, name)
    if claimed is not None and claimed != found:
        image.warnings.append(f"{name} is actually {FORMAT_NAMES[found]}; it was read as such.")
    return image
