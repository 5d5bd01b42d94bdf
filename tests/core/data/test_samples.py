"""Built-in samples: every one loads offline through the ordinary readers and renders to 8 bits."""
from __future__ import annotations

import socket

import numpy as np
import pytest

from core.data.medical_image import MedicalImage, Window
from core.data.samples import SAMPLES, anatomy_window, load_sample
from core.data.windowing import PRESETS, render_8bit
from core.errors import UserError


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a network connection fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("a sample tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize("sample_id", list(SAMPLES))
def test_every_sample_loads_offline_and_renders(sample_id: str, offline: None) -> None:
    image = load_sample(sample_id)
    pixels = render_8bit(image, frame=image.frame_count // 2)
    assert pixels.dtype == np.uint8 and pixels.shape[:2] == (image.height, image.width)
    assert pixels.max() > pixels.min()  # not a blank picture
    if image.format == "dicom":
        assert image.dicom.PatientIdentityRemoved == "YES"


def test_required_samples_are_there() -> None:
    files = {sample.pydicom_file for sample in SAMPLES.values()}
    assert {"CT_small.dcm", "MR_small.dcm", "examples_palette.dcm", "examples_ybr_color.dcm",
            "examples_jpeg2k.dcm"} <= files
    assert {"retina", "immunohistochemistry", "cell"} <= {sample.skimage_name for sample in SAMPLES.values()}
    assert load_sample("us_cine").frame_count == 30  # the multi-frame sample
    assert all(sample.title and sample.description for sample in SAMPLES.values())


def test_sample_kinds() -> None:
    assert load_sample("ct_small").modality == "CT"
    assert load_sample("us_palette").is_color and load_sample("retina").is_color
    assert not load_sample("cell").is_color


def test_unknown_sample_is_a_user_error() -> None:
    with pytest.raises(UserError, match="'nope' is not a sample: choose one of ct_small"):
        load_sample("nope")


def test_ct_samples_open_at_a_window_their_values_fit_and_keep_the_files_own() -> None:
    small, lossy = load_sample("ct_small"), load_sample("ct_jpeg2000")
    assert small.default_window == PRESETS["soft_tissue"]  # no window of its own; two thirds of the body fit W400/L40
    # lossy JPEG 2000: its soft tissue is flat blocks, so the window spans the values inside the scan field
    assert (lossy.default_window.center, lossy.default_window.width) == (50.0, 2144.0)
    assert lossy.default_window.source == "auto (scan field)"
    assert [(w.center, w.width) for w in lossy.file_windows] == [(40.0, 100.0)]  # still on offer
    assert load_sample("mr_small").default_window.source == "file"  # samples with a window of their own keep it


def _ct(values: np.ndarray) -> MedicalImage:
    return MedicalImage(name="ct", format="dicom", frames=values[None].astype(np.float32), is_color=False, bits=16,
                        value_range=(float(values.min()), float(values.max())),
                        default_window=Window(0, 1, "auto"), modality="CT")


def test_anatomy_window_rule() -> None:
    rng = np.random.default_rng(0)
    abdomen = np.concatenate([np.full(300, -1000.0), rng.normal(40, 40, 700)])  # air around soft tissue
    assert anatomy_window(_ct(abdomen.reshape(20, 50))) == PRESETS["soft_tissue"]
    head = np.concatenate([np.full(300, -3000.0), rng.normal(40, 10, 300), rng.normal(900, 200, 400)])  # much bone
    window = anatomy_window(_ct(head.reshape(20, 50)))
    assert window.source == "auto (scan field)" and window.low > -1100  # outside the scan circle left out
    photo = MedicalImage(name="p", format="png", frames=np.linspace(0, 255, 100, dtype=np.float32).reshape(1, 10, 10),
                         is_color=False, bits=8, value_range=(0, 255), default_window=Window(127.5, 255, "full-range"))
    assert anatomy_window(photo).source == "auto"
