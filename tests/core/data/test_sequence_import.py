"""Importing sequences as a dataset of clips: frame policy, the same per-frame preprocessing as images, labels by
folder or CSV, patients grouped, de-identification, nothing half-written."""
from __future__ import annotations

import random

import numpy as np
import pytest

from core.data.catalog import open_dataset
from core.data.frame_policy import FramePolicy
from core.data.importer import NothingImported, import_paths, import_uploads
from core.data.preprocess import Preprocessing
from core.data.store import datasets_dir
from core.errors import UserError
from tests.core.data.sequence_files import (cine_series, frame_pngs, moving_square, multiframe_dicom, square_column,
                                            video_bytes)
from tests.fixtures import INSTITUTION, PATIENT_NAME, blob_png, zip_bytes

PREP = Preprocessing(size=16)


def class_clips(per_class: int = 4) -> list[tuple[str, bytes]]:
    """Videos and frame folders in class folders: 'fast' squares move 2 px a frame, 'slow' ones 1 px."""
    uploads = []
    for label, step in (("fast", 2), ("slow", 1)):
        for i in range(per_class):
            uploads.append((f"{label}/echo{i}.mp4", video_bytes(moving_square(10 + i, step=step), "mp4", "mpeg4")))
            for name, data in frame_pngs(6 + i, prefix="f").items():
                uploads.append((f"{label}/clip{i:02d}/{name}", data))
    return uploads


def test_class_folders_of_videos_and_frame_folders_become_clips():
    summary = import_uploads("ws", class_clips(), "echo", PREP, frame_policy=FramePolicy("uniform", 4))
    assert summary.task == "classification" and summary.classes == ["fast", "slow"]
    assert summary.images == 16 and summary.frames == 4 and summary.skipped == []
    assert summary.preprocessing[0] == FramePolicy("uniform", 4).describe()
    dataset = open_dataset("ws", summary.dataset_id)
    info = dataset.info
    assert info.is_sequence and info.frames == 4 and info.task == "classification"
    assert dataset.images.shape == (16, 4, 16, 16, 1) and dataset.images.dtype == np.uint8
    assert info.preprocessing["frame_policy"] == {"mode": "uniform", "frames": 4, "stride": 1}
    assert info.preprocessing["size"] == 16 and info.preprocessing["channels"] == 1
    assert info.frame_time_ms is not None
    items = dataset.items
    assert len(items) == 16 and set(items["split"]) <= {"train", "val", "test"}
    assert set(items.loc[items["format"] == "video", "file"]) == {""}  # video bytes are not kept
    assert not list((dataset.path / "files").rglob("*.mp4"))
    frames_rows = items[items["format"] == "frames"]
    assert frames_rows["name"].str.match(r"^(fast|slow)/clip\d\d$").all()
    assert (dataset.path / "files" / frames_rows["file"].iloc[0]).exists()
    for row, label in zip(items.itertuples(), dataset.labels):
        assert row.label == info.classes[label] and row.name.startswith(row.label + "/")
    # each stored clip keeps its frames in order: the square moves right from frame to frame
    clip = dataset.images[0]
    assert np.all(np.diff([square_column(frame[..., 0]) for frame in clip]) > 0)


def test_frames_get_exactly_the_preprocessing_images_get():
    frames = frame_pngs(5, size=40)
    uploads = [(f"a/clip/{name}", data) for name, data in frames.items()]
    prep = Preprocessing(size=24, resize="crop", channels=3)
    as_images = open_dataset("ws", import_uploads("ws", uploads, "imgs", prep).dataset_id)
    as_clip = open_dataset("ws", import_uploads("ws", uploads, "clip", prep,
                                                frame_policy=FramePolicy("uniform", 5)).dataset_id)
    order = np.argsort([int(name.split("frame")[1].split(".")[0]) for name in as_images.items["name"]])
    assert as_clip.images.shape == (1, 5, 24, 24, 3)
    assert np.array_equal(as_clip.images[0], as_images.images[order])


