"""Windowing: presets, choices, linear mapping, VOI LUT, inversion and colour scaling, with exact numbers."""
from __future__ import annotations

import numpy as np
import pytest
from pydicom.dataset import Dataset

from core.data.medical_image import FrameVOI, MedicalImage, Window
from core.data.windowing import PRESETS, auto_window, frame_window, render_8bit, resolve_window, window_to_unit
from core.errors import UserError


def _grey(values, **kwargs) -> MedicalImage:
    frames = np.asarray(values, dtype=np.float32).reshape(1, 1, -1)
    defaults = dict(name="ct.dcm", format="dicom", frames=frames, is_color=False, bits=16,
                    value_range=(float(frames.min()), float(frames.max())),
                    default_window=Window(40.0, 400.0, "file"), file_windows=[Window(40.0, 400.0, "file")])
    defaults.update(kwargs)
    return MedicalImage(**defaults)


def test_presets_have_the_radiology_numbers() -> None:
    expected = {"lung": (1500, -600), "mediastinum": (350, 50), "soft_tissue": (400, 40),
                "bone": (1800, 400), "brain": (80, 40), "liver": (150, 30)}
    assert {name: (w.width, w.center) for name, w in PRESETS.items()} == expected
    assert all(w.source == f"preset:{name}" for name, w in PRESETS.items())


def test_lung_window_maps_air_low_centre_and_high_exactly() -> None:
    image = _grey([-1350, -1000, -600, 150, 3000, -3000])
    unit = window_to_unit(image, window="lung")[0]
    assert unit[0] == 0.0 and unit[3] == 1.0  # low = L - W/2, high = L + W/2
    assert unit[2] == pytest.approx(0.5)
    assert unit[1] == pytest.approx(350 / 1500, abs=1e-6)  # -1000 HU: a dark grey, not black
    assert unit[4] == 1.0 and unit[5] == 0.0  # clipped
    grey = render_8bit(image, window="lung")[0]
    assert grey.dtype == np.uint8
    assert grey[0] == 0 and grey[2] == 128 and grey[3] == 255
    assert abs(int(grey[1]) - 59.5) <= 0.5


def test_mediastinum_window_in_8bit() -> None:
    image = _grey([-125, 50, 225, -1000])
    assert render_8bit(image, window="mediastinum")[0].tolist() == [0, 128, 255, 0]


def test_default_window_is_used_when_none_is_given() -> None:
    image = _grey([-160, 40, 240])
    assert window_to_unit(image)[0].tolist() == [0.0, 0.5, 1.0]


@pytest.mark.parametrize(
    "choice, expected",
    [
        ("40,400", Window(40.0, 400.0, "manual")),
        (" -600 , 1500 ", Window(-600.0, 1500.0, "manual")),
        ((50, 350), Window(50.0, 350.0, "manual")),
        (Window(10.0, 20.0, "manual"), Window(10.0, 20.0, "manual")),
        ("lung", PRESETS["lung"]),
        ("Soft tissue", PRESETS["soft_tissue"]),
        ("preset:bone", PRESETS["bone"]),
        (None, Window(40.0, 400.0, "file")),
        ("default", Window(40.0, 400.0, "file")),
        ("file", Window(40.0, 400.0, "file")),
    ],
)
def test_resolve_window_choices(choice, expected) -> None:
    assert resolve_window(_grey([0, 1]), choice) == expected


@pytest.mark.parametrize("choice", ["nonsense", "40,0", "40,-5", "a,b", (1, 0), "1,2,3", 42])
def test_bad_window_choices_raise_a_one_line_user_error(choice) -> None:
    with pytest.raises(UserError) as info:
        resolve_window(_grey([0, 1]), choice)
    message = str(info.value)
    assert "\n" not in message and "lung" in message and "soft_tissue" in message


def test_file_window_is_refused_when_the_file_has_none() -> None:
    image = _grey([0, 1], file_windows=[])
    with pytest.raises(UserError, match="ct.dcm has no window of its own"):
        resolve_window(image, "file")


def test_auto_window_uses_robust_percentiles() -> None:
    values = np.arange(1001, dtype=np.float32)
    window = auto_window(values)
    assert window.source == "auto"
    assert window.low == pytest.approx(5.0) and window.high == pytest.approx(995.0)
    spiky = np.concatenate([np.arange(10_000.0), [1e9]])  # one hot pixel does not stretch the window
    assert auto_window(spiky).high < 10_000


@pytest.mark.parametrize("values", [np.full((4, 4), 7.0), np.array([]), np.array([np.nan, np.inf])])
def test_auto_window_never_divides_by_zero(values) -> None:
    window = auto_window(values)
    assert window.width > 0 and np.isfinite(window.center)
    if values.size and np.isfinite(values).all():
        image = _grey(values.ravel(), default_window=window)
        assert np.isfinite(window_to_unit(image)).all()


def test_monochrome1_is_inverted_after_windowing() -> None:
    plain = _grey([-160, 40, 240, -10])
    inverted = _grey([-160, 40, 240, -10], invert=True)
    np.testing.assert_allclose(window_to_unit(inverted), 1.0 - window_to_unit(plain))
    assert render_8bit(inverted)[0].tolist() == [255, 128, 0] + [int(np.floor((1 - 0.375) * 255 + 0.5))]


