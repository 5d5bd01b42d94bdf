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
