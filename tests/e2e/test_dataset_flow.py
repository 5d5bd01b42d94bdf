"""Real browser: every page by URL on a fresh server, then importing a ZIP and a DICOM on the Dataset page."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.flows import import_file, open_import_tab
from tests.fixtures import class_folder_zip, identified_ct

pytestmark = pytest.mark.e2e
PAGES = {"dataset": "Dataset", "train": "Train", "evaluate": "Evaluate", "enhance": "Enhance",
         "synthesize": "Synthesize", "": "MedLab"}


def expect_app_shell(page: Page, title: str) -> None:
    """The page's heading, the app's own navigation (not Streamlit's file list) and the sidebar status."""
    expect(page.get_by_role("heading", name=title, exact=True).first).to_be_visible(timeout=120_000)
    navigation = page.get_by_test_id("stSidebarNav")
    for name in ("Home", "Dataset", "Train", "Evaluate", "Enhance", "Synthesize"):
        expect(navigation.get_by_text(name, exact=True)).to_be_visible()
    expect(navigation.get_by_text("streamlit app")).to_have_count(0)
    expect(page.get_by_text(re.compile(r"imported \+ \d+ built-in datasets"))).to_be_visible()


def test_first_visit_of_a_fresh_server_at_a_page_url(fresh_server: str, page: Page):
    page.goto(f"{fresh_server}/evaluate")  # nobody has opened "/" on this server yet
    expect_app_shell(page, "Evaluate")


@pytest.mark.parametrize("path,title", PAGES.items())
def test_every_page_by_url_shows_the_app_navigation(server: str, page: Page, path: str, title: str):
    page.goto(f"{server}/{path}")
    expect_app_shell(page, title)


def test_import_zip_and_dicom_and_see_them_in_the_gallery(server: str, page: Page, tmp_path: Path):
    archive = tmp_path / "study.zip"
    archive.write_bytes(class_folder_zip(per_class=4))
    open_import_tab(page, server)
    import_file(page, archive, "zip study")
    page.get_by_role("tab", name="Gallery").click()
    expect(page.get_by_text("nodule · ", exact=False).first).to_be_visible()
    expect(page.get_by_text("normal · ", exact=False).first).to_be_visible()
    expect(page.get_by_text("8 images match.")).to_be_visible()

    scan = tmp_path / "scan.dcm"
    scan.write_bytes(identified_ct())
    open_import_tab(page, server)
    import_file(page, scan, "ct scan")
    page.get_by_role("tab", name="Gallery").click()
    expect(page.get_by_text("1 image matches.")).to_be_visible()
    page.get_by_role("button", name="View").first.click()
    expect(page.get_by_text("DICOM tags, de-identified")).to_be_visible()
    expect(page.get_by_text("Doe^Jane")).to_have_count(0)


def test_workspace_is_switched_by_typing_and_kept_in_the_url(server: str, page: Page):
    page.goto(f"{server}/dataset")
    box = page.get_by_role("textbox", name="Workspace")
    box.fill("ward-7")
    box.press("Enter")
    expect(page.get_by_text(re.compile(r"ward-7: 0 imported"))).to_be_visible()
    expect(page).to_have_url(re.compile(r"workspace=ward-7"))


def test_gallery_view_scrolls_down_to_the_viewer(server: str, page: Page):
    page.goto(f"{server}/dataset")
    expect(page.get_by_role("heading", name="Dataset", exact=True)).to_be_visible(timeout=120_000)
    page.get_by_role("tab", name="Gallery").click()
    views = page.get_by_role("button", name="View")
    expect(views.first).to_be_visible(timeout=120_000)
    views.first.click()  # the viewer opens below the grid of 24, out of sight
    heading = page.get_by_role("heading", name=re.compile(r" — \w+"))
    expect(heading).to_be_in_viewport(timeout=30_000)  # brought into sight, not left below the fold
    expect(page.get_by_text("Window preset")).to_be_in_viewport()
