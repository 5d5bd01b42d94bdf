"""Enhancement in the image's own scale: no window on the way in, the input's bit depth and range on the way out,
scores on the stated data range (issue 8, section 6)."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
import torch
from pydicom.data import get_testdata_file

from core.data.medical_image import Window
from core.data.readers import read_medical_image
from core.enhance.classical import CLASSICAL_METHODS
from core.enhance.degrade import Degradation
from core.enhance.run import enhance, scores, simulate
from core.enhance.writers import native_png
from tests.core.enhance.sixteen_bit import HIGH, LOW, SIGMA, clean_crop, noisy, png16, read_png16, tiny_run

HELD_OUT = 6  # a crop with structure across the range; the tiny run trains on crops 1-5
DENOISERS = [m for m, spec in CLASSICAL_METHODS.items() if spec.kind == "denoise"]


def _pair(seed: int = 0):
    clean = clean_crop(HELD_OUT)
    return (read_medical_image(png16(noisy(clean, seed)), "noisy.png"), read_medical_image(png16(clean), "clean.png"),
            clean)


def _assert_in_native_range(values: np.ndarray, clean: np.ndarray) -> None:
    """Within LOW..HIGH give or take the noise a denoiser leaves (well inside the noisy input's 0.0-0.85)."""
    unit = values / 65535
    p1, p99 = np.percentile(unit, [1, 99])
    assert LOW - 0.1 <= p1 and p99 <= HIGH + 0.1, (p1, p99)
    assert abs(float(np.median(unit)) - float(np.median(clean))) < 0.03


@pytest.mark.parametrize("method", DENOISERS)
def test_each_classical_denoiser_keeps_the_16_bit_range_and_scores_on_it(method):
    if method == "bm3d":
        pytest.importorskip("bm3d")
    image, reference, clean = _pair()
    result = enhance(image, 0, method)
    assert result.data_range.as_dict() == {"low": 0.0, "high": 65535.0, "basis": "16-bit samples", "bits": 16}
    _assert_in_native_range(result.output.frames[0], clean)
    written = read_png16(native_png(result.output.frames[0], result.data_range))
    assert np.array_equal(written, np.rint(result.output.frames[0]).astype(np.uint16))  # values, not a window
    before = scores(image.frames[0], reference.frames[0], result.data_range)
    after = scores(result.output.frames[0], reference.frames[0], result.data_range)
    assert before["psnr"] == pytest.approx(20.0, abs=0.3)  # sigma 0.1 of the full range; a stretch read 10 dB
    assert after["psnr"] > before["psnr"] + 3
    assert after["data_range"]["high"] == 65535.0


def test_noise_levels_are_fractions_of_the_data_range_not_of_the_image_span():
    image, _, _ = _pair()
    result = enhance(image, 0, "nl_means")
    assert result.params["sigma"] == pytest.approx(SIGMA, abs=0.01)
    assert "of the data range" in result.notes[0]
    given = enhance(image, 0, "nl_means", {"sigma": 0.1})
    assert given.params["sigma"] == pytest.approx(0.1)


def test_a_trained_run_restores_on_the_data_range_it_was_trained_on(shared_builtin_dir, monkeypatch):
    home, run_id = tiny_run(str(shared_builtin_dir))
    monkeypatch.setenv("MEDLAB_HOME", str(home))
    image, reference, clean = _pair()
    result = enhance(image, 0, run_id)
    assert any("data range 0..65535" in note for note in result.notes)
    _assert_in_native_range(result.output.frames[0], clean)
    assert scores(result.output.frames[0], reference.frames[0], result.data_range)["psnr"] > 20.0


def test_simulated_noise_is_on_the_data_range_so_the_clean_range_is_not_stretched():
    clean = clean_crop(HELD_OUT)
    image = read_medical_image(png16(clean), "clean.png")
    degraded, reference = simulate(image, Degradation("gaussian", 0.1))
    assert np.array_equal(reference.frames[0], image.frames[0])
    residual = (degraded.frames[0] - image.frames[0]) / 65535
    assert float(residual.std()) == pytest.approx(0.1, abs=0.01)
    assert scores(degraded.frames[0], reference.frames[0], enhance(image, 0, "median").data_range)["psnr"] == \
        pytest.approx(20.0, abs=0.3)


def test_ct_dicom_is_enhanced_in_hounsfield_units_with_its_stored_range():
    image = read_medical_image(open(get_testdata_file("CT_small.dcm"), "rb").read(), "CT_small.dcm")
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    result = enhance(image, 0, "median")
    bits, intercept = int(ds.BitsStored), float(ds.RescaleIntercept)
    signed = int(ds.PixelRepresentation) == 1
    low = (-(2 ** (bits - 1)) if signed else 0) + intercept
    assert (result.data_range.low, result.data_range.bits) == (low, bits)
    assert "(HU)" in result.data_range.basis
    hu = result.output.frames[0]
    assert image.frames[0].min() - 1 <= hu.min() and hu.max() <= image.frames[0].max() + 1  # HU kept, not 0-1
    assert io.BytesIO(native_png(hu, result.data_range)).getvalue()[:4] == b"\x89PNG"


class _MidGrey(torch.nn.Module):
    """A stand-in restorer that answers 0.5 everywhere: shows which scale a run's input was mapped from."""

    in_channels = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.full_like(x, 0.5)


@pytest.mark.parametrize("card, expected", [
    ({"architecture": "resunet", "intensity": "full_range"}, "data range"),
    ({"architecture": "resunet", "intensity": "window", "window": "lung"}, "lung"),
    ({"architecture": "resunet"}, "file"),  # a run recorded before intensities were kept: its default window
])
def test_a_run_sees_the_scale_it_was_trained_on(monkeypatch, card, expected):
    from core.enhance import run as run_module
    from core.enhance.learned import Restorer

    ct = read_medical_image(open(get_testdata_file("CT_small.dcm"), "rb").read(), "CT_small.dcm")
    monkeypatch.setattr(run_module, "find_run_folder", lambda run_id: Path(run_id))
    monkeypatch.setattr(run_module, "load_restorer", lambda folder: Restorer(folder.name, _MidGrey(), 1, card))
    result = enhance(ct, 0, "run-000000-000000-abcd")
    out, values = result.output.frames[0], ct.frames[0]
    if expected == "data range":  # 0.5 of -33792..31743 HU, for every pixel
        assert np.allclose(out, (-33792 + 31743) / 2, atol=1)
        return
    window = {"lung": Window(-600, 1500), "file": ct.default_window}[expected]
    inside = (values >= window.low) & (values <= window.high)
    assert inside.any() and np.allclose(out[inside], window.center, atol=1)
    assert np.array_equal(out[~inside], values[~inside])  # outside the training window: kept as it was
    assert any(expected in note or "windowed" in note for note in result.notes)
