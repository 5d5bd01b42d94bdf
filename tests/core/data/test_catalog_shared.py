"""The class workspace's datasets, seen from a participant's workspace as "class:<id>": listed, opened, trained on,
evaluated, predicted with and exported, and never deleted from there."""
from __future__ import annotations

import json

import numpy as np
import pytest

from core.cli import main
from core.data.catalog import SHARED_PREFIX, list_datasets, open_dataset
from core.data.store import delete_dataset, stored_datasets
from core.errors import UserError
from core.settings import CLASS_WORKSPACE, medlab_home
from tests.fixtures import png_bytes, tiny_dataset


def test_class_datasets_are_listed_with_the_prefix_in_other_workspaces_only():
    own = tiny_dataset("anna", name="mine")
    shared = tiny_dataset(CLASS_WORKSPACE, name="chest")
    listed = {info.id: info for info in list_datasets("anna", shared=CLASS_WORKSPACE)}
    assert own in listed and shared not in listed
    info = listed[SHARED_PREFIX + shared]
    assert info.name == "chest" and "class" in info.source and info.num_images == 48
    assert stored_datasets(CLASS_WORKSPACE)[0].id == shared  # the stored info is untouched
    teacher = [info.id for info in list_datasets(CLASS_WORKSPACE, shared=CLASS_WORKSPACE)]
    assert shared in teacher and SHARED_PREFIX + shared not in teacher
    assert SHARED_PREFIX + shared not in [info.id for info in list_datasets("anna")]  # personal mode: no shared


def test_listing_with_no_class_workspace_creates_none():
    list_datasets("anna", shared=CLASS_WORKSPACE)
    assert not (medlab_home() / "workspaces" / CLASS_WORKSPACE).exists()


def test_a_class_dataset_opens_from_any_workspace_with_its_prefixed_id():
    shared = tiny_dataset(CLASS_WORKSPACE, name="chest")
    for workspace in ("anna", "bob", CLASS_WORKSPACE):
        dataset = open_dataset(workspace, SHARED_PREFIX + shared)
        assert dataset.info.id == SHARED_PREFIX + shared and dataset.images.shape == (48, 16, 16, 1)
    with pytest.raises(UserError, match="no dataset 'class:nothing-000000' in the class workspace"):
        open_dataset("anna", SHARED_PREFIX + "nothing-000000")
    with pytest.raises(UserError, match="no dataset"):
        open_dataset("anna", shared)  # unprefixed, it is not anna's
    with pytest.raises(UserError, match="no dataset"):
        open_dataset("anna", SHARED_PREFIX + "../anna/datasets/x")


def test_a_class_dataset_cannot_be_deleted_from_another_workspace():
    shared = tiny_dataset(CLASS_WORKSPACE, name="chest")
    with pytest.raises(UserError) as error:
        delete_dataset("anna", SHARED_PREFIX + shared)
    assert str(error.value) == (f"Dataset '{SHARED_PREFIX}{shared}' belongs to the class workspace: you can use it "
                                "but not delete it.")
    assert open_dataset("anna", SHARED_PREFIX + shared).info.num_images == 48
    delete_dataset(CLASS_WORKSPACE, shared)  # the teacher, in the class workspace, can
    assert stored_datasets(CLASS_WORKSPACE) == []


def test_a_run_on_a_class_dataset_trains_evaluates_predicts_and_exports(tmp_path, capsys):
    from core.jobs.control import create_run
    from core.jobs.execute import execute
    from core.jobs.store import RunStore

    dataset_id = SHARED_PREFIX + tiny_dataset(CLASS_WORKSPACE, per_class=(20, 20), name="chest")
    store = RunStore()
    record = create_run(store, "anna", {"dataset": dataset_id, "model": "small_cnn", "batch_size": 8, "lr": 0.01,
                                        "epochs": 2, "device": "cpu", "seed": 0}, status="running")
    final = execute(store, record.id)
    assert final.status == "completed", final.message
    assert final.dataset == dataset_id and store.config(final)["dataset"] == dataset_id

    assert main(["evaluate", record.id, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n_test"] > 0 and report["dataset"] == dataset_id
    assert report["metrics"]["headline"]["accuracy"]["value"] >= 0.5

    image = tmp_path / "scan.png"
    bright = np.full((16, 16), 20, np.uint8)
    bright[:8, :8] = 200
    image.write_bytes(png_bytes(bright))
    assert main(["predict", record.id, str(image), "--json"]) == 0
    assert "class0" in capsys.readouterr().out

    out = tmp_path / "model.int8.onnx"
    assert main(["export", record.id, "--format", "int8", "--out", str(out), "--json"]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert out.stat().st_size == exported["bytes"] and 0 <= exported["int8_accuracy"] <= 1  # the class test split
    card = tmp_path / "card.md"
    assert main(["export", record.id, "--format", "card", "--out", str(card)]) == 0
    assert dataset_id in card.read_text()
