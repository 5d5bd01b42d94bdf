from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
import skimage.data
import tifffile
from PIL import Image

from core.cli import main
from core.enhance.classical import CLASSICAL_METHODS
from tests.core.enhance.sixteen_bit import HIGH, LOW, clean_crop, noisy, png16, read_png16, tiny_run
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


DENOISERS = [m for m, spec in CLASSICAL_METHODS.items() if spec.kind == "denoise" and m != "bm3d"]


def _sixteen_bit_pair(tmp_path):
    clean = clean_crop(6)
    (tmp_path / "clean.png").write_bytes(png16(clean))
    (tmp_path / "noisy.png").write_bytes(png16(noisy(clean)))
    return clean


def _check_sixteen_bit_output(path, clean) -> None:
    out = read_png16(path.read_bytes()) / 65535  # a uint16 PNG, as the input was
    p1, p99 = np.percentile(out, [1, 99])
    assert LOW - 0.1 <= p1 and p99 <= HIGH + 0.1, (p1, p99)  # the clean 0.30-0.55, give or take removed noise
    assert abs(float(np.median(out)) - float(np.median(clean))) < 0.03


@pytest.mark.parametrize("method", DENOISERS)
def test_sixteen_bit_png_keeps_its_range_depth_and_true_psnr(tmp_path, capsys, method):
    clean = _sixteen_bit_pair(tmp_path)
    code = main(["enhance", method, str(tmp_path / "noisy.png"), str(tmp_path / "out.png"),
                 "--reference", str(tmp_path / "clean.png"), "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0
    _check_sixteen_bit_output(tmp_path / "out.png", clean)
    assert result["bits_out"] == 16
    assert result["data_range"] == {"low": 0.0, "high": 65535.0, "basis": "16-bit samples", "bits": 16}
    assert result["psnr_input"] == pytest.approx(20.0, abs=0.3)  # read 10 dB when the input was stretched
    assert result["psnr"] > result["psnr_input"] + 3


def test_trained_run_through_python_m_core_enhance(tmp_path, shared_builtin_dir):
    home, run_id = tiny_run(str(shared_builtin_dir))
    clean = _sixteen_bit_pair(tmp_path)
    env = {**os.environ, "MEDLAB_HOME": str(home), "MEDLAB_BUILTIN_DIR": str(shared_builtin_dir)}
    done = subprocess.run([sys.executable, "-m", "core", "enhance", run_id, str(tmp_path / "noisy.png"),
                           str(tmp_path / "out.png"), "--reference", str(tmp_path / "clean.png"), "--json"],
                          capture_output=True, text=True, env=env, cwd=Path(__file__).parents[3], timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    _check_sixteen_bit_output(tmp_path / "out.png", clean)
    assert result["bits_out"] == 16 and result["data_range"]["high"] == 65535.0
    assert result["psnr_input"] == pytest.approx(20.0, abs=0.3)
    assert result["psnr"] > result["psnr_input"]


def test_tiff_output_of_a_float_image_keeps_its_values(tmp_path, capsys):
    values = np.linspace(-3.5, 7.25, 32 * 32, dtype=np.float32).reshape(32, 32)
    tifffile.imwrite(tmp_path / "in.tif", values)
    assert main(["enhance", "median", str(tmp_path / "in.tif"), str(tmp_path / "out.tif"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    out = tifffile.imread(tmp_path / "out.tif")
    assert out.dtype == np.float32 and result["bits_out"] == 32
    assert out.min() >= -3.5 and out.max() <= 7.25 and abs(float(out.mean()) - float(values.mean())) < 0.05


def test_compare_methods_on_a_folder_of_clean_images(tmp_path, capsys):
    camera = skimage.data.camera()
    (tmp_path / "clean").mkdir()
    for i in range(2):
        (tmp_path / "clean" / f"{i}.png").write_bytes(png_bytes(camera[i * 128: i * 128 + 48, 200:248]))
    code = main(["enhance", "--compare", "nl_means,median", str(tmp_path / "clean"), "--sigma", "0.1", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["n_images"] == 2 and result["degradation"] == "Gaussian noise σ=0.1"
    methods = [row["method"] for row in result["rows"]]
    assert set(methods) == {"degraded input (no method)", "Non-local means", "Median filter"}
    assert methods[-1] == "degraded input (no method)"  # best PSNR first: both denoisers beat the noisy input


def test_compare_all_includes_trained_runs_and_upscalers(tmp_path, shared_builtin_dir):
    home, run_id = tiny_run(str(shared_builtin_dir))
    env = {**os.environ, "MEDLAB_HOME": str(home), "MEDLAB_BUILTIN_DIR": str(shared_builtin_dir)}

    def compare(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "core", "enhance", "--compare", *extra, "--json"],
                              capture_output=True, text=True, env=env, cwd=Path(__file__).parents[3], timeout=300)

    denoise = compare("all", "real-tiles-128", "--images", "2")
    assert denoise.returncode == 0, denoise.stderr
    assert any(row["method"].startswith("Trained: ") for row in json.loads(denoise.stdout)["rows"])
    upscale = compare("all", "real-tiles-128", "--images", "2", "--scale", "2")
    assert upscale.returncode == 0, upscale.stderr
    assert {row["method"] for row in json.loads(upscale.stdout)["rows"]} == {"Bicubic", "Lanczos"}  # the x1 run left out
    wrong = compare(f"{run_id}", "real-tiles-128", "--scale", "2")
    assert wrong.returncode == 2 and wrong.stderr.count("\n") == 1 and "not x2" in wrong.stderr


@pytest.mark.parametrize("argv,message", [
    (["enhance", "--compare", "nl_means", "no-such-dataset"], "no-such-dataset"),
    (["enhance", "--compare", "sharpen_it", "{folder}"], "Unknown enhancement method 'sharpen_it'"),
    (["enhance", "--compare", "all", "{folder}", "--degradation", "speckle"], "gaussian, poisson, blur"),
    (["enhance", "nl_means", "{folder}"], "Give an output file"),
])
def test_compare_mistakes_are_one_line_and_exit_2(tmp_path, capsys, argv, message):
    (tmp_path / "a.png").write_bytes(png_bytes(skimage.data.camera()[:32, :32]))
    assert main([arg.replace("{folder}", str(tmp_path)) for arg in argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
