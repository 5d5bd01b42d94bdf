"""Putting a generative run to use: one call queues the real baseline, train-on-synthetic (TSTR) and real +
synthetic runs as ordinary classification runs, judged on the same real test split; the table finds them again
from the generator run and reads their test accuracy with intervals once finished. Nothing is trained here."""
from __future__ import annotations

import json

import numpy as np
import pytest

from core.data.catalog import open_dataset
from core.errors import UserError
from core.jobs.control import create_run
from core.jobs.limits import QueueLimits
from core.jobs.store import RunStore
from core.jobs.synthetic_experiments import experiment_table, queue_synthetic_experiments
from core.train.run_folder import REPORT_FILE, write_json
from tests.core.synthesis.fake_sampler import fake_generative_run, fake_samplers  # noqa: F401
from tests.fixtures import tiny_dataset


@pytest.fixture
def setup(fake_samplers):
    real_id = tiny_dataset(per_class=(30, 12))
    classes = open_dataset("default", real_id).info.classes
    return real_id, fake_generative_run("default", real_id, classes), RunStore()


def test_queues_baseline_tstr_and_real_plus_synthetic_of_the_rarest_class(setup):
    real_id, gen, store = setup
    real = open_dataset("default", real_id)
    entries = queue_synthetic_experiments(store, "default", gen, config={"epochs": 2})
    assert [e["experiment"] for e in entries] == ["baseline", "tstr", "augmented"]
    runs = {e["experiment"]: store.get(e["run"]) for e in entries}
    configs = {name: store.config(run) for name, run in runs.items()}
    assert all(run.status == "queued" and run.task == "classification" for run in runs.values())
    assert all(c["epochs"] == 2 and c["model"] == "small_cnn" for c in configs.values())  # the same recipe
    assert configs["baseline"]["dataset"] == real_id and not entries[0]["reused"]
    assert all(gen in run.name for run in runs.values())

    train_real = real.info.split_counts["train"]
    tstr = open_dataset("default", configs["tstr"]["dataset"])
    assert tstr.synthetic[tstr.indices("train")].all() and tstr.info.split_counts["train"] == entries[1][
        "train_synthetic"] == 2 * round(train_real / 2)
    assert np.array_equal(tstr.images[tstr.indices("test")], real.images[real.indices("test")])  # REAL test
    assert tstr.labels[tstr.indices("test")].tolist() == real.labels[real.indices("test")].tolist()

    mixed = open_dataset("default", configs["augmented"]["dataset"])
    counts = real.info.class_counts["train"]
    assert entries[2]["class"] == "class1"  # the rarer class
    added = mixed.synthetic
    assert added.sum() == entries[2]["train_synthetic"] == counts["class0"] - counts["class1"]
    assert set(mixed.items["label"][added]) == {"class1"} and set(mixed.items["split"][added]) == {"train"}
    assert mixed.info.split_counts["test"] == real.info.split_counts["test"]
    assert entries[2]["train_real"] == train_real


def test_table_rows_and_metrics_once_finished(setup):
    real_id, gen, store = setup
    entries = queue_synthetic_experiments(store, "default", gen, n_per_class=5, boost_class="class0", boost_n=3,
                                          config={"epochs": 1})
    rows = experiment_table("default", gen, store)
    assert [r["title"] for r in rows] == ["Real only (baseline)", "Synthetic only (TSTR)",
                                          "Real + synthetic (class0)"]
    assert [(r["train_real"], r["train_synthetic"]) for r in rows][1:] == [(0, 10), (rows[0]["train_real"], 3)]
    assert all(r["status"] == "queued" and r["test_accuracy"] is None for r in rows)

    tstr = store.get(entries[1]["run"])  # as the executor leaves a finished classification run
    write_json(store.run_dir(tstr) / REPORT_FILE, {"metrics": {"headline": {
        "accuracy": {"value": 0.9, "ci_low": 0.8, "ci_high": 0.95, "method": "wilson"},
        "balanced_accuracy": {"value": 0.85, "ci_low": 0.7, "ci_high": 0.93}}}})
    store.update(tstr.id, status="completed", summary=json.dumps({"test_accuracy": 0.9}))
    store.update(entries[2]["run"], status="stopped")
    store.delete(entries[2]["run"])
    rows = experiment_table("default", gen, store)
    assert rows[1]["status"] == "completed"
    assert rows[1]["test_accuracy"] == {"value": 0.9, "ci_low": 0.8, "ci_high": 0.95}
    assert rows[1]["test_balanced_accuracy"]["value"] == 0.85
    assert rows[2]["status"] == "deleted"


def test_a_finished_recommended_baseline_is_reused(setup):
    real_id, gen, store = setup
    earlier = create_run(store, "default", {"dataset": real_id, "epochs": 1, "seed": 4, "name": "mine"})
    store.update(earlier.id, status="completed")
    entries = queue_synthetic_experiments(store, "default", gen, config={"epochs": 1})
    assert entries[0]["run"] == earlier.id and entries[0]["reused"]
    other = queue_synthetic_experiments(store, "default", gen, config={"epochs": 3})  # another recipe: a new one
    assert other[0]["run"] != earlier.id and not other[0]["reused"]
    assert experiment_table("default", gen, store)[0]["run"] == other[0]["run"]  # the latest batch


def test_unconditional_model_of_one_class_gets_only_real_plus_synthetic(fake_samplers):
    real_id = tiny_dataset(per_class=(20, 20))
    gen = fake_generative_run("default", real_id, ["class0", "class1"], conditional=False, train_class="class1")
    entries = queue_synthetic_experiments(RunStore(), "default", gen, config={"epochs": 1})
    assert [e["experiment"] for e in entries] == ["baseline", "augmented"] and entries[1]["class"] == "class1"
    with pytest.raises(UserError, match="cannot make images of 'class0'"):
        queue_synthetic_experiments(RunStore(), "default", gen, boost_class="class0")


def test_refusals(fake_samplers):
    real_id = tiny_dataset(per_class=(20, 20))
    store = RunStore()
    everything = fake_generative_run("default", real_id, ["class0", "class1"], conditional=False)
    with pytest.raises(UserError, match="no class"):
        queue_synthetic_experiments(store, "default", everything)
    with pytest.raises(UserError, match="no run .* in workspace 'other'"):
        queue_synthetic_experiments(store, "other", everything)
    gen = fake_generative_run("default", real_id, ["class0", "class1"])
    with pytest.raises(UserError, match="epochs"):
        queue_synthetic_experiments(store, "default", gen, config={"epochs": 0})
    assert experiment_table("default", gen, store) == []


def test_a_participants_queue_limit_counts_every_new_run_and_epochs_are_capped(setup):
    real_id, gen, store = setup
    three_fit = QueueLimits(max_queued_runs=3, max_epochs=2)
    with pytest.raises(UserError, match="This queues 3 runs, but this workshop allows 2"):
        queue_synthetic_experiments(store, "default", gen, config={"epochs": 5},
                                    limits=QueueLimits(max_queued_runs=2))
    assert [r.id for r in store.list("default")] == [gen] and experiment_table("default", gen, store) == []  # none queued
    entries = queue_synthetic_experiments(store, "default", gen, config={"epochs": 5}, limits=three_fit)
    assert len(entries) == 3 and all(store.config(store.get(e["run"]))["epochs"] == 2 for e in entries)
    with pytest.raises(UserError, match="You have 3 runs queued or running"):
        queue_synthetic_experiments(store, "default", gen, config={"epochs": 5}, limits=three_fit)
