"""Real browser, MEDLAB_EXECUTOR=ray (a local Ray instance the server starts): the sidebar says where runs go, a run
started from the Train page trains as a Ray task with its live chart, stops and resumes to completion."""
from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from core.jobs.store import RunStore
from tests.e2e.conftest import Server, _serve
from tests.e2e.waits import wait_idle
from tests.fixtures import tiny_dataset, wait_for

pytestmark = pytest.mark.e2e
pytest.importorskip("ray")


@pytest.fixture(scope="module")
def ray_server(tmp_path_factory: pytest.TempPathFactory, shared_builtin_dir: Path) -> Iterator[Server]:
    yield from _serve(tmp_path_factory, shared_builtin_dir,
                      env_extra={"MEDLAB_EXECUTOR": "ray", "MEDLAB_RAY_OBJECT_STORE_MB": "80"})


def test_a_run_trains_as_a_ray_task_stops_and_resumes(ray_server: Server, page: Page, monkeypatch):
    monkeypatch.setenv("MEDLAB_HOME", str(ray_server.home))
    tiny_dataset("default", per_class=(60, 60), name="ray tiny")
    page.goto(f"{ray_server}/train")
    expect(page.get_by_role("heading", name="Train", exact=True)).to_be_visible(timeout=120_000)
    expect(page.get_by_test_id("stSidebar").get_by_text("Runs go to a local Ray instance")).to_be_visible(
        timeout=120_000)
    page.get_by_test_id("stSelectbox").filter(has_text="Dataset").click()
    page.get_by_role("option", name=re.compile("ray tiny")).click()
    wait_idle(page)
    epochs = page.get_by_role("spinbutton", name="Epochs", exact=True)
    epochs.fill("200")  # long enough to stop while it trains
    epochs.press("Enter")
    wait_idle(page)
    page.get_by_role("button", name="Start training").click()
    expect(page.get_by_text(re.compile(r"· running"))).to_be_visible(timeout=180_000)
    store = RunStore()
    record = wait_for(lambda: (r := store.list("default")) and r[0].epoch >= 1 and r[0], timeout=180)
    assert record.host and record.pid  # the worker named itself from inside its Ray task

    page.get_by_role("button", name="Stop", exact=True).first.click()
    expect(page.get_by_text(re.compile(r"· stopped"))).to_be_visible(timeout=120_000)
    stopped = store.get(record.id)
    assert stopped.status == "stopped" and 1 <= stopped.epoch < 200
    page.get_by_role("button", name="Resume", exact=True).first.click()
    expect(page.get_by_text(re.compile(r"· (running|queued)"))).to_be_visible(timeout=60_000)
    resumed = wait_for(lambda: (r := store.get(record.id)).epoch > stopped.epoch and r, timeout=180)
    assert resumed.status in ("running", "stopping", "completed")
    page.get_by_role("button", name="Stop", exact=True).first.click()  # the module's server goes away next
    wait_for(lambda: store.get(record.id).status == "stopped", timeout=120)
