"""Take the README's screenshots of the real app: `.venv/bin/python docs/screenshots.py`.

Starts MedLab on a free port with a temporary MEDLAB_HOME, drives Debian's chromium through the pages
(built-in phantom, a training run with the recommended recipe, its report, a DICOM prediction, an enhanced
image, a GAN's live samples and quality report, the cine phantom playing and a sequence run) and writes PNGs into
docs/screenshots/. Takes a few minutes on a 2-core CPU, plus a 12-epoch GAN (about ten) and the CNN+LSTM recipe on
the cine phantom (about five). Name steps to take only those: `docs/screenshots.py synthesize`.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import skimage.data
from PIL import Image
from playwright.sync_api import Page, expect, sync_playwright
from pydicom.data import get_testdata_file

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


def start_server(home: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "MEDLAB_HOME": str(home)}
    process = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port",
                                str(port), "--server.address", "127.0.0.1"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                return process, url
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise RuntimeError("the MedLab server did not start")


def settle(page: Page, seconds: float = 1.5) -> None:
    """Let Streamlit finish its run and plotly draw."""
    page.wait_for_timeout(300)
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=300_000)
    page.wait_for_timeout(int(seconds * 1000))


def shoot(page: Page, name: str) -> None:
    page.screenshot(path=str(OUT / f"{name}.png"))
    print(f"wrote docs/screenshots/{name}.png")


def open_page(page: Page, url: str, title: str) -> None:
    page.goto(url)
    expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible(timeout=300_000)
    settle(page)


def dataset(page: Page, url: str) -> None:
    open_page(page, f"{url}/dataset", "Dataset")
    expect(page.get_by_role("tab", name="Gallery")).to_be_visible(timeout=600_000)  # built-ins generated
    settle(page, 3)
    shoot(page, "dataset")
    page.get_by_role("tab", name="Gallery").click()
    settle(page)
    shoot(page, "gallery")


def train(page: Page, url: str) -> None:
    open_page(page, f"{url}/train", "Train")
    page.get_by_role("button", name="Start training").click()
    expect(page.get_by_text(re.compile(r"· running"))).to_be_visible(timeout=300_000)
    expect(page.get_by_text(re.compile(r"^epoch [3-6]/6 · "))).to_be_visible(timeout=300_000)  # some live points
    shoot(page, "train-live")
    expect(page.get_by_text(re.compile(r"· completed"))).to_be_visible(timeout=600_000)


def evaluate(page: Page, url: str, work: Path) -> None:
    open_page(page, f"{url}/evaluate", "Evaluate")
    expect(page.get_by_text("Held-out test split", exact=False).first).to_be_visible(timeout=300_000)
    settle(page, 3)
    shoot(page, "evaluate-report")
    page.get_by_role("tab", name="Predict").click()
    scan = work / "chest.dcm"
    shutil.copy(get_testdata_file("CT_small.dcm"), scan)
    page.locator("input[type=file]").first.set_input_files(str(scan))
    expect(page.get_by_text(re.compile(r"^Predicted: "))).to_be_visible(timeout=300_000)
    settle(page, 3)
    page.get_by_text(re.compile(r"^Predicted: ")).scroll_into_view_if_needed()
    page.mouse.wheel(0, 250)
    page.wait_for_timeout(500)
    shoot(page, "evaluate-predict")


def enhance(page: Page, url: str, work: Path) -> None:
    noisy = skimage.data.camera()[::2, ::2] / 255 + np.random.default_rng(0).normal(0, 0.08, (256, 256))
    upload = work / "noisy.png"
    Image.fromarray((np.clip(noisy, 0, 1) * 255).round().astype(np.uint8)).save(upload)
    open_page(page, f"{url}/enhance", "Enhance")
    page.get_by_text("My file", exact=True).click()
    page.locator("input[type=file]").first.set_input_files(str(upload))
    expect(page.get_by_text("noisy.png").first).to_be_visible()
    page.get_by_role("button", name="Enhance", exact=True).click()
    expect(page.get_by_text("Difference |after − before|", exact=False)).to_be_visible(timeout=300_000)
    settle(page, 2)
    page.set_viewport_size({"width": 1440, "height": 1500})  # the app scrolls inside, so grow the window
    page.wait_for_timeout(1500)
    shoot(page, "enhance")


GAN_EPOCHS = 12  # the recipe's 30 on a CPU take too long for a screenshot


def synthesize(page: Page, url: str) -> None:
    """A conditional GAN with the recommended recipe (fewer epochs) on the 28 px phantom, trained from the Train
    page: its live sample grid while it trains, then the Synthesize page's samples and quality report."""
    open_page(page, f"{url}/train", "Train")
    tasks = page.get_by_test_id("stRadio").filter(has_text="Task")
    expect(tasks).to_have_count(1)
    gan = tasks.get_by_text("GAN", exact=True)
    if not gan.is_visible():
        page.get_by_text("New run", exact=True).click()  # folded away once the workspace has runs
    gan.click()
    settle(page)
    page.get_by_test_id("stSelectbox").filter(has_text="Dataset").click()
    page.get_by_role("option", name=re.compile("Chest phantom 28 px")).click()
    settle(page)
    expect(page.get_by_role("spinbutton", name="Learning rate (discriminator)", exact=True)).to_be_visible()
    expect(page.get_by_text("Class imbalance remedy")).to_have_count(0)  # the classification form has gone
    epochs = page.get_by_role("spinbutton", name="Epochs", exact=True)
    epochs.fill(str(GAN_EPOCHS))
    epochs.press("Enter")
    settle(page)
    page.get_by_role("button", name="Start training").click()
    expect(page.get_by_text(re.compile(r"dcgan on phantom-28"))).to_be_visible(timeout=300_000)
    expect(page.get_by_text(re.compile(rf"^Epoch ({GAN_EPOCHS - 3}|{GAN_EPOCHS - 2}) of"))).to_be_visible(
        timeout=3_600_000)
    page.get_by_text("Samples", exact=True).scroll_into_view_if_needed()
    page.mouse.wheel(0, 120)
    settle(page, 2)
    shoot(page, "synthesize-live")
    expect(page.get_by_text(re.compile(r"· completed")).first).to_be_visible(timeout=3_600_000)
    open_page(page, f"{url}/synthesize", "Synthesize")
    field = page.get_by_role("spinbutton", name="Images per class", exact=True)
    field.fill("6")
    field.press("Enter")
    settle(page)
    page.get_by_role("button", name="Generate", exact=True).click()
    expect(page.get_by_role("button", name=re.compile("Download ZIP of PNGs"))).to_be_visible(timeout=300_000)
    settle(page, 2)
    shoot(page, "synthesize-sample")
    page.get_by_role("tab", name="Quality").click()
    expect(page.get_by_text("FD on MedLab features").first).to_be_visible(timeout=300_000)
    settle(page, 2)
    page.set_viewport_size({"width": 1440, "height": 1400})
    page.wait_for_timeout(1500)
    shoot(page, "synthesize-quality")
    page.set_viewport_size({"width": 1440, "height": 1000})


