from __future__ import annotations

import sqlite3

import pytest

from core.errors import UserError
from core.jobs.store import RunStore

CONFIG = {"task": "classification", "dataset": "phantom-64", "model": "small_cnn", "epochs": 3}


def test_create_get_list_and_files():
    store = RunStore()
    record = store.create("alice", CONFIG, monitor="val_accuracy")
    assert record.status == "queued" and record.epochs == 3 and record.workspace == "alice"
    assert store.config(record) == CONFIG
    assert [r.id for r in store.list("alice")] == [record.id] and store.list("bob") == []
    store.append_events(record, [{"kind": "step", "loss": 1.0}, {"kind": "epoch", "val_loss": 0.5}])
    assert [e["kind"] for e in store.events(record)] == ["step", "epoch"]


def test_index_is_in_wal_mode_and_shared_between_instances():
    first = RunStore()
    record = first.create("w", CONFIG, monitor=None)
    with sqlite3.connect(first.db_path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert RunStore().get(record.id).id == record.id  # another process or page sees the same run


def test_transition_is_atomic_and_conditional():
    store = RunStore()
    record = store.create("w", CONFIG, monitor=None)
    assert store.transition(record.id, ("queued",), status="running")
    assert not store.transition(record.id, ("queued",), status="running")  # a second runner cannot take it


def test_delete_refuses_active_runs_and_removes_files():
    store = RunStore()
    record = store.create("w", CONFIG, monitor=None)
    with pytest.raises(UserError, match="stop it before deleting"):
        store.delete(record.id)
    store.update(record.id, status="completed")
    store.delete(record.id)
    assert not store.run_dir(record).exists()
    with pytest.raises(UserError, match="no run"):
        store.get(record.id)


def test_keep_events_drops_rejected_events_and_a_half_written_line():
    store = RunStore()
    record = store.create("w", CONFIG, monitor=None)
    store.append_events(record, [{"kind": "step", "global_step": s} for s in (1, 2, 3)])
    with (store.run_dir(record) / "metrics.jsonl").open("a") as handle:
        handle.write('{"kind": "step", "glo')  # a worker killed mid-write
    store.keep_events(record, lambda e: e["global_step"] <= 2)
    store.append_events(record, [{"kind": "step", "global_step": 3}])
    assert [e["global_step"] for e in store.events(record)] == [1, 2, 3]


def test_a_run_store_from_before_the_phase_columns_opens_and_gains_them():
    """An index written by an older MedLab (no host, heartbeat, phase or time-left range columns) stays readable:
    opening it adds the columns, and its runs read with those fields empty."""
    from core.settings import medlab_home

    home = medlab_home()
    home.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(home / "runs.sqlite") as db:
        db.execute("CREATE TABLE runs (id TEXT PRIMARY KEY, workspace TEXT NOT NULL, name TEXT NOT NULL DEFAULT '',"
                   " task TEXT NOT NULL, dataset TEXT NOT NULL, model TEXT NOT NULL, status TEXT NOT NULL,"
                   " device TEXT NOT NULL DEFAULT 'auto', device_used TEXT, created REAL NOT NULL, started REAL,"
                   " finished REAL, epoch INTEGER NOT NULL DEFAULT 0, epochs INTEGER NOT NULL,"
                   " step INTEGER NOT NULL DEFAULT 0, steps_per_epoch INTEGER, images_per_s REAL, eta_s REAL,"
                   " monitor TEXT, best_value REAL, best_epoch INTEGER, summary TEXT, message TEXT, pid INTEGER,"
                   " stop_requested REAL NOT NULL DEFAULT 0)")
        db.execute("INSERT INTO runs (id, workspace, task, dataset, model, status, created, started, finished, epochs)"
                   " VALUES ('run-old', 'w', 'classification', 'phantom-64', 'small_cnn', 'completed', 1.0, 2.0, 62.5,"
                   " 3)")
    store = RunStore()
    old = store.get("run-old")
    assert (old.phase, old.phase_since, old.eta_low_s, old.eta_high_s, old.heartbeat) == (None, None, None, None, None)
    assert old.duration_s == 60.5   # it trained in one stretch, from its start to its end
    store.update("run-old", phase="writing the report")
    updated = store.get("run-old")
    assert updated.phase == "writing the report" and updated.phase_since is not None  # a new phase notes its start


def test_duration_counts_training_stretches_not_the_time_stopped_or_queued_between_them():
    """A run trained 60 s, was stopped, sat an hour, was resumed, waited in the queue 10 minutes and trained 30 s
    more: it took 90 s. Before, it read as 1 h 10 min 90 s."""
    from core.jobs.control import create_run, prepare_resume
    from core.jobs.execute import stretch_times

    store = RunStore()
    record = create_run(store, "default", {"dataset": "phantom-28", "epochs": 3}, status="running")
    store.update(record.id, **stretch_times(store.get(record.id), 1000.0))
    store.update(record.id, status="stopped", finished=1060.0)
    assert store.get(record.id).duration_s == 60.0
    queued = prepare_resume(store, record.id)   # an hour later
    assert (queued.status, queued.duration_s) == ("queued", 60.0)   # and so it stays while it waits
    store.update(record.id, status="running", **stretch_times(store.get(record.id), 1000.0 + 3600 + 600))
    store.update(record.id, status="completed", finished=1000.0 + 3600 + 600 + 30)
    resumed = store.get(record.id)
    assert resumed.started == 1000.0 and resumed.duration_s == 90.0


def test_an_interrupted_stretch_ends_at_the_last_heartbeat_and_a_rerun_without_resume_keeps_it():
    from core.jobs.control import create_run
    from core.jobs.execute import stretch_times
    from core.jobs.liveness import worker_identity

    store = RunStore()
    record = create_run(store, "default", {"dataset": "phantom-28", "epochs": 3}, status="running")
    store.update(record.id, **stretch_times(store.get(record.id), 100.0))
    # the worker was killed after its heartbeat at 140 s; a reader noticed at 5000 s
    store.update(record.id, heartbeat=140.0, status="interrupted", finished=5000.0)
    assert store.get(record.id).duration_s == 40.0
    assert stretch_times(store.get(record.id), 6000.0) == {"stretch_started": 6000.0, "earlier_s": 40.0}
    store.update(record.id, status="running", finished=None, **stretch_times(store.get(record.id), 6000.0),
                 **worker_identity())   # this test's process stands in for its live worker
    assert stretch_times(store.get(record.id), 6001.0) == {}   # the same stretch's worker again: it goes on