def test_colour_is_scaled_by_the_top_of_its_range_unless_windowed() -> None:
    frames = np.array([[[[0, 255, 51], [65535, 0, 0]]]], dtype=np.float32)
    eight = MedicalImage("c.png", "png", frames[..., :1, :].clip(0, 255), True, 8, (0, 255), Window(127.5, 255, "full-range"))
    np.testing.assert_allclose(window_to_unit(eight), [[[0.0, 1.0, 0.2]]])
    sixteen = MedicalImage("c.tif", "tiff", frames, True, 16, (0, 65535), Window(32767.5, 65535, "full-range"))
    unit = window_to_unit(sixteen)
    assert unit.shape == (1, 2, 3) and unit[0, 1, 0] == 1.0
    windowed = window_to_unit(eight, window=(127.5, 255))
    np.testing.assert_allclose(windowed, [[[0.0, 1.0, 0.2]]])
    np.testing.assert_allclose(window_to_unit(eight, window=(25.5, 51))[0, 0], [0.0, 1.0, 1.0])


def test_voi_lut_is_used_with_the_files_own_window_only() -> None:
    item = Dataset()
    item.LUTDescriptor = [4, 10, 8]  # 4 entries, first input value 10, 8 bits
    item.add_new(0x00283006, "US", [0, 100, 200, 255])
    lut_window = Window(11.5, 4.0, "file-lut")
    image = _grey([5, 10, 11, 12, 13, 99], voi_lut=item, default_window=lut_window, file_windows=[lut_window])
    expected = np.array([0, 0, 100, 200, 255, 255]) / 255
    np.testing.assert_allclose(window_to_unit(image)[0], expected, atol=1e-6)
    np.testing.assert_allclose(window_to_unit(image, window="file")[0], expected, atol=1e-6)
    linear = window_to_unit(image, window=(11.5, 4.0))[0]  # an explicit window: linear, not the LUT
    np.testing.assert_allclose(linear, [0, 0.125, 0.375, 0.625, 0.875, 1.0], atol=1e-6)


def test_frame_out_of_range_is_a_user_error() -> None:
    with pytest.raises(UserError, match="ct.dcm has 1 frame"):
        window_to_unit(_grey([0, 1]), frame=3)


def _two_frames(**kwargs) -> MedicalImage:
    frames = np.array([[[0, 10, 20, 30]], [[0, 10, 20, 30]]], dtype=np.float32)
    own = [FrameVOI((Window(15.0, 30.0, "file", "LINEAR_EXACT"),)), FrameVOI((Window(10.0, 2.0, "file", "SIGMOID"),))]
    defaults = dict(name="mf.dcm", format="dicom", frames=frames, is_color=False, bits=12, value_range=(0.0, 30.0),
                    default_window=own[0].windows[0], file_windows=list(own[0].windows), frame_vois=own)
    defaults.update(kwargs)
    return MedicalImage(**defaults)


def test_each_frame_gets_its_own_file_window_and_a_users_window_is_the_same_on_all() -> None:
    image = _two_frames()
    assert window_to_unit(image, 0)[0].tolist() == [0.0, pytest.approx(1 / 3), pytest.approx(2 / 3), 1.0]
    sigmoid = 1 / (1 + np.exp(-4 * (np.array([0, 10, 20, 30]) - 10) / 2))  # PS3.3 C.11.2.1.3.1
    np.testing.assert_allclose(window_to_unit(image, 1)[0], sigmoid, atol=1e-6)
    assert frame_window(image, 1) == Window(10.0, 2.0, "file", "SIGMOID")
    for frame in (0, 1):  # the sliders' window with the file's values is still the file's own, per frame
        np.testing.assert_array_equal(window_to_unit(image, frame, Window(15.0, 30.0, "file")), window_to_unit(image, frame))
        np.testing.assert_allclose(window_to_unit(image, frame, "15,30")[0], [0, 1 / 3, 2 / 3, 1], atol=1e-6)
    one = image.select_frames(1, 2)
    assert one.frame_count == 1 and np.array_equal(window_to_unit(one, 0), window_to_unit(image, 1))


def test_padding_is_black_after_inversion_and_left_out_of_auto() -> None:
    padding = np.zeros((2, 1, 4), dtype=bool)
    padding[:, 0, 0] = True
    image = _two_frames(padding=padding, invert=True)
    assert window_to_unit(image, 0)[0].tolist() == [0.0, pytest.approx(2 / 3), pytest.approx(1 / 3), 0.0]
    assert resolve_window(image, "auto") == auto_window([10, 20, 30] * 2)
    assert sorted(image.image_values().tolist()) == [10, 10, 20, 20, 30, 30]


def test_window_as_dict_names_a_function_other_than_linear_exact() -> None:
    assert Window(1.0, 2.0, "manual").as_dict() == {"center": 1.0, "width": 2.0, "source": "manual"}
    assert Window(1.0, 2.0, "file", "SIGMOID").as_dict()["function"] == "SIGMOID"
