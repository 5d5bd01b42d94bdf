"""Real browser: the Train page shows what is happening without being asked. A short training started from the
page grows its loss chart; a run started elsewhere is shown live on arrival, on a reload and in a second tab; the
runs table follows its epochs; the progress line names the phase, down to the test split's evaluation."""
from __future__ import annotations

import os
import re

import numpy as np
import pytest
from playwright.sync_api import Page, expect

from core.jobs.control import create_run, request_stop
from core.jobs.store import ACTIVE, RunStore
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.waits import wait_idle
from tests.fixtures import tiny_dataset, wait_for

pytestmark = pytest.mark.e2e

POINTS = """() => {
  const plots = [...document.querySelectorAll('.js-plotly-plot')];
  const title = p => ((p.layout && p.layout.title && p.layout.title.text) || '').replace(/<[^>]+>/g, '');
  const loss = plots.find(p => title(p) === 'Loss');
  return loss ? loss.data.reduce((n, trace) => n + (trace.x ? trace.x.length : 0), 0) : -1;
}"""
# the runs table's row of run `name` as {column: text}, read from the grid's accessible table (the canvas has no text)
ROW = """(name) => {
  const grid = document.querySelector('[data-testid="stDataFrame"] table');
  if (!grid) return null;
  const heads = [...grid.querySelectorAll('thead th')].map(th => th.textContent.trim());
  for (const tr of grid.querySelectorAll('tbody tr')) {
    const cells = [...tr.children].map(td => td.textContent.trim());
    const row = Object.fromEntries(heads.map((head, i) => [head, cells[i] || '']));
    if ((row.run || '').replace('▶ ', '') === name) return row;
  }
  return null;
}"""


def progress_line(page: Page, pattern: str):
    """The live panel's progress line matching `pattern` (while a page reruns, Streamlit briefly keeps the previous
    run's elements beside the new ones, so the line is found by its text)."""
    return page.get_by_test_id("stProgress").filter(has_text=re.compile(pattern)).first


@pytest.fixture
def home(server, monkeypatch):
    """This test's runs and datasets go into the server's MEDLAB_HOME; whatever it leaves active is stopped."""
    monkeypatch.setenv("MEDLAB_HOME", str(server.home))
    yield RunStore()
    store = RunStore()
    for record in store.list(statuses=ACTIVE):
        request_stop(store, record.id)
    wait_for(lambda: not store.list(statuses=ACTIVE), timeout=120)


def start_run(store: RunStore, dataset: str, name: str, **config) -> str:
    """Queue a run as the CLI or another tab would; the server's job runner picks it up."""
    return create_run(store, "default", {"task": "classification", "dataset": dataset, "model": "small_cnn",
                                         "device": "cpu", "name": name, **config}).id


def test_live_loss_chart_gets_new_points_while_training(server, home, page: Page):
    tiny_dataset("default", per_class=(40, 40), name="e2e tiny")
    page.goto(f"{server}/train")
    expect(page.get_by_role("heading", name="Train", exact=True)).to_be_visible(timeout=120_000)
    page.get_by_test_id("stSelectbox").filter(has_text="Dataset").click()
    page.get_by_role("option", name=re.compile("e2e tiny")).click()
    wait_idle(page)  # a new dataset resets the form to its recipe: edit only after that rerun
    epochs = page.get_by_role("spinbutton", name="Epochs", exact=True)
    epochs.fill("300")  # long enough to watch; the test stops it
    epochs.press("Enter")
    wait_idle(page)
    expect(epochs).to_have_value("300")
    page.get_by_role("button", name="Start training").click()
    expect(page.get_by_text(re.compile(r"· running"))).to_be_visible(timeout=120_000)
    page.wait_for_function(f"({POINTS})() > 0", timeout=60_000)
    first = page.evaluate(POINTS)
    page.wait_for_function(f"({POINTS})() > {first}", timeout=60_000)
    assert page.get_by_text(re.compile(r"· running")).count() > 0  # the new points came while it was running
    page.get_by_role("button", name="Stop").click()
    expect(page.get_by_text(re.compile(r"· stopped"))).to_be_visible(timeout=60_000)
    assert os.environ["MEDLAB_HOME"] == str(server.home)


