"""The run folder: file names, atomic writes, finding a run's folder, and loading a trained run."""
from __future__ import annotations

import pytest

from core.errors import UserError
from core.jobs.store import RunStore
from core.models import build_classifier
from core.train import run_folder
from core.train.run_folder import find_run_folder, keep_events, load_trained_run, read_events, write_json

CLASSIFIERS = ("classification", "multilabel")


def test_a_trained_classifier_gives_its_rebuild_spec_and_loadable_weights(trained):
    run = load_trained_run(RunStore().run_folder(trained.run_id), CLASSIFIERS, "is not a classifier")
    assert run.run_id == trained.run_id
    assert run.spec["task"] == "classification" and run.spec["classes"] == ["normal", "nodule", "cavity", "scar"]
    model = build_classifier(run.spec["architecture"], run.spec["in_channels"], len(run.spec["classes"]))
    model.load_state_dict(run.weights)  # strict: every tensor present with its shape


def test_the_wrong_kind_of_run_is_one_sentence(trained):
    with pytest.raises(UserError, match=r"^Run '.+' is not a restoration model, so it cannot enhance images\.$"):
        load_trained_run(find_run_folder(trained.run_id), ("denoise",),
                         "is not a restoration model, so it cannot enhance images")


def test_a_run_without_weights_yet_says_so():
    record = RunStore().create("default", {"task": "classification", "dataset": "phantom-64", "model": "small_cnn",
                                           "epochs": 3}, monitor=None)
    with pytest.raises(UserError, match="has no trained weights yet"):
        load_trained_run(RunStore().run_dir(record), CLASSIFIERS, "is not a classifier")


@pytest.mark.parametrize("run_id", ["run-nope", "", "..", "a/b"])
def test_an_unknown_run_is_one_sentence(run_id, tmp_path):
    with pytest.raises(UserError, match=r"^There is no run '.*'; `python -m core runs` lists them\.$"):
        find_run_folder(run_id)
    with pytest.raises(UserError, match=r"^There is no run 'nope'"):
        load_trained_run(tmp_path / "nope", CLASSIFIERS, "is not a classifier")


def test_the_store_and_the_run_folder_agree_on_where_a_run_lives():
    store = RunStore()
    record = store.create("ward-7", {"task": "classification", "dataset": "phantom-64", "model": "small_cnn",
                                     "epochs": 1}, monitor=None)
    folder = run_folder.run_folder("ward-7", record.id)
    assert store.run_dir(record) == store.run_folder(record.id) == find_run_folder(record.id) == folder
    assert run_folder.read_config(folder)["dataset"] == "phantom-64"


def test_json_is_written_whole_and_events_are_kept_selectively(tmp_path):
    write_json(tmp_path / "a.json", {"x": 1})
    assert run_folder.read_json(tmp_path / "a.json") == {"x": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]  # no temporary file left behind
    run_folder.append_events(tmp_path, [{"step": 1}, {"step": 2}, {"step": 3}])
    (tmp_path / run_folder.EVENTS_FILE).open("a").write('{"step": 4')  # a line being written when read
    assert [e["step"] for e in read_events(tmp_path)] == [1, 2, 3]
    keep_events(tmp_path, lambda event: event["step"] != 2)
    assert [e["step"] for e in read_events(tmp_path)] == [1, 3]


def test_the_weights_version_changes_when_best_weights_are_written(tmp_path):
    assert run_folder.weights_version(tmp_path) == 0.0
    (tmp_path / run_folder.BEST_WEIGHTS).write_bytes(b"")
    assert run_folder.weights_version(tmp_path) > 0.0
