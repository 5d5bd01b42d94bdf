"""The Home page's clinician's quick start (train the demo model, watch it, predict your image: Teachable Machine's
three steps) and the guided lessons (core.lessons.catalog). A lesson's button sets the session state keys the page
it opens already reads (the dataset choice, a tab, a run, a viewer's window, a form's fields), then switches
to that page; lessons that train queue their runs through the session's run store like the Train page does."""
from __future__ import annotations

import streamlit as st

from core.data.builtin import DEFAULT_DATASET_ID
from core.data.catalog import open_dataset
from core.errors import UserError
from core.jobs.control import create_run
from core.jobs.store import ACTIVE, RunRecord
from core.lessons.broken import KINDS, store_lesson_dataset
from core.lessons.catalog import (BROKEN_RUN_NAMES, CLASSIFIERS, DEMO_RUN_NAME, LESSON_IMAGE_DATASET, LESSONS,
                                  Lesson, broken_configs, demo_config, gan_config, lesson_progress, lung_window)
from pages.ui.jobs import activity, run_store
from pages.ui.runs_table import PICKED_KEY, SHOWN_KEY
from pages.ui.session import select_dataset
from pages.ui.viewer import CUSTOM_CHOICE

VISITED_KEY = "lessons-visited"     # the lessons opened in this session (a lesson that leaves nothing behind)
POLL_S = 2.0
BADGES = {"done": ("Done", ":material/check_circle:", "green"), "started": ("In progress", ":material/pending:",
                                                                           "orange"),
          "todo": ("To do", ":material/radio_button_unchecked:", "gray")}


# ---- the clinician's quick start ---------------------------------------------------------------------------------

def demo_run(records: list[RunRecord]) -> RunRecord | None:
    """The workspace's latest demo model (newest first in `records`), or None."""
    return next((r for r in records if r.name == DEMO_RUN_NAME and r.task in CLASSIFIERS), None)


def render_quick_start(workspace: str) -> None:
    """Train the demo model with one click, watch its progress, then predict your own image with it."""
    with st.container(border=True):
        st.subheader("Quick start: a model of your own in three steps")
        st.write("Train the recommended model on the built-in chest phantom, watch it learn, then give it an image "
                 "of yours and see what it predicts. Training takes about a minute on a CPU, seconds on a GPU.")
        run = demo_run(run_store().list(workspace))
        if run is None or run.status in ("failed", "stopped"):
            if run is not None:
                st.caption(f"The last demo model {run.status}{': ' + run.message if run.message else ''}.")
            if st.button("1 · Train the demo model", type="primary", key="quick-train",
                         icon=":material/model_training:"):
                _queue(workspace, demo_config())
                st.rerun()
        elif run.status in ACTIVE:
            st.fragment(run_every=POLL_S)(_quick_progress)(run.id)
        else:
            accuracy = run.summary_dict.get("test_accuracy")
            st.success(f"2 · The demo model is trained: test accuracy {accuracy:.1%} on phantom patients it never "
                       "saw." if isinstance(accuracy, float) else "2 · The demo model is trained.",
                       icon=":material/check_circle:")
            if st.button("3 · Predict my image", type="primary", key="quick-predict", icon=":material/upload:"):
                open_evaluate(run.id, "Predict")


def _quick_progress(run_id: str) -> None:
    """The demo run's progress, polled; the whole page is redrawn when it ends (to offer step 3)."""
    record = run_store().get(run_id)
    if record.status not in ACTIVE:
        st.rerun()
    done = record.epoch + (record.step / record.steps_per_epoch if record.steps_per_epoch else 0.0)
    st.progress(min(max(done / max(record.epochs, 1), 0.0), 1.0), text=f"2 · Training the demo model: "
                f"{activity(record)}")
    st.caption("Step 3, predicting your image, opens when it has finished. The Train page shows its curves live.")


def open_evaluate(run_id: str, tab: str) -> None:
    """Open the Evaluate page on `run_id` at `tab` (its run picker follows the session's run)."""
    st.session_state[SHOWN_KEY] = run_id
    st.session_state.pop("eval-run", None)   # the picker's own state would win over the session's run
    st.session_state["eval-tab"] = tab
    st.switch_page("pages/evaluate.py")


def _queue(workspace: str, config: dict) -> RunRecord | None:
    """Queue a run of `config` (the session's run store: queue limits and isolation apply); a refusal is shown."""
    try:
        return create_run(run_store(), workspace, config)
    except UserError as error:
        st.error(error.message, icon=":material/error:")
        return None


# ---- the guided lessons ------------------------------------------------------------------------------------------

def render_lessons(workspace: str) -> None:
    """The six lessons with their progress, three to a row."""
    records = run_store().list(workspace)
    progress = lesson_progress(records, st.session_state.get(VISITED_KEY, set()))
    done = sum(p.state == "done" for p in progress.values())
    st.subheader("Guided lessons")
    st.progress(done / len(LESSONS), text=f"{done} of {len(LESSONS)} lessons done · for workshops and first-time "
                "users: each lesson sets a page up with built-in data and asks a question to look at.")
    for row in range(0, len(LESSONS), 3):
        for number, (column, lesson) in enumerate(zip(st.columns(3), LESSONS[row:row + 3]), start=row + 1):
            with column.container(border=True, height="stretch"):
                _lesson(workspace, number, lesson, progress[lesson.key], records)


