from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from core.data.catalog import list_datasets, open_dataset
from core.data.importer import NothingImported, import_uploads
from core.data.preprocess import Preprocessing
from core.data.store import datasets_dir
from core.errors import UserError
from tests.fixtures import INSTITUTION, PATIENT_ID, PATIENT_NAME, blob_png, class_folder_zip, identified_ct, zip_bytes

PREP = Preprocessing(size=16)


def test_zip_of_class_folders_becomes_a_stored_split_dataset():
    summary = import_uploads("ws", [("study.zip", class_folder_zip(per_class=10))], "study", PREP)
    assert summary.task == "classification" and summary.classes == ["nodule", "normal"]
    assert summary.images == 20 and summary.skipped == []
    dataset = open_dataset("ws", summary.dataset_id)
    assert dataset.images.shape == (20, 16, 16, 1) and dataset.images.dtype == np.uint8
    assert sorted(np.bincount(dataset.labels)) == [10, 10]
    assert set(dataset.items["split"]) == {"train", "val", "test"}
    assert sum(summary.counts.values()) == 20
    assert dataset.original_file(0).read_bytes()[:4] == b"\x89PNG"
    assert summary.dataset_id in [info.id for info in list_datasets("ws")]
    assert summary.dataset_id not in [info.id for info in list_datasets("other")]  # per workspace


def test_bad_files_are_skipped_with_reasons_and_good_ones_imported():
    truncated = identified_ct()[:-5000]
    no_pixels = pydicom.dcmread(get_testdata_file("rtplan.dcm"))
    buffer = io.BytesIO()
    no_pixels.save_as(buffer)
    members = {
        "a/good1.png": blob_png(seed=1), "a/good2.png": blob_png(seed=2), "b/good3.png": blob_png(seed=3),
        "b/random.dcm": np.random.default_rng(0).bytes(3000), "b/photo.dcm": blob_png(seed=4),
        "b/truncated.dcm": truncated, "b/plan.dcm": buffer.getvalue(), "../escape.png": blob_png(seed=5),
    }
    summary = import_uploads("ws", [("mixed.zip", zip_bytes(members))], "mixed", PREP)
    assert summary.images == 3
    reasons = {item["file"]: item["reason"] for item in summary.skipped}
    assert set(reasons) == {"b/random.dcm", "b/photo.dcm", "b/truncated.dcm", "b/plan.dcm", "../escape.png"}
    assert "PNG" in reasons["b/photo.dcm"]
    assert all("\n" not in reason and "Traceback" not in reason for reason in reasons.values())


def test_nothing_importable_leaves_nothing_in_the_store():
    with pytest.raises(NothingImported) as caught:
        import_uploads("ws", [("junk.dcm", b"not a dicom at all" * 50)], "junk", PREP)
    assert caught.value.skipped[0].file == "junk.dcm"
    assert list(datasets_dir("ws").iterdir()) == []


def test_dicom_is_deidentified_before_storage_and_grouped_by_patient():
    uploads = [("p1/a.dcm", identified_ct("PAT-1")), ("p1/b.dcm", identified_ct("PAT-1")),
               ("p2/c.dcm", identified_ct("PAT-2")), ("p3/d.dcm", identified_ct("PAT-3")),
               ("p4/e.dcm", identified_ct("PAT-4"))]
    summary = import_uploads("ws", uploads, "ct", PREP)
    dataset = open_dataset("ws", summary.dataset_id)
    assert dataset.images.dtype == np.uint16  # 16-bit source keeps more than 8 bits
    stored = b"".join(p.read_bytes() for p in (dataset.path / "files").rglob("*") if p.is_file())
    stored += (dataset.path / "items.csv").read_bytes() + (dataset.path / "dataset.json").read_bytes()
    for secret in (PATIENT_NAME.encode(), b"PAT-1", INSTITUTION.encode(), b"19700101"):
        assert secret not in stored
    items = dataset.items
    p1 = items[items["file"].str.startswith("p1/")]
    assert p1["group"].nunique() == 1 and p1["split"].nunique() == 1
    assert items["group"].str.startswith("ANON-").all()