def sequences(page: Page, url: str) -> None:
    """The built-in cine phantom on the Dataset page (its frame facts, and a clip playing from the gallery), then
    the Train page's sequence form and a CNN+LSTM run of the recommended recipe, with its single-frame baseline
    queued beside it."""
    open_page(page, f"{url}/dataset", "Dataset")
    page.get_by_test_id("stSelectbox").filter(has_text="Dataset").click()
    page.get_by_role("option", name=re.compile("Cine phantom")).click()
    expect(page.get_by_text("Frame policy (uniform).")).to_be_visible(timeout=300_000)
    settle(page, 3)
    shoot(page, "sequences-overview")
    page.get_by_role("tab", name="Gallery").click()
    settle(page)
    page.get_by_role("button", name="Play").first.click()
    expect(page.get_by_text("Animated preview (loops)")).to_be_visible(timeout=120_000)
    settle(page, 2)
    page.get_by_text("Animated preview (loops)").scroll_into_view_if_needed()
    page.mouse.wheel(0, 200)
    page.wait_for_timeout(800)
    shoot(page, "sequences-player")
    open_page(page, f"{url}/train", "Train")
    tasks = page.get_by_test_id("stRadio").filter(has_text="Task")
    expect(tasks).to_have_count(1)
    sequence = tasks.get_by_text("Sequence", exact=True)
    if not sequence.is_visible():
        page.get_by_text("New run", exact=True).click()  # folded away once the workspace has runs
    sequence.click()
    settle(page)
    expect(page.get_by_text("Pooling over time")).to_be_visible()
    settle(page, 2)
    shoot(page, "sequences-train-form")
    page.get_by_role("button", name="Start training").click()
    expect(page.get_by_text(re.compile(r"cnn_lstm on cine-phantom"))).to_be_visible(timeout=300_000)
    expect(page.get_by_text(re.compile(r"^epoch ([4-9]|\d\d)/\d+"))).to_be_visible(timeout=3_600_000)  # 3 epochs drawn
    settle(page, 2)
    shoot(page, "sequences-train-live")
    expect(page.get_by_text(re.compile(r"· completed")).first).to_be_visible(timeout=3_600_000)
    settle(page, 3)
    page.get_by_text("Held-out test split", exact=False).first.scroll_into_view_if_needed()
    page.mouse.wheel(0, -350)
    page.wait_for_timeout(800)
    shoot(page, "sequences-train-run")


STEPS = ("dataset", "train", "evaluate", "enhance", "synthesize", "sequences")


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        server, url = start_server(work / "home")
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=shutil.which("chromium"),
                                                     args=CHROMIUM_ARGS, headless=True)
                page = browser.new_context(viewport={"width": 1440, "height": 1000}).new_page()
                page.set_default_timeout(120_000)
                wanted = set(sys.argv[1:]) or set(STEPS)  # e.g. `docs/screenshots.py synthesize` for one page
                if "dataset" in wanted:
                    dataset(page, url)
                if "train" in wanted or "evaluate" in wanted:
                    train(page, url)
                if "evaluate" in wanted:
                    evaluate(page, url, work)
                if "enhance" in wanted:
                    enhance(page, url, work)
                if "synthesize" in wanted:
                    synthesize(page, url)
                if "sequences" in wanted:
                    sequences(page, url)
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
