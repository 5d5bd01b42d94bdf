"""The built-in datasets are generated in the background when the app starts; pages never block on them silently.

The generation is replaced by a stand-in that copies the session's generated built-ins when the test lets it,
so each case controls where the preparation stands.
"""
from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.data.builtin import BUILTIN_IDS, builtin_infos, missing_builtins
from core.settings import builtin_dir
from pages.ui import builtins
from tests.fixtures import wait_for
from tests.pages.apptest import APP, texts


@pytest.fixture
def fresh_builtin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """(the session's generated built-ins, an empty built-in folder this server starts with)."""
    builtin_infos()
    generated, fresh = builtin_dir(), tmp_path / "builtin"
    monkeypatch.setenv("MEDLAB_BUILTIN_DIR", str(fresh))
    return generated, fresh


def stand_in(generated: Path, release: threading.Event, error: Exception | None = None,
             reached: threading.Event | None = None):
    """A prepare_builtins that prepares two datasets, sets `reached`, waits for `release`, then prepares the rest
    (or raises `error`)."""
    def prepare(progress, root: Path) -> None:
        for done, dataset_id in enumerate(BUILTIN_IDS):
            progress(done, len(BUILTIN_IDS), dataset_id)
            if done == 2:
                if reached is not None:
                    reached.set()
                release.wait(timeout=60)
                if error is not None:
                    raise error
            shutil.copytree(generated / dataset_id, root / dataset_id)
        progress(len(BUILTIN_IDS), len(BUILTIN_IDS), None)
    return prepare


def sidebar_text(at: AppTest) -> str:
    return " ".join(c.value for c in at.sidebar.caption)


def test_home_opens_at_once_and_the_sidebar_shows_the_progress(fresh_builtin_dir, monkeypatch):
    generated, fresh = fresh_builtin_dir
    release, reached = threading.Event(), threading.Event()
    monkeypatch.setattr(builtins, "prepare_builtins", stand_in(generated, release, reached=reached))
    try:
        at = AppTest.from_file(APP, default_timeout=60).run()
        assert not at.exception
        assert at.title[0].value == "MedLab"  # Home did not wait
        assert "Preparing built-in datasets: " in sidebar_text(at)
        assert reached.wait(timeout=30)
        at.run()  # in a browser the sidebar's fragment polls every second
        assert f"Preparing built-in datasets: 2 of {len(BUILTIN_IDS)} (phantom-128)" in sidebar_text(at)
    finally:
        release.set()


def test_a_page_that_lists_datasets_opens_once_they_are_ready(fresh_builtin_dir, monkeypatch):
    generated, fresh = fresh_builtin_dir
    release = threading.Event()
    monkeypatch.setattr(builtins, "prepare_builtins", stand_in(generated, release))
    at = AppTest.from_file(APP, default_timeout=60).run()
    threading.Timer(1.0, release.set).start()  # the page waits, showing the progress, until this
    at.switch_page("pages/dataset.py").run()
    assert not at.exception
    assert at.title[0].value == "Dataset"
    assert not [e for e in at.main.info if "Preparing" in e.value] and not at.main.get("progress")  # gone
    assert missing_builtins(fresh) == []
    at.run()  # the sidebar's caption is a fragment polled every second in a browser; a rerun here
    assert "Preparing" not in texts(at) + sidebar_text(at)


def test_when_the_preparation_fails_the_sidebar_says_why_and_pages_still_open(fresh_builtin_dir, monkeypatch):
    generated, fresh = fresh_builtin_dir
    release = threading.Event()
    release.set()
    monkeypatch.setattr(builtins, "prepare_builtins", stand_in(generated, release, OSError("No space left on device")))
    at = AppTest.from_file(APP, default_timeout=60).run()
    started = builtins.builtin_preparation()  # the one the app started (one per server and folder)
    wait_for(lambda: started.finished, timeout=30, every=0.05)
    at.run()
    assert not at.exception
    assert "Built-in datasets could not be prepared: No space left on device" in sidebar_text(at)
    assert at.title[0].value == "MedLab"


def test_a_warm_server_starts_no_preparation(fresh_builtin_dir, monkeypatch):
    generated, fresh = fresh_builtin_dir
    shutil.copytree(generated, fresh)
    monkeypatch.setattr(builtins, "prepare_builtins", lambda *args: pytest.fail("nothing to prepare"))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert builtins.builtin_preparation().finished
    assert "Preparing" not in sidebar_text(at)
