"""The sidebar on every page: who you are and the workspace shown, compute device, and what the workspace holds.

Personal mode: the workspace field (kept in the URL's `workspace` parameter), as always. Workshop and SSO modes:
the signed-in name and workspace, "Leave" (workshop) and, for admins, a picker over the class workspace and every
participant's; the `workspace` URL parameter means nothing there and is removed.
"""
from __future__ import annotations

import time

import streamlit as st

from core.access.identity import Identity
from core.device import available_devices
from core.errors import UserError
from core.settings import CLASS_WORKSPACE, DEFAULT_WORKSPACE, workspace_name_note
from core.jobs.queue_estimate import QueuePlace, queue_positions
from core.jobs.store import ACTIVE, RunRecord
from core.jobs.workspace import workspace_status
from core.text import counted
from core.train.eta import format_duration
from pages.ui.builtins import builtin_preparation, show_preparation
from pages.ui.identity import (VIEWED_KEY, access, require_identity, sessions, sign_out, viewed_workspace,
                               write_pending_cookie)
from pages.ui.jobs import activity, job_runner, run_store, running_where
from pages.ui.session import WORKSPACE_KEY, current_workspace, markdown_text, typed_workspace


QUEUE_POLL_S = 3.0
PREPARATION_POLL_S = 1.0
INTERRUPTED_SHOWN_S = 24 * 3600  # runs interrupted within this time are listed under the queue


@st.cache_resource
def _devices() -> list:
    return available_devices()


def render_sidebar() -> None:
    if access().mode != "personal":
        _render_signed_in()
        return
    with st.sidebar:
        st.text_input(
            "Workspace", value=DEFAULT_WORKSPACE, key=WORKSPACE_KEY, bind="query-params",
            help="Datasets and runs are kept per workspace. Type a name to switch or create one.",
        )
        try:
            workspace = current_workspace()
        except UserError as error:
            st.error(error.message)
            unusable = error.message
        else:
            unusable = None
            if note := workspace_name_note(typed_workspace(), workspace):
                st.warning(note)  # "Bob Smith" is used as bob-smith, and the user sees it
            _status(workspace)
    if unusable:  # nothing usable in the name: no page runs, rather than acting on some other workspace
        st.error(f"{unusable} Fix the workspace name in the sidebar to go on.")
        st.stop()


def _render_signed_in() -> None:
    """Workshop and SSO modes (the entry point has made sure someone is signed in)."""
    identity = require_identity()
    if WORKSPACE_KEY in st.query_params:  # a personal-mode link: the workspace follows who is signed in
        del st.query_params[WORKSPACE_KEY]
    with st.sidebar:
        role = "teacher" if identity.is_admin else "participant"
        st.markdown(f"Signed in as **{markdown_text(identity.display_name)}** ({role})")
        if identity.is_admin:
            _workspace_picker(identity)
        else:
            st.caption(f"Your workspace: **{identity.workspace}** · the class's datasets are shared with you "
                       "read-only")
        if identity.mode == "workshop":
            with st.popover("Leave", icon=":material/logout:"):
                st.write("This browser forgets you. Your datasets and runs stay on the server for the teacher, but "
                         "joining again gives you a new, empty workspace.")
                st.button("Leave the workshop", key="leave-workshop", on_click=sign_out, type="primary")
        elif identity.mode == "sso":
            from pages.ui.sso import render_sign_out  # st.logout (pages/ui/sso.py)
            render_sign_out()
        write_pending_cookie()
        _status(viewed_workspace(identity))


def _workspace_picker(identity: Identity) -> None:
    """An admin's choice of the workspace the pages show: the class workspace (the teacher's own) or a
    participant's."""
    names = {CLASS_WORKSPACE: "class (yours, shared read-only)"}
    for participant in sessions().participants():
        if participant.role != "admin":
            names.setdefault(participant.workspace, f"{participant.workspace} · {participant.display_name}")
    if st.session_state.get(VIEWED_KEY) not in names:
        st.session_state[VIEWED_KEY] = CLASS_WORKSPACE  # e.g. a participant's workspace no longer listed
    st.selectbox("Workspace", list(names), key=VIEWED_KEY, format_func=names.get,
                 help="The workspace the pages show and act on: the class's, or any participant's.")


