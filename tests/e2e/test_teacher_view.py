"""Real browser, workshop mode: participants have joined and queued runs; the teacher joins with the admin code,
opens the Teacher page, sees every participant and the whole queue in launch order, and stops a run. The README's
screenshot of the teacher's view (docs/screenshots/workshop-teacher.png) is copied from the one taken here, in
test-artifacts/."""
from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from core.access.config import access_config
from core.access.sessions import SessionStore
from core.data.builtin import prepare_builtins
from core.errors import UserError
from core.jobs.control import create_run, request_stop
from core.jobs.store import ACTIVE, RunStore
from core.settings import CLASS_WORKSPACE
from tests.e2e.conftest import ARTIFACTS, Server, _serve
from tests.e2e.waits import wait_idle
from tests.fixtures import tiny_dataset, wait_for

pytestmark = pytest.mark.e2e

WORKSHOP = {"join_code": "lung-42", "admin_code": "teach-9f3", "max_queued_runs": 3, "max_epochs": 200,
            "max_run_minutes": 20}
SECRETS = "[workshop]\n" + "\n".join(f"{key} = {value!r}" if isinstance(value, str) else f"{key} = {value}"
                                     for key, value in WORKSHOP.items()).replace("'", '"') + "\n"
# who joined, and the runs each queued (in this order); every run lasts minutes (the test stops them), on the CPU
PEOPLE = {"Anna Kowalski": ["baseline", "more augmentation"], "Ben Okafor": ["first try", "smaller batch"],
          "Chloé Martin": ["balanced classes"], "David Osei": []}
# the grid's rows as [{column: text}], read from its accessible table (the canvas has no text)
ROWS = """(column) => {
  for (const grid of document.querySelectorAll('[data-testid="stDataFrame"] table')) {
    const heads = [...grid.querySelectorAll('thead th')].map(th => th.textContent.trim());
    if (!heads.includes(column)) continue;
    return [...grid.querySelectorAll('tbody tr')].map(tr => Object.fromEntries(
      heads.map((head, i) => [head, (tr.children[i] || {}).textContent?.trim() || ''])));
  }
  return [];
}"""


@pytest.fixture(scope="module")
def workshop(tmp_path_factory: pytest.TempPathFactory, shared_builtin_dir) -> Iterator[Server]:
    """A workshop server: two runs at a time on the CPU (one thread each), so two run and the rest queue. The
    built-in datasets are made first (about 20 s, once per test session), so their preparation does not compete
    with the runs for the CPU and the screenshot's sidebar is settled."""
    prepare_builtins(root=shared_builtin_dir)
    yield from _serve(tmp_path_factory, shared_builtin_dir, secrets_toml=SECRETS,
                      env_extra={"MEDLAB_JOBS_PER_DEVICE": "2"})


@pytest.fixture
def class_of_four(workshop: Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, list[str]]]:
    """The participants join and queue their runs through core, as their browsers would; name -> run ids. The
    runs left active are stopped at the end."""
    monkeypatch.setenv("MEDLAB_HOME", str(workshop.home))
    config, store, sessions = access_config({"workshop": WORKSHOP}), RunStore(), SessionStore(workshop.home)
    tiny_dataset(CLASS_WORKSPACE, per_class=(40, 40), name="chest demo")  # the teacher's shared dataset
    runs: dict[str, list[str]] = {}
    for name, run_names in PEOPLE.items():
        identity = sessions.join(name, WORKSHOP["join_code"], config)[1]
        dataset = tiny_dataset(identity.workspace, per_class=(150, 150), name="nodules")
        runs[name] = [create_run(store, identity.workspace, {
            "task": "classification", "dataset": dataset, "model": "small_cnn", "device": "cpu", "name": run_name,
            "epochs": 200, "batch_size": 8, "image_size": 16}, limits=config.limits).id for run_name in run_names]
    yield runs
    for record in store.list(statuses=ACTIVE):
        try:
            request_stop(store, record.id)
        except UserError:  # it ended meanwhile
            pass
    wait_for(lambda: not store.list(statuses=ACTIVE), timeout=120)


