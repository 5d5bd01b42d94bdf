"""Dataset names: suggested from the chosen files, and never shared by two datasets of a workspace."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from core.data.catalog import list_datasets
from core.data.importer import import_paths, import_uploads, suggested_name
from core.data.preprocess import Preprocessing
from core.data.store import unique_name
from tests.fixtures import class_folder_zip, write_medmnist_npz

PREP = Preprocessing(size=16)


@pytest.mark.parametrize("names,expected", [
    (["twoclass.zip"], "twoclass"),
    (["head.nii.gz"], "head"),
    (["scan.dcm"], "scan"),
    (["chest xray.PNG"], "chest xray"),
    (["study/normal/1.png", "study/nodule/2.png"], "study"),                 # a folder upload
    (["IM0001.dcm", "IM0002.dcm", "IM0010.dcm"], "IM"),                     # a DICOM series
    (["case_01.png", "case_02.png"], "case"),
    (["twoclass.zip", "labels.csv"], "twoclass"),                           # the labels table names nothing
    (["a.png", "b.png", "c.png"], "a and 2 more"),
    ([], "imported"),
])
def test_suggested_name_follows_the_chosen_files(names: list[str], expected: str) -> None:
    assert suggested_name(names) == expected


@pytest.mark.parametrize("name,taken,expected", [
    ("twoclass", [], "twoclass"),
    ("twoclass", ["twoclass"], "twoclass (2)"),
    ("twoclass", ["TwoClass ", "twoclass (2)"], "twoclass (3)"),
    (" twoclass ", ["other"], "twoclass"),
])
def test_unique_name(name: str, taken: list[str], expected: str) -> None:
    assert unique_name(name, taken) == expected


def test_two_imports_of_one_name_get_two_names_in_the_workspace_only() -> None:
    data = class_folder_zip(per_class=3)
    first = import_uploads("ws", [("twoclass.zip", data)], "twoclass", PREP)
    second = import_uploads("ws", [("twoclass.zip", data)], "twoclass", PREP)
    elsewhere = import_uploads("other", [("twoclass.zip", data)], "twoclass", PREP)
    assert (first.name, second.name, elsewhere.name) == ("twoclass", "twoclass (2)", "twoclass")
    assert sorted(info.name for info in list_datasets("ws") if not info.builtin) == ["twoclass", "twoclass (2)"]


def test_command_line_import_names_the_dataset_after_the_file(tmp_path) -> None:
    archive = tmp_path / "twoclass.zip"
    archive.write_bytes(class_folder_zip(per_class=3))
    assert import_paths("ws", [archive], prep=PREP).name == "twoclass"
    assert import_paths("ws", [archive], prep=PREP).name == "twoclass (2)"


def test_imports_finishing_at_once_still_get_different_names() -> None:
    data = class_folder_zip(per_class=2)
    with ThreadPoolExecutor(4) as pool:
        names = list(pool.map(lambda _: import_uploads("ws", [("scan.zip", data)], "scan", PREP).name, range(4)))
    assert sorted(names) == ["scan", "scan (2)", "scan (3)", "scan (4)"]


def test_a_medmnist_file_imported_twice_gets_two_names(tmp_path) -> None:
    path = write_medmnist_npz(tmp_path / "pneumoniamnist.npz")
    first, second = (import_paths("ws", [path]).name for _ in range(2))
    assert (first, second) == ("PneumoniaMNIST 28 px", "PneumoniaMNIST 28 px (2)")
