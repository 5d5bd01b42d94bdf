"""Real browser: import a ZIP of class folders of short MP4 clips as sequences, play one in the gallery, train a tiny
sequence model on it from the Train page, and predict an uploaded clip on the Evaluate page with its frame-importance
curve and Grad-CAM on the key frame."""
from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from core.jobs.control import request_stop
from core.jobs.store import ACTIVE, RunStore
from tests.core.data.sequence_files import video_bytes
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.waits import wait_idle
from tests.fixtures import wait_for
from tests.sequence_run import disc_clip

pytestmark = pytest.mark.e2e

CLIP_FRAMES, FRAMES, SIDE, PER_CLASS = 12, 8, 32, 12
# the titles of the plotly charts on the page
CHART_TITLES = """() => [...document.querySelectorAll('.js-plotly-plot')]
  .map(p => ((p.layout && p.layout.title && p.layout.title.text) || '').replace(/<[^>]+>/g, ''))"""


@pytest.fixture
def home(server, monkeypatch):
    """This test's datasets and runs live in the server's MEDLAB_HOME; whatever it leaves active is stopped."""
    monkeypatch.setenv("MEDLAB_HOME", str(server.home))
    yield RunStore()
    store = RunStore()
    for record in store.list(statuses=ACTIVE):
        request_stop(store, record.id)
    wait_for(lambda: not store.list(statuses=ACTIVE), timeout=120)


def clip_zip() -> bytes:
    """Class folders "beating" and "still" of MP4 clips (10 frames/s) of a disc whose radius follows a sine or stays
    put, the same radii in both classes: only the motion tells them apart, as in the cine phantom."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for label in ("beating", "still"):
            for i in range(PER_CLASS):
                clip = disc_clip(CLIP_FRAMES, SIDE, label == "beating", seed=i + (0 if label == "beating" else 100))
                archive.writestr(f"{label}/{label}{i}.mp4", video_bytes(clip, fps=10))
    return buffer.getvalue()


def shoot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"sequence-{name}.png"), full_page=True)


def open_from_sidebar(page: Page, title: str) -> None:
    """Go to another page in the same session (its choices, e.g. the dataset, carry over)."""
    page.get_by_test_id("stSidebarNav").get_by_text(title, exact=True).click()
    expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible(timeout=120_000)
    wait_idle(page)


def test_import_clips_train_a_sequence_model_and_predict_a_clip(server, home, page: Page, tmp_path: Path):
    archive = tmp_path / "heartbeats.zip"
    archive.write_bytes(clip_zip())
    page.goto(f"{server}/dataset")
    expect(page.get_by_role("heading", name="Dataset", exact=True)).to_be_visible(timeout=120_000)
    page.get_by_role("tab", name="Import").click()
    page.get_by_text("Upload files", exact=True).click()
    page.get_by_text("Sequences (cine, video)", exact=True).click()
    expect(page.get_by_text("How clips will be made")).to_be_visible()
    frames = page.get_by_role("spinbutton", name="Frames per clip (T)", exact=True)
    frames.fill(str(FRAMES))
    frames.press("Enter")
    wait_idle(page)
    expect(page.get_by_text(f"Frames: {FRAMES} per clip, spread evenly")).to_be_visible()
    page.locator("input[type=file]").first.set_input_files(str(archive))
    expect(page.get_by_role("textbox", name="Dataset name")).to_have_value("heartbeats")
    wait_idle(page)
    page.get_by_role("button", name="Import", exact=True).click()
    summary = f"Imported {2 * PER_CLASS} clips of {FRAMES} frames from {2 * PER_CLASS} files as heartbeats"
    expect(page.get_by_text(summary)).to_be_visible(timeout=120_000)
    expect(page.get_by_text(re.compile(rf"Each clip: {FRAMES} frames · \d+(\.\d+)? ms a frame"))).to_be_visible()
    wait_idle(page)
    shoot(page, "import")

    page.get_by_role("tab", name="Gallery").click()
    expect(page.get_by_text(f"{2 * PER_CLASS} clips match.")).to_be_visible()
    page.get_by_role("button", name="Play").first.click()
    preview = page.get_by_test_id("stImage").filter(has_text="Animated preview (loops)").locator("img")
    expect(preview).to_be_visible(timeout=60_000)
    gif = Image.open(io.BytesIO(page.request.get(preview.get_attribute("src")).body()))  # fetched at once: see
    assert gif.format == "GIF" and gif.n_frames == FRAMES                                  # test_synthesize_flow
    expect(page.get_by_text(re.compile(rf"^{FRAMES} frames · \d+(\.\d+)? ms a frame"))).to_be_visible()
    wait_idle(page)
    shoot(page, "player")

    open_from_sidebar(page, "Train")  # the dataset just imported holds clips: the page opens on the sequence task
    expect(page.get_by_test_id("stRadio").filter(has_text="Task").get_by_role("radio", name="Sequence")).to_be_checked()
    expect(page.get_by_role("combobox", name="Dataset")).to_have_value(re.compile(r"^heartbeats \(upload\)"))
    epochs = page.get_by_role("spinbutton", name="Epochs", exact=True)
    epochs.fill("2")
    epochs.press("Enter")
    wait_idle(page)
    expect(epochs).to_have_value("2")
    page.get_by_text("Also queue the single-frame baseline", exact=True).click()  # one run is enough here
    wait_idle(page)
    page.get_by_role("button", name="Start training").click()
    expect(page.get_by_text(re.compile(r"cnn_lstm on heartbeats")).first).to_be_visible(timeout=120_000)
    expect(page.get_by_text(re.compile(r"· completed")).first).to_be_visible(timeout=600_000)
    expect(page.get_by_text("Held-out test split", exact=False).first).to_be_visible()
    runs = home.list("default")
    assert [(r.task, r.model, r.status) for r in runs] == [("sequence", "cnn_lstm", "completed")]
    assert home.config(runs[0])["epochs"] == 2
    wait_idle(page)
    shoot(page, "trained")

    open_from_sidebar(page, "Evaluate")
    page.get_by_role("tab", name="Predict").click()
    upload = tmp_path / "new-beat.mp4"
    upload.write_bytes(video_bytes(disc_clip(CLIP_FRAMES, SIDE, True, seed=999), fps=10))
    page.locator("input[type=file]").first.set_input_files(str(upload))
    expect(page.get_by_text(re.compile(rf"new-beat\.mp4: (beating|still) \(0\.\d\d\) · {CLIP_FRAMES} frames"))
           ).to_be_visible(timeout=180_000)
    page.wait_for_function(f"({CHART_TITLES})().some(t => t.startsWith('Frame importance for'))", timeout=60_000)
    expect(page.get_by_text(re.compile(r"^Grad-CAM on frame \d+")).first).to_be_visible()
    wait_idle(page)
    page.get_by_text(re.compile(r"^Grad-CAM on frame \d+")).first.scroll_into_view_if_needed()
    shoot(page, "predict")
