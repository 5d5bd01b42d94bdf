"""The single entry point: content sniffing, extension mismatches, DICOM always de-identified, safe names."""
from __future__ import annotations

import gzip
import io
import os

import nibabel as nib
import numpy as np
import pytest
from pydicom.data import get_testdata_file
from PIL import Image

from core.data.deid import Deidentifier
from core.data.readers import SUPPORTED_SUFFIXES, read_medical_image, sanitize_filename, sniff_format
from core.errors import UserError


def _png(array: np.ndarray | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((4, 4), np.uint8) if array is None else array).save(buffer, "PNG")
    return buffer.getvalue()


def _dicom(name: str = "CT_small.dcm") -> bytes:
    with open(get_testdata_file(name, download=False), "rb") as handle:
        return handle.read()


def _nifti() -> bytes:
    return nib.Nifti1Image(np.zeros((3, 4, 5), np.float32), np.eye(4)).to_bytes()


def _error(data: bytes, name: str) -> str:
    with pytest.raises(UserError) as info:
        read_medical_image(data, name)
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    "data, name, expected",
    [
        (_png(), "a.png", "png"),
        (_dicom(), "CT_small.dcm", "dicom"),
        (_dicom(), "IM000123", "dicom"),  # DICOM files often have no extension
        (_nifti(), "brain.nii", "nifti"),
        (gzip.compress(_nifti()), "brain.nii.gz", "nifti"),
    ],
)
def test_content_decides_the_reader(data: bytes, name: str, expected: str) -> None:
    assert sniff_format(data) == expected
    image = read_medical_image(data, name)
    assert image.format == expected and image.warnings == []


def test_dicom_is_always_deidentified_with_a_throwaway_key_by_default() -> None:
    first, second = read_medical_image(_dicom(), "a.dcm"), read_medical_image(_dicom(), "a.dcm")
    assert first.dicom.PatientName == "" and first.patient_key.startswith("ANON-")
    assert first.dicom.StudyInstanceUID != second.dicom.StudyInstanceUID  # random key: nothing links them
    deid = Deidentifier(b"workspace")
    third, fourth = (read_medical_image(_dicom(), "a.dcm", deidentifier=deid) for _ in range(2))
    assert third.dicom.StudyInstanceUID == fourth.dicom.StudyInstanceUID
    assert third.patient_key == fourth.patient_key


def test_png_named_dcm_is_refused_with_a_rename_hint() -> None:
    message = _error(_png(), "chest.dcm")
    assert message == "chest.dcm is a PNG image, not a DICOM file: rename it to chest.png to open it as an image."


def test_random_bytes_named_dcm() -> None:
    assert _error(os.urandom(1000), "scan.dcm") == "scan.dcm is not a DICOM file: it has no DICOM header."


def test_image_named_nifti_is_refused() -> None:
    assert "is a PNG image, not a NIfTI volume" in _error(_png(), "brain.nii")


def test_unknown_content_lists_the_supported_formats() -> None:
    message = _error(os.urandom(1000), "data.bin")
    assert message.startswith("data.bin is not an image MedLab can read")
    for fmt in ("DICOM", "NIfTI", "PNG", "JPEG", "TIFF", "BMP"):
        assert fmt in message
    assert _error(b"%PDF-1.7 ...", "report.pdf").startswith("report.pdf is a PDF document, which MedLab does not read")


def test_empty_file() -> None:
    assert _error(b"", "nothing.png") == "nothing.png is empty."


def test_mismatched_raster_extension_only_warns() -> None:
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(buffer, "JPEG")
    image = read_medical_image(buffer.getvalue(), "photo.png")
    assert image.format == "jpeg" and image.warnings == ["photo.png is actually a JPEG image; it was read as such."]


def test_bad_files_reach_the_user_as_user_errors() -> None:
    png = _png(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    assert _error(png[: len(png) // 2], "cut.png").startswith("cut.png is damaged")
    assert "holds no image" in _error(_dicom("rtplan.dcm"), "plan.dcm")
    assert "is truncated" in _error(_dicom("MR_truncated.dcm"), "mr.dcm")


def test_the_name_is_sanitised() -> None:
    image = read_medical_image(_png(), "../../etc/My Scan (1).png")
    assert image.name == "My_Scan_1_.png"


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("scan.dcm", "scan.dcm"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\x\\brain scan.nii.gz", "brain_scan.nii.gz"),
        ("..", "file"),
        (".hidden.png", "hidden.png"),
        ("a..b.png", "a.b.png"),
        ("r\u00e9sum\u00e9 #1.tif", "r_sum_1.tif"),
        ("", "file"),
        ("x" * 300 + ".nii.gz", "x" * 93 + ".nii.gz"),
    ],
)
def test_sanitize_filename(raw: str, expected: str) -> None:
    cleaned = sanitize_filename(raw)
    assert cleaned == expected
    assert len(cleaned) <= 100 and not cleaned.startswith(".") and "/" not in cleaned and ".." not in cleaned


def test_supported_suffixes() -> None:
    for suffix in (".dcm", ".nii", ".nii.gz", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"):
        assert suffix in SUPPORTED_SUFFIXES
