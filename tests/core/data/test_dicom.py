"""DICOM reader against pydicom's own example files: HU, codecs, colour models, windows and bad input."""
from __future__ import annotations

import io
import os

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.pixels import apply_color_lut, pixel_array
from PIL import Image

from core.data.deid import Deidentifier
from core.data.dicom import looks_like_dicom, read_dicom
from core.data.windowing import render_8bit, window_to_unit
from core.errors import UserError

DEID = Deidentifier(b"test-secret")


def _bytes(name: str) -> bytes:
    path = get_testdata_file(name, download=False)
    assert path is not None, f"pydicom test file {name} is not installed"
    with open(path, "rb") as handle:
        return handle.read()


def _read(name: str):
    return read_dicom(_bytes(name), name, DEID)


def _edited(name: str, edit) -> bytes:
    ds = pydicom.dcmread(io.BytesIO(_bytes(name)))
    edit(ds)
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds)
    return buffer.getvalue()


def _user_error(data: bytes, name: str) -> str:
    with pytest.raises(UserError) as info:
        read_dicom(data, name, DEID)
    message = str(info.value)
    assert name in message and "\n" not in message and "Traceback" not in message
    return message


def test_ct_small_is_in_hounsfield_units() -> None:
    image = _read("CT_small.dcm")
    stored = pixel_array(pydicom.dcmread(io.BytesIO(_bytes("CT_small.dcm"))))
    assert image.modality == "CT" and image.format == "dicom" and image.frames.shape == (1, 128, 128)
    np.testing.assert_array_equal(image.frames[0], stored.astype(np.float32) - 1024)  # slope 1, intercept -1024
    assert image.value_range == (-896.0, 1167.0)
    assert image.spacing == pytest.approx((0.661468, 0.661468))
    assert image.bits == 16 and not image.is_color and not image.invert
    assert image.default_window.source == "auto"  # CT_small names no window
    assert image.patient_key and image.patient_key.startswith("ANON-")
    assert image.dicom.PatientName == "" and image.dicom.PatientIdentityRemoved == "YES"
    assert {"tag": "(0008,0060)", "keyword": "Modality", "vr": "CS", "value": "CT"} in image.tags
    assert all("PixelData" != row["keyword"] for row in image.tags)


@pytest.mark.parametrize("variant", ["MR_small_RLE.dcm", "MR_small_jpeg_ls_lossless.dcm", "MR_small_jp2klossless.dcm",
                                     "MR_small_bigendian.dcm", "MR_small_implicit.dcm"])
def test_lossless_mr_variants_decode_to_the_same_pixels(variant: str) -> None:
    reference = _read("MR_small.dcm")
    image = _read(variant)
    np.testing.assert_array_equal(image.frames, reference.frames)
    assert image.default_window == reference.default_window


def test_mr_small_uses_its_own_window() -> None:
    image = _read("MR_small.dcm")
    assert (image.default_window.center, image.default_window.width, image.default_window.source) == (600.0, 1600.0, "file")
    assert image.file_windows[0] == image.default_window


def test_multi_valued_windows_become_several_file_windows() -> None:
    image = _read("examples_overlay.dcm")
    assert len(image.file_windows) >= 2 and image.default_window == image.file_windows[0]
    assert all(w.source == "file" and w.width > 0 for w in image.file_windows)


def test_jpeg_baseline_ybr_decodes_close_to_its_lossless_twin() -> None:
    lossy = _read("SC_rgb_jpeg_dcmtk.dcm")
    lossless = _read("SC_rgb_rle.dcm")
    assert lossy.photometric == "YBR_FULL" and lossy.is_color and lossy.frames.shape == (1, 100, 100, 3)
    difference = np.abs(lossy.frames - lossless.frames)
    assert difference.mean() < 2 and difference.max() <= 12
    assert lossless.frames[0, 5, 50].tolist() == [255, 0, 0]  # the top band is pure red in RGB
    assert any("lossy" in w for w in lossy.warnings)


def test_uncompressed_ybr_full_422_becomes_rgb() -> None:
    image = _read("SC_ybr_full_422_uncompressed.dcm")
    assert image.photometric == "YBR_FULL_422" and image.is_color
    assert np.abs(image.frames - _read("SC_rgb_rle.dcm").frames).mean() < 2


def test_multi_frame_files_keep_every_frame() -> None:
    cine = _read("examples_ybr_color.dcm")
    assert cine.frame_count == 30 and cine.frames.shape == (30, 240, 320, 3)
    dose = _read("rtdose.dcm")
    assert dose.frame_count == 15 and dose.frames.shape == (15, 10, 10)
    assert render_8bit(cine, frame=29).shape == (240, 320, 3)


def test_palette_colour_becomes_rgb_through_the_palette() -> None:
    image = _read("examples_palette.dcm")
    ds = pydicom.dcmread(io.BytesIO(_bytes("examples_palette.dcm")))
    expected = apply_color_lut(pixel_array(ds), ds)[..., :3]
    assert image.photometric == "PALETTE COLOR" and image.is_color and image.frames.shape == (1, 350, 800, 3)
    np.testing.assert_array_equal(image.frames[0], expected)
    assert image.bits == 16 and image.value_range == (0.0, 65535.0)  # this palette has 16-bit entries


def test_jpeg2000_colour_decodes() -> None:
    image = _read("examples_jpeg2k.dcm")
    assert image.is_color and image.frames.shape == (1, 480, 640, 3) and image.frames.max() > 0