def _status(workspace: str) -> None:
    devices = _devices()
    st.caption("Compute: " + " · ".join(device.label for device in devices))
    if cluster := job_runner().executor.summary():  # MEDLAB_EXECUTOR=ray: the cluster's nodes, CPUs and GPUs
        st.caption(cluster)
    st.caption(f"**{workspace}**: {workspace_status(workspace, run_store()).line()}")
    preparation = builtin_preparation()
    if preparation.error:
        show_preparation(preparation)
    elif not preparation.finished:  # "Preparing built-in datasets: 2 of 4", while it lasts
        st.fragment(run_every=PREPARATION_POLL_S)(_preparation)()
    st.fragment(run_every=QUEUE_POLL_S)(_jobs)()


def _preparation() -> None:
    # Once the datasets are ready this draws nothing until the next full run drops the poll. It must not force
    # that run itself: st.rerun(scope="app") from this fragment, right after a page's first run, made the Train
    # form lose the recipe it had just been given (every field at its minimum; tests/e2e/test_builtin_preparation.py).
    show_preparation(builtin_preparation())


def _jobs() -> None:
    """Running and queued jobs of every workspace, so a teacher sees the whole queue, and this workspace's runs
    interrupted in the last day (their worker died: the store's liveness rule, applied on every read), queued runs in
    the order they will start. Polled
    (one SQLite query), so jobs started in other tabs and their progress show up without a click. A workshop
    participant sees only their own runs, and the others' as counts (_participant_queue)."""
    identity = require_identity()
    listed = run_store().list(statuses=ACTIVE + ("interrupted",))
    workspace = current_workspace()
    interrupted = [r for r in listed if r.status == "interrupted" and r.workspace == workspace
                   and time.time() - (r.finished or 0) < INTERRUPTED_SHOWN_S][:3]
    if identity.sees_everything:
        active = [r for r in listed if r.status in ACTIVE]
        runner = job_runner()
        places = queue_positions(runner.store, runner.gpus, runner.slots, estimate=False)
        # running runs first, then the queue in the order the runner will start it (core.jobs.fair_queue)
        in_order = sorted(active, key=lambda r: (r.id in places, places[r.id].position if r.id in places else 0,
                                                  r.created))
        lines = []
        for record in in_order:
            where = running_where(record)
            doing = activity(record)  # "preparing data", "epoch 4/6", "evaluating the test split", ...
            parts = [record.model, record.workspace, *([doing] if doing != record.status else []), where]
            lines.append(f"- {record.status}: " + " · ".join(parts))
        st.caption("Job queue:\n" + "\n".join(lines) if lines else "Job queue: idle")
    else:
        runner = job_runner()  # the whole queue (its plain store), to place and count; only counts are shown
        st.caption(participant_queue(identity, runner.store.list(statuses=ACTIVE),
                                     queue_positions(runner.store, runner.gpus, runner.slots)))
    if interrupted:
        st.caption("Interrupted (resume on the Train page):\n" + "\n".join(
            f"- {r.name or r.model} · epoch {r.epoch}/{r.epochs}" for r in interrupted))


def participant_queue(identity: Identity, active: list[RunRecord], places: dict[str, QueuePlace]) -> str:
    """The job queue as a participant sees it: their own runs (what each is doing; a queued one's place in its
    device's queue, in the fair launch order of core.jobs.fair_queue, how many of the others' runs start before it,
    and when it should start) and the other participants' runs only as counts, never their names, models or
    workspaces. `active`: every active run; `places`: core.jobs.queue_estimate.queue_positions over every run."""
    mine = identity.workspace
    running = [r for r in active if r.status != "queued"]
    queued = [r for r in active if r.status == "queued" and r.id in places]
    lines = [f"- {r.status}: {r.name or r.model} · {activity(r)} · {running_where(r)}"
             for r in running if r.workspace == mine]
    for record in sorted((r for r in queued if r.workspace == mine), key=lambda r: places[r.id].position):
        place = places[record.id]
        others = sum(1 for r in queued if r.workspace != mine and places[r.id].group == place.group
                     and places[r.id].position < place.position)
        line = f"- queued: {record.name or record.model} · position {place.position} of {place.of}"
        if others:
            line += f" · {counted(others, 'run')} of other participants ahead"
        if place.waiting_for_memory:
            line += f" · {place.waiting_for_memory}"
        elif place.seconds is not None:
            soon = place.seconds < 5
            line += " · starts " + ("in a moment" if soon else f"in about {format_duration(place.seconds)}")
        lines.append(line)
    others_running = sum(1 for r in running if r.workspace != mine)
    others_queued = sum(1 for r in queued if r.workspace != mine)
    if others_running or others_queued:
        lines.append(f"- other participants: {others_running} running, {others_queued} queued")
    return "Job queue:\n" + "\n".join(lines) if lines else "Job queue: idle"
