"""Real browser: a new server generates the built-in datasets in the background and says so while it does."""
from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from core.data.builtin import BUILTIN_IDS, missing_builtins
from tests.e2e.conftest import Server, _serve

pytestmark = pytest.mark.e2e


@pytest.fixture
def new_machine_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server whose built-in folder is empty, as after `make run` on a new machine."""
    builtin = tmp_path_factory.mktemp("empty-builtin")
    for server in _serve(tmp_path_factory, builtin):
        server.builtin = builtin  # type: ignore[attr-defined]
        yield server


def test_a_page_shows_the_progress_then_opens_by_itself(new_machine_server: Server, page: Page):
    page.goto(f"{new_machine_server}/dataset")
    progress = re.compile(rf"Preparing built-in datasets: \d of {len(BUILTIN_IDS)}")
    expect(page.get_by_test_id("stMain").get_by_text(progress)).to_be_visible(timeout=120_000)
    expect(page.get_by_test_id("stSidebar").get_by_text(progress)).to_be_visible()
    expect(page.get_by_role("heading", name="Dataset", exact=True)).to_be_visible(timeout=180_000)
    expect(page.get_by_role("tab", name="Overview")).to_be_visible()
    expect(page.get_by_text(progress)).to_have_count(0, timeout=10_000)  # the sidebar's line is gone too
    assert missing_builtins(new_machine_server.builtin) == []  # type: ignore[attr-defined]
    page.goto(f"{new_machine_server}/")
    expect(page.get_by_role("heading", name="MedLab", exact=True)).to_be_visible()
    expect(page.get_by_text(re.compile(r"imported \+ \d+ built-in datasets"))).to_be_visible()
    expect(page.get_by_text("Preparing built-in datasets")).to_have_count(0)


def test_the_first_train_visit_gets_the_recommended_recipe(new_machine_server: Server, page: Page):
    """Opened while the built-ins are generated, the form must still hold the recipe once they are ready (a
    full rerun forced from the sidebar's poll used to leave every field at its minimum: 1 epoch, lr 0.00000)."""
    page.goto(f"{new_machine_server}/train")
    expect(page.get_by_role("button", name="Start training")).to_be_visible(timeout=240_000)
    page.wait_for_timeout(3_000)  # past the sidebar's next poll
    fields = page.get_by_test_id("stNumberInput")
    epochs = fields.filter(has_text="Epochs").first.locator("input")
    rate = fields.filter(has_text="Learning rate").first.locator("input")
    expect(epochs).to_have_value("6")
    expect(rate).to_have_value("0.00300")
