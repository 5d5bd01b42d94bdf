"""The Synthesize page's choice of a generative run, and its trained model loaded once per weights version."""
from __future__ import annotations

from typing import Any

import streamlit as st

from core.jobs.store import RunRecord
from core.tasks.generative import GENERATIVE_TASKS
from core.train.run_folder import BEST_WEIGHTS, weights_version
from pages.ui.jobs import run_store

RUN_KEY = "synth-run"
TASK_TEXT = {"gan": "GAN", "vae": "VAE", "autoencoder": "autoencoder", "diffusion": "diffusion"}
TRAIN_TASK_KEY = "train-page-task"  # the Train page's task radio


def generative_runs(workspace: str) -> list[RunRecord]:
    """The workspace's generative runs that can sample: finished, or with best weights from an epoch, newest first."""
    store = run_store()
    runs = [r for r in store.list(workspace) if r.task in GENERATIVE_TASKS
            and (r.status == "completed" or (store.run_dir(r) / BEST_WEIGHTS).exists())]
    return sorted(runs, key=lambda r: r.created, reverse=True)


def pick_run(workspace: str) -> RunRecord | None:
    """A selectbox of the generative runs (the one the session last looked at first), or, when there is none,
    how to get one, with a button to the Train page set to GAN."""
    runs = generative_runs(workspace)
    if not runs:
        st.info(f"There is no trained generative model in workspace **{workspace}** yet. Train a GAN, a VAE / "
                "autoencoder or a diffusion model on the Train page (a GAN on the built-in phantom takes a few "
                "minutes on a CPU); it appears here once it has finished an epoch. On the command line: "
                "`python -m core train --config gan.json`.")
        if st.button("Train a GAN", type="primary", key="synth-train", icon=":material/model_training:"):
            st.session_state[TRAIN_TASK_KEY] = "gan"
            st.switch_page("pages/train.py")
        return None
    by_id = {r.id: r for r in runs}
    if st.session_state.get(RUN_KEY) not in by_id:
        looked_at = st.session_state.get("run_id")
        st.session_state[RUN_KEY] = looked_at if looked_at in by_id else runs[0].id
    run_id = st.selectbox("Generative run", list(by_id), key=RUN_KEY, format_func=lambda i: _label(by_id[i]))
    record = by_id[run_id]
    st.caption(describe(record))
    return record


def describe(record: RunRecord) -> str:
    """One line on what the model learned: architecture, classes or the one class, size, epochs."""
    from core.train.run_folder import REBUILD_SPEC, read_json

    path = run_store().run_dir(record) / REBUILD_SPEC
    spec = read_json(path) if path.exists() else {}
    if spec.get("classes"):
        learned = "class-conditional on " + ", ".join(spec["classes"])
    elif spec.get("train_class"):
        learned = f"trained on class '{spec['train_class']}' only"
    else:
        learned = "unconditional, every class"
    size = f" · {spec['size']} px" if spec.get("size") else ""
    best = f", best epoch {record.best_epoch}" if record.best_epoch else ""
    return f"{record.model} · {learned}{size} · {record.epoch} of {record.epochs} epochs{best} · id {record.id}"


def _label(record: RunRecord) -> str:
    status = "" if record.status == "completed" else f" · {record.status}, best epoch so far"
    return f"{record.name or record.id} · {TASK_TEXT.get(record.task, record.task)} on {record.dataset}{status}"


def load_model(record: RunRecord) -> tuple[Any, Any]:
    """(Sampler, TrainedRun) of the run's best weights, cached until they change (a run still training)."""
    folder = run_store().run_dir(record)
    return _cached_sampler(str(folder), weights_version(folder))


@st.cache_resource(max_entries=4, show_spinner="Loading the model")
def _cached_sampler(folder: str, version: float) -> tuple[Any, Any]:
    """Shared across sessions: treat the sampler as read-only (generate and encode do not change it)."""
    from pathlib import Path

    from core.synthesis.sampling import open_sampler

    return open_sampler(Path(folder))
