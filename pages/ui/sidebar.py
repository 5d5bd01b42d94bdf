"""The sidebar on every page: active workspace, compute device, and what the workspace holds."""
from __future__ import annotations

import streamlit as st

from core.device import available_devices
from core.errors import UserError
from core.settings import DEFAULT_WORKSPACE, check_workspace_name
from core.jobs.store import ACTIVE
from core.workspace import workspace_status
from pages.ui.jobs import run_store
from pages.ui.session import WORKSPACE_KEY, current_workspace


QUEUE_POLL_S = 3.0


@st.cache_resource
def _devices() -> list:
    return available_devices()


def render_sidebar() -> None:
    with st.sidebar:
        name = st.text_input(
            "Workspace", value=DEFAULT_WORKSPACE, key=WORKSPACE_KEY, bind="query-params",
            help="Datasets and runs are kept per workspace. Type a name to switch or create one.",
        )
        try:
            check_workspace_name(name)
        except UserError as error:
            st.error(error.message)
        workspace = current_workspace()
        devices = _devices()
        st.caption("Compute: " + " · ".join(device.label for device in devices))
        st.caption(f"**{workspace}**: {workspace_status(workspace, run_store()).line()}")
        st.fragment(run_every=QUEUE_POLL_S)(_jobs)()


def _jobs() -> None:
    """Running and queued jobs of every workspace, so a teacher sees the whole queue. Polled (one SQLite query),
    so jobs started in other tabs and their progress show up without a click."""
    active = run_store().list(statuses=ACTIVE)
    if not active:
        st.caption("Job queue: idle")
        return
    lines = []
    for record in sorted(active, key=lambda r: r.created):
        where = record.device_used or record.device
        progress = f"epoch {record.epoch + 1}/{record.epochs}" if record.status != "queued" else "queued"
        lines.append(f"- {record.status}: {record.model} · {record.workspace} · {progress} · {where}")
    st.caption("Job queue:\n" + "\n".join(lines))
