"""AppTest tests of the Train page's sequence task: the form on the cine phantom, the fields each model uses, a run
(and its single-frame baseline) queued with the form's config, and image tasks never offered clips."""
from __future__ import annotations

import pytest

from core.data.builtin import CINE_ID, DEFAULT_DATASET_ID
from core.data.cine_phantom import CINE_CLASSES
from core.jobs.store import RunStore
from tests.pages.apptest import open_page, rerun, texts

PAGE = "pages/train.py"


def sequence_form(**state):
    at = open_page(PAGE, **state)
    at.radio(key="train-page-task").set_value("sequence").run()
    assert not at.exception, at.exception
    return at


def test_sequence_task_opens_on_the_cine_phantom_with_the_recommended_recipe():
    at = sequence_form()
    assert at.selectbox(key="dataset-picker").value == CINE_ID
    assert all("clips of" in option for option in at.selectbox(key="dataset-picker").options)  # clips only
    assert at.selectbox(key="seq-model").value == "cnn_lstm"
    assert at.selectbox(key="seq-encoder").value == "small_cnn"
    assert at.selectbox(key="seq-temporal_pooling").value == "attention"
    assert at.checkbox(key="seq-pretrained").disabled  # the small CNN has no pretrained weights
    assert not at.number_input(key="seq-hidden_size").disabled
    assert f"sequence classification** of {len(CINE_CLASSES)} classes" in texts(at)
    assert "clips of 16 frames · 100 ms a frame (10 frames/s)" in texts(at)
    assert "single-frame baseline" in at.checkbox(key="seq-with-baseline").label
    assert "Small CNN per frame + LSTM" in texts(at)


def test_a_video_network_uses_kinetics_weights_and_no_recurrent_fields():
    at = sequence_form()
    at.selectbox(key="seq-model").set_value("r2plus1d_18").run()
    assert at.selectbox(key="seq-encoder").disabled and at.number_input(key="seq-hidden_size").disabled
    assert at.checkbox(key="seq-bidirectional").disabled and at.selectbox(key="seq-temporal_pooling").disabled
    pretrained = at.checkbox(key="seq-pretrained")
    assert pretrained.label == "Kinetics-400-pretrained weights" and not pretrained.disabled
    pretrained.set_value(True).run()
    assert "will be downloaded (needs internet): r2plus1d_18-" in texts(at)
    at.selectbox(key="seq-model").set_value("cnn_gru").run()
    at.selectbox(key="seq-encoder").set_value("resnet18").run()
    assert at.checkbox(key="seq-pretrained").label == "ImageNet-pretrained weights"
    assert "will be downloaded (needs internet): resnet18-" in texts(at)


@pytest.mark.usefixtures("no_runs_left_behind")
def test_start_queues_the_sequence_run_and_its_single_frame_baseline():
    at = sequence_form()
    at.number_input(key="seq-epochs").set_value(1)
    at.selectbox(key="seq-model").set_value("cnn_gru")
    at.checkbox(key="seq-bidirectional").set_value(True)
    at.number_input(key="seq-hidden_size").set_value(32)
    at.text_input(key="seq-name").set_value("motion").run()
    at.button(key="seq-start").click().run()
    assert not at.exception, at.exception
    store = RunStore()
    runs = {record.name: store.config(record) for record in store.list("default")}
    assert set(runs) == {"motion", "motion (single-frame baseline)"}
    model, baseline = runs["motion"], runs["motion (single-frame baseline)"]
    assert (model["task"], model["model"], model["dataset"]) == ("sequence", "cnn_gru", CINE_ID)
    assert (model["bidirectional"], model["hidden_size"], model["epochs"], model["temporal_pooling"]) == \
        (True, 32, 1, "attention")
    assert baseline["model"] == "single_frame"
    assert {k: v for k, v in baseline.items() if k not in ("model", "name")} == \
        {k: v for k, v in model.items() if k not in ("model", "name")}  # the same data and settings
    assert at.session_state["run_id"] in {record.id for record in store.list("default") if record.name == "motion"}


@pytest.mark.usefixtures("no_runs_left_behind")
def test_without_the_baseline_only_the_model_is_queued():
    at = sequence_form()
    at.checkbox(key="seq-with-baseline").set_value(False)
    at.button(key="seq-start").click().run()
    assert not at.exception, at.exception
    assert [record.model for record in RunStore().list("default")] == ["cnn_lstm"]


@pytest.mark.parametrize("task", ["classification", "denoise", "gan", "vae"])
def test_image_tasks_never_offer_sequence_datasets(task):
    at = open_page(PAGE)
    at.radio(key="train-page-task").set_value(task).run()
    options = at.selectbox(key="dataset-picker").options  # as shown: "name (source) · 3,200 images"
    assert options and not any("clips of" in option or "Cine phantom" in option for option in options)


def test_a_sequence_dataset_chosen_elsewhere_opens_the_sequence_task_and_back():
    at = open_page(PAGE, dataset_id=CINE_ID)  # e.g. picked on the Dataset page
    assert at.radio(key="train-page-task").value == "sequence"
    assert at.selectbox(key="dataset-picker").value == CINE_ID
    at.radio(key="train-page-task").set_value("classification").run()  # the user's choice is kept
    assert at.radio(key="train-page-task").value == "classification"
    assert at.selectbox(key="dataset-picker").value == DEFAULT_DATASET_ID
    at.radio(key="train-page-task").set_value("sequence").run()
    assert at.selectbox(key="dataset-picker").value == CINE_ID
    rerun(at, dataset_id=DEFAULT_DATASET_ID)  # an image dataset chosen elsewhere: its task again
    assert at.radio(key="train-page-task").value == "classification"


def test_enhance_never_offers_sequence_datasets():
    at = open_page("pages/enhance.py")
    at.radio(key="enhance-source").set_value("Dataset image").run()
    assert not at.exception, at.exception
    options = at.selectbox(key="enhance-dataset").options
    assert options and not any("Cine phantom" in option for option in options)
