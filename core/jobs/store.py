"""The run store: the single truth about training runs, shared by the UI, the job runner, workers and the CLI.

    MEDLAB_HOME/runs.sqlite                 index of all runs (SQLite in WAL mode: many readers, one writer)
    workspaces/<ws>/runs/<run id>/
        config.json                         the validated config (plus the augmentation used)
        metrics.jsonl                       one JSON event per line: step losses, epoch metrics
        checkpoint.pt                       resumable state (weights_only loadable)
        best.safetensors, last.safetensors  published weights
        model.json                          what is needed to rebuild the network for prediction
        summary.json                        final metrics, including the test split
        worker.log                          the worker process's output

A browser refresh, a second viewer or a server restart all read the same rows and files.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from core.errors import UserError
from core.settings import medlab_home, workspace_dir

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
    stop_requested REAL NOT NULL DEFAULT 0  -- when a stop was asked for (0: never)
);
CREATE INDEX IF NOT EXISTS runs_by_workspace ON runs (workspace, created);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs (status);
"""


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

    @property
    def summary_dict(self) -> dict[str, Any]:
        return json.loads(self.summary) if self.summary else {}

    @property
    def duration_s(self) -> float | None:
        if self.started is None:
            return None
        return (self.finished or time.time()) - self.started

    def public_dict(self) -> dict[str, Any]:
        """The JSON shape of a run for `python -m core runs --json`."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("summary", "stop_requested")}
        data["summary"] = self.summary_dict
        data["duration_s"] = self.duration_s
        return data


class RunStore:
    def __init__(self, home: Path | None = None) -> None:
        self.home = home or medlab_home()
        self.db_path = self.home / "runs.sqlite"
        with self._connect() as db:
            db.executescript(SCHEMA)

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
    def create(self, workspace: str, config: dict[str, Any], monitor: str | None, status: str = "queued") -> RunRecord:
        run_id = f"run-{time.strftime('%y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
        folder = self.run_dir_for(workspace, run_id)
        folder.mkdir(parents=True)
        write_json(folder / "config.json", config)
        with self._connect() as db:
            db.execute(
                "INSERT INTO runs (id, workspace, name, task, dataset, model, status, device, created, epochs, monitor)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, workspace, config.get("name", ""), config["task"], config["dataset"], config["model"],
                 status, config.get("device", "auto"), time.time(), config["epochs"], monitor),
            )
        return self.get(run_id)

    def get(self, run_id: str) -> RunRecord:
        with self._connect() as db:
            row = db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise UserError(f"There is no run '{run_id}'; `python -m core runs` lists them.")
        return RunRecord(**dict(row))

    def list(self, workspace: str | None = None, statuses: tuple[str, ...] | None = None) -> list[RunRecord]:
        query, args = "SELECT * FROM runs WHERE 1=1", []
        if workspace is not None:
            query += " AND workspace = ?"
            args.append(workspace)
        if statuses:
            query += f" AND status IN ({','.join('?' * len(statuses))})"
            args += list(statuses)
        with self._connect() as db:
            rows = db.execute(query + " ORDER BY created DESC", args).fetchall()
        return [RunRecord(**dict(row)) for row in rows]

    def update(self, run_id: str, **values: Any) -> None:
        if not values:
            return
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

    # --- files ----------------------------------------------------------------------------------------------
    def run_dir_for(self, workspace: str, run_id: str) -> Path:
        return workspace_dir(workspace) / "runs" / run_id

    def run_dir(self, record: RunRecord) -> Path:
        return self.run_dir_for(record.workspace, record.id)

    def config(self, record: RunRecord) -> dict[str, Any]:
        return json.loads((self.run_dir(record) / "config.json").read_text())

    def append_events(self, record: RunRecord, events: list[dict[str, Any]]) -> None:
        with (self.run_dir(record) / "metrics.jsonl").open("a") as handle:
            handle.write("".join(json.dumps(event) + "\n" for event in events))

    def events(self, record: RunRecord) -> list[dict[str, Any]]:
        path = self.run_dir(record) / "metrics.jsonl"
        if not path.exists():
            return []
        events = []
        for line in path.read_text().splitlines():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:  # a line being written right now
                pass
        return events


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str))
    os.replace(tmp, path)
