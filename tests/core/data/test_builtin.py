"""Preparing the built-in datasets ahead of use (the app does it in the background when it starts)."""
from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest

from core.data import builtin
from core.data.builtin import BUILTIN_IDS, builtin_infos, builtin_path, missing_builtins, prepare_builtins
from core.settings import builtin_dir
from tests.fixtures import wait_for


@pytest.fixture
def generated() -> Path:
    """The session's shared built-in folder, every dataset generated."""
    builtin_infos()
    return builtin_dir()


def metadata_copy(source: Path, target: Path, generator: dict[str, str] | None = None) -> None:
    """dataset.json of each built-in into `target` (no arrays), with the generator version replaced where given."""
    for dataset_id in BUILTIN_IDS:
        info = json.loads((source / dataset_id / "dataset.json").read_text())
        info["preprocessing"]["generator"] = (generator or {}).get(dataset_id, info["preprocessing"]["generator"])
        (target / dataset_id).mkdir(parents=True)
        (target / dataset_id / "dataset.json").write_text(json.dumps(info))


def test_prepare_reports_each_dataset_then_the_end(generated: Path):
    calls: list[tuple[int, int, str | None]] = []
    prepare_builtins(lambda done, total, current: calls.append((done, total, current)))
    total = len(BUILTIN_IDS)
    assert calls == [(i, total, dataset_id) for i, dataset_id in enumerate(BUILTIN_IDS)] + [(total, total, None)]
    assert missing_builtins() == []


@pytest.mark.parametrize("case", [
    {"stale": [], "absent": [], "missing": []},
    {"stale": ["phantom-64"], "absent": [], "missing": ["phantom-64"]},
    {"stale": [], "absent": ["real-tiles-128"], "missing": ["real-tiles-128"]},
    {"stale": ["phantom-128"], "absent": ["phantom-28"], "missing": ["phantom-28", "phantom-128"]},
], ids=["all current", "older generator", "absent", "both"])
def test_missing_builtins_reads_the_metadata(case: dict, generated: Path, tmp_path: Path, monkeypatch):
    folder = tmp_path / "builtin"
    metadata_copy(generated, folder, {dataset_id: "builtin-0" for dataset_id in case["stale"]})
    for dataset_id in case["absent"]:
        shutil.rmtree(folder / dataset_id)
    monkeypatch.setenv("MEDLAB_BUILTIN_DIR", str(folder))
    assert missing_builtins() == case["missing"]


def test_a_second_caller_waits_for_the_generation_under_way(generated: Path, tmp_path: Path, monkeypatch):
    """A page asking for a built-in while the background thread generates it gets the same folder, generated once."""
    folder = tmp_path / "builtin"
    folder.mkdir()
    monkeypatch.setenv("MEDLAB_BUILTIN_DIR", str(folder))
    generations: list[str] = []
    release = threading.Event()

    def slow_generate(dataset_id: str, target: Path) -> None:
        generations.append(dataset_id)
        release.wait(60)  # under way until the test has started every caller
        shutil.copytree(generated / dataset_id, target)

    monkeypatch.setattr(builtin, "_generate", slow_generate)
    found: list[Path] = []
    threads = [threading.Thread(target=lambda: found.append(builtin_path("phantom-28"))) for _ in range(3)]
    for thread in threads:
        thread.start()
    wait_for(lambda: generations, timeout=60)
    release.set()
    for thread in threads:
        thread.join()
    assert generations == ["phantom-28"]
    assert found == [folder / "phantom-28"] * 3
    assert "phantom-28" not in missing_builtins()
