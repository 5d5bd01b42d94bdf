"""The sidebar on every page: active workspace, compute device, and what the workspace holds."""
from __future__ import annotations

import time

import streamlit as st

from core.device import available_devices
from core.errors import UserError
from core.settings import DEFAULT_WORKSPACE, workspace_name_note
from core.jobs.store import ACTIVE
from core.jobs.workspace import workspace_status
from pages.ui.builtins import builtin_preparation, show_preparation
from pages.ui.jobs import activity, run_store
from pages.ui.session import WORKSPACE_KEY, current_workspace, typed_workspace


QUEUE_POLL_S = 3.0
PREPARATION_POLL_S = 1.0
INTERRUPTED_SHOWN_S = 24 * 3600  # runs interrupted within this time are listed under the queue


@st.cache_resource
def _devices() -> list:
    return available_devices()


def render_sidebar() -> None:
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
            devices = _devices()
            st.caption("Compute: " + " · ".join(device.label for device in devices))
            st.caption(f"**{workspace}**: {workspace_status(workspace, run_store()).line()}")
            preparation = builtin_preparation()
            if preparation.error:
                show_preparation(preparation)
            elif not preparation.finished:  # "Preparing built-in datasets: 2 of 4", while it lasts
                st.fragment(run_every=PREPARATION_POLL_S)(_preparation)()
            st.fragment(run_every=QUEUE_POLL_S)(_jobs)()
    if unusable:  # nothing usable in the name: no page runs, rather than acting on some other workspace
        st.error(f"{unusable} Fix the workspace name in the sidebar to go on.")
        st.stop()


def _preparation() -> None:
    # Once the datasets are ready this draws nothing until the next full run drops the poll. It must not force
    # that run itself: st.rerun(scope="app") from this fragment, right after a page's first run, made the Train
    # form lose the recipe it had just been given (every field at its minimum; tests/e2e/test_builtin_preparation.py).
    show_preparation(builtin_preparation())


def _jobs() -> None:
    """Running and queued jobs of every workspace, so a teacher sees the whole queue, and this workspace's runs
    interrupted in the last day (their worker died: the store's liveness rule, applied on every read). Polled
    (one SQLite query), so jobs started in other tabs and their progress show up without a click."""
    listed = run_store().list(statuses=ACTIVE + ("interrupted",))
    active = [r for r in listed if r.status in ACTIVE]
    workspace = current_workspace()
    interrupted = [r for r in listed if r.status == "interrupted" and r.workspace == workspace
                   and time.time() - (r.finished or 0) < INTERRUPTED_SHOWN_S][:3]
    lines = []
    for record in sorted(active, key=lambda r: r.created):
        where = record.device_used or record.device
        doing = activity(record)  # "preparing data", "epoch 4/6", "evaluating the test split", ...
        parts = [record.model, record.workspace, *([doing] if doing != record.status else []), where]
        lines.append(f"- {record.status}: " + " · ".join(parts))
    st.caption("Job queue:\n" + "\n".join(lines) if lines else "Job queue: idle")
    if interrupted:
        st.caption("Interrupted (resume on the Train page):\n" + "\n".join(
            f"- {r.name or r.model} · epoch {r.epoch}/{r.epochs}" for r in interrupted))
