from __future__ import annotations

from core.data.builtin import BUILTIN_IDS
from core.jobs.store import RunStore
from core.jobs.workspace import WorkspaceStatus, workspace_status

CONFIG = {"task": "classification", "dataset": "phantom-64", "model": "small_cnn", "epochs": 3}


def test_status_counts_this_workspace_only():
    store = RunStore()
    first = store.create("ward-7", CONFIG, monitor="val_accuracy")
    store.create("ward-7", CONFIG, monitor="val_accuracy")
    store.create("elsewhere", CONFIG, monitor="val_accuracy")
    store.update(first.id, status="completed")
    status = workspace_status("ward-7", store)
    assert status == WorkspaceStatus(len(BUILTIN_IDS), 0, runs=2, active_runs=1)  # the other one is queued


def test_status_line_reads_naturally():
    assert WorkspaceStatus(3, 1, 1, 0).line() == "1 imported + 3 built-in datasets · 1 run"
    assert WorkspaceStatus(3, 0, 2, 2).line() == "0 imported + 3 built-in datasets · 2 runs (2 active)"
