"""AppTest tests of the Train page: the recipe form, a tiny job through the queue, controls, bad datasets."""
from __future__ import annotations

import time

from core.jobs.store import RunStore
from tests.fixtures import blob_png, tiny_dataset, wait_for
from tests.pages.apptest import open_page, rerun, texts

PAGE = "pages/train.py"


def wait_until_finished(run_id: str, timeout: float = 240) -> str:
    return wait_for(lambda: (status := RunStore().get(run_id).status) in ("completed", "failed", "stopped")
                    and status, timeout)


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


def test_restoration_tasks_move_to_clean_image_tiles_and_back():
    from core.data.builtin import DEFAULT_DATASET_ID, TILES_ID

    at = open_page(PAGE)
    assert at.selectbox(key="dataset-picker").value == DEFAULT_DATASET_ID
    at.radio(key="train-page-task").set_value("denoise").run()
    assert at.selectbox(key="dataset-picker").value == TILES_ID
    assert at.number_input(key="denoise-epochs").value >= 1  # the restoration form, filled with its recipe
    at.selectbox(key="dataset-picker").set_value("phantom-128").run()  # a choice within restoration is kept
    at.radio(key="train-page-task").set_value("super_resolution").run()
    assert at.selectbox(key="dataset-picker").value == "phantom-128"
    at.radio(key="train-page-task").set_value("classification").run()
    assert at.selectbox(key="dataset-picker").value == DEFAULT_DATASET_ID
    at.selectbox(key="dataset-picker").set_value("phantom-28").run()
    at.radio(key="train-page-task").set_value("denoise").run()
    assert at.selectbox(key="dataset-picker").value == "phantom-128"
    at.radio(key="train-page-task").set_value("classification").run()
    assert at.selectbox(key="dataset-picker").value == "phantom-28"
    assert not at.exception, at.exception


def test_a_dataset_chosen_on_another_page_wins_over_the_remembered_one():
    from core.data.builtin import TILES_ID

    at = open_page(PAGE)
    at.radio(key="train-page-task").set_value("denoise").run()
    assert at.selectbox(key="dataset-picker").value == TILES_ID
    imported = tiny_dataset()
    at = rerun(at, dataset_id=imported)  # as the Dataset page's import does
    assert at.selectbox(key="dataset-picker").value == imported
    assert not at.exception, at.exception


# --- what is happening, shown without being asked ------------------------------------------------------------
RECORD = {"task": "classification", "dataset": "phantom-28", "model": "small_cnn", "epochs": 6}


def fake_worker():
    """A live process standing in for a run's worker (the store's liveness rule sees it alive)."""
    import subprocess
    import sys

    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])


def running_run(store: RunStore, worker, name: str = "live run", **values):
    from core.jobs.liveness import worker_identity

    record = store.create("default", {**RECORD, "name": name}, monitor="val_accuracy", status="running")
    began = time.time() - 30
    store.update(record.id, started=began, stretch_started=began, device_used="cpu", **worker_identity(worker.pid),
                 **values)
    return store.get(record.id)


def progress_text(at) -> str:
    return "\n".join(p.proto.text for p in at.get("progress"))


def test_opening_the_page_shows_the_running_run_live_and_folds_the_form():
    store = RunStore()
    done = store.create("default", {**RECORD, "name": "older run"}, monitor="val_accuracy", status="completed")
    worker = fake_worker()
    try:
        live = running_run(store, worker, epoch=3, step=5, steps_per_epoch=10, phase="training", eta_s=200.0,
                           eta_low_s=190.0, eta_high_s=210.0, best_value=0.75, best_epoch=3)
        at = open_page(PAGE)  # a fresh session, as a reload or a second tab: nothing picked
        shown = texts(at)
        assert "live run · running" in shown and at.button(key=f"stop-{live.id}")
        assert "older run · completed" not in shown
        assert at.get("expander")[0].label == "New run" and not at.get("expander")[0].proto.expanded
        line = progress_text(at)
        assert "epoch 4/6 · step 5/10" in line and "about 3 min 20 s left" in line
        table = at.dataframe[-1].value
        assert table["run"].tolist() == ["▶ live run", "older run"]
        assert table["epochs"].tolist() == ["3/6", "0/6"]
        assert table["status"].tolist() == ["running · epoch 4", "completed"]
        assert "- running: small_cnn · default · epoch 4/6 · cpu" in shown  # the sidebar's queue, by the same words
        at.session_state["train-picked"] = []  # picking the older run in the table shows it instead
        at = rerun(at, **{"run_id": done.id})
        assert "older run · completed" in texts(at)
    finally:
        worker.kill()
        worker.wait()


def test_without_runs_the_form_is_open():
    at = open_page(PAGE)
    assert at.get("expander")[0].proto.expanded


