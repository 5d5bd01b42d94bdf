"""Steps several browser tests take the same way: importing a file through the Dataset page's uploader."""
from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.e2e.waits import wait_idle


def open_import_tab(page: Page, server: str) -> None:
    page.goto(f"{server}/dataset")
    expect(page.get_by_role("heading", name="Dataset", exact=True)).to_be_visible(timeout=120_000)
    page.get_by_role("tab", name="Import").click()
    page.get_by_text("Upload files", exact=True).click()
    expect(page.get_by_text("Images, DICOM, NIfTI or a ZIP of class folders")).to_be_visible()


def import_file(page: Page, path: Path, name: str) -> None:
    page.locator("input[type=file]").first.set_input_files(str(path))
    expect(page.get_by_text(path.name).first).to_be_visible()
    name_box = page.get_by_role("textbox", name="Dataset name")
    expect(name_box).to_have_value(path.stem)  # the name follows the chosen file (once its upload has run)
    wait_idle(page)
    name_box.fill(name)
    name_box.press("Enter")
    wait_idle(page)
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.get_by_text(re.compile(rf"as {re.escape(name)}"))).to_be_visible(timeout=120_000)
    expect(page.get_by_role("button", name="Import", exact=True)).to_be_disabled()  # the uploader was cleared
    expect(page.get_by_text(path.name)).to_have_count(0)
