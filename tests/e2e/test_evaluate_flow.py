"""Real browser: the Evaluate page's report, then a DICOM upload that gets a prediction and a Grad-CAM overlay."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from pydicom.data import get_testdata_file

pytestmark = pytest.mark.e2e


def test_upload_a_dicom_and_see_a_prediction_with_overlay(trained_server, page: Page, tmp_path: Path):
    page.goto(f"{trained_server}/evaluate")
    expect(page.get_by_role("heading", name="Evaluate", exact=True)).to_be_visible(timeout=120_000)
    expect(page.get_by_text("Held-out test split", exact=False).first).to_be_visible(timeout=60_000)
    page.get_by_role("tab", name="Predict").click()
    scan = tmp_path / "chest.dcm"
    shutil.copy(get_testdata_file("CT_small.dcm"), scan)
    page.locator("input[type=file]").first.set_input_files(str(scan))
    expect(page.get_by_text(re.compile(r"^Predicted: (normal|nodule|cavity|scar)$"))).to_be_visible(timeout=120_000)
    expect(page.get_by_text(re.compile(r"Grad-CAM for (normal|nodule|cavity|scar)"))).to_be_visible()
    overlay = page.get_by_test_id("stImage").nth(1).locator("img")
    expect(overlay).to_be_visible()
    assert overlay.evaluate("img => img.naturalWidth") > 0  # the overlay image actually loaded
    expect(page.get_by_role("button", name="Download results (CSV)")).to_be_visible()
