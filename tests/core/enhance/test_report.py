"""The restoration report is built from split outputs alone: no task, no network."""
from __future__ import annotations

import json

import numpy as np
import pytest
import skimage.data

from core.enhance.compare import NO_METHOD, degraded_pairs
from core.enhance.degrade import Degradation
from core.enhance.report import build_restoration_report
from core.tasks.restore import RestorationOutputs


def test_report_compares_the_networks_outputs_with_classical_methods(tmp_path):
    camera = skimage.data.camera().astype(np.float32) / 255
    images = [camera[:32, :32], camera[200:232, 200:232]]
    degradation = Degradation("gaussian", 0.1)
    degraded, clean = degraded_pairs(images, degradation)
    almost = [np.clip(c + 0.01, 0, 1) for c in clean]  # a near-perfect "network": about 40 dB
    outputs = RestorationOutputs("denoise", "resunet", degradation, clean, degraded, almost, 0.25)
    report = build_restoration_report(outputs, tmp_path)
    assert json.loads((tmp_path / "report.json").read_text()) == report
    assert (report["task"], report["degradation"], report["n_images"]) == ("denoise", "Gaussian noise σ=0.1", 2)
    first, *rest = report["comparison"]
    assert first["method"] == "MedLab resunet" and first["seconds_per_image"] == 0.25
    assert first["psnr"] == pytest.approx(40.0, abs=0.1)
    assert NO_METHOD in {row["method"] for row in rest} and "Non-local means" in {row["method"] for row in rest}
