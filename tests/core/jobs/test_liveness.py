"""The one liveness rule: which running runs have lost their worker, and how every reader of the store applies it."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from core.errors import UserError
from core.jobs.control import prepare_resume, request_stop
from core.jobs.liveness import (DEFAULT_HEARTBEAT_TIMEOUT_S, HOST, PID_NAMESPACE, Heartbeat, pid_alive,
                                process_start, worker_gone, worker_identity)
from core.jobs.runner import JobRunner
from core.jobs.store import ACTIVE, ADDED_COLUMNS, RunStore
from tests.fixtures import wait_for

CONFIG = {"task": "classification", "dataset": "phantom-28", "model": "small_cnn", "epochs": 4}


def ended_pid() -> int:
    """The pid of a process that has ended and been reaped."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def fields(**values) -> SimpleNamespace:
    now = time.time()
    base = dict(status="running", pid=None, host=HOST, pid_ns=PID_NAMESPACE, pid_start=None, heartbeat=now,
                started=now, created=now)
    return SimpleNamespace(**{**base, **values})


def test_pid_alive_tells_live_ended_zombie_and_reused_pids():
    assert pid_alive(os.getpid()) and pid_alive(os.getpid(), process_start(os.getpid()))
    assert not pid_alive(os.getpid(), process_start(os.getpid()) + 1)  # the pid now names a later process
    assert not pid_alive(ended_pid())
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        wait_for(lambda: open(f"/proc/{zombie.pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z", 60, 0.05)
        assert not pid_alive(zombie.pid)  # ended, not yet reaped: kill(pid, 0) alone would call it alive
    finally:
        zombie.wait()


@pytest.mark.parametrize("case, gone", [
    ("live local pid", None),
    ("ended local pid", "its worker process (pid {pid}) ended without reporting"),
    ("reused local pid", "its worker process (pid {pid}) ended without reporting"),
    ("other host, recent heartbeat", None),
    ("other host, silent", "its worker on far-away sent no heartbeat for 121 s"),
    ("no pid yet, just started", None),
    ("no pid, silent since start", "its worker sent no heartbeat for 500 s"),
    ("queued", None),
    ("stopping, ended pid", "its worker process (pid {pid}) ended without reporting"),
    ("other pid namespace, recent heartbeat", None),
])
def test_worker_gone(case, gone):
    now = time.time()
    me, dead = os.getpid(), ended_pid()
    record = {
        "live local pid": fields(pid=me, pid_start=process_start(me)),
        "ended local pid": fields(pid=dead),
        "reused local pid": fields(pid=me, pid_start=process_start(me) - 1),
        "other host, recent heartbeat": fields(pid=dead, host="far-away", heartbeat=now - 100),
        "other host, silent": fields(pid=dead, host="far-away", heartbeat=now - 121),
        "no pid yet, just started": fields(heartbeat=None, started=None, created=now - 5),
        "no pid, silent since start": fields(heartbeat=None, started=now - 500, created=now - 600),
        "queued": fields(status="queued", pid=dead),
        "stopping, ended pid": fields(status="stopping", pid=dead),
        "other pid namespace, recent heartbeat": fields(pid=dead, pid_ns=-1, heartbeat=now - 5),
    }[case]
    reason = worker_gone(record, now=now)
    if gone is None:
        assert reason is None
    else:
        expected = gone.format(pid=record.pid)
        assert reason is not None and reason.startswith(expected)
        if "heartbeat" in gone:
            assert reason.endswith(f"(the limit, MEDLAB_HEARTBEAT_TIMEOUT_S, is {DEFAULT_HEARTBEAT_TIMEOUT_S:.0f} s)")


def test_the_heartbeat_timeout_is_a_setting(monkeypatch):
    record = fields(pid=ended_pid(), host="far-away", heartbeat=time.time() - 30)
    assert worker_gone(record) is None
    monkeypatch.setenv("MEDLAB_HEARTBEAT_TIMEOUT_S", "20")
    assert "no heartbeat for 30 s (the limit, MEDLAB_HEARTBEAT_TIMEOUT_S, is 20 s)" in worker_gone(record)


def test_every_reader_sees_a_dead_worker_as_interrupted_durably():
    store = RunStore()
    record = store.create("w", CONFIG, monitor="val_accuracy", status="running")
    pid = ended_pid()
    store.update(record.id, epoch=2, **worker_identity(pid))  # the identity it had while alive
    assert [r.id for r in store.list(statuses=ACTIVE)] == []   # the sidebar's queue: idle
    got = store.get(record.id)
    assert got.status == "interrupted" and got.pid is None and got.finished is not None
    assert got.message == (f"its worker process (pid {pid}) ended without reporting; resume continues from its "
                           "last checkpoint (2 of 4 epochs completed)")
    with sqlite3.connect(store.db_path) as db:  # written to the index, not only answered
        assert db.execute("SELECT status FROM runs WHERE id = ?", (record.id,)).fetchone() == ("interrupted",)
    with pytest.raises(UserError, match="is interrupted, so there is nothing to stop"):
        request_stop(store, record.id)
    assert prepare_resume(store, record.id).status == "queued"


def test_a_live_worker_is_left_alone_and_a_stale_view_never_overwrites_a_newer_one():
    store = RunStore()
    alive = store.create("w", CONFIG, monitor=None, status="running")
    store.update(alive.id, **worker_identity())
    assert store.get(alive.id).status == "running" and store.list()[0].status == "running"
    stale = store.get(alive.id)
    stale.pid = ended_pid()  # what a reader saw before the run was resumed by this process
    assert store._checked(stale).status == "running"  # the row changed since: nothing is marked


def test_the_runner_marks_a_dead_cli_run_interrupted_and_does_not_launch_it():
    store = RunStore()
    record = store.create("w", CONFIG, monitor=None, status="running")
    store.update(record.id, **worker_identity(ended_pid()))
    runner = JobRunner(store, slots=1, poll_s=0.2, gpus=0)
    runner.tick()
    with sqlite3.connect(store.db_path) as db:
        assert db.execute("SELECT status FROM runs WHERE id = ?", (record.id,)).fetchone() == ("interrupted",)
    assert runner.processes == {}


def test_an_index_from_before_liveness_gets_its_columns():
    store = RunStore()
    with sqlite3.connect(store.db_path) as db:  # the index as it was before workers were identified
        for column in ADDED_COLUMNS:
            db.execute(f"ALTER TABLE runs DROP COLUMN {column}")
        db.execute("INSERT INTO runs (id, workspace, task, dataset, model, status, created, epochs, pid) VALUES"
                   " ('old', 'w', 'classification', 'phantom-28', 'small_cnn', 'running', 0, 3, ?)", (ended_pid(),))
    old = RunStore().get("old")  # the worker of a row written before hosts were recorded was local
    assert old.status == "interrupted" and old.host is None


def test_heartbeat_beats_until_it_ends():
    beats = []
    with Heartbeat(lambda: beats.append(time.monotonic()), every=0.01) as heartbeat:
        wait_for(lambda: len(beats) >= 3, 60, 0.01)
    assert not heartbeat._thread.is_alive()  # ended with the block: no beat can follow
