"""Helpers for AppTest tests of the pages."""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "streamlit_app.py")


def open_page(page: str, **state) -> AppTest:
    """Run the app, switch to `page` (e.g. "pages/dataset.py") with the given session state, run again."""
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    for key, value in state.items():
        at.session_state[key] = value
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def rerun(at: AppTest, **state) -> AppTest:
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> str:
    """All visible text of the page, to search in."""
    parts = [e.value for kind in ("markdown", "caption", "info", "warning", "success", "error", "title", "subheader")
             for e in at.get(kind)]
    return "\n".join(str(p) for p in parts)
