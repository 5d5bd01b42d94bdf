"""Queuing a run: the config and its dataset are checked, and the monitor recorded, without building the task."""
from __future__ import annotations

import pytest

from core.errors import UserError
from core.jobs.control import create_run, request_stop
from core.jobs.store import RunStore

TILES = "real-tiles-128"


@pytest.fixture
def no_task_built(monkeypatch):
    """Building a task (which loads augmentation, or fine-tuning weights) fails the test."""
    import core.tasks
    import core.tasks.restore

    def refuse(*args, **kwargs):
        raise AssertionError("create_run built a task")

    for task_class in core.tasks.TASK_CLASSES:
        monkeypatch.setattr(task_class, "__init__", refuse)
        monkeypatch.setattr(task_class, "build", refuse)
    monkeypatch.setattr(core.tasks.restore, "load_trained_run", refuse)


# (config, the monitor recorded or the start of the sentence refusing it)
TEST_CASES_CREATE = [
    ({"dataset": "phantom-64"}, "val_accuracy"),
    ({"dataset": "phantom-64", "monitor": "val_loss"}, "val_loss"),
    ({"task": "denoise", "dataset": TILES}, "val_psnr"),
    ({"task": "denoise", "dataset": TILES, "monitor": "val_ssim"}, "val_ssim"),
    ({"dataset": "no-such-data"}, "There is no dataset"),
    ({"dataset": "phantom-64", "monitor": "val_psnr"}, "Config field 'monitor' must be one of"),
    ({"task": "denoise", "dataset": TILES, "monitor": "val_accuracy"}, "Config field 'monitor' must be val_psnr"),
    ({"task": "super_resolution", "dataset": TILES, "init_from": "run-000000-000000-abcd"}, "There is no run"),
]


@pytest.mark.parametrize("config,expected", TEST_CASES_CREATE)
def test_queuing_checks_without_building_the_task(no_task_built, config, expected):
    store = RunStore()
    if expected.startswith("val_"):
        record = create_run(store, "default", config)
        assert (record.status, record.monitor) == ("queued", expected)
    else:
        with pytest.raises(UserError, match="^" + expected):
            create_run(store, "default", config)
        assert store.list() == []


def test_a_fine_tuning_source_must_be_the_same_network_with_weights(no_task_built):
    store = RunStore()
    denoiser = create_run(store, "default", {"task": "denoise", "dataset": TILES})
    upscaler = create_run(store, "default", {"task": "super_resolution", "dataset": TILES})
    with pytest.raises(UserError, match=r"^Config field 'init_from': run '.+' trained a different network"):
        create_run(store, "default", {"task": "super_resolution", "dataset": TILES, "init_from": denoiser.id})
    with pytest.raises(UserError, match=r"^Config field 'init_from': run '.+' has no trained weights yet\.$"):
        create_run(store, "default", {"task": "super_resolution", "dataset": TILES, "init_from": upscaler.id})


def test_a_stop_says_who_asked_when_it_was_not_the_owner():
    store = RunStore()
    config = {"task": "classification", "dataset": "phantom-28", "model": "small_cnn", "epochs": 1}
    queued = store.create("anna", config, monitor="val_accuracy")
    assert request_stop(store, queued.id, by="the teacher").message == "stopped by the teacher before it started"
    mine = store.create("anna", config, monitor="val_accuracy")
    assert request_stop(store, mine.id).message == "stopped before it started"