def test_csv_names_clips_and_groups_patients():
    uploads = []
    rows = ["clip,diagnosis,Patient ID"]
    for i in range(12):
        label = "weak" if i % 2 else "normal"
        uploads.append((f"all/echo{i}.avi", video_bytes(moving_square(8, step=1 + i % 2), "avi", "mjpeg")))
        rows.append(f"echo{i}.avi,{label},P{i // 3}")  # 3 clips per patient
    for name, data in frame_pngs(5).items():
        uploads.append((f"all/run7/{name}", data))
    rows.append("run7,normal,P9")
    uploads.append(("all/unlisted.avi", video_bytes(moving_square(4), "avi", "mjpeg")))
    csv = ("labels.csv", ("\n".join(rows) + "\n").encode())
    summary = import_uploads("ws", uploads, "csv", PREP, labels_csv=csv, frame_policy=FramePolicy("stride", 3, 2))
    assert summary.images == 13 and summary.classes == ["normal", "weak"]
    assert summary.grouped_by == "CSV column 'Patient ID'"
    assert [s["file"] for s in summary.skipped] == ["all/unlisted.avi"]
    items = open_dataset("ws", summary.dataset_id).items
    assert items.groupby("group")["split"].nunique().max() == 1  # a patient's clips share one split
    assert items["group"].nunique() == 5 and items["group"].str.startswith("ANON-").all()
    assert "P1" not in set(items["group"])


def test_dicom_clips_are_deidentified_grouped_by_patient_and_kept_de_identified():
    uploads = []
    for patient in range(4):
        series = cine_series(6, patient_id=f"PAT-{patient}")
        random.Random(patient).shuffle(series)
        label = "normal" if patient % 2 else "weak"
        uploads += [(f"{label}/pat{patient}/IM{i}.dcm", data) for i, (_, data) in enumerate(series)]
        uploads.append((f"{label}/pat{patient}-cine.dcm", multiframe_dicom(5, patient_id=f"PAT-{patient}")))
    summary = import_uploads("ws", uploads, "cine", PREP, frame_policy=FramePolicy("uniform", 6))
    assert summary.images == 8 and summary.grouped_by == "DICOM PatientID"
    dataset = open_dataset("ws", summary.dataset_id)
    assert dataset.images.dtype == np.uint16 and dataset.info.frame_time_ms is not None
    items = dataset.items
    assert items.groupby("group")["split"].nunique().max() == 1 and items["group"].nunique() == 4
    stored = [p for p in (dataset.path / "files").rglob("*") if p.is_file()]
    assert len(stored) == 4 * 6 + 4
    blob = b"".join(p.read_bytes() for p in stored) + (dataset.path / "items.csv").read_bytes()
    for secret in (PATIENT_NAME.encode(), b"PAT-1", INSTITUTION.encode(), b"19700101"):
        assert secret not in blob
    series_rows = items[items["format"] == "dicom"]
    assert set(series_rows["name"]) >= {"normal/pat1", "weak/pat0"}


def test_policy_notes_become_warnings():
    noise = np.random.default_rng(0).integers(0, 255, (12, 32, 32), dtype=np.uint8)
    uploads = [("a/noise.avi", video_bytes(noise, "avi", "mjpeg")),
               ("a/short.avi", video_bytes(moving_square(3), "avi", "mjpeg"))]
    summary = import_uploads("ws", uploads, "notes", PREP, frame_policy=FramePolicy("cycle", 6))
    text = " ".join(summary.warnings)
    assert "a/noise.avi" in text and "no clear cycle" in text and "a/short.avi" in text


def test_unusable_files_are_listed_and_nothing_usable_writes_nothing():
    uploads = [("a/one.png", blob_png()), ("a/junk.mp4", b"\x00\x00\x00\x18ftypisom" + bytes(100))]
    with pytest.raises(NothingImported) as caught:
        import_uploads("ws", uploads, "none", PREP, frame_policy=FramePolicy())
    assert {s.file for s in caught.value.skipped} == {"a/one.png", "a/junk.mp4"}
    assert [p for p in datasets_dir("ws").iterdir() if not p.name.startswith(".")] == []
    assert not [p for p in datasets_dir("ws").iterdir() if p.name.startswith(".tmp")]


def test_tiles_do_not_apply_to_sequences():
    with pytest.raises(UserError, match="not tile"):
        import_uploads("ws", class_clips(1), "t", Preprocessing(size=16, resize="tile", intensity="full_range"),
                       frame_policy=FramePolicy())


def test_import_paths_reads_a_folder_as_sequences(tmp_path):
    folder = tmp_path / "echo"
    for name, data in class_clips(2):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    summary = import_paths("ws", [folder], prep=PREP, frame_policy=FramePolicy("stride", 4, 1))
    assert summary.name == "echo" and summary.images == 8 and summary.frames == 4
    assert open_dataset("ws", summary.dataset_id).images.shape == (8, 4, 16, 16, 1)


def test_a_zip_of_a_labelled_tree_with_a_csv_inside():
    members = {f"study/{name}": data for name, data in class_clips(2)}
    summary = import_uploads("ws", [("study.zip", zip_bytes(members))], "zipped", PREP,
                             frame_policy=FramePolicy("uniform", 3))
    assert summary.images == 8 and summary.classes == ["fast", "slow"]
