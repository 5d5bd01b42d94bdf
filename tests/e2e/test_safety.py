"""Real browser: nothing leaves the machine, quick downloads all arrive, a bad workspace name is shown."""
from __future__ import annotations

import io
from pathlib import Path

import pydicom
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import non_local
from tests.e2e.waits import wait_idle
from tests.fixtures import identified_ct

pytestmark = pytest.mark.e2e

PAGES = {"": "MedLab", "dataset": "Dataset", "train": "Train", "evaluate": "Evaluate", "enhance": "Enhance",
         "synthesize": "Synthesize"}

# Everything the document itself loads (not the <a> links a user may choose to follow).
_ASSET_URLS = ("() => [...document.querySelectorAll('link[href], script[src], img[src], iframe[src], source[src], "
               "video[src], audio[src]')].map(e => e.href || e.src)")


def test_every_page_loads_only_from_this_machine(server, page: Page):
    """The `page` fixture fails the test on any request to another host; the favicon is checked too, since a
    headless browser may never fetch it."""
    for path, title in PAGES.items():
        page.goto(f"{server}/{path}")
        expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible(timeout=120_000)
        wait_idle(page)
        assets = page.evaluate(_ASSET_URLS)
        assert not non_local(assets), f"/{path} refers to assets on other hosts: {non_local(assets)}"
        favicon = page.evaluate("() => document.querySelector(\"link[rel='shortcut icon']\").href")
        assert not non_local([favicon]), favicon
    assert any("/_stcore/" in url for url in page.requests)  # the recorder sees the app's own traffic
    assert not non_local(page.requests)


def test_three_downloads_pressed_quickly_all_arrive(server, page: Page, tmp_path: Path):
    upload = tmp_path / "ct.dcm"
    upload.write_bytes(identified_ct())
    page.goto(f"{server}/enhance")
    expect(page.get_by_role("heading", name="Enhance", exact=True)).to_be_visible(timeout=120_000)
    page.get_by_text("My file", exact=True).click()
    page.locator("input[type=file]").first.set_input_files(str(upload))
    expect(page.get_by_text("ct.dcm").first).to_be_visible()
    page.get_by_role("button", name="Enhance", exact=True).click()
    expect(page.get_by_text("Difference |after − before|", exact=False)).to_be_visible(timeout=120_000)
    wait_idle(page)
    downloads = []
    page.on("download", lambda download: downloads.append(download))
    buttons = page.get_by_test_id("stDownloadButton").get_by_role("button")
    expect(buttons).to_have_count(3)  # two PNGs and the derived DICOM
    for i in range(3):
        buttons.nth(i).click()  # no wait between the presses
    for _ in range(120):
        if len(downloads) == 3:
            break
        page.wait_for_timeout(250)
    assert sorted(Path(d.suggested_filename).suffix for d in downloads) == [".dcm", ".png", ".png"], \
        [d.suggested_filename for d in downloads]
    for download in downloads:
        assert download.failure() is None, (download.suggested_filename, download.failure())
        saved = tmp_path / download.suggested_filename
        download.save_as(saved)
        assert saved.stat().st_size > 100
    derived = pydicom.dcmread(io.BytesIO((tmp_path / next(d.suggested_filename for d in downloads
                                                          if d.suggested_filename.endswith(".dcm"))).read_bytes()))
    assert derived.Rows == pydicom.dcmread(io.BytesIO(identified_ct())).Rows
    expect(page.get_by_text("not found", exact=False)).to_have_count(0)


def test_unusable_workspace_name_is_shown_not_replaced(server, page: Page):
    page.goto(f"{server}/?workspace=Bob%20Smith")
    expect(page.get_by_role("heading", name="MedLab", exact=True)).to_be_visible(timeout=120_000)
    expect(page.get_by_text("so 'Bob Smith' is the workspace 'bob-smith'", exact=False)).to_be_visible()
    expect(page.get_by_text("You are in workspace bob-smith", exact=False)).to_be_visible()