def _lesson(workspace: str, number: int, lesson: Lesson, progress, records: list[RunRecord]) -> None:
    label, icon, color = BADGES[progress.state]
    st.markdown(f"**{number}. {lesson.title}**")
    st.badge(f"{label} · {progress.note}", icon=icon, color=color)
    st.write(lesson.why)
    blocked = lesson.key == "evaluate" and not _completed_classifiers(records)
    if st.button(lesson.action, key=f"lesson-{lesson.key}", disabled=blocked, width="stretch",
                 type="primary" if progress.state != "done" else "secondary"):
        st.session_state.setdefault(VISITED_KEY, set()).add(lesson.key)
        ACTIONS[lesson.key](workspace, records)
    if blocked:
        st.caption("Train a model first (lesson 2): this lesson reads its test report.")
    st.markdown(f":material/visibility: *{lesson.question}*")


def _completed_classifiers(records: list[RunRecord]) -> list[RunRecord]:
    return [r for r in records if r.task in CLASSIFIERS and r.status == "completed"]


def _window(workspace: str, records: list[RunRecord]) -> None:
    """Lesson 1: the Dataset gallery's viewer on a test nodule of the built-in phantom, at a lung window."""
    with st.spinner("Opening the built-in chest phantom"):
        dataset = open_dataset(workspace, LESSON_IMAGE_DATASET)
    items = dataset.items
    chosen = items.index[(items["label"] == "nodule") & (items["split"] == "test")]
    index = int(chosen[0]) if len(chosen) else 0
    center, width = lung_window(dataset.images[index])
    viewer = f"viewer-{LESSON_IMAGE_DATASET}-{index}"    # the gallery's viewer key for this image
    select_dataset(LESSON_IMAGE_DATASET)
    st.session_state.update({"dataset-tab": "Gallery", f"viewing-{LESSON_IMAGE_DATASET}": index,
                             "gallery-scroll": True, f"{viewer}-choice": CUSTOM_CHOICE, f"{viewer}-level": center,
                             f"{viewer}-width": width})
    st.switch_page("pages/dataset.py")


def _train(workspace: str, records: list[RunRecord]) -> None:
    """Lesson 2: queue the recommended recipe on the phantom (or show the one already training) on the Train page."""
    run = demo_run(records)
    if run is None or run.status not in ACTIVE:
        run = _queue(workspace, demo_config())
    if run is not None:
        select_dataset(DEFAULT_DATASET_ID)
        st.session_state.update({"train-page-task": "classification", SHOWN_KEY: run.id})
        st.switch_page("pages/train.py")


def _evaluate(workspace: str, records: list[RunRecord]) -> None:
    """Lesson 3: the latest completed classifier's test report (the demo model's when there is one)."""
    completed = _completed_classifiers(records)
    demo = [r for r in completed if r.name == DEMO_RUN_NAME]
    open_evaluate((demo or completed)[0].id, "Report")


def _break(workspace: str, records: list[RunRecord]) -> None:
    """Lesson 4: make the broken datasets (once), queue the runs not yet there; show them training on the Train page
    with their curves compared, or, once all finished, Evaluate's Compare tab."""
    with st.spinner("Making lesson 4's datasets from the phantom (a few seconds, once)"):
        ids = {kind: store_lesson_dataset(workspace, kind).id for kind in KINDS}
    existing = {r.name: r for r in reversed(records)   # the newest run of each name wins
                if r.name in BROKEN_RUN_NAMES and r.dataset in ids.values() and r.status not in ("failed", "stopped")}
    runs = []
    for config in broken_configs(ids):
        run = existing.get(config["name"]) or _queue(workspace, config)
        if run is None:
            return
        runs.append(run)
    run_ids = [run.id for run in runs]
    if all(run.status == "completed" for run in runs):
        st.session_state["compare-runs"] = run_ids
        open_evaluate(run_ids[0], "Compare")
    st.session_state.update({"train-page-task": "classification", PICKED_KEY: run_ids, SHOWN_KEY: run_ids[0]})
    st.switch_page("pages/train.py")


def _denoise(workspace: str, records: list[RunRecord]) -> None:
    """Lesson 5: Enhance's comparison of denoisers on the phantom's validation images with Gaussian noise."""
    st.session_state.update({"enhance-tab": "Compare methods", "compare-dataset": LESSON_IMAGE_DATASET,
                             "compare-kind": "gaussian", "compare-sigma": 0.1, "compare-scale": 1,
                             "compare-count": 6})
    st.switch_page("pages/enhance.py")


def _synthesize(workspace: str, records: list[RunRecord]) -> None:
    """Lesson 6: sample the newest generative model; with none, queue the GAN recipe and show it training."""
    from pages.ui.synth_run import RUN_KEY, generative_runs

    runs = generative_runs(workspace)
    if runs:
        st.session_state.update({RUN_KEY: runs[0].id, "synth-tab": "Sample"})
        st.switch_page("pages/synthesize.py")
    training = next((r for r in records if r.name == gan_config()["name"] and r.status in ACTIVE), None)
    run = training or _queue(workspace, gan_config())
    if run is not None:
        select_dataset(DEFAULT_DATASET_ID)
        st.session_state.update({"train-page-task": "gan", SHOWN_KEY: run.id})
        st.switch_page("pages/train.py")


ACTIONS = {"window": _window, "train": _train, "evaluate": _evaluate, "break": _break, "denoise": _denoise,
           "synthesize": _synthesize}
