"""Make AppTest route every run through streamlit_app.py, as a real server does after its first run.

AppTest resets Streamlit's "app uses the legacy pages/ folder" flag before every run, so every run after the
first would execute the page file alone (no entry point, no sidebar, and pages/ui/entry.py would rerun it,
dropping button clicks). A real server clears that flag for good once st.navigation has run; the browser
tests cover the first visit itself.
"""
from __future__ import annotations

import pytest
from streamlit.runtime.pages_manager import PagesManager


@pytest.fixture(autouse=True)
def navigation_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    original = PagesManager.__init__

    def init(self, *args, **kwargs) -> None:
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)


@pytest.fixture
def no_runs_left_behind():
    """Runs a test queued are stopped before its MEDLAB_HOME goes away (the job runner would start them)."""
    yield
    from core.errors import UserError
    from core.jobs.control import request_stop
    from core.jobs.store import ACTIVE, RunStore
    from tests.fixtures import wait_for

    store = RunStore()
    for record in store.list(statuses=ACTIVE):
        try:
            request_stop(store, record.id)
        except UserError:  # it finished meanwhile
            pass
    wait_for(lambda: not store.list(statuses=ACTIVE), timeout=120)