def test_unlabelled_folder_and_mixed_sizes_and_channels():
    uploads = [("a.png", blob_png(size=20)), ("b.png", blob_png(size=40, height=30, rgb=True)),
               ("c.png", blob_png(size=12))]
    summary = import_uploads("ws", uploads, "loose", Preprocessing(size=32, resize="pad"))
    assert summary.task == "unlabelled" and summary.classes == []
    dataset = open_dataset("ws", summary.dataset_id)
    assert dataset.images.shape == (3, 32, 32, 3)  # one RGB image makes the dataset RGB
    assert (dataset.labels == -1).all()
    grey = import_uploads("ws", uploads, "grey", Preprocessing(size=32, channels=1))
    assert open_dataset("ws", grey.dataset_id).images.shape == (3, 32, 32, 1)


def test_csv_labels_with_missing_files_and_a_labels_csv_inside_the_zip():
    members = {"imgs/x1.png": blob_png(seed=1), "imgs/x2.png": blob_png(seed=2), "imgs/x3.png": blob_png(seed=3),
               "labels.csv": b"filename,label\nx1.png,mass\nx2.png,normal\nmissing.png,normal\n"}
    summary = import_uploads("ws", [("d.zip", zip_bytes(members))], "csv", PREP)
    assert summary.classes == ["mass", "normal"] and summary.images == 2
    reasons = {item["file"]: item["reason"] for item in summary.skipped}
    assert "not listed" in reasons["imgs/x3.png"] and "not among the uploaded" in reasons["missing.png"]


def test_multilabel_csv_gives_multi_hot_labels():
    uploads = [(f"{n}.png", blob_png(seed=i)) for i, n in enumerate("abcd")]
    csv = ("labels.csv", b"filename,labels\na.png,effusion|mass\nb.png,mass\nc.png,\nd.png,effusion\n")
    summary = import_uploads("ws", uploads, "ml", PREP, labels_csv=csv)
    dataset = open_dataset("ws", summary.dataset_id)
    assert summary.task == "multilabel"
    order = {name: i for i, name in enumerate(dataset.items["name"])}
    assert dataset.labels[order["a.png"]].tolist() == [1, 1]
    assert dataset.labels[order["c.png"]].tolist() == [0, 0]


def test_multiframe_files_become_one_item_per_frame():
    frames = get_testdata_file("SC_rgb_rle_2frame.dcm")
    with open(frames, "rb") as handle:
        summary = import_uploads("ws", [("cine.dcm", handle.read())], "cine", PREP)
    dataset = open_dataset("ws", summary.dataset_id)
    assert summary.images == 2 and list(dataset.items["frame"]) == [0, 1]
    assert dataset.items["group"].nunique() == 1


def test_progress_is_reported_up_to_done():
    seen = []
    import_uploads("ws", [("s.zip", class_folder_zip(per_class=3))], "p", PREP, progress=lambda f, m: seen.append(f))
    assert seen[-1] == 1.0 and seen == sorted(seen)


FINDINGS = ("No Finding", "Atelectasis", "Effusion", "Atelectasis|Effusion", "Cardiomegaly", "Infiltration")


def chestxray14(patients: int = 12, header: str = "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age"
                ) -> tuple[list[tuple[str, bytes]], tuple[str, bytes]]:
    """PNG uploads and a label table in the layout of NIH ChestX-ray14's Data_Entry_2017.csv: 3 or 4 follow-up
    images per patient (42 images for 12 patients), multi-label findings separated by "|"."""
    rows, uploads = [header], []
    for patient in range(1, patients + 1):
        for follow_up in range(3 + patient % 2):
            name = f"{patient:08d}_{follow_up:03d}.png"
            rows.append(f"{name},{FINDINGS[(patient + follow_up) % len(FINDINGS)]},{follow_up},{patient},{30 + patient}")
            uploads.append((name, blob_png(size=16, seed=len(uploads))))
    return uploads, ("Data_Entry_2017.csv", ("\n".join(rows) + "\n").encode())


