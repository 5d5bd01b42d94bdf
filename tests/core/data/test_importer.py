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
