"""What a user can do to runs, the same from a page and from the CLI: submit, stop, resume, delete."""
from __future__ import annotations

import os
import signal
import time
from typing import Any

from core.errors import UserError
from core.jobs.liveness import is_local, pid_alive
from core.jobs.store import ACTIVE, RESUMABLE, RunRecord, RunStore
from core.tasks import check_task, load_config
from core.train.run_folder import write_config

STOP_GRACE_S = float(os.environ.get("MEDLAB_STOP_GRACE_S", "30"))


def create_run(store: RunStore, workspace: str, config_data: dict[str, Any], status: str = "queued") -> RunRecord:
    """Validate a config (and that its dataset can be trained on) and record a new run."""
    config = load_config(config_data)
    monitor = check_task(config, workspace)  # dataset, labels, splits, model, monitor, init_from: nothing loaded
    return store.create(workspace, config.as_dict(), monitor=monitor, status=status)


def request_stop(store: RunStore, run_id: str) -> RunRecord:
    """Ask a run to stop: a queued run stops at once; a running one saves a checkpoint and stops at its next
    step. Whoever runs it (the JobRunner or `stop` on the CLI) forces it after STOP_GRACE_S."""
    record = store.get(run_id)
    if store.transition(run_id, ("queued",), status="stopped", finished=time.time(),
                        message="stopped before it started"):
        return store.get(run_id)
    if not store.transition(run_id, ("running", "stopping"), status="stopping", stop_requested=time.time()):
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


def prepare_resume(store: RunStore, run_id: str, epochs: int | None = None) -> RunRecord:
    """Queue a stopped, interrupted or failed run again (it continues from its checkpoint), or a completed run
    for more epochs (`epochs` is the new total)."""
    record = store.get(run_id)  # a run whose worker died is interrupted by now (see core.jobs.liveness)
    config = store.config(record)
    if record.status in ACTIVE:
        raise UserError(f"Run '{run_id}' is already {record.status}.")
    if epochs is not None:
        if epochs <= record.epoch:
            raise UserError(f"Run '{run_id}' has already trained {record.epoch} epochs; --epochs must be more than that.")
        config["epochs"] = epochs
        write_config(store.run_dir(record), config)
    elif record.status == "completed":
        raise UserError(f"Run '{run_id}' has completed; give a larger number of epochs to continue training it.")
    elif record.status not in RESUMABLE:
        raise UserError(f"Run '{run_id}' is {record.status} and cannot be resumed.")
    store.update(run_id, status="queued", epochs=config["epochs"], stop_requested=0, message=None, finished=None,
                 summary=None if epochs is not None else record.summary, eta_s=None)
    return store.get(run_id)


def delete_run(store: RunStore, run_id: str) -> None:
    store.delete(run_id)
