"""The run store as one identity sees it: every page reads and acts on runs through this, so isolation is
structural instead of a check each page must remember.

`ScopedRunStore(identity)` is a RunStore whose reads see only the workspaces `identity.can_read`, and whose writes
(create, update, transition, delete, and so the control functions stop/resume/delete built on them) touch only
the workspaces `identity.can_act`. A run id of another workspace gets exactly the sentence a missing id gets
("There is no run 'X' in your workspace."), so ids cannot be probed; a class-workspace run a participant may
read but not change gets "Run 'X' belongs to the class workspace: you can look at it but not change it."
Only the teacher (or personal mode) changes a run's queue priority or the server's settings. Code that writes a
run's files itself asks `changeable(run_id)` first. The job runner and workers use the plain RunStore.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.access.identity import Identity
from core.errors import UserError
from core.jobs.store import RunRecord, RunStore


def missing_run(run_id: str) -> UserError:
    """The one sentence for a run id this identity may not see, whether or not it exists elsewhere."""
    return UserError(f"There is no run '{run_id}' in your workspace.")


def read_only_run(run_id: str) -> UserError:
    return UserError(f"Run '{run_id}' belongs to the class workspace: you can look at it but not change it.")


class ScopedRunStore(RunStore):
    """A RunStore limited to what `identity` may read and change. Personal mode and admins see everything: for
    them every method is RunStore's own, unchanged."""

    def __init__(self, identity: Identity, base: RunStore) -> None:
        # `base` has opened (and if needed created or migrated) the database; a scoped view is made per page run,
        # so it only shares the paths instead of opening the schema again.
        self.home, self.db_path, self.identity = base.home, base.db_path, identity
        self.base = base
        self.restricted = not identity.sees_everything
        self.readable = tuple(dict.fromkeys(w for w in (identity.workspace, identity.class_workspace) if w))

    # --- reads ------------------------------------------------------------------------------------------------
    def get(self, run_id: str) -> RunRecord:
        if not self.restricted:
            return super().get(run_id)
        marks = ",".join("?" * len(self.readable))
        with self._connect() as db:
            row = db.execute(f"SELECT * FROM runs WHERE id = ? AND workspace IN ({marks})",
                             (run_id, *self.readable)).fetchone()
        if row is None:
            raise missing_run(run_id)
        return self._checked(RunRecord(**dict(row)))

    def list(self, workspace: str | None = None, statuses: tuple[str, ...] | None = None) -> list[RunRecord]:
        """The runs of `workspace` (None: of every workspace this identity may read), newest first."""
        if not self.restricted:
            return super().list(workspace, statuses)
        if workspace is not None:
            return super().list(workspace, statuses) if workspace in self.readable else []
        return super().list(None, statuses, workspaces=tuple(self.readable))

    def launched_since(self, since: float) -> list[RunRecord]:
        # the fair queue's history; queue positions are computed on the job runner's plain store
        return [r for r in super().launched_since(since) if self.identity.can_read(r.workspace)]

    def reconcile_dead_runs(self) -> list[RunRecord]:
        return [r for r in super().reconcile_dead_runs() if self.identity.can_read(r.workspace)]

    def run_dir(self, record: RunRecord) -> Path:
        if self.restricted and not self.identity.can_read(record.workspace):
            raise missing_run(record.id)
        return super().run_dir(record)

    # --- writes -----------------------------------------------------------------------------------------------
    def changeable(self, run_id: str) -> RunRecord:
        """The run, if this identity may change it; UserError otherwise (the missing-run sentence for a run it may
        not see, the class-workspace sentence for one it may only look at). Code that writes a run's files itself
        (e.g. a new config.json before queuing it again) asks this first."""
        record = self.get(run_id)
        if self.restricted and not self.identity.can_act(record.workspace):
            raise read_only_run(run_id)
        return record

    def _changeable(self, run_id: str) -> None:
        if self.restricted:
            self.changeable(run_id)

    def _check_record(self, record: RunRecord) -> None:
        if self.restricted and not self.identity.can_act(record.workspace):
            raise missing_run(record.id) if not self.identity.can_read(record.workspace) else read_only_run(record.id)

    def create(self, workspace: str, config: dict[str, Any], monitor: str | None, status: str = "queued",
               **values: Any) -> RunRecord:
        if self.restricted and not self.identity.can_act(workspace):
            raise UserError(f"You can start runs only in your own workspace, '{self.identity.workspace}'.")
        return super().create(workspace, config, monitor, status, **values)

    def update(self, run_id: str, **values: Any) -> None:
        self._changeable(run_id)
        self._teachers_columns(values)
        super().update(run_id, **values)

    def transition(self, run_id: str, from_statuses: tuple[str, ...], **values: Any) -> bool:
        self._changeable(run_id)
        self._teachers_columns(values)
        return super().transition(run_id, from_statuses, **values)

    def _teachers_columns(self, values: dict[str, Any]) -> None:
        """The queue priority and a run's minutes cap are the teacher's (core.jobs.control.set_priority,
        set_run_cap); a participant's own run keeps what the teacher gave it."""
        if self.restricted and "priority" in values:
            raise UserError("Only the teacher can change the order of the queue.")
        if self.restricted and "max_minutes" in values:
            raise UserError("Only the teacher can change a run's minutes cap.")

    def delete(self, run_id: str) -> None:
        self._changeable(run_id)
        super().delete(run_id)

    def append_events(self, record: RunRecord, events: list[dict[str, Any]]) -> None:
        self._check_record(record)
        super().append_events(record, events)

    def keep_events(self, record: RunRecord, keep: Callable[[dict[str, Any]], bool]) -> None:
        self._check_record(record)
        super().keep_events(record, keep)

    def save_setting(self, key: str, value: Any) -> None:
        if self.restricted:
            raise UserError("Only the teacher can change the workshop's settings.")
        super().save_setting(key, value)
