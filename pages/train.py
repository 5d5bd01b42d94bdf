"""Train page: configure a run, start it in the background queue, watch it live, compare runs.

What is happening is shown without being asked: on opening the page (a reload, a second tab) the workspace's
running run, else its queued one, else its latest, is shown live below the runs table, and the "New run" form
stays folded away once the workspace has runs.
"""
from __future__ import annotations

import streamlit as st

from core.data.builtin import DEFAULT_DATASET_ID, TILES_ID
from core.data.catalog import list_datasets
from pages.ui.entry import through_entry_point
from pages.ui.jobs import run_store
from pages.ui.run_view import render_comparison, render_run
from pages.ui.runs_table import PICKED_KEY, SHOWN_KEY, render_runs_table, shown_run
from pages.ui.session import current_workspace, dataset_picker
from pages.ui.classify_form import render_classify_form
from pages.ui.restore_form import render_restore_form
from pages.ui.generative_form import render_generative_form

through_entry_point()
st.title("Train")
workspace = current_workspace()
infos = {info.id: info for info in list_datasets(workspace)}
records = run_store().list(workspace)

TASKS = {"classification": "Classification", "denoise": "Denoising", "super_resolution": "Super-resolution",
         "gan": "GAN", "vae": "VAE / autoencoder", "diffusion": "Diffusion"}
RESTORATION = ("denoise", "super_resolution")
with st.expander("New run", expanded=not records):
    task = st.radio("Task", list(TASKS), format_func=TASKS.get, horizontal=True, key="train-page-task")
    restoring = task in RESTORATION  # restoration keeps its own dataset choice (clean tiles); generative models
    # learn from the labelled datasets a classifier does, so they share its choice
    info = infos[dataset_picker(infos, TILES_ID if restoring else DEFAULT_DATASET_ID,
                                purpose="restoration" if restoring else "classification")]
    if task == "classification":
        started = render_classify_form(workspace, info)
    elif restoring:
        started = render_restore_form(workspace, info, task)
    else:
        started = render_generative_form(workspace, info, task)
    if started:
        st.session_state[SHOWN_KEY] = started
        st.rerun()

st.subheader("Runs")
shown = shown_run(records)  # what this session picked, else what is happening now (not remembered: it follows)
render_runs_table(workspace, records, shown)
picked = [run_id for run_id in st.session_state.get(PICKED_KEY, []) if run_id in {r.id for r in records}]
if len(picked) > 1:
    render_comparison(picked)
if shown:
    render_run(shown)
