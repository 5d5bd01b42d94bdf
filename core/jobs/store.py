"""The run store: the single truth about training runs, shared by the UI, the job runner, workers and the CLI.

    MEDLAB_HOME/runs.sqlite                 index of all runs (SQLite in WAL mode: many readers, one writer)
    workspaces/<ws>/runs/<run id>/          one folder per run; its files are named in core.train.run_folder

A browser refresh, a second viewer or a server restart all read the same rows and files. Every read (`get`,
`list`) first applies `core.jobs.liveness.worker_gone` to running and stopping runs: one whose worker has died
(a SIGKILL, the out-of-memory killer, a lost host) is marked interrupted in the index, durably, so the CLI, the
pages, the sidebar queue and the job runner all see the same answer, and `resume` continues it.
"""
from __future__ import annotations

import json
import secrets
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from core.errors import UserError
from core.jobs.liveness import LIVE, worker_gone
from core.settings import medlab_home
from core.train import run_folder as files

ACTIVE = ("queued", "running", "stopping")
RESUMABLE = ("stopped", "interrupted", "failed")
FINAL = ("completed", "stopped", "interrupted", "failed")
STATUSES = ACTIVE + FINAL

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    workspace TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    task TEXT NOT NULL,
    dataset TEXT NOT NULL,
    model TEXT NOT NULL,
    status TEXT NOT NULL,
    device TEXT NOT NULL DEFAULT 'auto',   -- what the config asked for
    device_used TEXT,                      -- what the worker got, e.g. 'cuda:0' or 'cpu'
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    epoch INTEGER NOT NULL DEFAULT 0,
    epochs INTEGER NOT NULL,
    step INTEGER NOT NULL DEFAULT 0,
    steps_per_epoch INTEGER,
    images_per_s REAL,
    eta_s REAL,
    monitor TEXT,
    best_value REAL,
    best_epoch INTEGER,
    summary TEXT,                          -- JSON of the final metrics
    message TEXT,                          -- why it failed, stopped or was interrupted
    pid INTEGER,
    stop_requested REAL NOT NULL DEFAULT 0, -- when a stop was asked for (0: never)
    host TEXT,                             -- the worker's host (socket.gethostname())
    pid_ns INTEGER,                        -- the worker's pid namespace (inode of /proc/self/ns/pid)
    pid_start INTEGER,                     -- the worker's start time (clock ticks since boot): a reused pid is not it
    heartbeat REAL,                        -- when the worker last said it was alive
    phase TEXT,                            -- what the worker is doing: 'preparing data', 'training', ...
    phase_since REAL,                      -- when that phase began
    eta_low_s REAL,                        -- the range around eta_s (equal to it when the estimate is sure)
    eta_high_s REAL,
    priority REAL NOT NULL DEFAULT 0,      -- the teacher's reordering: higher starts first (core.jobs.fair_queue)
    max_minutes REAL NOT NULL DEFAULT 0,   -- training minutes allowed (0: no cap); training ends there
    launched REAL,                         -- when the job runner last started it from the queue
    stretch_started REAL,                  -- when its current stretch of training began (NULL: waiting to resume)
    earlier_s REAL NOT NULL DEFAULT 0      -- seconds trained in stretches before the last resume
);
CREATE TABLE IF NOT EXISTS settings (      -- server-wide settings a teacher changes while the app runs
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL                    -- JSON
);
CREATE INDEX IF NOT EXISTS runs_by_workspace ON runs (workspace, created);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs (status);
"""
# columns added since the first release: a run store from before gets them on open
ADDED_COLUMNS = {"host": "TEXT", "pid_ns": "INTEGER", "pid_start": "INTEGER", "heartbeat": "REAL",
                 "phase": "TEXT", "phase_since": "REAL", "eta_low_s": "REAL", "eta_high_s": "REAL",
                 "priority": "REAL NOT NULL DEFAULT 0", "max_minutes": "REAL NOT NULL DEFAULT 0", "launched": "REAL",
                 "stretch_started": "REAL", "earlier_s": "REAL NOT NULL DEFAULT 0"}
# what a worker does, in order (the phase column): written by core.jobs.execute and core.train.callbacks
PHASES = ("starting the worker", "preparing data", "loading the data and building the model",
          "resuming from the checkpoint", "training", "evaluating the validation split", "evaluating the test split",
          "writing the report")


@dataclass
class RunRecord:
    id: str
    workspace: str
    name: str
    task: str
    dataset: str
    model: str
    status: str
    device: str
    device_used: str | None
    created: float
    started: float | None
    finished: float | None
    epoch: int
    epochs: int
    step: int
    steps_per_epoch: int | None
    images_per_s: float | None
    eta_s: float | None
    monitor: str | None
    best_value: float | None
    best_epoch: int | None
    summary: str | None
    message: str | None
    pid: int | None
    stop_requested: float
    host: str | None = None
    pid_ns: int | None = None
    pid_start: int | None = None
    heartbeat: float | None = None
    phase: str | None = None
    phase_since: float | None = None
    eta_low_s: float | None = None
    eta_high_s: float | None = None
    priority: float = 0.0
    max_minutes: float = 0.0
    launched: float | None = None
    stretch_started: float | None = None
    earlier_s: float = 0.0

    @property
    def summary_dict(self) -> dict[str, Any]:
        return json.loads(self.summary) if self.summary else {}

    @property
    def duration_s(self) -> float | None:
        """Seconds the run has been training until now (see `duration_at`)."""
        return self.duration_at(time.time())

    def duration_at(self, now: float) -> float | None:
        """Seconds the run had been training at time `now`: from when its worker began (loading the data,
        training, evaluating and writing the report; not the seconds a new worker process takes to start), not
        counting the time it sat stopped, interrupted or queued between a stop and its resume; None before it first
        started. An interrupted stretch ends at the worker's last heartbeat: the run is marked interrupted only when
        someone notices, which may be much later."""
        if self.started is None:
            return None
        if self.stretch_started is None:   # waiting to resume
            return self.earlier_s
        end = self.finished or now
        if self.status == "interrupted" and self.heartbeat is not None:
            end = min(end, self.heartbeat)
        return self.earlier_s + max(0.0, end - self.stretch_started)

    def public_dict(self) -> dict[str, Any]:
        """The JSON shape of a run for `python -m core runs --json`."""
        hidden = ("summary", "stop_requested", "pid_ns", "pid_start")  # priority and max_minutes are shown
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in hidden}
        data["summary"] = self.summary_dict
        data["duration_s"] = self.duration_s
        return data


class RunStore:
    def __init__(self, home: Path | None = None) -> None:
        self.home = home or medlab_home()
        self.db_path = self.home / "runs.sqlite"
        with self._connect() as db:
            db.executescript(SCHEMA)
            present = {row["name"] for row in db.execute("PRAGMA table_info(runs)")}
            for name, kind in ADDED_COLUMNS.items():
                if name not in present:
                    try:
                        db.execute(f"ALTER TABLE runs ADD COLUMN {name} {kind}")
                        if name == "stretch_started":   # a run from before trained in one stretch from its start
                            db.execute("UPDATE runs SET stretch_started = started")
                    except sqlite3.OperationalError as error:  # another process added it just now
                        if "duplicate column" not in str(error):
                            raise

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)  # autocommit; explicit BEGIN when needed
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA busy_timeout=30000")
            db.row_factory = sqlite3.Row
            yield db
        finally:
            db.close()

    # --- runs -----------------------------------------------------------------------------------------------
    def create(self, workspace: str, config: dict[str, Any], monitor: str | None, status: str = "queued",
               max_minutes: float = 0.0, admit: Callable[[int], None] | None = None) -> RunRecord:
        """Record a new run (its folder and config.json first). `max_minutes`: its training-time cap (0: none).

        `admit` (a workshop's queue limit, core.jobs.limits.admit): called with the number of the workspace's runs
        queued or running, inside the insert's write transaction, so two Start presses at once (two tabs) cannot
        both pass the count; it raises UserError to refuse, and then nothing is left behind."""
        run_id = f"run-{time.strftime('%y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
        folder = self.run_dir_for(workspace, run_id)
        folder.mkdir(parents=True)
        try:
            files.write_config(folder, config)
            with self._connect() as db:
                db.execute("BEGIN IMMEDIATE")  # the write lock first: no other insert between the count and ours
                try:
                    if admit is not None:
                        placeholders = ", ".join("?" * len(ACTIVE))
                        admit(db.execute(f"SELECT COUNT(*) FROM runs WHERE workspace = ? AND status IN "
                                         f"({placeholders})", (workspace, *ACTIVE)).fetchone()[0])
                    db.execute(
                        "INSERT INTO runs (id, workspace, name, task, dataset, model, status, device, created, epochs,"
                        " monitor, max_minutes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (run_id, workspace, config.get("name", ""), config["task"], config["dataset"],
                         config["model"], status, config.get("device", "auto"), time.time(), config["epochs"],
                         monitor, float(max_minutes)),
                    )
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return self.get(run_id)

    def get(self, run_id: str) -> RunRecord:
        with self._connect() as db:
            row = db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise UserError(f"There is no run '{run_id}'; `python -m core runs` lists them.")
        return self._checked(RunRecord(**dict(row)))

    def changeable(self, run_id: str) -> RunRecord:
        """The run, for code about to change it (a scoped store also refuses runs its identity may only read)."""
        return self.get(run_id)

    def list(self, workspace: str | None = None, statuses: tuple[str, ...] | None = None,
             workspaces: tuple[str, ...] | None = None) -> list[RunRecord]:
        query, args = "SELECT * FROM runs WHERE 1=1", []
        if workspace is not None:
            query += " AND workspace = ?"
            args.append(workspace)
        if workspaces is not None:  # a scoped store's readable workspaces (core.access.scoped_store)
            query += f" AND workspace IN ({','.join('?' * len(workspaces))})"
            args += list(workspaces)
        if statuses:
            query += f" AND status IN ({','.join('?' * len(statuses))})"
            args += list(statuses)
        with self._connect() as db:
            rows = db.execute(query + " ORDER BY created DESC", args).fetchall()
        records = [self._checked(RunRecord(**dict(row))) for row in rows]
        return [r for r in records if not statuses or r.status in statuses]

    def launched_since(self, since: float) -> list[RunRecord]:
        """Runs no longer queued, running or stopping that the job runner started at or after `since` (what the fair
        queue counts as a workspace's turns while others waited)."""
        with self._connect() as db:
            rows = db.execute(f"SELECT * FROM runs WHERE launched >= ? AND status NOT IN ({','.join('?' * len(ACTIVE))})",
                              (since, *ACTIVE)).fetchall()
        return [RunRecord(**dict(row)) for row in rows]

    def reconcile_dead_runs(self) -> list[RunRecord]:
        """Mark every running or stopping run whose worker is gone as interrupted; return those runs."""
        with self._connect() as db:
            rows = db.execute(f"SELECT * FROM runs WHERE status IN ({','.join('?' * len(LIVE))})", LIVE).fetchall()
        checked = [self._checked(RunRecord(**dict(row))) for row in rows]
        return [r for r in checked if r.status == "interrupted"]

    def _checked(self, record: RunRecord) -> RunRecord:
        """The record, after applying the liveness rule: a live run whose worker is gone becomes interrupted. The
        change is conditional on the row being unchanged since it was read (same status, pid and heartbeat), so a
        worker that was just started or resumed is never marked by a reader holding an older view."""
        reason = worker_gone(record)
        if reason is None:
            return record
        message = (f"{reason}; resume continues from its last checkpoint "
                   f"({record.epoch} of {record.epochs} epochs completed)")
        with self._connect() as db:
            db.execute("UPDATE runs SET status = 'interrupted', pid = NULL, finished = ?, message = ?"
                       " WHERE id = ? AND status = ? AND pid IS ? AND heartbeat IS ?",
                       (time.time(), message, record.id, record.status, record.pid, record.heartbeat))
            row = db.execute("SELECT * FROM runs WHERE id = ?", (record.id,)).fetchone()
        return RunRecord(**dict(row)) if row is not None else record

    def update(self, run_id: str, **values: Any) -> None:
        """Set columns of run `run_id`. A new `phase` also sets `phase_since` (when it began): workers write a
        phase only when it changes."""
        if not values:
            return
        if values.get("phase") is not None and "phase_since" not in values:
            values["phase_since"] = time.time()
        columns = ", ".join(f"{name} = ?" for name in values)
        with self._connect() as db:
            db.execute(f"UPDATE runs SET {columns} WHERE id = ?", (*values.values(), run_id))

    def transition(self, run_id: str, from_statuses: tuple[str, ...], **values: Any) -> bool:
        """Update only if the run is in one of `from_statuses` (atomic: two runners never start the same run)."""
        columns = ", ".join(f"{name} = ?" for name in values)
        marks = ",".join("?" * len(from_statuses))
        with self._connect() as db:
            cursor = db.execute(f"UPDATE runs SET {columns} WHERE id = ? AND status IN ({marks})",
                                (*values.values(), run_id, *from_statuses))
            return cursor.rowcount == 1

    def delete(self, run_id: str) -> None:
        record = self.get(run_id)
        if record.status in ACTIVE:
            raise UserError(f"Run '{run_id}' is {record.status}; stop it before deleting it.")
        with self._connect() as db:
            db.execute("DELETE FROM runs WHERE id = ?", (run_id,))
        shutil.rmtree(self.run_dir(record), ignore_errors=True)

    # --- settings (e.g. the teacher's queue limits, core.jobs.limits) -----------------------------------------
    def setting(self, key: str, default: Any = None) -> Any:
        """The JSON value saved under `key`, or `default`."""
        with self._connect() as db:
            row = db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row["value"])

    def save_setting(self, key: str, value: Any) -> None:
        with self._connect() as db:
            db.execute("INSERT INTO settings (key, value) VALUES (?, ?)"
                       " ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, json.dumps(value)))

    # --- files (laid out by core.train.run_folder) ----------------------------------------------------------
    def run_dir_for(self, workspace: str, run_id: str) -> Path:
        return files.run_folder(workspace, run_id)

    def run_dir(self, record: RunRecord) -> Path:
        return files.run_folder(record.workspace, record.id)

    def run_folder(self, run_id: str) -> Path:
        """The folder of run `run_id` (UserError if there is no such run)."""
        return self.run_dir(self.get(run_id))

    def config(self, record: RunRecord) -> dict[str, Any]:
        return files.read_config(self.run_dir(record))

    def append_events(self, record: RunRecord, events: list[dict[str, Any]]) -> None:
        files.append_events(self.run_dir(record), events)

    def keep_events(self, record: RunRecord, keep: Callable[[dict[str, Any]], bool]) -> None:
        """Rewrite metrics.jsonl with only the events `keep` accepts (atomically): a run resumed from its checkpoint
        drops what a killed worker logged after that checkpoint (and a line it left half-written), so its curves
        read like an uninterrupted run's."""
        files.keep_events(self.run_dir(record), keep)

    def events(self, record: RunRecord) -> list[dict[str, Any]]:
        return files.read_events(self.run_dir(record))
