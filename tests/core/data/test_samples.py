"""Built-in samples: every one loads offline through the ordinary readers and renders to 8 bits."""
from __future__ import annotations

import socket

import numpy as np
import pytest

from core.data.samples import SAMPLES, load_sample
from core.data.windowing import render_8bit
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