def test_every_phase_is_named_and_no_epoch_past_the_last():
    store = RunStore()
    worker = fake_worker()
    try:
        record = running_run(store, worker, phase="preparing data")
        at = open_page(PAGE)
        assert progress_text(at).startswith("preparing data ·") and "step 0/?" not in progress_text(at)
        for phase in ("loading the data and building the model", "evaluating the test split", "writing the report"):
            store.update(record.id, phase=phase, epoch=6, steps_per_epoch=10, eta_s=0.0)
            at = rerun(at)
            assert progress_text(at).startswith(phase), progress_text(at)
            assert "epoch 7/6" not in texts(at) + progress_text(at) and "about 0 s left" not in progress_text(at)
            assert f"running: small_cnn · default · {phase} · cpu" in texts(at)  # the sidebar
        store.update(record.id, phase="evaluating the validation split", epoch=2)
        assert "epoch 3/6, evaluating the validation split" in progress_text(rerun(at))
    finally:
        worker.kill()
        worker.wait()


def test_a_queued_run_shows_its_place_and_when_it_should_start(monkeypatch):
    from core.jobs.runner import JobRunner

    monkeypatch.setattr(JobRunner, "start", lambda self: self)  # a runner that launches nothing: the runs stay queued
    store = RunStore()
    worker = fake_worker()
    try:
        running_run(store, worker, phase="training", epoch=1, steps_per_epoch=10, eta_s=300.0, eta_low_s=250.0,
                    eta_high_s=350.0)
        first = store.create("default", {**RECORD, "name": "first in line", "device": "cpu"}, monitor="val_accuracy")
        second = store.create("default", {**RECORD, "name": "second in line", "device": "cpu"}, monitor="val_accuracy")
        at = open_page(PAGE, run_id=first.id)
        assert "position 1 of 2 for the CPU" in texts(at) and "Expected to start in about 5 min 00 s" in texts(at)
        at = rerun(at, run_id=second.id)  # the run ahead has never run this recipe: no guessed time
        assert "position 2 of 2" in texts(at) and "The start time is not known yet" in texts(at)
    finally:
        worker.kill()
        worker.wait()


def test_runs_table_has_empty_cells_and_restoration_scores():
    import json

    store = RunStore()
    classifier = store.create("default", {**RECORD, "name": "classifier"}, monitor="val_accuracy", status="completed")
    store.update(classifier.id, summary=json.dumps({"test_accuracy": 0.9}), epoch=6, best_value=0.91, best_epoch=5)
    denoiser = store.create("default", {"task": "denoise", "dataset": "real-tiles-128", "model": "resunet",
                                        "epochs": 2, "name": "denoiser"}, monitor="val_psnr", status="completed")
    store.update(denoiser.id, summary=json.dumps({"test_psnr": 31.25, "test_ssim": 0.84}), epoch=2)
    store.create("default", {**RECORD, "name": "waiting"}, monitor="val_accuracy", status="stopped")
    at = open_page(PAGE)
    table = at.dataframe[-1].value.set_index("run")
    assert table.loc["denoiser", "test PSNR (dB)"] == 31.25 and table.loc["denoiser", "test SSIM"] == 0.84
    assert table.loc["classifier", "test accuracy"] == 0.9 and table.loc["classifier", "best"] == "accuracy 0.910"
    assert table.isna().loc["denoiser", "test accuracy"] and table.isna().loc["classifier", "test PSNR (dB)"]
    assert "None" not in table.astype(str).loc[:, ["best", "duration"]].to_numpy().ravel().tolist()
    assert table.loc["denoiser", "model · device"] == "resunet · auto"


def test_continue_training_comes_after_its_field():
    store = RunStore()
    done = store.create("default", {**RECORD, "name": "finished"}, monitor="val_accuracy", status="completed")
    store.update(done.id, epoch=6)
    at = open_page(PAGE)
    order = [getattr(e, "label", None) for e in at.main if getattr(e, "label", None) in ("Train to epoch",
                                                                                         "Continue training")]
    assert order == ["Train to epoch", "Continue training"]


def test_estimate_duration_measures_the_recipe_before_start():
    dataset = tiny_dataset(per_class=(16, 16))
    at = open_page(PAGE, dataset_id=dataset)
    at.number_input(key="train-epochs").set_value(3)
    at.selectbox(key="train-batch_size").set_value(8)
    at.selectbox(key="train-device").set_value("cpu").run()
    assert "Press **Estimate duration**" in texts(at)
    at.button(key="train-estimate").click().run()
    assert not at.exception, at.exception
    assert "Expected duration **about" in texts(at) and "3 epochs of" in texts(at)
    assert RunStore().list() == []  # nothing queued
    at.number_input(key="train-epochs").set_value(4).run()  # another config: measured again only on request
    assert "Press **Estimate duration**" in texts(at)