def training(store: RunStore, run_id: str) -> bool:
    """Whether the run has trained an epoch (and says why, should it have ended instead)."""
    record = store.get(run_id)
    assert record.status in ACTIVE, (record.status, record.message)
    return record.epoch >= 1


def shoot(page: Page, name: str) -> None:
    """The whole page as the README shows it (1440 px wide, tall enough for every section), once the sidebar has
    finished preparing the built-in datasets and no part of the page is being redrawn (a redraw greys it)."""
    expect(page.get_by_text(re.compile("Preparing built-in datasets"))).to_have_count(0, timeout=300_000)
    page.set_viewport_size({"width": 1440, "height": 3000})  # everything laid out, then cut below the last part
    bottom = page.evaluate("Math.max(...[...document.querySelectorAll('[data-testid=\"stMain\"] "
                           "[data-testid=\"stElementContainer\"]')].map(e => e.getBoundingClientRect().bottom))")
    page.set_viewport_size({"width": 1440, "height": max(1000, int(bottom) + 48)})
    page.wait_for_function("!document.querySelector('[data-stale=\"true\"]')", timeout=30_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)
    page.set_viewport_size({"width": 1400, "height": 1000})


def rows(page: Page, column: str) -> list[dict[str, str]]:
    return page.evaluate(f"({ROWS})({column!r})")


def test_the_teacher_sees_everyone_and_stops_a_run(workshop: Server, class_of_four, page: Page):
    store = RunStore()
    anna_first = class_of_four["Anna Kowalski"][0]
    page.goto(f"{workshop}/teacher")  # the join form first; the page asked for opens after it
    page.get_by_role("textbox", name="Display name").fill("Dr Lee")
    page.get_by_role("textbox", name="Join code").fill(WORKSHOP["admin_code"])
    page.get_by_role("button", name="Join", exact=True).click()
    expect(page.get_by_role("heading", name="Teacher", exact=True)).to_be_visible(timeout=120_000)
    expect(page.get_by_test_id("stSidebarNav").get_by_role("link", name="Teacher")).to_be_visible()  # admins only
    wait_idle(page)
    wait_for(lambda: training(store, anna_first), timeout=180)  # the server's queue runs since the first visit

    page.wait_for_function(f"({ROWS})('completed').length === {len(PEOPLE)}", timeout=60_000)
    people = {row["participant"]: row for row in rows(page, "completed")}
    assert set(people) == set(PEOPLE)
    assert people["Anna Kowalski"]["runs"] == "2" and people["David Osei"]["runs"] == "0"
    queue = rows(page, "place")
    assert [row["place"] for row in queue] == ["running", "running", "1", "2", "3"]
    # the first runs of Anna and Ben run; Chloé's first run starts before anyone's second (round-robin)
    assert [row["run"] for row in queue][2:] == ["balanced classes", "more augmentation", "smaller batch"]
    # the queue is live: both running runs reach their second epoch without a click
    page.wait_for_function(f"({ROWS})('place').filter(r => /^epoch ([2-9]|\\d\\d+)\\/200/.test(r.progress))"
                           ".length === 2", timeout=120_000)
    shoot(page, "workshop-teacher.png")

    page.get_by_test_id("stSelectbox").filter(has_text="Run").click()
    page.get_by_role("option", name=re.compile(r"running · Anna Kowalski · baseline")).click()
    wait_idle(page)
    page.get_by_role("button", name="Stop").click()
    expect(page.get_by_text(re.compile(r"Asked Anna Kowalski's run baseline to stop"))).to_be_visible()
    wait_for(lambda: store.get(anna_first).status == "stopped", timeout=120)
    # its place goes to the next in launch order: Chloé's first run
    page.wait_for_function(f"({ROWS})('place').filter(r => r.place === 'running').map(r => r.run).includes("
                           "'balanced classes')", timeout=120_000)
    assert "baseline" not in [row["run"] for row in rows(page, "place")]
