"""The teacher's view: the workshop's limits (queued runs per participant, epochs and training minutes per run),
starting from [workshop] in .streamlit/secrets.toml and changeable while the workshop runs (core.jobs.limits keeps
the change in the run store, so every server process and a restart see it)."""
from __future__ import annotations

import streamlit as st

from core.jobs.limits import QueueLimits, effective_limits, save_limits
from pages.ui.identity import access
from pages.ui.session import user_errors
from pages.ui.teacher_common import admin_store


def render_limits() -> None:
    st.subheader("Workshop limits")
    store = admin_store()
    current = effective_limits(store, access().limits)
    with st.form("teacher-limits", border=True):
        queued, epochs, minutes = st.columns(3)
        max_queued = queued.number_input(
            "Runs per participant", min_value=0, max_value=100, step=1, value=int(current.max_queued_runs),
            help="Runs a participant may have queued or running at once (0: no limit).")
        max_epochs = epochs.number_input(
            "Epochs per run", min_value=0, max_value=10_000, step=1, value=int(current.max_epochs),
            help="A longer recipe is shortened to this, and the Train form says so before Start (0: no cap).")
        max_minutes = minutes.number_input(
            "Training minutes per run", min_value=0.0, max_value=24 * 60.0, step=5.0,
            value=float(current.max_run_minutes), format="%g",
            help="Training ends there and the run is evaluated (0: no cap).")
        st.caption("Changes apply to runs submitted from now on; runs already queued or running keep their cap, "
                   "which you can change per run in the queue above. You are not limited yourself.")
        saved = st.form_submit_button("Save limits", icon=":material/save:")
    if saved:
        with user_errors():
            limits = QueueLimits(int(max_queued), int(max_epochs), float(max_minutes))
            save_limits(store, limits)
            st.success(f"Saved: {summary(limits)}.", icon=":material/check:")


def summary(limits: QueueLimits) -> str:
    """The limits in words: "2 runs per participant, 20 epochs and 15 minutes per run"."""
    runs = (f"{limits.max_queued_runs} run{'s' if limits.max_queued_runs != 1 else ''} per participant"
            if limits.max_queued_runs else "no limit on runs per participant")
    epochs = f"{limits.max_epochs} epochs" if limits.max_epochs else "any number of epochs"
    minutes = f"{limits.max_run_minutes:g} minutes" if limits.max_run_minutes else "no time cap"
    return f"{runs}, {epochs} and {minutes} per run"
