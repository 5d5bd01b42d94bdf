"""What a user can do to runs, the same from a page and from the CLI: submit, stop, resume, delete; and what the
teacher's view does to them: reorder the queue (priority) and change a run's minutes cap."""
from __future__ import annotations

import os
import signal
import time
from typing import Any

from core.errors import UserError
from core.jobs.limits import QueueLimits, admit, capped_config, check_queue_limit
from core.jobs.liveness import is_local, pid_alive
from core.jobs.store import ACTIVE, RESUMABLE, RunRecord, RunStore
from core.tasks import check_task, load_config
from core.train.run_folder import write_config

STOP_GRACE_S = float(os.environ.get("MEDLAB_STOP_GRACE_S", "30"))


def create_run(store: RunStore, workspace: str, config_data: dict[str, Any], status: str = "queued",
               limits: QueueLimits | None = None) -> RunRecord:
    """Validate a config (and that its dataset can be trained on) and record a new run.

    `limits` (a workshop participant's, core.jobs.limits; None for personal mode, admins and the CLI): refused
    with UserError when the workspace already has its most runs queued or running; epochs are capped
    (capped_config) and the run gets the minutes cap (max_minutes).
    """
    config = load_config(config_data)
    if limits is not None:
        check_queue_limit(store, workspace, limits)
        config = load_config(capped_config(config.as_dict(), limits)[0])
    monitor = check_task(config, workspace)  # dataset, labels, splits, model, monitor, init_from: nothing loaded
    return store.create(workspace, config.as_dict(), monitor=monitor, status=status,
                        max_minutes=limits.max_run_minutes if limits is not None else 0.0,
                        admit=admit(limits) if limits is not None else None)


STOP_REQUESTED_BY = "stop requested by "  # a stopping run's message when someone other than its owner asked


def request_stop(store: RunStore, run_id: str, by: str | None = None) -> RunRecord:
    """Ask a run to stop: a queued run stops at once; a running one saves a checkpoint and stops at its next
    step. Whoever runs it (the JobRunner or `stop` on the CLI) forces it after STOP_GRACE_S. `by`: who asked,
    when it is not the run's owner ("the teacher"), so the run's message says "stopped by the teacher"."""
    record = store.get(run_id)
    if store.transition(run_id, ("queued",), status="stopped", finished=time.time(),
                        message=f"stopped by {by} before it started" if by else "stopped before it started"):
        return store.get(run_id)
    asked = {"message": f"{STOP_REQUESTED_BY}{by}"} if by else {}
    if not store.transition(run_id, ("running", "stopping"), status="stopping", stop_requested=time.time(), **asked):
        raise UserError(f"Run '{run_id}' is {record.status}, so there is nothing to stop.")
    return store.get(run_id)


def force_stop(store: RunStore, record: RunRecord) -> None:
    """Kill a run that ignored its stop request; its last checkpoint stays usable. Only a worker on this host
    whose pid still belongs to it is killed; a worker elsewhere sees the run stopped at its next step and quits."""
    if record.pid and is_local(record) and pid_alive(record.pid, record.pid_start):
        os.kill(record.pid, signal.SIGKILL)
    store.transition(record.id, ACTIVE, status="stopped", finished=time.time(), pid=None,
                     message=f"stopped by force after {STOP_GRACE_S:.0f} s; resume continues from the last "
                             "completed epoch")


def prepare_resume(store: RunStore, run_id: str, epochs: int | None = None, limits: QueueLimits | None = None
                   ) -> RunRecord:
    """Queue a stopped, interrupted or failed run again (it continues from its checkpoint), or a completed run
    for more epochs (`epochs` is the new total). `limits` (a participant's): the queued-runs limit applies, and
    no run trains past max_epochs."""
    # changeable, not get: this writes the run's config.json itself, so a run the caller may only look at (a
    # class run seen from a participant's scoped store) is refused before anything is written
    record = store.changeable(run_id)  # a run whose worker died is interrupted by now (see core.jobs.liveness)
    config = store.config(record)
    if record.status in ACTIVE:
        raise UserError(f"Run '{run_id}' is already {record.status}.")
    if limits is not None:
        check_queue_limit(store, record.workspace, limits)
        if epochs is not None and limits.max_epochs and epochs > limits.max_epochs:
            raise UserError(f"This workshop allows at most {limits.max_epochs:g} epochs per run, so this run cannot "
                            f"train to epoch {epochs}.")
    if epochs is not None:
        if epochs <= record.epoch:
            raise UserError(f"Run '{run_id}' has already trained {record.epoch} epochs; --epochs must be more than that.")
        config["epochs"] = epochs
        write_config(store.run_dir(record), config)
    elif record.status == "completed":
        raise UserError(f"Run '{run_id}' has completed; give a larger number of epochs to continue training it.")
    elif record.status not in RESUMABLE:
        raise UserError(f"Run '{run_id}' is {record.status} and cannot be resumed.")
    # the time trained so far is kept; the time until a worker takes the run again is not training time
    store.update(run_id, status="queued", epochs=config["epochs"], stop_requested=0, message=None, finished=None,
                 summary=None if epochs is not None else record.summary, eta_s=None,
                 earlier_s=record.duration_s or 0.0, stretch_started=None)
    return store.get(run_id)


def delete_run(store: RunStore, run_id: str) -> None:
    store.delete(run_id)


# --- the teacher's view ---------------------------------------------------------------------------------------
def set_priority(store: RunStore, run_id: str, priority: float) -> RunRecord:
    """Set a run's place in the queue: a higher priority starts before every lower one, whatever its round
    (core.jobs.fair_queue); 0 is everyone's default."""
    store.get(run_id)  # UserError for a run that does not exist (or that this store may not see)
    store.update(run_id, priority=float(priority))
    return store.get(run_id)


def move_to_front(store: RunStore, run_id: str) -> RunRecord:
    """Make a queued run the next to start (on its device): its priority above every other queued run's."""
    record = store.get(run_id)
    if record.status != "queued":
        raise UserError(f"Run '{run_id}' is {record.status}, not queued, so it has no place in the queue to change.")
    others = [r.priority for r in store.list(statuses=("queued",)) if r.id != run_id]
    return set_priority(store, run_id, max([0.0, *others]) + 1)


def move_to_back(store: RunStore, run_id: str) -> RunRecord:
    """Make a queued run start after every other queued run: its priority below every other queued run's."""
    record = store.get(run_id)
    if record.status != "queued":
        raise UserError(f"Run '{run_id}' is {record.status}, not queued, so it has no place in the queue to change.")
    others = [r.priority for r in store.list(statuses=("queued",)) if r.id != run_id]
    return set_priority(store, run_id, min([0.0, *others]) - 1)


def set_run_cap(store: RunStore, run_id: str, max_minutes: float) -> RunRecord:
    """Change a run's training-minutes cap (0: none). A running run sees it within a second (its worker polls
    the store at its steps) and ends training there if it has trained longer, then is evaluated."""
    if isinstance(max_minutes, bool) or not isinstance(max_minutes, (int, float)) or max_minutes < 0:
        raise UserError(f"A run's minutes cap must be a number of at least 0 (0: no cap), not {max_minutes!r}.")
    store.get(run_id)
    store.update(run_id, max_minutes=float(max_minutes))
    return store.get(run_id)