def test_monochrome1_is_inverted() -> None:
    data = _edited("MR_small.dcm", lambda ds: setattr(ds, "PhotometricInterpretation", "MONOCHROME1"))
    inverted = read_dicom(data, "mono1.dcm", DEID)
    plain = _read("MR_small.dcm")
    assert inverted.invert and inverted.photometric == "MONOCHROME1"
    np.testing.assert_array_equal(inverted.frames, plain.frames)  # values stay; only the display flips
    np.testing.assert_allclose(window_to_unit(inverted), 1.0 - window_to_unit(plain), atol=1e-6)


def test_voi_lut_sequence_is_kept_and_used() -> None:
    def add_lut(ds: Dataset) -> None:
        del ds.WindowCenter, ds.WindowWidth
        item = Dataset()
        item.LUTDescriptor = [4096, 0, 16]
        item.add_new(0x00283006, "US", [min(v * 16, 65535) for v in range(4096)])
        ds.VOILUTSequence = [item]

    image = read_dicom(_edited("MR_small.dcm", add_lut), "lut.dcm", DEID)
    assert image.voi_lut is not None and image.default_window.source == "file-lut"
    expected = np.minimum(np.clip(image.frames[0], 0, 4095) * 16, 65535) / 65535  # 16-bit LUT: output 0..2^16-1
    np.testing.assert_allclose(window_to_unit(image), expected, atol=1e-5)


def test_missing_window_falls_back_to_auto() -> None:
    data = _edited("MR_small.dcm", lambda ds: (delattr(ds, "WindowCenter"), delattr(ds, "WindowWidth")))
    image = read_dicom(data, "nowin.dcm", DEID)
    assert image.file_windows == [] and image.default_window.source == "auto"


def test_preamble_less_dicom_is_read() -> None:
    ds = pydicom.dcmread(io.BytesIO(_bytes("MR_small.dcm")))
    ds.preamble = None
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, implicit_vr=False, little_endian=True)
    data = buffer.getvalue()
    assert data[128:132] != b"DICM" and looks_like_dicom(data)
    image = read_dicom(data, "raw_dataset", DEID)
    np.testing.assert_array_equal(image.frames, _read("MR_small.dcm").frames)


def test_random_bytes_named_dcm() -> None:
    message = _user_error(os.urandom(4096), "scan.dcm")
    assert message == "scan.dcm is not a DICOM file: it has no DICOM header."


def test_png_named_dcm_says_what_it_is() -> None:
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(buffer, "PNG")
    message = _user_error(buffer.getvalue(), "scan.dcm")
    assert "is a PNG image, not a DICOM file" in message and "rename it to scan.png" in message
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(buffer, "JPEG")
    assert "rename it to xray.jpg" in _user_error(buffer.getvalue(), "xray.dcm")


def test_truncated_dicom() -> None:
    assert "is truncated: its pixel data holds 8,130 of the 8,192 bytes" in _user_error(_bytes("MR_truncated.dcm"), "MR_truncated.dcm")
    data = _bytes("CT_small.dcm")
    assert "is truncated" in _user_error(data[: len(data) // 2], "half.dcm")
    assert "is truncated: the file ends before its pixel data" in _user_error(data[:3000], "cut.dcm")


@pytest.mark.parametrize("name, kind", [("rtplan.dcm", "RT Plan Storage"), ("test-SR.dcm", "Comprehensive SR Storage")])
def test_dicom_without_pixel_data_holds_no_image(name: str, kind: str) -> None:
    message = _user_error(_bytes(name), name)
    assert message == f"{name} holds no image: it is a DICOM {kind} object."


def test_unsupported_transfer_syntax() -> None:
    def as_mpeg2(ds: Dataset) -> None:
        ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"
        ds.PixelData = encapsulate([ds.PixelData])
        ds["PixelData"].VR, ds["PixelData"].is_undefined_length = "OB", True

    data = _edited("MR_small.dcm", as_mpeg2)
    message = _user_error(data, "mpeg.dcm")
    assert "transfer syntax MedLab cannot decode (MPEG2 Main Profile / Main Level)" in message


def test_damaged_compressed_pixel_data() -> None:
    data = _edited("MR_small_jp2klossless.dcm", lambda ds: setattr(ds, "PixelData", encapsulate([b"\0" * 64])))
    assert "could not be decoded" in _user_error(data, "bad_j2k.dcm")


def test_empty_file() -> None:
    assert _user_error(b"", "empty.dcm") == "empty.dcm is empty."


def test_enhanced_functional_groups_give_rescale_spacing_and_window() -> None:
    def as_enhanced(ds: Dataset) -> None:
        del ds.WindowCenter, ds.WindowWidth, ds.PixelSpacing
        rescale, measures, voi, shared = Dataset(), Dataset(), Dataset(), Dataset()
        rescale.RescaleSlope, rescale.RescaleIntercept, rescale.RescaleType = 2, -10, "US"
        measures.PixelSpacing, measures.SliceThickness = [0.7, 0.8], 1.0
        voi.WindowCenter, voi.WindowWidth = 300, 500
        shared.PixelValueTransformationSequence = [rescale]
        shared.PixelMeasuresSequence = [measures]
        shared.FrameVOILUTSequence = [voi]
        ds.SharedFunctionalGroupsSequence = [shared]

    image = read_dicom(_edited("MR_small.dcm", as_enhanced), "enhanced.dcm", DEID)
    np.testing.assert_array_equal(image.frames, _read("MR_small.dcm").frames * 2 - 10)
    assert image.spacing == pytest.approx((0.7, 0.8))
    assert (image.default_window.center, image.default_window.width) == (300.0, 500.0)
