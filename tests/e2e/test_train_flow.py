"""Real browser: start a short training on the Train page and watch the loss chart grow while it runs."""
from __future__ import annotations

import os
import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.waits import wait_idle
from tests.fixtures import tiny_dataset

pytestmark = pytest.mark.e2e

POINTS = """() => {
  const plots = [...document.querySelectorAll('.js-plotly-plot')];
  const title = p => ((p.layout && p.layout.title && p.layout.title.text) || '').replace(/<[^>]+>/g, '');
  const loss = plots.find(p => title(p) === 'Loss');
  return loss ? loss.data.reduce((n, trace) => n + (trace.x ? trace.x.length : 0), 0) : -1;
}"""


def test_live_loss_chart_gets_new_points_while_training(server, page: Page, monkeypatch):
    monkeypatch.setenv("MEDLAB_HOME", str(server.home))  # create the dataset in the server's home
    dataset = tiny_dataset("default", per_class=(40, 40), name="e2e tiny")
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
