"""PNG export at 8 and 16 bits, and the derived DICOM: HU kept, geometry kept, marked derived, new UIDs in the
same study, and nothing identifying in the bytes."""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut
from pydicom.sequence import Sequence

from core.data.readers import read_medical_image
from core.enhance.classical import apply_classical, scale_to_unit
from core.enhance.writers import enhanced_dicom, png_bytes
from core.errors import UserError
from tests.fixtures import INSTITUTION, PATIENT_ID, PATIENT_NAME

# Everything identifying that CT_small.dcm carries, plus what the fixture writes into it.
IDENTIFYING = [PATIENT_NAME, PATIENT_ID, INSTITUTION, "19700101", "CompressedSamples", "1CT1", "ABCD1234", "1234ABCD",
               "JFK IMAGING", "CT01_OC0", "CLUNIE1", "GEMS_", "1.3.6.1.4.1.5962"]


def _unit(shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(0).random(shape).astype(np.float32)


# --- PNG -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(20, 30), (20, 30, 3), (20, 30, 1)])
def test_png_8_bit(shape: tuple[int, ...]) -> None:
    unit = _unit(shape)
    back = np.asarray(Image.open(io.BytesIO(png_bytes(unit))))
    expected = np.rint(unit * 255).astype(np.uint8).reshape(back.shape)
    assert back.dtype == np.uint8
    np.testing.assert_array_equal(back, expected)


def test_png_16_bit_greyscale() -> None:
    unit = _unit((20, 30))
    image = Image.open(io.BytesIO(png_bytes(unit, bits=16)))
    assert image.mode in ("I;16", "I")
    np.testing.assert_array_equal(np.asarray(image).astype(np.int64), np.rint(unit * 65535).astype(np.int64))


def _decode_rgb16(data: bytes) -> np.ndarray:
    """A minimal PNG reader for colour type 2 / 16 bit with the Up filter, checking every CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    offset, idat, header = 8, b"", None
    while offset < len(data):
        length, tag = struct.unpack(">I4s", data[offset:offset + 8])
        body = data[offset + 8:offset + 8 + length]
        assert struct.unpack(">I", data[offset + 8 + length:offset + 12 + length])[0] == zlib.crc32(tag + body)
        header = struct.unpack(">IIBBBBB", body) if tag == b"IHDR" else header
        idat += body if tag == b"IDAT" else b""
        offset += 12 + length
    width, height, depth, colour = header[:4]
    assert (depth, colour) == (16, 2)
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(height, 1 + width * 6)
    assert (raw[:, 0] == 2).all()
    rows = np.cumsum(raw[:, 1:].astype(np.uint64), axis=0) % 256  # undo Up: add the row above, modulo 256
    return rows.astype(np.uint8).view(">u2").reshape(height, width, 3).astype(np.uint16)


def test_png_16_bit_rgb() -> None:
    unit = _unit((20, 30, 3))
    data = png_bytes(unit, bits=16)
    expected = np.rint(unit * 65535).astype(np.uint16)
    np.testing.assert_array_equal(_decode_rgb16(data), expected)
    opened = Image.open(io.BytesIO(data))  # Pillow reads it (as 8-bit RGB: the high bytes)
    assert opened.size == (30, 20)
    np.testing.assert_array_equal(np.asarray(opened.convert("RGB")), (expected >> 8).astype(np.uint8))


def test_png_bad_arguments() -> None:
    with pytest.raises(UserError, match="8 or 16"):
        png_bytes(_unit((4, 4)), bits=12)
    with pytest.raises(UserError, match="greyscale or RGB"):
        png_bytes(_unit((4, 4, 4)))


# --- DICOM -----------------------------------------------------------------------------------------------
def _identified_ct() -> bytes:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.PatientName, ds.PatientID, ds.InstitutionName = PATIENT_NAME, PATIENT_ID, INSTITUTION
    ds.PatientBirthDate = "19700101"
    ds.WindowCenter, ds.WindowWidth = 40, 400
    buffer = io.BytesIO()
    ds.save_as(buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def ct():  # noqa: ANN201 - a MedicalImage
    return read_medical_image(_identified_ct(), "ct.dcm")


def _enhance(image, method: str, scale: int) -> np.ndarray:  # noqa: ANN001
    unit, restore = scale_to_unit(image.frames[0])
    return restore(apply_classical(method, unit, scale=scale))


@pytest.mark.parametrize(("method", "scale", "kind", "code"),
                         [("tv", 1, "denoise", "113087"), ("lanczos", 2, "upscale", "113085")])
def test_enhanced_ct_reads_back(ct, method: str, scale: int, kind: str, code: str) -> None:  # noqa: ANN001
    source = ct.dicom
    hu = _enhance(ct, method, scale)
    data = enhanced_dicom(source, hu, description=f"{method} x{scale}", scale=scale, kind=kind)
    assert data[128:132] == b"DICM"
    out = pydicom.dcmread(io.BytesIO(data))
    assert out.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert out.pixel_array.shape == (128 * scale, 128 * scale)
    assert np.abs(apply_modality_lut(out.pixel_array, out) - hu).max() <= 0.5 + 1e-6
    # geometry and display
    assert [float(v) for v in out.PixelSpacing] == pytest.approx([float(v) / scale for v in source.PixelSpacing])
    assert list(out.ImageOrientationPatient) == list(source.ImageOrientationPatient)
    shift = (scale - 1) / (2 * scale) * float(source.PixelSpacing[0])  # to the centre of the new first pixel
    expected = [float(v) for v in source.ImagePositionPatient]
    expected = [expected[0] - shift, expected[1] - shift, expected[2]]  # axial: rows along y, columns along x
    assert [float(v) for v in out.ImagePositionPatient] == pytest.approx(expected)
    for keyword in ("SliceThickness", "WindowCenter", "WindowWidth", "RescaleSlope", "RescaleIntercept", "Modality",
                    "PixelRepresentation", "SOPClassUID"):
        assert out[keyword].value == source[keyword].value, keyword
    assert out.PhotometricInterpretation == "MONOCHROME2" and out.BitsAllocated == 16
    # derived, new instance in the same study
    assert list(out.ImageType[:2]) == ["DERIVED", "SECONDARY"] and out.ImageType[2] == "AXIAL"
    assert out.DerivationDescription == f"{method} x{scale}"
    assert out.DerivationCodeSequence[0].CodeValue == code
    assert out.SeriesDescription == f"MedLab enhanced: {method} x{scale}"
    assert out.SeriesInstanceUID != source.SeriesInstanceUID and out.SOPInstanceUID != source.SOPInstanceUID
    assert out.file_meta.MediaStorageSOPInstanceUID == out.SOPInstanceUID
    assert out.StudyInstanceUID == source.StudyInstanceUID
    assert out.FrameOfReferenceUID == source.FrameOfReferenceUID
    assert out.SourceImageSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID
    assert out.PatientID == source.PatientID and str(out.PatientID).startswith("ANON-")
    # nothing identifying, anywhere in the file
    for text in IDENTIFYING:
        assert text.encode() not in data, text
    assert str(out.get("PatientName", "")) == "" and out.PatientIdentityRemoved == "YES"
    # MedLab reads its own output back to the same HU
    again = read_medical_image(data, "enhanced.dcm")
    np.testing.assert_allclose(again.frames[0], hu, atol=0.5 + 1e-6)


def test_values_outside_the_stored_range_are_clipped(ct) -> None:  # noqa: ANN001
    hu = ct.frames[0].copy()
    hu[0, 0], hu[0, 1] = 1e6, -1e6
    out = pydicom.dcmread(io.BytesIO(enhanced_dicom(ct.dicom, hu, description="clip")))
    values = apply_modality_lut(out.pixel_array, out)
    assert values[0, 0] == 32767 - 1024 and values[0, 1] == -32768 - 1024  # signed 16-bit, intercept -1024


def test_safety_net_removes_identifiers_from_an_identified_source() -> None:
    raw = pydicom.dcmread(io.BytesIO(_identified_ct()))  # not de-identified: the writer must still clean it
    data = enhanced_dicom(raw, raw.pixel_array.astype(np.float32) - 1024, description="median")
    for text in IDENTIFYING:
        assert text.encode() not in data, text
    out = pydicom.dcmread(io.BytesIO(data))
    assert out.StudyInstanceUID != raw.StudyInstanceUID and out.PatientID != PATIENT_ID


def test_rgb_source_gives_8_bit_rgb() -> None:
    with open(get_testdata_file("SC_rgb_small_odd.dcm"), "rb") as handle:
        image = read_medical_image(handle.read(), "rgb.dcm")
    rgb = image.frames[0]  # 3x3x3, 0..255
    for scale, pixels in ((1, rgb), (2, np.repeat(np.repeat(rgb, 2, 0), 2, 1))):
        data = enhanced_dicom(image.dicom, pixels, description="colour", scale=scale)
        out = pydicom.dcmread(io.BytesIO(data))
        assert out.PhotometricInterpretation == "RGB" and out.BitsAllocated == 8 and out.SamplesPerPixel == 3
        np.testing.assert_array_equal(out.pixel_array, np.rint(pixels).astype(np.uint8))
        assert b"Lestrade" not in data


def test_enhanced_multi_frame_source_becomes_secondary_capture() -> None:
    source = Dataset()
    source.SOPClassUID, source.SOPInstanceUID = "1.2.840.10008.5.1.4.1.1.2.1", "1.2.3.4"  # Enhanced CT
    source.StudyInstanceUID, source.PatientID, source.PatientIdentityRemoved = "1.2.3", "ANON-abc", "YES"
    source.Modality, source.Rows, source.Columns, source.NumberOfFrames = "CT", 4, 4, 2
    source.SamplesPerPixel, source.PhotometricInterpretation = 1, "MONOCHROME2"
    source.BitsAllocated, source.BitsStored, source.HighBit, source.PixelRepresentation = 16, 12, 11, 0
    measures, transform = Dataset(), Dataset()
    measures.PixelSpacing, measures.SliceThickness = [0.5, 0.5], 1.0
    transform.RescaleSlope, transform.RescaleIntercept, transform.RescaleType = 1, -1024, "HU"
    shared = Dataset()
    shared.PixelMeasuresSequence, shared.PixelValueTransformationSequence = Sequence([measures]), Sequence([transform])
    frames = []
    for z in (0.0, 1.0):
        position, item = Dataset(), Dataset()
        position.ImagePositionPatient = [0, 0, z]
        item.PlanePositionSequence = Sequence([position])
        frames.append(item)
    source.SharedFunctionalGroupsSequence = Sequence([shared])
    source.PerFrameFunctionalGroupsSequence = Sequence(frames)
    pixels = np.full((8, 8), 5000.0)  # beyond 12 bits after the intercept: clipped to 4095 - 1024
    out = pydicom.dcmread(io.BytesIO(enhanced_dicom(source, pixels, description="x2", scale=2, frame=1)))
    assert out.SOPClassUID == pydicom.uid.SecondaryCaptureImageStorage and "NumberOfFrames" not in out
    assert [float(v) for v in out.PixelSpacing] == [0.25, 0.25] and float(out.ImagePositionPatient[2]) == 1.0
    assert out.SourceImageSequence[0].ReferencedFrameNumber == 2
    assert (apply_modality_lut(out.pixel_array, out) == 4095 - 1024).all()
    with pytest.raises(UserError, match="Frame 3"):
        enhanced_dicom(source, pixels, description="x2", scale=2, frame=2)


def test_mismatched_pixels_are_refused(ct) -> None:  # noqa: ANN001
    with pytest.raises(UserError, match="does not match"):
        enhanced_dicom(ct.dicom, np.zeros((128, 128)), description="x2", scale=2)
    with pytest.raises(UserError, match="does not match"):
        enhanced_dicom(ct.dicom, np.zeros((128, 128, 3)), description="rgb")


def test_source_without_rescale_and_non_ascii_description() -> None:
    with open(get_testdata_file("MR_small.dcm"), "rb") as handle:
        image = read_medical_image(handle.read(), "mr.dcm")
    pixels = image.frames[0] + 0.3
    data = enhanced_dicom(image.dicom, pixels, description="NL-means σ=0.05 – ü", kind="denoise")
    out = pydicom.dcmread(io.BytesIO(data))
    assert "RescaleSlope" not in out and out.DerivationDescription == "NL-means σ=0.05 – ü"
    np.testing.assert_array_equal(out.pixel_array, np.rint(pixels))
    with pytest.raises(UserError, match="at least 1"):
        enhanced_dicom(image.dicom, pixels, description="x", scale=0)
