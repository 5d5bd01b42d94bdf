"""Real browser: a short GAN run started from the Train page shows its sample grid changing from epoch to epoch;
then the Synthesize page draws images from it and downloads them as a ZIP of PNGs marked synthetic."""
from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from core.data.synthetic_marker import is_synthetic_png, png_text
from core.jobs.control import request_stop
from core.jobs.store import ACTIVE, RunStore
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.waits import wait_idle
from tests.fixtures import tiny_dataset, wait_for

pytestmark = pytest.mark.e2e

# the live panel's sample grid: its caption ("Epoch N ...") and its image's URL (the media URL follows the bytes)
GRID = """() => {
  for (const figure of document.querySelectorAll('[data-testid="stImage"]')) {
    const caption = (figure.querySelector('[data-testid="stImageCaption"]') || {}).textContent || '';
    const match = caption.match(/^Epoch (\\d+)/);
    const img = figure.querySelector('img');
    if (match && img && img.complete && img.naturalWidth > 0) return {epoch: Number(match[1]), src: img.src};
  }
  return null;
}"""


@pytest.fixture
def home(server, monkeypatch):
    monkeypatch.setenv("MEDLAB_HOME", str(server.home))
    yield RunStore()
    store = RunStore()
    for record in store.list(statuses=ACTIVE):
        request_stop(store, record.id)
    wait_for(lambda: not store.list(statuses=ACTIVE), timeout=120)


def grid_bytes(page: Page, src: str) -> bytes:
    return page.request.get(src).body()


def test_a_short_gan_shows_its_samples_evolve_and_its_samples_download_as_synthetic_pngs(
        server, home, page: Page, tmp_path: Path):
    tiny_dataset("default", per_class=(24, 24), size=28, name="e2e gan")
    page.goto(f"{server}/train")
    expect(page.get_by_role("heading", name="Train", exact=True)).to_be_visible(timeout=120_000)
    page.get_by_test_id("stSelectbox").filter(has_text="Dataset").click()
    page.get_by_role("option", name=re.compile("e2e gan")).click()
    wait_idle(page)
    tasks = page.get_by_test_id("stRadio").filter(has_text="Task")
    expect(tasks).to_have_count(1, timeout=30_000)  # a rerun's leftover elements are gone
    tasks.get_by_text("GAN", exact=True).click()
    wait_idle(page)
    expect(page.get_by_role("spinbutton", name="Learning rate (discriminator)", exact=True)).to_be_visible(timeout=60_000)
    # the classification form's fields stay on the page, faded, until that rerun has finished
    expect(page.get_by_text("Class imbalance remedy")).to_have_count(0, timeout=60_000)
    expect(page.get_by_role("spinbutton", name="Epochs", exact=True)).to_have_count(1)
    for label, value in (("Epochs", "4"), ("Steps per epoch (at most)", "4"), ("Samples per validation FD", "16")):
        field = page.get_by_role("spinbutton", name=label, exact=True)
        field.fill(value)
        field.press("Enter")
        wait_idle(page)
        expect(field).to_have_value(value)
    page.get_by_role("button", name="Start training").click()
    expect(page.get_by_text(re.compile(r"· (running|completed)")).first).to_be_visible(timeout=120_000)

    # the grid as it was when seen (a rerun may replace the element between two reads)
    # generous limits: the first grid follows the worker's start and the feature network's training (once per
    # dataset), which take minutes on a loaded 2-core machine
    first = page.wait_for_function(GRID, timeout=600_000).json_value()
    first_bytes = grid_bytes(page, first["src"])  # at once: Streamlit drops an old media URL after later reruns
    # a later epoch's grid as it arrives, or (a quiet machine may finish the run before the first grid is seen)
    # the completed run's, then replayed from the earliest epoch with the slider
    later = page.wait_for_function(
        f"() => {{ const g = ({GRID})(); if (g && g.epoch > {first['epoch']}) return g; "
        "return /· completed/.test(document.body.innerText) ? {done: true} : null; }", timeout=600_000).json_value()
    if later.get("done"):
        thumb = page.get_by_test_id("stSlider").filter(has_text="Epoch").get_by_role("slider")
        thumb.focus()
        thumb.press("ArrowLeft")  # one epoch back: another grid
        later = page.wait_for_function(f"() => {{ const g = ({GRID})(); return g && g.epoch != {first['epoch']} && g; }}",
                                       timeout=120_000).json_value()
    later_bytes = grid_bytes(page, later["src"])
    assert later["src"] != first["src"]
    assert later_bytes != first_bytes  # the samples changed, not only the URL
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "synthesize-train-live.png"), full_page=True)

    expect(page.get_by_text(re.compile(r"· completed")).first).to_be_visible(timeout=300_000)
    slider = page.get_by_test_id("stSlider").filter(has_text="Epoch")
    expect(slider).to_be_visible()  # the replay slider over the epochs' grids

    page.goto(f"{server}/synthesize")
    expect(page.get_by_role("heading", name="Synthesize", exact=True)).to_be_visible(timeout=120_000)
    expect(page.get_by_role("combobox", name="Generative run")).to_have_value(re.compile("GAN on e2e-gan"))
    field = page.get_by_role("spinbutton", name="Images per class", exact=True)
    field.fill("3")
    field.press("Enter")
    wait_idle(page)
    page.get_by_role("button", name="Generate", exact=True).click()
    button = page.get_by_role("button", name=re.compile("Download ZIP of PNGs"))
    expect(button).to_be_visible(timeout=120_000)
    wait_idle(page)
    page.screenshot(path=str(ARTIFACTS / "synthesize-sample.png"), full_page=True)
    with page.expect_download() as download_info:
        button.click()
    saved = tmp_path / download_info.value.suggested_filename
    download_info.value.save_as(saved)
    with zipfile.ZipFile(io.BytesIO(saved.read_bytes())) as archive:
        pngs = {name: archive.read(name) for name in archive.namelist() if name.endswith(".png")}
    assert len(pngs) == 6  # 3 per class, 2 classes
    assert all(is_synthetic_png(data) for data in pngs.values())
    assert all("generated by run" in png_text(data).get("Source", "") for data in pngs.values())

    page.get_by_role("tab", name="Quality").click()
    expect(page.get_by_text("FD on MedLab features").first).to_be_visible(timeout=60_000)
    wait_idle(page)
    page.screenshot(path=str(ARTIFACTS / "synthesize-quality.png"), full_page=True)
