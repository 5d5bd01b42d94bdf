"""Where a run runs, as the sidebar and the teacher's queue say it: the device, and the node when a worker runs on
another machine (MEDLAB_EXECUTOR=ray); the cluster's line in the sidebar."""
from __future__ import annotations

from dataclasses import replace

import pytest

from core.jobs.liveness import HOST
from core.jobs.local_executor import LocalExecutor
from core.jobs.store import RunStore
from pages.ui.jobs import running_where
from tests.pages.apptest import open_page, texts


def test_a_run_on_another_node_names_it():
    store = RunStore()
    record = store.create("w", {"task": "classification", "dataset": "phantom-28", "model": "small_cnn",
                                "epochs": 1}, monitor="val_accuracy")
    assert running_where(replace(record, device_used="cuda:0", host=HOST)) == "cuda:0"
    assert running_where(replace(record, device_used="cuda:0", host="gpu-node-2")) == "cuda:0 on gpu-node-2"
    assert running_where(replace(record, device="cpu")) == "cpu"  # queued: not placed yet


def test_the_sidebar_shows_where_runs_go(monkeypatch: pytest.MonkeyPatch):
    line = "Runs go to ray://head:10001: 3 nodes, 48 CPUs, 4 GPUs"
    monkeypatch.setattr(LocalExecutor, "summary", lambda self: line)  # as a Ray executor says it
    assert line in texts(open_page("pages/dataset.py"))
