"""AppTest tests of the Train page: the recipe form, a tiny job through the queue, controls, bad datasets."""
from __future__ import annotations

import time

from core.jobs.store import RunStore
from tests.fixtures import blob_png, tiny_dataset
from tests.pages.apptest import open_page, rerun, texts

PAGE = "pages/train.py"


def wait_until_finished(run_id: str, timeout: float = 240) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = RunStore().get(run_id).status
        if status in ("completed", "failed", "stopped"):
            return status
        time.sleep(0.5)
    raise AssertionError("run did not finish")


def test_form_defaults_to_the_recommended_recipe():
    at = open_page(PAGE)
    assert at.title[0].value == "Train"
    assert at.selectbox(key="train-model").value == "small_cnn"
    assert at.selectbox(key="train-image_size").value == 64
    assert not at.checkbox(key="train-pretrained").value
    assert at.checkbox(key="train-pretrained").disabled  # no ImageNet weights for the small CNN
    assert "No runs in this workspace yet." in texts(at)


def test_a_tiny_job_runs_in_the_background_and_shows_curves():
    dataset = tiny_dataset(per_class=(16, 16))
    at = open_page(PAGE, dataset_id=dataset)
    at.number_input(key="train-epochs").set_value(2)
    at.selectbox(key="train-batch_size").set_value(8)
    at.button(key="train-start").click().run()
    assert not at.exception, at.exception
    run_id = at.session_state["run_id"]
    assert wait_until_finished(run_id) == "completed"
    at = rerun(at)
    assert "completed" in texts(at)
    assert "Held-out test split" in texts(at)
    assert len(at.get("plotly_chart")) == 3  # loss, metrics, learning rate
    assert at.dataframe[-1].value["status"].str.contains("completed").any()


def test_unlabelled_dataset_says_why_it_cannot_train():
    from core.data.importer import import_uploads
    from core.data.preprocess import Preprocessing

    loose = import_uploads("default", [(f"{i}.png", blob_png(seed=i)) for i in range(4)], "loose",
                           Preprocessing(size=16))
    at = open_page(PAGE, dataset_id=loose.dataset_id)
    assert "has no labels" in at.warning[0].value
    assert not [b for b in at.button if b.key == "train-start"]


def test_pretrained_weights_say_whether_they_are_cached():
    at = open_page(PAGE, dataset_id=tiny_dataset())
    at.selectbox(key="train-model").set_value("resnet18").run()
    assert not at.checkbox(key="train-pretrained").disabled and at.checkbox(key="train-freeze_backbone").disabled
    at.checkbox(key="train-pretrained").set_value(True).run()
    assert "will be downloaded (needs internet): resnet18-" in texts(at)
    assert not at.checkbox(key="train-freeze_backbone").disabled


def test_a_run_whose_worker_died_shows_as_interrupted_with_resume():
    import subprocess
    import sys

    from core.jobs.liveness import worker_identity

    store = RunStore()
    record = store.create("default", {"task": "classification", "dataset": "phantom-28", "model": "small_cnn",
                                      "epochs": 4, "name": "killed run"}, monitor="val_accuracy", status="running")
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])  # stands in for a worker
    try:
        store.update(record.id, epoch=2, **worker_identity(worker.pid))
        at = open_page(PAGE, run_id=record.id)
        assert "killed run · running" in texts(at) and at.button(key=f"stop-{record.id}")
    finally:
        worker.kill()  # SIGKILL: no word to the store
        worker.wait()
    at = rerun(at)
    shown = texts(at)
    assert "killed run · interrupted" in shown
    assert f"Interrupted: its worker process (pid {worker.pid}) ended without reporting" in shown
    assert at.button(key=f"resume-{record.id}").label == "Resume"
    assert not [b for b in at.button if b.key == f"stop-{record.id}"]
    assert at.dataframe[-1].value["status"].tolist() == ["interrupted"]
    assert "Job queue: idle" in shown and "Interrupted (resume on the Train page):\n- killed run · epoch 2/4" in shown
