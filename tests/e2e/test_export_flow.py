"""Real browser: the Evaluate page's Export tab makes the static INT8 model of the trained run and shows it beside
the float ONNX model: sizes, milliseconds per image at batch 1 and 32, test accuracy with its interval, agreement."""
from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_evaluate_flow import open_report
from tests.e2e.waits import wait_idle

pytestmark = pytest.mark.e2e


def test_export_int8_shows_float_and_int8_side_by_side(trained_server, page: Page):
    open_report(page, trained_server)
    page.get_by_role("tab", name="Export").click()
    page.get_by_text("INT8 ONNX (static, calibrated)", exact=True).click()
    wait_idle(page)
    page.get_by_role("button", name="Prepare the file").click()
    table = page.get_by_test_id("stTable")
    expect(table).to_be_visible(timeout=180_000)
    for header in ("Float ONNX", "INT8 ONNX"):
        expect(table.get_by_role("columnheader", name=header)).to_be_visible()
    for row in ("file size", "ms per image, batch 1", "ms per image, batch 32", "same decision as float"):
        expect(table.get_by_role("rowheader", name=row)).to_be_visible()
    expect(table.get_by_text("of 458 test images")).to_be_visible()
    expect(page.get_by_text("Static quantisation calibrated on training images", exact=False)).to_be_visible()
    expect(page.get_by_role("button", name="Download INT8 ONNX (static, calibrated)")).to_be_visible()
