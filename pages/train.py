"""Train page: configure a run, start it in the background queue, watch it live, compare runs.

What is happening is shown without being asked: on opening the page (a reload, a second tab) the workspace's
running run, else its queued one, else its latest, is shown live below the runs table, and the "New run" form
stays folded away once the workspace has runs. A link /train?run=<id> opens that run, when it is yours to read.
"""
from __future__ import annotations

import streamlit as st

from core.data.builtin import CINE_ID, DEFAULT_DATASET_ID, TILES_ID
from core.data.catalog import list_datasets
from pages.ui.entry import through_entry_point
from pages.ui.jobs import run_store
from pages.ui.run_view import render_comparison, render_run
from pages.ui.runs_table import PICKED_KEY, SHOWN_KEY, render_runs_table, shown_run
from pages.ui.session import (current_workspace, dataset_chosen_elsewhere, dataset_picker, datasets_for, linked_run,
                               readable_run, shared_workspace)
from pages.ui.classify_form import render_classify_form
from pages.ui.distill_form import render_distill_form
from pages.ui.restore_form import render_restore_form
from pages.ui.generative_form import render_generative_form
from pages.ui.sequence_form import render_sequence_form

LINKED_KEY = "train-linked"  # the run a ?run= link opened

through_entry_point()
st.title("Train")
workspace = current_workspace()
infos = {info.id: info for info in list_datasets(workspace, shared=shared_workspace())}
records = run_store().list(workspace)
if linked := linked_run("train"):  # a shared link (refused with a sentence when the run is not yours to read)
    st.session_state[SHOWN_KEY] = st.session_state[LINKED_KEY] = linked

TASKS = {"classification": "Classification", "distillation": "Distillation", "sequence": "Sequence",
         "denoise": "Denoising", "super_resolution": "Super-resolution", "gan": "GAN", "vae": "VAE / autoencoder",
         "diffusion": "Diffusion"}
RESTORATION = ("denoise", "super_resolution")
DEFAULT_DATASETS = {"classification": DEFAULT_DATASET_ID, "restoration": TILES_ID, "sequence": CINE_ID}  # by purpose
elsewhere = infos.get(dataset_chosen_elsewhere() or "")
if elsewhere is not None and elsewhere.is_sequence != (st.session_state.get("train-page-task") == "sequence"):
    st.session_state["train-page-task"] = "sequence" if elsewhere.is_sequence else "classification"  # its task
with st.expander("New run", expanded=not records):
    task = st.radio("Task", list(TASKS), format_func=TASKS.get, horizontal=True, key="train-page-task")
    restoring = task in RESTORATION  # restoration keeps its own dataset choice (clean tiles); generative models
    # learn from the labelled datasets a classifier does, so they share its choice; sequence models have their own
    # (only sequence datasets, which no image task lists)
    purpose = "sequence" if task == "sequence" else "restoration" if restoring else "classification"
    pool = datasets_for(infos, sequences=task == "sequence")
    info = pool[dataset_picker(pool, DEFAULT_DATASETS[purpose], purpose=purpose)] if pool else None
    if info is None:
        st.info("No sequence datasets in this workspace: import clips (cine DICOM, videos, frame folders) on the "
                "Dataset page, choosing **Sequences**.")
        started = None
    elif task == "classification":
        started = render_classify_form(workspace, info)
    elif task == "distillation":
        started = render_distill_form(workspace, info)
    elif task == "sequence":
        started = render_sequence_form(workspace, info)
    elif restoring:
        started = render_restore_form(workspace, info, task)
    else:
        started = render_generative_form(workspace, info, task)
    if started:
        st.session_state[SHOWN_KEY] = started
        st.rerun()

st.subheader("Runs")
shown = shown_run(records)  # what this session picked, else what is happening now (not remembered: it follows)
if (outside := st.session_state.get(LINKED_KEY)) and st.session_state.get(SHOWN_KEY) == outside \
        and outside not in {r.id for r in records} and readable_run(outside):
    shown = outside  # a linked run of a workspace the table does not list (the class's, or any for an admin)
render_runs_table(workspace, records, shown)
picked = [run_id for run_id in st.session_state.get(PICKED_KEY, []) if run_id in {r.id for r in records}]
if len(picked) > 1:
    render_comparison(picked)
if shown:
    render_run(shown)
