"""Distillation runs through the job executor: they complete and report as classifiers, name their teacher, find
or queue the student trained alone, tabulate the three models, and refuse bad teachers when queued."""
from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from core.cli import main
from core.data.catalog import open_dataset
from core.errors import UserError
from core.evaluate.predict import load_predictor
from core.evaluate.report import load_report
from core.jobs.control import create_run
from core.jobs.distillation import distillation_table, find_student_alone, queue_student_alone
from core.jobs.store import RunStore
from core.tasks.distill import DistillTask
from core.tasks import build_task, load_config
from core.train.checkpoint import load_weights
from core.train.run_folder import BEST_WEIGHTS, REBUILD_SPEC, SUMMARY_FILE, read_json, write_json
from tests.distillation_runs import STUDENT, TINY, distillation_runs
from tests.fixtures import tiny_dataset


def test_a_tiny_distillation_run_completes_reports_and_fills_the_table(tmp_path, capsys):
    store = RunStore()
    runs = distillation_runs(store)
    folder = store.run_dir(runs.distilled)
    summary = read_json(folder / SUMMARY_FILE)
    assert summary["teacher_run"] == runs.teacher.id and summary["temperature"] == STUDENT["temperature"]
    spec = read_json(folder / REBUILD_SPEC)
    assert (spec["task"], spec["architecture"]) == ("classification", "small_cnn")  # the student's own spec
    assert spec["distillation"]["teacher_run"] == runs.teacher.id
    assert load_report(folder)["metrics"]["headline"]["accuracy"]["trials"] > 0
    assert load_predictor(folder).model.num_classes == 2  # Evaluate, Predict and Export open it like any classifier

    # the task's teacher is the teacher run's network: the same logits as its predictor on the same images
    task = build_task(load_config({k: v for k, v in store.config(runs.distilled).items() if k != "augmentation"}),
                      "default")
    task.setup(torch.device("cpu"))
    images, _ = next(iter(task.splits["val"].batches(8)))
    with torch.no_grad():
        expected = load_predictor(store.run_dir(runs.teacher)).model(images)
    torch.testing.assert_close(task.teacher_logits(images), expected)

    alone_config = store.config(runs.alone)
    assert alone_config["task"] == "classification" and "teacher_run" not in alone_config
    assert all(alone_config[k] == store.config(runs.distilled)[k] for k in ("model", "seed", "epochs", "lr"))
    assert queue_student_alone(store, "default", runs.distilled.id).id == runs.alone.id  # reused, not queued again

    table = distillation_table(store, "default", runs.distilled.id)
    assert [row["role"] for row in table.rows] == ["teacher", "student alone", "student distilled"]
    assert [row["run"] for row in table.rows] == [runs.teacher.id, runs.alone.id, runs.distilled.id]
    for row, record in zip(table.rows, (runs.teacher, runs.alone, runs.distilled)):
        assert row["ci_low"] <= row["accuracy"] <= row["ci_high"]
        assert row["accuracy"] == pytest.approx(record.summary_dict["test_accuracy"])
        assert row["weights_bytes"] == (store.run_dir(record) / BEST_WEIGHTS).stat().st_size
        assert row["parameters"] > 0 and row["ms_per_image"] > 0
    assert table.paired is not None and table.paired["n"] == table.rows[2]["n_test"]
    assert "student trained alone" in table.verdict

    # the config keys are the interface: the CLI trains one, and with weight 0 it IS the student alone (same
    # initial weights and batches: building the teacher leaves the seeded random stream untouched)
    config = {**store.config(runs.distilled), "distill_weight": 0.0, "name": "weight 0"}
    config.pop("augmentation", None)
    path = tmp_path / "distill.json"
    path.write_text(json.dumps(config))
    assert main(["train", "--config", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["task"], out["status"]) == ("distillation", "completed")
    run_id = out["run_id"]
    mine, alone = (load_weights(store.run_dir(store.get(r)) / BEST_WEIGHTS) for r in (run_id, runs.alone.id))
    assert all(torch.equal(mine[name], alone[name]) for name in alone)


def test_queuing_refuses_bad_teachers_without_loading_anything():
    store = RunStore()
    dataset = tiny_dataset(per_class=(16, 16))
    distill = {"dataset": dataset, "task": "distillation", **TINY}
    with pytest.raises(UserError, match="'teacher_run' is required"):
        create_run(store, "default", distill)
    with pytest.raises(UserError, match="there is no run 'nobody' in this workspace"):
        create_run(store, "default", {**distill, "teacher_run": "nobody"})
    queued = create_run(store, "default", {"dataset": dataset, **TINY})
    with pytest.raises(UserError, match=f"run '{queued.id}' has not completed"):
        create_run(store, "default", {**distill, "teacher_run": queued.id})

    # a finished run's files, written by hand: another dataset, another task, another image size
    folder = store.run_dir(queued)
    write_json(folder / SUMMARY_FILE, {"test_accuracy": 1.0})
    (folder / BEST_WEIGHTS).write_bytes(b"")
    spec = {"task": "classification", "architecture": "resnet18", "in_channels": 1, "classes": ["class0", "class1"],
            "image_size": 16, "dataset": dataset}
    for change, words in (({"dataset": "elsewhere"}, "was trained on dataset 'elsewhere'"),
                          ({"classes": ["a", "b"]}, "must know this dataset's classes"),
                          ({"task": "denoise"}, "is not a single-label classifier"),
                          ({"task": "multilabel"}, "is not a single-label classifier"),
                          ({"image_size": 64}, "takes 64-pixel images")):
        write_json(folder / REBUILD_SPEC, {**spec, **change})
        with pytest.raises(UserError, match=words):
            create_run(store, "default", {**distill, "teacher_run": queued.id})
    write_json(folder / REBUILD_SPEC, spec)
    create_run(store, "default", {**distill, "teacher_run": queued.id})  # now acceptable as a teacher

    # a teacher of another workspace is not found from this one
    with pytest.raises(UserError, match="no run .* in this workspace"):
        create_run(store, "other", {**distill, "dataset": tiny_dataset("other"), "teacher_run": queued.id})


def test_multilabel_datasets_are_refused():
    info = dataclasses.replace(open_dataset("default", tiny_dataset()).info, task="multilabel")
    config = load_config({"dataset": info.id, "task": "distillation", "teacher_run": "x"})
    with pytest.raises(UserError, match="several labels per image"):
        DistillTask.check(config, info)
    with pytest.raises(UserError, match="several labels per image"):
        DistillTask.check_in_workspace(config, info, "default")


def test_without_a_student_alone_the_table_says_so():
    store = RunStore()
    dataset = tiny_dataset(per_class=(16, 16))
    config = load_config({"dataset": dataset, "task": "distillation", "teacher_run": "t"}).as_dict()
    assert find_student_alone(store, "default", config) is None
    other_seed = create_run(store, "default", {"dataset": dataset, "seed": 5})
    assert find_student_alone(store, "default", config) is None  # another seed is another recipe
    same = create_run(store, "default", {"dataset": dataset, "name": "mine", "device": "cpu"})
    assert find_student_alone(store, "default", config).id == same.id != other_seed.id
