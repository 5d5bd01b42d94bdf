"""The DICOM greyscale chain of PS3.3 C.11, frame by frame, with exact numbers and pydicom as the cross-check.

Every file is built here with pydicom: tiny, one attribute at a time (Modality LUT, VOI LUT Function, VOI LUT
Sequence, Presentation LUT Shape, Pixel Padding, enhanced functional groups).
"""
from __future__ import annotations

import io
import json

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import apply_modality_lut, apply_voi, apply_voi_lut, apply_windowing
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid

from core.cli import main
from core.data.deid import Deidentifier
from core.data.dicom import read_dicom
from core.data.windowing import auto_window, frame_window, render_8bit, resolve_window, window_to_unit

DEID = Deidentifier(b"test-secret")
COLUMNS = np.linspace(0, 63, 8).astype(int)  # 8 evenly spaced columns of a 64-wide image
MIDDLE = 32


def dicom_bytes(pixels: np.ndarray, implicit: bool = False, **attributes) -> bytes:
    """A minimal greyscale DICOM file: (H, W) or (F, H, W) stored values, plus any attributes given."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"  # secondary capture; the modality says what it is
    ds.SOPInstanceUID = generate_uid()
    ds.PatientID = "PAT-1"
    signed = pixels.dtype.kind == "i"
    ds.Rows, ds.Columns = pixels.shape[-2:]
    if pixels.ndim == 3:
        ds.NumberOfFrames = pixels.shape[0]
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelRepresentation = 1 if signed else 0
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    for key, value in attributes.items():
        if key == "BitsStored":
            ds.BitsStored, ds.HighBit = value, value - 1
        else:
            setattr(ds, key, value)
    ds.PixelData = pixels.astype("<i2" if signed else "<u2").tobytes()
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def read(data: bytes, name: str = "test.dcm"):
    return read_dicom(data, name, DEID)


def ramp(top: int, rows: int = 64) -> np.ndarray:
    """A horizontal ramp 0..top over 64 columns, as uint16."""
    return np.tile(np.round(np.linspace(0, top, 64)).astype(np.uint16), (rows, 1))


def middle_row(image, frame: int = 0, window=None) -> list[int]:
    return render_8bit(image, frame, window)[MIDDLE, COLUMNS].astype(int).tolist()


def close(found: list[int], expected: list[int], tolerance: int = 1) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(found, expected, strict=True))


def lut_item(descriptor: list[int], data: list[int]) -> Dataset:
    """A LUT item with LUT Descriptor SS and LUT Data US, as an explicit-VR writer would store them."""
    item = Dataset()
    item.add_new(0x00283002, "SS", descriptor)
    item.add_new(0x00283006, "US", data)
    return item


def sqrt_lut_item(first: int = -1024, entries: int = 2048) -> Dataset:
    return lut_item([entries, first, 16], [int(round((i / (entries - 1)) ** 0.5 * 65535)) for i in range(entries)])


# --- the three inputs of issue 8 -----------------------------------------------------------------------


def sigmoid_mg() -> bytes:
    return dicom_bytes(ramp(4095), Modality="MG", WindowCenter=2048, WindowWidth=2048, VOILUTFunction="SIGMOID")


def inverse_cr() -> bytes:
    return dicom_bytes(ramp(4095), Modality="CR", WindowCenter=2048, WindowWidth=4096, PresentationLUTShape="INVERSE")


def lut_ct(implicit: bool) -> bytes:
    return dicom_bytes(ramp(2047), implicit=implicit, Modality="CT", RescaleIntercept=-1024, RescaleSlope=1,
                       VOILUTSequence=[sqrt_lut_item()])


SIGMOID_ROW = [5, 14, 39, 92, 163, 216, 241, 250]
LUT_ROW = [0, 96, 136, 167, 193, 216, 236, 255]


def test_sigmoid_voi_lut_function() -> None:
    image = read(sigmoid_mg())
    assert image.default_window.function == "SIGMOID" and image.default_window.source == "file"
    assert close(middle_row(image), SIGMOID_ROW)
    ds = pydicom.dcmread(io.BytesIO(sigmoid_mg()))
    expected = apply_voi_lut(ds.pixel_array.astype(np.float64), ds) / 4095  # pydicom: output 0..2^12-1
    np.testing.assert_allclose(window_to_unit(image), expected, atol=1e-6)
    # a window the user types is LINEAR_EXACT in modality units, even on a SIGMOID file
    assert middle_row(image, window="2048,2048") == [0, 0, 18, 91, 164, 237, 255, 255]


def test_presentation_lut_shape_inverse_on_monochrome2_renders_the_minimum_white() -> None:
    image = read(inverse_cr())
    assert image.invert and image.photometric == "MONOCHROME2"
    pixels = render_8bit(image)
    assert pixels[MIDDLE, 0] == 255 and pixels[MIDDLE, 63] == 0
    plain = read(dicom_bytes(ramp(4095), Modality="CR", WindowCenter=2048, WindowWidth=4096))
    np.testing.assert_allclose(window_to_unit(image), 1.0 - window_to_unit(plain), atol=1e-6)
    assert image.warnings == []


@pytest.mark.parametrize("shape, inverted, warned", [
    (None, False, False), ("IDENTITY", False, False), ("INVERSE", True, False)])
def test_monochrome2_presentation_shapes(shape, inverted, warned) -> None:
    extra = {"PresentationLUTShape": shape} if shape else {}
    image = read(dicom_bytes(ramp(4095), WindowCenter=2048, WindowWidth=4096, **extra))
    assert image.invert is inverted and bool(image.warnings) is warned


@pytest.mark.parametrize("shape", [None, "INVERSE", "IDENTITY"])
def test_monochrome1_is_inverted_once_whatever_its_shape(shape) -> None:
    extra = {"PresentationLUTShape": shape} if shape else {}
    mono1 = read(dicom_bytes(ramp(4095), PhotometricInterpretation="MONOCHROME1", WindowCenter=2048,
                             WindowWidth=4096, **extra))
    mono2 = read(dicom_bytes(ramp(4095), WindowCenter=2048, WindowWidth=4096))
    assert mono1.invert
    np.testing.assert_allclose(window_to_unit(mono1), 1.0 - window_to_unit(mono2), atol=1e-6)
    assert render_8bit(mono1)[MIDDLE, 0] == 255
    # IDENTITY contradicts MONOCHROME1 (DICOM asks INVERSE): shown MONOCHROME1, with a warning
    assert any("IDENTITY" in w for w in mono1.warnings) is (shape == "IDENTITY")


def test_implicit_vr_voi_lut_with_a_negative_first_value_renders_like_its_explicit_twin() -> None:
    implicit_ds = pydicom.dcmread(io.BytesIO(lut_ct(implicit=True)))
    assert implicit_ds.VOILUTSequence[0].LUTDescriptor[1] == 64512  # how pydicom reads -1024 as US
    explicit, implicit = read(lut_ct(implicit=False)), read(lut_ct(implicit=True))
    assert implicit.voi_lut.LUTDescriptor[1] == -1024 and implicit.default_window.source == "file-lut"
    np.testing.assert_array_equal(render_8bit(implicit), render_8bit(explicit))
    assert close(middle_row(implicit), LUT_ROW)
    # the cross-check: pydicom on the explicit twin, its 16-bit output scaled to 0..1
    ds = pydicom.dcmread(io.BytesIO(lut_ct(implicit=False)))
    hu = apply_modality_lut(ds.pixel_array, ds).astype(np.int64)
    np.testing.assert_allclose(window_to_unit(explicit), apply_voi_lut(hu, ds) / 65535, atol=1e-6)
    # and pydicom alone on the implicit file: all black, the fault our copy of the descriptor fixes
    hu_implicit = apply_modality_lut(implicit_ds.pixel_array, implicit_ds).astype(np.int64)
    assert apply_voi(hu_implicit, implicit_ds).max() == 0


# --- the whole kinds ---------------------------------------------------------------------------------------


def test_linear_and_linear_exact_differ_as_the_standard_says() -> None:
    pixels = np.array([[8, 9, 10, 11, 12]], dtype=np.uint16)
    units = {}
    for function in ("LINEAR", "LINEAR_EXACT"):
        data = dicom_bytes(pixels, WindowCenter=10, WindowWidth=2, VOILUTFunction=function)
        units[function] = window_to_unit(read(data))[0].tolist()
        ds = pydicom.dcmread(io.BytesIO(data))
        np.testing.assert_allclose(units[function], apply_windowing(ds.pixel_array, ds)[0] / 4095, atol=1e-6)
    assert units["LINEAR"] == [0.0, 0.0, 1.0, 1.0, 1.0]  # C.11.2.1.2.1: centre - 0.5, width - 1
    assert units["LINEAR_EXACT"] == [0.0, 0.0, 0.5, 1.0, 1.0]  # C.11.2.1.3.2


def test_no_function_means_linear() -> None:
    image = read(dicom_bytes(np.array([[9, 10, 11]], dtype=np.uint16), WindowCenter=10, WindowWidth=2))
    assert image.default_window.function == "LINEAR" and window_to_unit(image)[0].tolist() == [0.0, 1.0, 1.0]


def _frame_group(slope=None, intercept=None, center=None, width=None, function=None) -> Dataset:
    group = Dataset()
    if slope is not None:
        rescale = Dataset()
        rescale.RescaleSlope, rescale.RescaleIntercept, rescale.RescaleType = slope, intercept, "HU"
        group.PixelValueTransformationSequence = [rescale]
    if center is not None:
        voi = Dataset()
        voi.WindowCenter, voi.WindowWidth = center, width
        if function:
            voi.VOILUTFunction = function
        group.FrameVOILUTSequence = [voi]
    return group


def enhanced() -> bytes:
    pixels = np.stack([ramp(400, rows=8)] * 3)
    return dicom_bytes(
        pixels, Modality="CT",
        PerFrameFunctionalGroupsSequence=[_frame_group(1, 0, 100, 200), _frame_group(2, -100, 300, 100, "SIGMOID"),
                                          Dataset()],
        SharedFunctionalGroupsSequence=[_frame_group(0.5, 10, 60, 40, "LINEAR_EXACT")],
    )


def test_enhanced_frames_get_their_own_rescale_and_window() -> None:
    image = read(enhanced())
    stored = ramp(400, rows=8).astype(np.float32)
    np.testing.assert_array_equal(image.frames[0], stored)
    np.testing.assert_array_equal(image.frames[1], stored * 2 - 100)
    np.testing.assert_array_equal(image.frames[2], stored * 0.5 + 10)  # the shared group, where per-frame is empty
    assert [frame_window(image, f) for f in range(3)] == [
        image.default_window, image.frame_vois[1].windows[0], image.frame_vois[2].windows[0]]
    assert [(w.center, w.width, w.function) for w in (frame_window(image, f) for f in range(3))] == [
        (100, 200, "LINEAR"), (300, 100, "SIGMOID"), (60, 40, "LINEAR_EXACT")]
    for frame, (slope, intercept, center, width, function) in enumerate(
            [(1, 0, 100, 200, "LINEAR"), (2, -100, 300, 100, "SIGMOID"), (0.5, 10, 60, 40, "LINEAR_EXACT")]):
        rescale, voi = Dataset(), Dataset()  # the same frame as a single-frame object, through pydicom
        rescale.RescaleSlope, rescale.RescaleIntercept = slope, intercept
        voi.PhotometricInterpretation, voi.BitsStored, voi.PixelRepresentation = "MONOCHROME2", 1, 0  # output 0..1
        voi.WindowCenter, voi.WindowWidth, voi.VOILUTFunction = center, width, function
        expected = apply_windowing(apply_modality_lut(stored, rescale), voi)
        np.testing.assert_allclose(window_to_unit(image, frame), expected, atol=1e-6)
    # a user's window is the same on every frame, in each frame's own units
    assert window_to_unit(image, 1, "200,200")[0, 0] == 0.0 and window_to_unit(image, 0, "200,200")[0, 0] == 0.0


def test_enhanced_rescale_with_no_window_gets_one_automatic_window_over_all_frames() -> None:
    pixels = np.stack([ramp(400, rows=8)] * 2)
    image = read(dicom_bytes(pixels, PerFrameFunctionalGroupsSequence=[_frame_group(1, 0), _frame_group(1, 1000)]))
    assert image.default_window.source == "auto" and image.value_range == (0.0, 1400.0)
    assert image.default_window == auto_window(image.frames)


def test_several_voi_luts_are_several_file_windows() -> None:
    rising, falling = sqrt_lut_item(first=0, entries=4096), lut_item([4096, 0, 12], list(range(4095, -1, -1)))
    data = dicom_bytes(ramp(4095), VOILUTSequence=[rising, falling])
    image = read(data)
    assert [w.source for w in image.file_windows] == ["file-lut", "file-lut:2"]
    ds = pydicom.dcmread(io.BytesIO(data))
    stored = ds.pixel_array.astype(np.int64)
    np.testing.assert_allclose(window_to_unit(image), apply_voi(stored, ds, 0) / 65535, atol=1e-6)
    second = resolve_window(image, image.file_windows[1])
    np.testing.assert_allclose(window_to_unit(image, 0, second), apply_voi(stored, ds, 1) / 4095, atol=1e-6)
    assert render_8bit(image, 0, second)[0, 0] == 255


def test_padding_is_left_out_of_automatic_windows_and_shown_black() -> None:
    pixels = ramp(4095)
    pixels[:, :8] = 0  # an 8-column border of padding (stored 0, -1024 after rescale): no image data at all
    for photometric in ("MONOCHROME2", "MONOCHROME1"):
        data = dicom_bytes(pixels, RescaleIntercept=-1024, RescaleSlope=1, PixelPaddingValue=0,
                           PhotometricInterpretation=photometric)
        image = read(data)
        inside = image.frames[:, :, 8:]
        assert image.padding is not None and int(image.padding.sum()) == 64 * 8
        assert image.value_range == (float(inside.min()), float(inside.max()))
        assert image.default_window == auto_window(inside)
        assert resolve_window(image, "auto") == auto_window(inside)
        pixels8 = render_8bit(image)
        assert (pixels8[:, :8] == 0).all()  # background: black, also for MONOCHROME1
        assert pixels8[:, 8:].max() == 255 and pixels8[:, 8:].min() == 0
    unpadded = read(dicom_bytes(pixels, RescaleIntercept=-1024, RescaleSlope=1))
    assert unpadded.padding is None and unpadded.default_window != auto_window(inside)


def test_padding_range_and_signed_padding_read_through_implicit_vr() -> None:
    pixels = np.tile(np.arange(-32, 32, dtype=np.int16), (4, 1)) * 10  # -320..310, signed
    data = dicom_bytes(pixels, implicit=True, PixelPaddingValue=-320, PixelPaddingRangeLimit=-300)
    image = read(data)
    assert int(image.padding.sum()) == 4 * 3  # -320, -310, -300
    assert image.value_range == (-290.0, 310.0)
    assert (render_8bit(image)[:, :3] == 0).all()


def test_modality_lut_sequence_with_a_signed_first_value_through_implicit_vr() -> None:
    pixels = np.tile(np.arange(-8, 8, dtype=np.int16), (2, 1))
    item = lut_item([8, -4, 16], [100 * i for i in range(8)])
    explicit = read(dicom_bytes(pixels, ModalityLUTSequence=[item]))
    implicit = read(dicom_bytes(pixels, implicit=True, ModalityLUTSequence=[item]))
    expected = np.clip(np.arange(-8, 8) + 4, 0, 7) * 100.0  # below the table: first entry; above: last
    np.testing.assert_array_equal(explicit.frames[0, 0], expected)
    np.testing.assert_array_equal(implicit.frames, explicit.frames)


@pytest.mark.parametrize("attributes, phrase", [
    ({"WindowCenter": 2048, "WindowWidth": 2048, "VOILUTFunction": "CUBIC"}, "VOI LUT Function CUBIC"),
    ({"PresentationLUTShape": "LIN OD"}, "Presentation LUT Shape LIN OD"),
    ({"WindowCenter": 2048, "WindowWidth": 0.5}, "width 0.5"),
])
def test_attributes_that_cannot_be_honoured_are_named_in_a_warning(attributes, phrase) -> None:
    image = read(dicom_bytes(ramp(4095), **attributes), "odd.dcm")
    assert any(phrase in w and w.startswith("odd.dcm") for w in image.warnings), image.warnings
    assert all(w.count(". ") == 0 and w.endswith(".") for w in image.warnings)  # one sentence each
    assert render_8bit(image).shape == (64, 64)


def test_malformed_voi_lut_and_presentation_lut_sequence_are_warned_and_left_out() -> None:
    short, plut = lut_item([4096, 0, 16], [0, 1, 2]), lut_item([256, 0, 8], list(range(256)))
    image = read(dicom_bytes(ramp(4095), VOILUTSequence=[short], PresentationLUTSequence=[plut]), "odd.dcm")
    assert image.voi_lut is None and image.default_window.source == "auto"
    assert any("3 entries where its descriptor says 4096" in w for w in image.warnings)
    assert any("Presentation LUT Sequence" in w for w in image.warnings)


def test_lut_data_past_its_declared_bits_is_read_at_the_bits_it_needs() -> None:
    item = lut_item([4096, 0, 8], list(range(4096)))  # says 8 bits, holds 12
    image = read(dicom_bytes(ramp(4095), VOILUTSequence=[item]), "odd.dcm")
    assert any("says 8 bits" in w and "read as 12-bit" in w for w in image.warnings)
    assert middle_row(image) == middle_row(read(dicom_bytes(ramp(4095), WindowCenter=2048, WindowWidth=4096,
                                                            VOILUTFunction="LINEAR_EXACT")))


def test_inspect_json_lists_the_warnings(tmp_path, capsys) -> None:
    path = tmp_path / "odd.dcm"
    path.write_bytes(dicom_bytes(ramp(4095), WindowCenter=2048, WindowWidth=2048, VOILUTFunction="CUBIC"))
    code = main(["inspect", str(path), "--json"])
    info = json.loads(capsys.readouterr().out)
    assert code == 0 and any("CUBIC" in w for w in info["warnings"])
    assert info["window"] == {"center": 2048.0, "width": 2048.0, "source": "file", "function": "LINEAR"}


@pytest.mark.parametrize("attributes, expected, phrase", [
    ({"RescaleIntercept": -1024}, -1024.0, "intercept without a slope; slope 1 was used"),
    ({"RescaleSlope": 2}, 0.0, "slope without an intercept; intercept 0 was used"),
])
def test_half_a_rescale_is_applied_with_a_warning(attributes, expected, phrase) -> None:
    image = read(dicom_bytes(ramp(4095), **attributes))
    assert image.frames[0, 0, 0] == expected and any(phrase in w for w in image.warnings)


def test_inspect_json_gives_the_frames_own_window_and_the_inversion(tmp_path, capsys) -> None:
    path, cr = tmp_path / "enhanced.dcm", tmp_path / "cr.dcm"
    path.write_bytes(enhanced())
    cr.write_bytes(inverse_cr())
    assert main(["inspect", str(path), "--frame", "1", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["window"]["center"] == 100.0 and not info["inverted"]
    assert info["frame_window"] == {"center": 300.0, "width": 100.0, "source": "file", "function": "SIGMOID"}
    assert main(["inspect", str(cr), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["inverted"] is True
