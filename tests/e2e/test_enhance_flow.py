"""Real browser: the Enhance page shows its CT sample on arrival; enhance an uploaded image and download it."""
from __future__ import annotations

from pathlib import Path

import io

import numpy as np
import pytest
import skimage.data
from PIL import Image
from playwright.sync_api import Page, expect

from tests.fixtures import png_bytes

pytestmark = pytest.mark.e2e


def test_enhance_an_upload_and_download_png(server, page: Page, tmp_path: Path):
    noisy = np.clip(skimage.data.camera()[::2, ::2] / 255 + np.random.default_rng(0).normal(0, 0.08, (256, 256)), 0, 1)
    upload = tmp_path / "noisy.png"
    upload.write_bytes(png_bytes((noisy * 255).round().astype(np.uint8)))
    page.goto(f"{server}/enhance")
    expect(page.get_by_role("heading", name="Enhance", exact=True)).to_be_visible(timeout=120_000)
    page.get_by_text("My file", exact=True).click()
    page.locator("input[type=file]").first.set_input_files(str(upload))
    expect(page.get_by_text("noisy.png").first).to_be_visible()
    page.get_by_role("button", name="Enhance", exact=True).click()
    expect(page.get_by_text("Difference |after − before|", exact=False)).to_be_visible(timeout=120_000)
    expect(page.get_by_label("Drag to compare before and after")).to_be_visible()
    with page.expect_download() as download_info:
        page.get_by_role("button", name="PNG, 8-bit").click()
    saved = tmp_path / "result.png"
    download_info.value.save_as(saved)
    result = np.asarray(Image.open(saved))
    assert result.shape == (256, 256) and result.std() > 10


def test_enhance_page_shows_its_ct_sample_on_arrival_at_a_window_showing_anatomy(server, page: Page):
    page.goto(f"{server}/enhance")
    expect(page.get_by_role("heading", name="Enhance", exact=True)).to_be_visible(timeout=120_000)
    figure = page.get_by_test_id("stImage").filter(has_text="Input: 693_J2KI.dcm")  # no click, no button
    expect(figure).to_be_visible(timeout=60_000)
    expect(figure).to_contain_text("W 2144 / L 50")
    picture = figure.locator("img")
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=picture.element_handle())
    grey = np.asarray(Image.open(io.BytesIO(picture.screenshot())).convert("L"), dtype=np.int32)
    # anatomy in shades of grey, not a posterised blob: few saturated pixels, many mid-grey ones
    assert (grey >= 250).mean() < 0.02 and ((grey > 15) & (grey < 240)).mean() > 0.35
