"""Real browser, workshop mode: a participant joins with a display name and the join code (from a direct /train URL,
which shows the join form first), a reload and a new tab keep them signed in (the session cookie), a second browser
is another participant who cannot open the first one's run by link, and Leave returns to the join form. The README's
screenshot of the join form is taken here (test-artifacts/workshop-join.png, the README's
docs/screenshots/workshop-join.png when copied there: a test run never changes the tracked tree)."""
from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from core.access.sessions import SESSION_COOKIE
from core.jobs.store import RunStore
from tests.e2e.conftest import ARTIFACTS, Server, _serve, non_local
from tests.e2e.waits import wait_idle
from tests.fixtures import wait_for

pytestmark = pytest.mark.e2e

SECRETS = '[workshop]\njoin_code = "lung-42"\nadmin_code = "teach-9f3"\nsession_days = 3\n'
SCREENSHOT = ARTIFACTS / "workshop-join.png"


@pytest.fixture(scope="module")
def workshop(tmp_path_factory: pytest.TempPathFactory, shared_builtin_dir: Path) -> Iterator[Server]:
    yield from _serve(tmp_path_factory, shared_builtin_dir, secrets_toml=SECRETS)


@pytest.fixture
def contexts(browser: Browser) -> Iterator[list[BrowserContext]]:
    """Two separate browsers' worth of cookies (two participants); no request may leave the machine."""
    made: list[BrowserContext] = []
    requests: list[str] = []
    for _ in range(2):
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        context.on("request", lambda r: requests.append(r.url))
        context.set_default_timeout(60_000)
        made.append(context)
    yield made
    for context in made:
        context.close()
    assert not non_local(requests), f"requests left the machine: {sorted(set(non_local(requests)))}"


def join(page: Page, name: str, code: str = "lung-42") -> None:
    expect(page.get_by_role("heading", name="Join the workshop")).to_be_visible(timeout=120_000)
    page.get_by_role("textbox", name="Display name").fill(name)
    page.get_by_role("textbox", name="Join code").fill(code)
    page.get_by_role("button", name="Join", exact=True).click()


def session_cookie(context: BrowserContext) -> dict | None:
    return next((c for c in context.cookies() if c["name"] == SESSION_COOKIE), None)


def failed_run(home: Path, workspace: str, name: str) -> str:
    """A run record in `workspace` that needs no worker."""
    store = RunStore(home)
    return store.create(workspace, {"task": "classification", "dataset": "phantom-64", "model": "small_cnn",
                                    "epochs": 2, "name": name}, "val_loss", status="failed").id


def shot(page: Page, folder: Path, name: str) -> None:
    """A screenshot of each step, to look at (in the test's tmp_path: nothing is left in the tree)."""
    wait_idle(page)
    page.screenshot(path=str(folder / f"workshop-join-{name}.png"))


def test_join_reload_new_tab_isolation_and_leave(workshop: Server, contexts: list[BrowserContext], tmp_path: Path):
    first, second = contexts
    page = first.new_page()
    page.goto(f"{workshop}/train")  # a direct URL: the join form, no navigation to any page
    expect(page.get_by_role("heading", name="Join the workshop")).to_be_visible(timeout=120_000)
    expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)
    expect(page.get_by_role("heading", name="Train", exact=True)).to_have_count(0)
    join(page, "Anna Kowalski", "wrong-code")
    expect(page.get_by_text("That code is not this workshop's join code.")).to_be_visible()
    assert session_cookie(first) is None
    page.reload()  # a new session, still without a cookie: the form again, without the sentence
    expect(page.get_by_role("heading", name="Join the workshop")).to_be_visible(timeout=120_000)
    page.get_by_role("textbox", name="Display name").fill("Anna Kowalski")
    page.get_by_role("textbox", name="Join code").fill("lung-42")
    page.get_by_role("heading", name="Join the workshop").click()  # no field focused (no typing hints)
    page.mouse.move(1300, 850)
    wait_idle(page)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), clip={"x": 0, "y": 0, "width": 720, "height": 570})

    page.get_by_role("button", name="Join", exact=True).click()
    expect(page.get_by_role("heading", name="Train", exact=True)).to_be_visible(timeout=120_000)  # the page asked for
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_text("Signed in as")).to_contain_text("Anna Kowalski")
    expect(sidebar.get_by_text("Your workspace: anna-kowalski")).to_be_visible()
    expect(sidebar.get_by_role("textbox", name="Workspace")).to_have_count(0)
    cookie = wait_for(lambda: session_cookie(first), timeout=30)
    assert cookie["sameSite"] == "Strict" and cookie["path"] == "/"
    assert 2.9 * 86400 < cookie["expires"] - time.time() <= 3 * 86400
    shot(page, tmp_path, "joined")

    annas = failed_run(workshop.home, "anna-kowalski", "anna baseline")
    page.reload()  # a new session of the same browser: the cookie signs it in, no form
    expect(page.get_by_role("heading", name="Train", exact=True)).to_be_visible(timeout=120_000)
    expect(page.get_by_role("heading", name="Join the workshop")).to_have_count(0)
    expect(page.get_by_text("anna baseline").first).to_be_visible()

    tab = first.new_page()  # a new tab of the same browser
    tab.goto(f"{workshop}/train?run={annas}")
    expect(tab.get_by_role("heading", name="Train", exact=True)).to_be_visible(timeout=120_000)
    expect(tab.get_by_test_id("stSidebar").get_by_text("Signed in as")).to_contain_text("Anna Kowalski")
    expect(tab.get_by_text(re.compile(r"anna baseline · failed"))).to_be_visible()
    shot(tab, tmp_path, "new-tab")
    tab.close()

    other = second.new_page()  # another browser: another participant
    other.goto(f"{workshop}/train?run={annas}")
    join(other, "Ben Okafor")
    expect(other.get_by_role("heading", name="Train", exact=True)).to_be_visible(timeout=120_000)
    expect(other.get_by_test_id("stSidebar").get_by_text("Your workspace: ben-okafor")).to_be_visible()
    expect(other.get_by_text(f"There is no run '{annas}' in your workspace.")).to_be_visible()
    expect(other.get_by_test_id("stSidebar").get_by_role("button", name="Leave")).to_be_visible()  # its popover
    wait_idle(other)
    expect(other.get_by_text("anna baseline")).to_have_count(0)
    shot(other, tmp_path, "refused")
    theirs = wait_for(lambda: session_cookie(second), timeout=30)
    assert theirs["value"] != session_cookie(first)["value"]
    expect(other.get_by_test_id("stSidebarNav").get_by_text("Teacher", exact=True)).to_have_count(0)
    other.goto(f"{workshop}/teacher")  # typed in: one sentence, nothing of the teacher's view
    expect(other.get_by_text("The teacher's view is for the workshop's teacher only")).to_be_visible(timeout=120_000)
    expect(other.get_by_role("heading", name="Teacher", exact=True)).to_have_count(0)

    page.get_by_test_id("stSidebar").get_by_role("button", name="Leave").click()  # a popover says what it means
    expect(page.get_by_text("joining again gives you a new, empty workspace")).to_be_visible()
    shot(page, tmp_path, "leave")
    page.get_by_role("button", name="Leave the workshop").click()
    expect(page.get_by_role("heading", name="Join the workshop")).to_be_visible(timeout=60_000)
    wait_for(lambda: session_cookie(first) is None, timeout=30)
    page.reload()  # the cookie is gone and its token revoked: still the form
    expect(page.get_by_role("heading", name="Join the workshop")).to_be_visible(timeout=120_000)
    shot(page, tmp_path, "left")
