"""Real browser: the Evaluate page's report (a click on a confusion-matrix cell shows that cell's images), then a
DICOM upload that gets a prediction and a Grad-CAM overlay."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from pydicom.data import get_testdata_file

from tests.e2e.waits import wait_idle

pytestmark = pytest.mark.e2e
CELL_IMAGES = 16   # thumbnails the page shows for a cell


def open_report(page: Page, server: str) -> None:
    page.goto(f"{server}/evaluate")
    expect(page.get_by_role("heading", name="Evaluate", exact=True)).to_be_visible(timeout=120_000)
    expect(page.get_by_text("Held-out test split", exact=False).first).to_be_visible(timeout=60_000)
    wait_idle(page)


def test_clicking_a_confusion_matrix_cell_shows_its_images(trained_server, phantom_run, page: Page):
    report = json.loads(next(phantom_run.home.rglob("report.json")).read_text())
    classes, matrix = report["classes"], report["metrics"]["confusion_matrix"]
    open_report(page, trained_server)
    chart = page.locator(f".st-key-report-{phantom_run.run_id}-confusion")
    plot = chart.locator(".nsewdrag").first   # plotly's plot area, one cell per class pair
    expect(plot).to_be_visible(timeout=60_000)
    k = len(classes)
    # the most frequent error (it tells rows from columns unless its mirror cell holds as many), then a diagonal cell
    error = max(((r, c) for r in range(k) for c in range(k) if r != c), key=lambda rc: matrix[rc[0]][rc[1]])
    for row, column in (error, (k - 1, k - 1)):
        true, predicted = classes[row], classes[column]
        plot.scroll_into_view_if_needed()   # the mouse clicks where the plot is now, inside the viewport
        box = plot.bounding_box()
        x, y = box["x"] + (column + 0.5) * box["width"] / k, box["y"] + (row + 0.5) * box["height"] / k
        page.mouse.move(x, y)
        expect(page.locator(".hoverlayer .hovertext")).to_have_count(1)  # plotly has picked the hovered cell
        page.mouse.click(x, y)
        count = matrix[row][column]
        expect(page.get_by_text(re.compile(rf"^True {true}, predicted {predicted}: {count} test images?"))
               ).to_be_visible(timeout=60_000)
        wait_idle(page)
        cell = page.locator(f".st-key-report-{phantom_run.run_id}-cell-images")
        expect(cell.get_by_test_id("stImage")).to_have_count(min(count, CELL_IMAGES))
        # the drop-downs (the keyboard's way to the same cell) follow the click
        for label, name in (("True class", true), ("Predicted class", predicted)):
            expect(page.get_by_role("combobox", name=label)).to_have_value(name)


def test_upload_a_dicom_and_see_a_prediction_with_overlay(trained_server, page: Page, tmp_path: Path):
    open_report(page, trained_server)
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