def _splits_per_patient(dataset) -> dict[str, set[str]]:
    items = dataset.items
    return {patient: set(items["split"][items["name"].str.startswith(patient)]) for patient in
            {name[:8] for name in items["name"]}}


def test_chestxray14_table_keeps_every_patient_in_one_split():
    uploads, csv = chestxray14()
    summary = import_uploads("ws", uploads, "cxr14", PREP, labels_csv=csv)
    assert summary.images == 42 and summary.task == "multilabel"
    assert summary.classes == ["Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "No Finding"]
    dataset = open_dataset("ws", summary.dataset_id)
    per_patient = _splits_per_patient(dataset)
    assert len(per_patient) == 12 and all(len(splits) == 1 for splits in per_patient.values())
    assert dataset.items["group"].nunique() == 12 and dataset.items["group"].str.startswith("ANON-").all()
    assert summary.grouped_by == "CSV column 'Patient ID'"
    assert summary.patients_per_split == {split: sum(s == {split} for s in per_patient.values())
                                          for split in ("train", "val", "test")}
    assert sum(summary.patients_per_split.values()) == 12 and min(summary.patients_per_split.values()) >= 1
    assert not any("patient" in warning for warning in summary.warnings)
    assert dataset.info.preprocessing["grouped_by"] == "CSV column 'Patient ID'"
    assert dataset.info.preprocessing["patients_per_split"] == summary.patients_per_split
    assert not dataset.items["group"].isin([str(p) for p in range(1, 13)]).any()  # ids stored as pseudonyms


@pytest.mark.parametrize("header", ["filename,label,follow_up,patient_id,age", "path,diagnosis,n,Subject ID,age",
                                    "image_id,class,n,case_id,age"])
def test_other_usual_column_spellings_group_patients_too(header):
    uploads, csv = chestxray14(header=header)
    summary = import_uploads("ws", uploads, "spelt", PREP, labels_csv=csv)
    assert summary.grouped_by == f"CSV column '{header.split(',')[3]}'" and summary.images == 42
    assert all(len(splits) == 1 for splits in _splits_per_patient(open_dataset("ws", summary.dataset_id)).values())


def test_named_columns_and_no_patient_column_warns_plainly():
    uploads, csv = chestxray14(header="scan,finding,follow,person,age")
    summary = import_uploads("ws", uploads, "named", PREP, csv, "finding", file_column="scan",
                             patient_column="Person")
    assert summary.grouped_by == "CSV column 'person'" and sum(summary.patients_per_split.values()) == 12
    ungrouped = import_uploads("ws", uploads, "ungrouped", PREP, csv, "finding", file_column="scan",
                               patient_column="")
    assert ungrouped.grouped_by is None and ungrouped.patients_per_split == {}
    assert ungrouped.warnings[0] == (
        "No patient column was found in Data_Entry_2017.csv, so images of one patient may sit in different splits; "
        "name it with --patient-column (on the Dataset page: Patient column).")
    plain = import_uploads("ws", [("s.zip", class_folder_zip(per_class=4))], "plain", PREP)
    assert plain.grouped_by is None and "No patient column was found" in plain.warnings[0]


def test_a_named_column_that_is_missing_or_has_no_csv_is_one_sentence():
    uploads, csv = chestxray14(patients=3)
    with pytest.raises(UserError, match=r"^Data_Entry_2017.csv has no column 'MRN' to use as the patient column; "
                                        r"its columns are: Image Index, Finding Labels, Follow-up #, Patient ID, "
                                        r"Patient Age\.$"):
        import_uploads("ws", uploads, "x", PREP, csv, patient_column="MRN")
    with pytest.raises(UserError, match="--patient-column name columns of a labels CSV, but no labels CSV"):
        import_uploads("ws", uploads, "x", PREP, patient_column="Patient ID")
    assert list(datasets_dir("ws").iterdir()) == []


@pytest.mark.parametrize("patients,files", [(2, 4), (5, 3)])
def test_dicom_files_group_by_their_pseudonymised_patient_id(patients, files):
    uploads = [(f"study/{p}_{f}.dcm", identified_ct(f"MRN-{p}")) for p in range(patients) for f in range(files)]
    summary = import_uploads("ws", uploads, "ct", PREP)
    items = open_dataset("ws", summary.dataset_id).items
    assert summary.grouped_by == "DICOM PatientID" and items["group"].nunique() == patients
    for p in range(patients):
        mine = items[items["file"].str.startswith(f"study/{p}_")]
        assert len(mine) == files and mine["group"].nunique() == 1 and mine["split"].nunique() == 1
    assert sum(summary.patients_per_split.values()) == patients
    if patients == 2:  # too few patients to hold any out: said, not hidden
        assert summary.counts == {"train": 8, "val": 0, "test": 0}
        assert "The val and test splits are empty: 2 patients or ungrouped files are too few" in summary.warnings[0]
    else:
        assert min(summary.patients_per_split.values()) >= 1


def test_files_without_a_patient_among_grouped_ones_are_named_in_a_warning():
    uploads = [(f"{p}_{f}.dcm", identified_ct(f"MRN-{p}")) for p in range(4) for f in range(2)]
    uploads += [("loose1.png", blob_png(size=16, seed=1)), ("loose2.png", blob_png(size=16, seed=2))]
    summary = import_uploads("ws", uploads, "mixed", Preprocessing(size=16, channels=1))
    assert summary.grouped_by == "DICOM PatientID" and sum(summary.patients_per_split.values()) == 4
    assert summary.warnings[0] == ("2 of 10 files name no patient (DICOM PatientID is empty or absent for them), "
                                   "so each of those files is split as a patient of its own.")


def test_dicom_display_chain_reaches_the_stored_arrays(tmp_path):
    """SIGMOID, Presentation LUT Shape INVERSE and an implicit-VR VOI LUT with a negative first value (issue 8):
    the training arrays hold what a conformant viewer shows."""
    from core.data.importer import import_paths
    from tests.core.data.test_dicom_pipeline import COLUMNS, LUT_ROW, MIDDLE, SIGMOID_ROW, inverse_cr, lut_ct, sigmoid_mg

    folder = tmp_path / "display"
    folder.mkdir()
    for name, data in {"mg.dcm": sigmoid_mg(), "cr.dcm": inverse_cr(), "ct.dcm": lut_ct(implicit=True)}.items():
        (folder / name).write_bytes(data)
    summary = import_paths("ws", [folder], "display", Preprocessing(size=64))
    assert summary.images == 3 and summary.skipped == []
    dataset = open_dataset("ws", summary.dataset_id)
    assert dataset.images.dtype == np.uint16 and dataset.images.shape == (3, 64, 64, 1)
    rows = {name.rsplit("/", 1)[-1]: np.rint(dataset.images[i, MIDDLE, COLUMNS, 0] / 65535 * 255).astype(int).tolist()
            for i, name in enumerate(dataset.items["file"])}
    expected = {"mg.dcm": SIGMOID_ROW, "cr.dcm": [255, 219, 182, 146, 109, 73, 36, 0], "ct.dcm": LUT_ROW}
    for name, row in expected.items():
        assert all(abs(a - b) <= 1 for a, b in zip(rows[name], row, strict=True)), (name, rows[name])


def test_a_class_missing_from_the_test_split_is_warned_about_at_import():
    from core.data.importer import missing_class_warnings

    counts = {"train": {"a": 5, "b": 2}, "val": {"a": 2, "b": 1}, "test": {"a": 3, "b": 0}}
    assert missing_class_warnings(counts, {"train": 7, "val": 3, "test": 3}) == [
        "The test split holds no image of 'b', so the model cannot be evaluated on that class; import more "
        "images of it."]
    assert missing_class_warnings({**counts, "test": {"a": 0, "b": 0}}, {"train": 7, "val": 3, "test": 0}) == []
    assert missing_class_warnings({**counts, "test": {"a": 3, "b": 1}}, {"train": 7, "val": 3, "test": 4}) == []
