from __future__ import annotations

import io
import json

import numpy as np
import pydicom
import skimage.data
from PIL import Image

from core.cli import main
from tests.fixtures import INSTITUTION, PATIENT_NAME, identified_ct, png_bytes


def test_classical_denoise_with_reference_reports_psnr(tmp_path, capsys):
    clean = skimage.data.camera()[::4, ::4]
    noisy = np.clip(clean / 255 + np.random.default_rng(0).normal(0, 0.1, clean.shape), 0, 1)
    (tmp_path / "clean.png").write_bytes(png_bytes(clean))
    (tmp_path / "noisy.png").write_bytes(png_bytes((noisy * 255).round().astype(np.uint8)))
    code = main(["enhance", "nl_means", str(tmp_path / "noisy.png"), str(tmp_path / "out.png"),
                 "--reference", str(tmp_path / "clean.png"), "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["psnr"] > result["psnr_input"] + 3
    assert Image.open(tmp_path / "out.png").size == (128, 128)


def test_upscale_and_sixteen_bit_outputs(tmp_path, capsys):
    (tmp_path / "in.png").write_bytes(png_bytes(skimage.data.camera()[::8, ::8]))
    assert main(["enhance", "lanczos", str(tmp_path / "in.png"), str(tmp_path / "big.tif"), "--scale", "4"]) == 0
    assert Image.open(tmp_path / "big.tif").size == (256, 256)
    assert main(["enhance", "median", str(tmp_path / "in.png"), str(tmp_path / "m.png"), "--bits", "16"]) == 0
    assert np.asarray(Image.open(tmp_path / "m.png")).dtype == np.uint16 or Image.open(tmp_path / "m.png").mode.startswith("I")


def test_dicom_in_dicom_out_keeps_geometry_and_drops_identity(tmp_path, capsys):
    (tmp_path / "ct.dcm").write_bytes(identified_ct())
    assert main(["enhance", "tv", str(tmp_path / "ct.dcm"), str(tmp_path / "out.dcm"), "--json"]) == 0
    written = (tmp_path / "out.dcm").read_bytes()
    assert PATIENT_NAME.encode() not in written and INSTITUTION.encode() not in written
    ds = pydicom.dcmread(io.BytesIO(written))
    assert "DERIVED" in ds.ImageType and ds.Rows == 128 and ds.Modality == "CT"


def test_bad_input_and_options_exit_2(tmp_path, capsys):
    (tmp_path / "in.png").write_bytes(png_bytes(skimage.data.camera()[::8, ::8]))
    for argv in (["enhance", "sharpen_more", str(tmp_path / "in.png"), str(tmp_path / "o.png")],
                 ["enhance", "tv", str(tmp_path / "in.png"), str(tmp_path / "o.dcm")],
                 ["enhance", "median", str(tmp_path / "in.png"), str(tmp_path / "o.png"), "--sigma", "0.1"],
                 ["enhance", "tv", str(tmp_path / "missing.png"), str(tmp_path / "o.png")],
                 ["enhance", "tv", str(tmp_path / "in.png"), str(tmp_path / "o.jpg")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("error: ")