def test_pretrained_weights_name_the_absolute_folder_medlab_reads():
    from core.models.torchvision_nets import imagenet_weights_folder

    at = open_page(PAGE, dataset_id=tiny_dataset())
    at.selectbox(key="train-model").set_value("resnet18").run()
    at.checkbox(key="train-pretrained").set_value(True).run()
    assert f"into `{imagenet_weights_folder()}`; offline, place that file there first." in texts(at)


def test_restoration_recipe_follows_the_chosen_device(monkeypatch):
    import torch

    import pages.ui.train_form as train_form
    from core.device import ComputeDevice
    from core.tasks.restore import DEVICE_RECIPES

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a GPU server, as far as the form can tell
    monkeypatch.setattr(train_form, "available_devices",
                        lambda: [ComputeDevice("cuda:0", "GPU 0"), ComputeDevice("cpu", "CPU")])
    gpu, cpu = DEVICE_RECIPES["cuda"]["super_resolution"], DEVICE_RECIPES["cpu"]["super_resolution"]
    at = open_page(PAGE)
    at.radio(key="train-page-task").set_value("super_resolution").run()

    def length() -> dict[str, int]:
        return {name: at.number_input(key="sr-" + name).value for name in ("epochs", "max_steps_per_epoch")}

    assert length() == gpu  # "auto" trains on the GPU
    at.selectbox(key="sr-device").set_value("cpu").run()
    assert length() == cpu
    assert f"Recipe for the CPU: {cpu['epochs']} epochs" in texts(at)
    at.number_input(key="sr-epochs").set_value(7).run()
    at.selectbox(key="sr-device").set_value("auto").run()
    assert length() == {"epochs": 7, "max_steps_per_epoch": gpu["max_steps_per_epoch"]}  # a typed value is kept
    assert not at.exception, at.exception


def test_the_sidebar_lists_the_queue_in_the_order_runs_will_start(monkeypatch):
    """Round-robin across workspaces (core.jobs.fair_queue): ann's second run is listed after bob's first,
    though submitted before it."""
    from core.jobs.runner import JobRunner

    monkeypatch.setattr(JobRunner, "_launch", lambda self: None)  # the queue stays as it is while the page looks
    store = RunStore()
    config = {"task": "classification", "dataset": "phantom-28", "model": "small_cnn", "epochs": 1, "device": "cpu"}
    now = time.time()
    for order, workspace in enumerate(("ann", "ann", "bob")):
        record = store.create(workspace, config, monitor="val_accuracy")
        store.update(record.id, created=now + order)  # submitted in this order, whatever the clock's resolution
    shown = texts(open_page(PAGE))
    queue = shown[shown.index("Job queue:"):].splitlines()[1:4]
    assert queue == ["- queued: small_cnn · ann · cpu", "- queued: small_cnn · bob · cpu",
                     "- queued: small_cnn · ann · cpu"]


def test_data_parallel_workers_state_the_effective_batch_and_rate_and_train():
    at = open_page(PAGE, dataset_id=tiny_dataset(per_class=(40, 40)))
    assert at.selectbox(key="train-lr_scaling").disabled  # one worker: nothing to scale
    at.number_input(key="train-epochs").set_value(1)
    at.selectbox(key="train-batch_size").set_value(8)
    at.number_input(key="train-lr").set_value(0.004)
    at.number_input(key="train-workers").set_value(2).run()
    assert "Effective batch size **16** (8 per worker x 2); learning rate **0.008** (0.004 x 2, linear scaling" \
        in texts(at)
    at.button(key="train-start").click().run()
    assert not at.exception, at.exception
    run_id = at.session_state["run_id"]
    assert RunStore().config(RunStore().get(run_id))["workers"] == 2
    assert wait_until_finished(run_id) == "completed"
    at = rerun(at)
    assert "2 data-parallel workers (effective batch 16, learning rate 0.008)" in texts(at)  # the run's header


def test_a_run_stopped_inside_an_epoch_says_how_far_into_it():
    """After a stop at step 32 of epoch 2 the line reads as the stop message does ('resume continues from epoch 2,
    step 33'), not as if one epoch were all there is."""
    store = RunStore()
    stopped = store.create("default", {**RECORD, "name": "stopped run"}, monitor="val_accuracy", status="stopped")
    store.update(stopped.id, epoch=1, step=32, steps_per_epoch=35, started=100.0, stretch_started=100.0,
                 finished=130.0, message="stopped on request; resume continues from epoch 2, step 33")
    at = open_page(PAGE)
    at = rerun(at, run_id=stopped.id)
    assert progress_text(at).startswith("epoch 1/6 and 32 steps of epoch 2 · took 30 s"), progress_text(at)
