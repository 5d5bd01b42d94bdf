"""Real browser: the Home page's guided lessons and the clinician's quick start. Lesson 1's button lands on the
Dataset viewer with a phantom nodule at a lung window; the quick start trains the demo model with one click, shows
its progress, and "Predict my image" opens Evaluate's Predict tab for that run."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from core.jobs.control import request_stop
from core.jobs.store import ACTIVE, RunStore
from core.lessons.catalog import DEMO_RUN_NAME, LESSONS
from tests.e2e.waits import wait_idle
from tests.fixtures import wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture
def store(server, monkeypatch):
    """The server's run store; whatever the test leaves active is stopped."""
    monkeypatch.setenv("MEDLAB_HOME", str(server.home))
    yield RunStore()
    runs = RunStore()
    for record in runs.list(statuses=ACTIVE):
        request_stop(runs, record.id)
    wait_for(lambda: not runs.list(statuses=ACTIVE), timeout=120)


def open_home(page: Page, server: str) -> None:
    page.goto(server)
    expect(page.get_by_role("heading", name="Guided lessons")).to_be_visible(timeout=120_000)
    wait_idle(page)


def test_lesson_one_opens_the_viewer_at_a_lung_window(server, page: Page, tmp_path):
    open_home(page, server)
    for number, lesson in enumerate(LESSONS, start=1):
        expect(page.get_by_text(f"{number}. {lesson.title}", exact=True)).to_be_visible()
    page.set_viewport_size({"width": 1400, "height": 1900})  # the quick start and all six lessons in one picture
    page.screenshot(path=str(tmp_path / "lessons-home.png"))
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.get_by_role("button", name=LESSONS[0].action).click()
    expect(page.get_by_role("heading", name="Dataset", exact=True)).to_be_visible(timeout=120_000)
    expect(page.get_by_role("tab", name="Gallery", selected=True)).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile(r"— nodule$"))).to_be_visible()
    expect(page.get_by_role("combobox", name="Window preset")).to_have_value("Custom")
    expect(page.get_by_text(re.compile(r"· W \d+(\.\d+)? / L \d+"))).to_be_visible()  # the caption's window
    wait_idle(page)
    page.screenshot(path=str(tmp_path / "lesson-1-viewer.png"), full_page=True)
    print(f"screenshots: {tmp_path}")


def test_quick_start_queues_the_demo_model_and_shows_its_progress(server, store, page: Page, tmp_path):
    open_home(page, server)
    page.get_by_role("button", name="1 · Train the demo model").click()
    expect(page.get_by_test_id("stProgress").filter(has_text=re.compile(r"Training the demo model: (queued|"
                                                                        r"starting|preparing|loading|epoch)")).first
           ).to_be_visible(timeout=60_000)
    runs = [r for r in store.list("default") if r.name == DEMO_RUN_NAME]
    assert len(runs) == 1 and runs[0].dataset == "phantom-64" and runs[0].task == "classification"
    expect(page.get_by_role("button", name="1 · Train the demo model")).to_have_count(0)  # one click, one run
    page.screenshot(path=str(tmp_path / "quick-start-training.png"), full_page=True)
    print(f"screenshots: {tmp_path}")


def test_a_trained_demo_model_predicts_my_image(trained_server, phantom_run, page: Page, monkeypatch):
    """Step 3 on a server whose demo model has finished (the shared trained run, named as the quick start names it
    for this test only)."""
    monkeypatch.setenv("MEDLAB_HOME", str(phantom_run.home))
    runs = RunStore()
    previous = runs.get(phantom_run.run_id).name
    runs.update(phantom_run.run_id, name=DEMO_RUN_NAME)
    try:
        open_home(page, trained_server)
        expect(page.get_by_text(re.compile(r"The demo model is trained: test accuracy \d"))).to_be_visible()
        page.get_by_role("button", name="3 · Predict my image").click()
        expect(page.get_by_role("heading", name="Evaluate", exact=True)).to_be_visible(timeout=120_000)
        expect(page.get_by_role("tab", name="Predict", selected=True)).to_be_visible()
        expect(page.get_by_role("combobox", name="Run")).to_have_value(re.compile(DEMO_RUN_NAME))
    finally:
        runs.update(phantom_run.run_id, name=previous)
