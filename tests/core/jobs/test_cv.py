"""k-fold cross-validation: disjoint folds of train+val, the test split untouched, runs through the queue."""
from __future__ import annotations


import numpy as np
import pytest

from core.data.catalog import open_dataset
from core.errors import UserError
from core.jobs.cv import cv_summary, submit_cross_validation
from core.jobs.runner import JobRunner
from core.jobs.store import ACTIVE, RunStore
from core.tasks import build_task, load_config
from tests.fixtures import tiny_dataset, wait_for

TINY = {"model": "small_cnn", "batch_size": 8, "lr": 0.01, "epochs": 2}


def test_folds_partition_train_and_val_and_keep_the_test_split():
    dataset_id = tiny_dataset(per_class=(30, 30))
    dataset = open_dataset("default", dataset_id)
    pool = np.sort(np.concatenate([dataset.indices("train"), dataset.indices("val")]))
    vals = []
    for fold in range(3):
        task = build_task(load_config({"dataset": dataset_id, **TINY, "folds": 3, "fold": fold}), "default")
        splits = task.split_indices()
        assert np.array_equal(splits["test"], dataset.indices("test"))
        assert np.array_equal(np.sort(np.concatenate([splits["train"], splits["val"]])), pool)
        vals.append(set(splits["val"]))
    assert not (vals[0] & vals[1]) and not (vals[1] & vals[2]) and set().union(*vals) == set(pool)


def test_cross_validation_runs_through_the_queue_and_summarises():
    store = RunStore()
    runs = submit_cross_validation(store, "default", {"dataset": tiny_dataset(), **TINY}, folds=2)
    assert [store.config(r)["fold"] for r in runs] == [0, 1] and all(r.status == "queued" for r in runs)
    runner = JobRunner(store, slots=1, poll_s=0.2, gpus=0).start()
    try:
        wait_for(lambda: not any(store.get(r.id).status in ACTIVE for r in runs), timeout=300)
    finally:
        runner.shutdown()
    summary = cv_summary(store, "default", store.config(runs[0])["cv_group"])
    assert summary["completed"] == 2
    accuracy = summary["metrics"]["test_accuracy"]
    assert len(accuracy["values"]) == 2 and accuracy["mean"] == pytest.approx(np.mean(accuracy["values"]))


def test_bad_fold_settings_are_refused():
    with pytest.raises(UserError, match="'folds'"):
        load_config({"dataset": "x", "folds": 1})
    with pytest.raises(UserError, match="'fold'"):
        load_config({"dataset": "x", "folds": 3, "fold": 3})
