"""Every test gets its own MEDLAB_HOME; built-in datasets are generated once per session and shared."""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shared_builtin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("builtin")


@pytest.fixture(autouse=True)
def medlab_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_builtin_dir: Path) -> Path:
    home = tmp_path / "medlab-home"
    monkeypatch.setenv("MEDLAB_HOME", str(home))
    monkeypatch.setenv("MEDLAB_BUILTIN_DIR", str(shared_builtin_dir))
    return home


@pytest.fixture(scope="session")
def phantom_run(tmp_path_factory: pytest.TempPathFactory, shared_builtin_dir: Path):
    """The recommended recipe trained once on the 64 px phantom, shared read-only by the evaluation tests."""
    from types import SimpleNamespace

    from core.jobs.control import create_run
    from core.jobs.execute import execute
    from core.jobs.store import RunStore

    home = tmp_path_factory.mktemp("phantom-run")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MEDLAB_HOME", str(home))
        patch.setenv("MEDLAB_BUILTIN_DIR", str(shared_builtin_dir))
        store = RunStore()
        record = create_run(store, "default", {"dataset": "phantom-64", "name": "phantom recipe"}, status="running")
        final = execute(store, record.id)
    assert final.status == "completed", final.message
    return SimpleNamespace(home=home, run_id=record.id)


@pytest.fixture
def trained(phantom_run, monkeypatch: pytest.MonkeyPatch):
    """Point this test's MEDLAB_HOME at the shared trained run's home."""
    monkeypatch.setenv("MEDLAB_HOME", str(phantom_run.home))
    return phantom_run