def test_a_reload_and_a_second_tab_show_the_live_run_without_a_click(server, home, page: Page):
    dataset = tiny_dataset("default", per_class=(40, 40), name="e2e live")
    start_run(home, dataset, "watched elsewhere", epochs=300, batch_size=8, image_size=16)
    page.goto(f"{server}/train")
    heading = page.get_by_role("heading", name=re.compile(r"watched elsewhere · running"))
    expect(heading).to_be_visible(timeout=120_000)  # no checkbox ticked, no button pressed
    expect(progress_line(page, r"epoch \d+/300 · step \d+/\d+")).to_be_visible(timeout=120_000)
    expect(page.get_by_test_id("stExpander").filter(has_text="New run").locator("details")).not_to_have_attribute(
        "open", "")  # the form is folded away: the runs and the live run are in view
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "train-running.png"), full_page=True)
    page.reload()
    expect(heading).to_be_visible(timeout=120_000)
    second = page.context.new_page()
    second.goto(f"{server}/train")
    expect(second.get_by_role("heading", name=re.compile(r"watched elsewhere · running"))).to_be_visible(
        timeout=120_000)
    expect(progress_line(second, r"left|so far")).to_be_visible(timeout=60_000)
    second.close()


def test_the_runs_table_follows_the_epochs_of_a_training_run(server, home, page: Page):
    dataset = tiny_dataset("default", per_class=(40, 40), name="e2e table")
    run_id = start_run(home, dataset, "table run", epochs=300, batch_size=8, image_size=16)
    page.goto(f"{server}/train")
    expect(page.get_by_role("heading", name=re.compile(r"table run · running"))).to_be_visible(timeout=120_000)
    done = f"parseInt((({ROW})('table run') || {{}}).epochs || '0')"
    page.wait_for_function(f"{done} >= 0", timeout=60_000)
    wait_for(lambda: home.get(run_id).epoch >= 1, timeout=120)  # an epoch done, as the store says
    page.wait_for_function(f"{done} >= 1", timeout=60_000)  # the table caught up without a click
    epochs = wait_for(lambda: home.get(run_id).epoch >= 3 and home.get(run_id).epoch)
    page.wait_for_function(f"{done} >= {epochs}", timeout=60_000)
    row = page.evaluate(f"({ROW})('table run')")
    assert re.match(r"running · (epoch \d+|validating)", row["status"]), row
    assert re.match(r"accuracy \d\.\d{3}", row["best"]), row  # the best value follows too


def phase_dataset(test_images: int = 2400, size: int = 96) -> str:
    """Two classes, a handful of training and validation images and a large test split: the test split's
    evaluation lasts long enough on a CPU for a browser to see it named."""
    import pandas as pd

    from core.data.store import DatasetInfo, count_by_split, datasets_dir, new_dataset_id, write_dataset

    rng = np.random.default_rng(0)
    splits = np.array(["train"] * 16 + ["val"] * 8 + ["test"] * test_images)
    labels = np.arange(len(splits)) % 2
    images = rng.integers(0, 40, (len(splits), size, size, 1), dtype=np.uint8)
    images[labels == 1, : size // 2, : size // 2] += 150
    classes = ["dark", "bright"]
    split_counts, class_counts = count_by_split("classification", classes, labels, splits)
    dataset_id = new_dataset_id("e2e phases")
    items = pd.DataFrame({"name": [f"img{i}" for i in range(len(labels))], "file": "", "frame": 0,
                          "label": [classes[k] for k in labels], "split": splits,
                          "group": [f"g{i}" for i in range(len(labels))], "format": "array", "width": size,
                          "height": size})
    info = DatasetInfo(id=dataset_id, name="e2e phases", task="classification", classes=classes, size=size,
                       channels=1, num_images=len(labels), split_counts=split_counts, class_counts=class_counts,
                       source="upload")
    write_dataset(datasets_dir("default") / dataset_id, info, images, labels.astype(np.int64), pd.DataFrame(items))
    return dataset_id


def test_the_progress_line_names_the_test_split_evaluation(server, home, page: Page):
    dataset = phase_dataset()
    page.goto(f"{server}/train")
    expect(page.get_by_role("heading", name="Train", exact=True)).to_be_visible(timeout=120_000)
    start_run(home, dataset, "phases run", epochs=2, batch_size=8, image_size=96)
    expect(progress_line(page, r"^evaluating the test split")).to_be_visible(timeout=180_000)
    page.screenshot(path=str(ARTIFACTS / "train-test-split.png"), full_page=True)
    assert "epoch 3/2" not in page.inner_text("body")
    expect(page.get_by_role("heading", name=re.compile(r"phases run · completed"))).to_be_visible(timeout=180_000)
    expect(page.get_by_text("Held-out test split", exact=False)).to_be_visible()
    expect(page.get_by_role("button", name="Continue training")).to_be_visible()
    wait_idle(page)
    page.screenshot(path=str(ARTIFACTS / "train-completed.png"), full_page=True)
