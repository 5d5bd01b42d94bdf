"""The server's one job runner (started on first use, shared by every session) and its run store."""
from __future__ import annotations

import streamlit as st

from core.jobs.liveness import HOST
from core.jobs.limits import QueueLimits, capped_config, effective_limits
from core.jobs.runner import JobRunner
from core.access.scoped_store import ScopedRunStore
from core.jobs.store import RunRecord, RunStore
from core.settings import medlab_home


@st.cache_resource(show_spinner="Starting the job queue (a Ray instance takes a few seconds)…")
def _runner_for(home: str) -> JobRunner:
    return JobRunner(RunStore()).start()


def job_runner() -> JobRunner:
    """Keyed by MEDLAB_HOME, so one server process never mixes two homes (tests use a fresh one each). The app
    calls this on every run, so the server's other background duty starts here too: releasing the memory of
    sessions that ended (pages.ui.session_release)."""
    from pages.ui.session_release import release_ended_sessions
    release_ended_sessions()
    return _runner_for(str(medlab_home()))


def run_store() -> RunStore:
    """The run store as this session's identity sees it (core.access.scoped_store): pages never see or change
    another participant's runs. The job runner keeps the plain store (`job_runner().store`)."""
    from pages.ui.identity import require_identity
    return ScopedRunStore(require_identity(), job_runner().store)


def session_limits() -> QueueLimits | None:
    """The queue limits this session's runs get (core.jobs.limits): a participant's (workshop or SSO), the
    configured [workshop] values with the teacher's saved changes over them; None in personal mode and for
    admins (no limits). Pass it to core.jobs.control.create_run(limits=...)."""
    from pages.ui.identity import access, require_identity
    if require_identity().role != "participant":
        return None
    return effective_limits(job_runner().store, access().limits)


def cap_notes(config: dict) -> list[str]:
    """The sentences a form shows before Start about how this session's limits change `config` (capped_config),
    e.g. "This workshop allows at most 10 epochs per run, so this run trains 10, not 30."; none without limits."""
    limits = session_limits()
    return capped_config(config, limits)[1] if limits is not None else []


BEFORE_TRAINING = ("starting the worker", "preparing data", "loading the data and building the model", "resuming from the checkpoint")


def activity(record: RunRecord) -> str:
    """What an active run is doing, in a few words ("preparing data", "epoch 4/6", "evaluating the test split"),
    for the sidebar, the runs table and the live panel; never an epoch past the last."""
    if record.status == "queued":
        return "queued"
    if record.status == "stopping":
        return "stopping"
    phase = record.phase or "starting"
    if phase == "training":
        return f"epoch {min(record.epoch + 1, record.epochs)}/{record.epochs}"
    if phase == "evaluating the validation split":
        return f"epoch {min(record.epoch + 1, record.epochs)}/{record.epochs}, evaluating the validation split"
    return phase


def running_where(record: RunRecord) -> str:
    """The device a run uses, and the node when its worker runs on another machine (a Ray cluster): "cuda:0 on
    gpu-node-2"."""
    device = record.device_used or record.device
    return f"{device} on {record.host}" if record.host and record.host != HOST else device
