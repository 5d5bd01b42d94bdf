"""Train page: configure a run, start it in the background queue, watch it live, compare runs."""
from __future__ import annotations

import streamlit as st

from core.data.builtin import DEFAULT_DATASET_ID, TILES_ID
from core.data.catalog import list_datasets
from pages.ui.entry import through_entry_point
from pages.ui.run_view import render_comparison, render_run, render_runs_table
from pages.ui.session import current_workspace, dataset_picker
from pages.ui.classify_form import render_classify_form
from pages.ui.restore_form import render_restore_form

through_entry_point()
st.title("Train")
workspace = current_workspace()
infos = {info.id: info for info in list_datasets(workspace)}

TASKS = {"classification": "Classification", "denoise": "Denoising", "super_resolution": "Super-resolution"}
with st.expander("New run", expanded="run_id" not in st.session_state):
    task = st.radio("Task", list(TASKS), format_func=TASKS.get, horizontal=True, key="train-page-task")
    info = infos[dataset_picker(infos, DEFAULT_DATASET_ID if task == "classification" else TILES_ID)]
    started = render_classify_form(workspace, info) if task == "classification" else \
        render_restore_form(workspace, info, task)
    if started:
        st.session_state["run_id"] = started
        st.rerun()

st.subheader("Runs")
selected = render_runs_table(workspace)
if selected:
    st.session_state["run_id"] = selected[0]
if len(selected) > 1:
    render_comparison(selected)
if "run_id" in st.session_state:
    render_run(st.session_state["run_id"])
