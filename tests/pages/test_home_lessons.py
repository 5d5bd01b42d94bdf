"""The Home page's guided lessons and clinician's quick start: listed with their progress; a lesson's button sets
the session state the page it opens reads and switches to it; the quick start queues the demo model."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.lessons.catalog import DEMO_RUN_NAME, LESSONS, LESSON_IMAGE_DATASET
from tests.pages.apptest import APP, texts


def home() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180).run()
    assert not at.exception, at.exception
    return at


def button(at: AppTest, key: str):
    return next(b for b in at.button if b.key == key)


def test_the_six_lessons_are_listed_with_their_progress():
    at = home()
    text = texts(at)
    for number, lesson in enumerate(LESSONS, start=1):
        assert f"**{number}. {lesson.title}**" in text
        assert lesson.question in text
        assert button(at, f"lesson-{lesson.key}").label == lesson.action
    assert "0 of 6 lessons done" in " ".join(p.proto.text for p in at.get("progress"))
    assert button(at, "lesson-evaluate").disabled  # nothing trained yet: it points to lesson 2
    assert "Train a model first (lesson 2)" in text


def test_lesson_one_opens_the_dataset_viewer_on_a_phantom_nodule_at_a_lung_window():
    at = home()
    button(at, "lesson-window").click().run()
    assert not at.exception, at.exception
    state = at.session_state
    assert state["dataset_id"] == LESSON_IMAGE_DATASET and state["dataset-tab"] == "Gallery"
    index = state[f"viewing-{LESSON_IMAGE_DATASET}"]
    viewer = f"viewer-{LESSON_IMAGE_DATASET}-{index}"
    assert state[f"{viewer}-choice"] == "Custom" and 0 < state[f"{viewer}-width"] < 255
    assert at.title[0].value == "Dataset"
    assert at.selectbox(key=f"{viewer}-choice").value == "Custom"
    assert at.slider(key=f"{viewer}-width").value == pytest.approx(state[f"{viewer}-width"])
    assert "nodule" in " ".join(s.value for s in at.subheader)


def test_lesson_five_opens_the_denoiser_comparison_on_the_phantom():
    at = home()
    button(at, "lesson-denoise").click().run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Enhance"
    assert at.selectbox(key="compare-dataset").value == LESSON_IMAGE_DATASET
    assert at.slider(key="compare-sigma").value == pytest.approx(0.1)


@pytest.mark.usefixtures("no_runs_left_behind")
def test_quick_start_queues_the_demo_model_and_shows_its_progress():
    from core.jobs.store import RunStore

    at = home()
    button(at, "quick-train").click().run()
    assert not at.exception, at.exception
    runs = RunStore().list("default")
    assert [(r.name, r.dataset, r.task) for r in runs] == [(DEMO_RUN_NAME, "phantom-64", "classification")]
    assert "Training the demo model" in " ".join(p.proto.text for p in at.get("progress"))
    assert not any(b.key == "quick-train" for b in at.button)  # one click, one run
    button(at, "lesson-train").click().run()  # lesson 2 shows that run instead of queuing a second one
    assert not at.exception, at.exception
    assert at.title[0].value == "Train" and at.session_state["run_id"] == runs[0].id
    assert len(RunStore().list("default")) == 1


def test_a_trained_demo_model_offers_predict_my_image(trained):
    from core.jobs.store import RunStore

    store = RunStore()
    run_id = store.list("default")[0].id
    store.update(run_id, name=DEMO_RUN_NAME)
    try:
        at = home()
        assert "The demo model is trained" in texts(at)
        assert not button(at, "lesson-evaluate").disabled
        button(at, "quick-predict").click().run()
        assert not at.exception, at.exception
        assert at.title[0].value == "Evaluate"
        assert at.session_state["run_id"] == run_id and at.session_state["eval-tab"] == "Predict"
        assert at.selectbox(key="eval-run").value == run_id
    finally:
        store.update(run_id, name="phantom recipe")  # the shared run is read-only for other tests


@pytest.mark.usefixtures("no_runs_left_behind")
def test_lesson_four_makes_its_datasets_once_and_queues_each_run_beside_its_honest_counterpart():
    from core.data.catalog import list_datasets
    from core.jobs.store import RunStore
    from core.lessons.broken import HONEST_NAME, IMBALANCED_NAME, LEAKY_NAME
    from core.lessons.catalog import BROKEN_RUN_NAMES

    at = home()
    button(at, "lesson-break").click().run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Train"
    runs = RunStore().list("default")
    assert sorted(r.name for r in runs) == sorted(BROKEN_RUN_NAMES)
    assert sorted(at.session_state["train-picked"]) == sorted(r.id for r in runs)  # their curves side by side
    stored = {info.name for info in list_datasets("default") if not info.builtin}
    assert stored == {IMBALANCED_NAME, LEAKY_NAME, HONEST_NAME}
    at.switch_page("pages/home.py").run()
    assert "0 of 4 runs finished" in texts(at) or "of 4 runs finished" in texts(at)
    button(at, "lesson-break").click().run()  # again: nothing made or queued twice
    assert not at.exception, at.exception
    assert len(RunStore().list("default")) == 4
    assert {info.name for info in list_datasets("default") if not info.builtin} == stored


@pytest.mark.usefixtures("no_runs_left_behind")
def test_lesson_six_without_a_generative_model_queues_the_gan_recipe():
    from core.jobs.store import RunStore

    at = home()
    button(at, "lesson-synthesize").click().run()
    assert not at.exception, at.exception
    [run] = RunStore().list("default")
    assert run.task == "gan" and run.dataset == "phantom-64"
    assert at.title[0].value == "Train" and at.session_state["train-page-task"] == "gan"
    assert at.session_state["run_id"] == run.id
