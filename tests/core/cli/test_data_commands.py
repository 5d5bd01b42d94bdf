from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from core.cli import main
from tests.fixtures import blob_png, class_folder_zip, identified_ct, zip_bytes

ROOT = Path(__file__).resolve().parents[3]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_datasets_json_lists_builtins_with_counts(capsys):
    code, out, _ = run(capsys, "datasets", "--json")
    listing = {entry["id"]: entry for entry in json.loads(out)}
    assert code == 0 and {"phantom-28", "phantom-64", "phantom-128"} <= set(listing)
    phantom = listing["phantom-64"]
    assert phantom["task"] == "classification" and len(phantom["classes"]) >= 3 and phantom["size"] == 64
    assert sum(phantom["counts"].values()) == phantom["images"]


def test_import_zip_json_summary_then_listed(capsys, tmp_path):
    archive = tmp_path / "study.zip"
    archive.write_bytes(class_folder_zip(per_class=4))
    code, out, _ = run(capsys, "import", str(archive), "--name", "Study", "--size", "32", "--json")
    summary = json.loads(out)
    assert code == 0 and summary["images"] == 8 and summary["classes"] == ["nodule", "normal"]
    assert summary["skipped"] == []
    code, out, _ = run(capsys, "datasets", "--json")
    stored = [entry for entry in json.loads(out) if entry["id"] == summary["dataset_id"]]
    assert stored and stored[0]["size"] == 32 and stored[0]["name"] == "Study"


def test_import_folder_with_labels_csv_reports_skips(capsys, tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(4):
        (folder / f"x{i}.png").write_bytes(blob_png(seed=i))
    (folder / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    csv = tmp_path / "labels.csv"
    csv.write_text("filename,label\nx0.png,a\nx1.png,b\nx2.png,a\nx3.png,b\nbad.png,a\n")
    code, out, _ = run(capsys, "import", str(folder), "--labels", str(csv), "--json")
    summary = json.loads(out)
    assert code == 0 and summary["images"] == 4
    assert [s["file"] for s in summary["skipped"]] == ["bad.png"]


def test_import_of_nothing_usable_exits_2_with_one_line(capsys, tmp_path):
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(os.urandom(2000))
    code, out, err = run(capsys, "import", str(junk))
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: ") and "junk.dcm" in err
    datasets = Path(os.environ["MEDLAB_HOME"]) / "workspaces" / "default" / "datasets"
    assert not datasets.exists() or list(datasets.iterdir()) == []


def test_empty_zip_and_missing_path_exit_2(capsys, tmp_path):
    empty = tmp_path / "empty.zip"
    empty.write_bytes(zip_bytes({}))
    code, _, err = run(capsys, "import", str(empty))
    assert code == 2 and "empty.zip is empty" in err
    code, _, err = run(capsys, "import", str(tmp_path / "nope"))
    assert code == 2 and "does not exist" in err


def test_inspect_ct_with_preset_window_and_png(capsys, tmp_path):
    out_png = tmp_path / "ct.png"
    code, out, _ = run(capsys, "inspect", get_testdata_file("CT_small.dcm"), "--window", "lung", "--png",
                       str(out_png), "--json")
    info = json.loads(out)
    assert code == 0 and info["modality"] == "CT" and info["frames"] == 1 and info["shape"] == [1, 128, 128]
    assert info["window"] == {"center": -600.0, "width": 1500.0, "source": "preset:lung"}
    assert info["photometric"] == "MONOCHROME2"
    rendered = np.asarray(Image.open(out_png))
    assert rendered.dtype == np.uint8 and rendered.shape == (128, 128) and rendered.std() > 0


def test_inspect_custom_window_and_bad_window(capsys, tmp_path):
    ct = tmp_path / "ct.dcm"
    ct.write_bytes(identified_ct())
    code, out, _ = run(capsys, "inspect", str(ct), "--window", "40,400", "--json")
    assert code == 0 and json.loads(out)["window"]["width"] == 400
    code, _, err = run(capsys, "inspect", str(ct), "--window", "sideways")
    assert code == 2 and "lung" in err  # names the presets


@pytest.mark.parametrize("content,name", [(b"\x00" * 10 + os.urandom(500), "random.dcm"), (blob_png(), "photo.dcm")])
def test_inspect_bad_file_is_one_line_exit_2_in_a_real_process(tmp_path, content, name):
    path = tmp_path / name
    path.write_bytes(content)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "core", "inspect", str(path), "--json"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and name in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""


def test_usage_errors_are_one_line_exit_2(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["import"])
    assert caught.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1


def _chestxray14_folder(tmp_path: Path, header: str) -> tuple[Path, Path]:
    from tests.core.data.test_importer import chestxray14

    uploads, (csv_name, table) = chestxray14(header=header)
    folder = tmp_path / "images"
    folder.mkdir()
    for name, data in uploads:
        (folder / name).write_bytes(data)
    (tmp_path / csv_name).write_bytes(table)
    return folder, tmp_path / csv_name


def test_import_chestxray14_table_groups_patients_and_says_so(capsys, tmp_path):
    folder, csv = _chestxray14_folder(tmp_path, "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age")
    code, out, _ = run(capsys, "import", str(folder), "--labels", str(csv), "--size", "16", "--json")
    summary = json.loads(out)
    assert code == 0 and summary["images"] == 42 and summary["task"] == "multilabel"
    assert summary["grouped_by"] == "CSV column 'Patient ID'"
    assert sum(summary["patients_per_split"].values()) == 12 and set(summary["patients_per_split"]) == {
        "train", "val", "test"}
    code, out, _ = run(capsys, "import", str(folder), "--labels", str(csv), "--size", "16")
    assert code == 0 and "patients grouped by CSV column 'Patient ID'" in out
    test_patients = summary["patients_per_split"]["test"]
    assert f"test  {summary['counts']['test']} images, {test_patients} patient{'s' * (test_patients != 1)}\n" in out


def test_import_column_options_name_any_column(capsys, tmp_path):
    folder, csv = _chestxray14_folder(tmp_path, "scan,finding,visit,person,age")
    code, out, _ = run(capsys, "import", str(folder), "--labels", str(csv), "--size", "16", "--json",
                       "--file-column", "scan", "--label-column", "finding", "--patient-column", "Person")
    summary = json.loads(out)
    assert code == 0 and summary["grouped_by"] == "CSV column 'person'"
    assert sum(summary["patients_per_split"].values()) == 12
    code, out, _ = run(capsys, "import", str(folder), "--labels", str(csv), "--size", "16", "--json",
                       "--file-column", "scan", "--label-column", "finding", "--patient-column", "")
    summary = json.loads(out)
    assert code == 0 and summary["grouped_by"] is None and summary["patients_per_split"] == {}
    assert summary["warnings"][0].startswith("No patient column was found in Data_Entry_2017.csv, so images of one "
                                             "patient may sit in different splits; name it with --patient-column")


def test_import_with_a_column_that_does_not_exist_exits_2_naming_the_columns(capsys, tmp_path):
    folder, csv = _chestxray14_folder(tmp_path, "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age")
    code, out, err = run(capsys, "import", str(folder), "--labels", str(csv), "--patient-column", "MRN")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err == ("error: Data_Entry_2017.csv has no column 'MRN' to use as the patient column; its columns are: "
                   "Image Index, Finding Labels, Follow-up #, Patient ID, Patient Age.\n")
    code, _, err = run(capsys, "import", str(folder), "--file-column", "Image Index")
    assert code == 2 and "no labels CSV was given" in err
