"""Which files make a clip, in which order: multi-frame DICOM, DICOM series (shuffled files), NIfTI 4D, videos,
folders of numbered frames; and the sequence readers' frame times."""
from __future__ import annotations

import random

import nibabel as nib
import numpy as np
import pytest

from core.data.clips import group_clips, natural_key, read_clip
from core.data.deid import Deidentifier
from core.data.nifti import read_nifti, read_nifti_sequence
from core.data.readers import read_medical_image
from core.data.sources import Skipped, SourceFile
from core.errors import UserError
from tests.core.data.sequence_files import (cine_series, frame_pngs, moving_square, multiframe_dicom, nifti_4d,
                                            square_column, video_bytes)
from tests.fixtures import PATIENT_ID, PATIENT_NAME, blob_png, png_bytes, zip_bytes

DEID = Deidentifier(b"test-secret")


def sources(files: dict[str, bytes]) -> list[SourceFile]:
    return [SourceFile(path, lambda data=data: data) for path, data in files.items()]


def columns(frames: np.ndarray) -> list[float]:
    return [square_column(frame) for frame in frames]


def assert_in_order(frames: np.ndarray, count: int, step: float = 2.0) -> None:
    assert len(frames) == count
    wrap = frames.shape[2] - 8  # the square (8 px) wraps back to the left edge
    assert np.allclose(np.mod(np.diff(columns(frames)), wrap), step, atol=0.5)


@pytest.mark.parametrize("use_trigger", [True, False])
def test_series_in_shuffled_file_order_is_put_back_in_acquisition_order(use_trigger):
    series = cine_series(10, use_trigger=use_trigger)
    random.Random(3).shuffle(series)
    files = {f"study/patient/IM{i:03d}.dcm": data for i, (_, data) in enumerate(series)}
    skipped: list[Skipped] = []
    clips = group_clips(sources(files), DEID, skipped)
    assert skipped == [] and len(clips) == 1
    clip = clips[0]
    assert clip.kind == "series" and clip.path == "study/patient" and len(clip.files) == 10
    assert_in_order(clip.image.frames, 10)
    frame_of = {f"study/patient/IM{i:03d}.dcm": k for i, (k, _) in enumerate(series)}
    assert [frame_of[path] for path in clip.files] == list(range(10))  # files listed in frame order
    assert clip.image.frame_time_ms == (pytest.approx(40.0) if use_trigger else None)
    # de-identified on reading, grouping still worked: the keyed patient, no name in the header
    assert clip.patient_key == DEID.pseudonym(PATIENT_ID)
    assert all(PATIENT_NAME not in row["value"] for row in clip.image.tags)
    kept = b"".join(read() for read in clip.originals.values())
    assert PATIENT_NAME.encode() not in kept and PATIENT_ID.encode() not in kept and len(clip.originals) == 10


def test_two_series_in_one_folder_are_two_clips_and_a_lone_image_is_skipped():
    first, second = cine_series(4, patient_id="A"), cine_series(5, patient_id="B")
    files = {f"mixed/a{i}.dcm": d for i, (_, d) in enumerate(first)}
    files.update({f"mixed/b{i}.dcm": d for i, (_, d) in enumerate(second)})
    files["mixed/lone.dcm"] = cine_series(1)[0][1]
    skipped: list[Skipped] = []
    clips = group_clips(sources(files), DEID, skipped)
    assert sorted(len(c.files) for c in clips) == [4, 5]
    assert len({c.path for c in clips}) == 2  # never one name for two clips
    assert [s.file for s in skipped] == ["mixed/lone.dcm"] and "single image" in skipped[0].reason


def test_a_cine_stack_gives_its_middle_slice_position_over_time():
    stack = cine_series(6, positions=3)
    files = {f"stack/IM{i:02d}.dcm": d for i, (_, d) in enumerate(stack)}
    skipped: list[Skipped] = []
    (clip,) = group_clips(sources(files), DEID, skipped)
    assert clip.image.frame_count == 6 and len(skipped) == 12
    assert clip.image.frames.min() % 16 == 1  # position 1 of 0-2 (pixel values carry the position)
    assert any("3 slice positions" in w for w in clip.warnings)
    assert_in_order(clip.image.frames, 6)


def test_multi_frame_dicom_frame_time_from_frame_time_or_cine_rate():
    image = read_medical_image(multiframe_dicom(6, frame_time_ms=33.3), "cine.dcm")
    assert image.frame_count == 6 and image.frame_time_ms == pytest.approx(33.3)
    assert_in_order(image.frames, 6)
    assert read_medical_image(multiframe_dicom(6, frame_time_ms=None, cine_rate=25), "c.dcm").frame_time_ms == pytest.approx(40)
    assert read_medical_image(multiframe_dicom(6, frame_time_ms=None), "c.dcm").frame_time_ms is None


def test_nifti_4d_is_the_middle_slice_over_time():
    image = read_nifti_sequence(nifti_4d(8, size=24, slices=5, step_ms=50.0), "cine.nii")
    assert image.format == "nifti" and image.frames.shape == (8, 24, 24)
    assert np.array_equal(image.frames, moving_square(8, 24, 24).astype(np.float32))  # upright, in order
    assert image.frame_time_ms == pytest.approx(50.0)
    assert read_nifti_sequence(nifti_4d(4, step_ms=0.04, unit="sec"), "s.nii").frame_time_ms == pytest.approx(40.0)
    unknown = read_nifti_sequence(nifti_4d(4, unit="unknown"), "u.nii")
    assert unknown.frame_time_ms is None and any("frame time is unknown" in w for w in unknown.warnings)
    assert read_nifti(nifti_4d(4), "v.nii").frame_count == 5  # the image reader still shows the first volume


@pytest.mark.parametrize("affine", [
    np.eye(4),
    np.array([[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], dtype=float),   # i and j swapped
    np.diag([-1.0, 1.0, -1.0, 1.0]),                                                   # x and z flipped
    np.array([[0, 0, 2, 0], [1, 0, 0, 0], [0, -1, 0, 0], [0, 0, 0, 1]], dtype=float),  # slices along x (sagittal)
])
def test_nifti_4d_plane_is_oriented_as_the_canonical_volume(affine):
    rng = np.random.default_rng(0)
    volume = rng.integers(0, 1000, (6, 7, 4, 3)).astype(np.int16)  # even slice count: the middle is ambiguous
    image = nib.Nifti1Image(volume, affine)
    image.header.set_xyzt_units("mm", "msec")
    frames = read_nifti_sequence(image.to_bytes(), "o.nii").frames
    canonical = nib.as_closest_canonical(image)
    axis = int(nib.io_orientation(affine)[2, 0])
    index = [slice(None)] * 4
    index[axis] = canonical.shape[axis] // 2
    plane = np.asarray(canonical.dataobj[tuple(index)], dtype=np.float32)   # (a, b, T)
    expected = np.flip(np.transpose(plane, (2, 1, 0)), axis=(1, 2))
    assert np.array_equal(frames, expected)


def test_a_3d_nifti_is_no_sequence():
    volume = nifti_4d(1)
    skipped: list[Skipped] = []
    assert group_clips(sources({"a/vol.nii": volume}), DEID, skipped) == []
    assert "without time points" in skipped[0].reason


def test_frame_folders_sort_naturally_and_mixed_sources_make_their_own_clips():
    frames = frame_pngs(12)  # frame1.png ... frame12.png
    names = list(frames)
    random.Random(1).shuffle(names)
    files = {f"normal/clip01/{name}": frames[name] for name in names}
    files["normal/echo.mp4"] = video_bytes(moving_square(7), "mp4", "mpeg4")
    files["normal/cine.nii.gz"] = __import__("gzip").compress(nifti_4d(5, size=32))
    files["normal/cine.dcm"] = multiframe_dicom(4)
    files["single/only1.png"] = blob_png()
    skipped: list[Skipped] = []
    clips = {clip.path: clip for clip in group_clips(sources(files), DEID, skipped)}
    assert set(clips) == {"normal/clip01", "normal/echo.mp4", "normal/cine.nii.gz", "normal/cine.dcm"}
    frames_clip = clips["normal/clip01"]
    assert frames_clip.kind == "frames" and frames_clip.image.format == "frames"
    assert frames_clip.files == [f"normal/clip01/frame{k}.png" for k in range(1, 13)]
    assert_in_order(frames_clip.image.frames, 12)
    assert clips["normal/echo.mp4"].originals == {} and clips["normal/cine.nii.gz"].originals == {}
    assert list(clips["normal/cine.dcm"].originals) == ["normal/cine.dcm"]
    assert [s.file for s in skipped] == ["single/only1.png"]


def test_frames_of_different_sizes_are_refused():
    files = {"c/f1.png": blob_png(size=16), "c/f2.png": blob_png(size=20)}
    skipped: list[Skipped] = []
    assert group_clips(sources(files), DEID, skipped) == []
    assert {s.file for s in skipped} == set(files) and "differ in size" in skipped[0].reason


def test_natural_key():
    assert sorted(["f10.png", "f2.png", "F1.png"], key=natural_key) == ["F1.png", "f2.png", "f10.png"]


def test_read_clip_takes_one_uploaded_sequence():
    series = cine_series(6)
    random.Random(0).shuffle(series)
    image = read_clip(zip_bytes({f"IM{i}.dcm": d for i, (_, d) in enumerate(series)}), "series.zip")
    assert image.name == "series.zip" and image.frame_time_ms == pytest.approx(40.0)
    assert_in_order(image.frames, 6)
    assert_in_order(read_clip(zip_bytes(frame_pngs(5)), "frames.zip").frames, 5)
    assert read_clip(video_bytes(moving_square(5), "avi", "mjpeg"), "echo.avi").frame_count == 5
    assert read_clip(multiframe_dicom(4), "cine.dcm").frame_count == 4
    assert read_clip(nifti_4d(4), "cine.nii").frame_count == 4


@pytest.mark.parametrize(("data", "name", "message"), [
    (png_bytes(moving_square(1)[0]), "one.png", "one.png holds a single frame, not a sequence"),
    (zip_bytes({"a/f1.png": blob_png(), "a/f2.png": blob_png(), "b/f1.png": blob_png(), "b/f2.png": blob_png()}),
     "two.zip", "two.zip holds 2 sequences"),
    (zip_bytes({"notes.txt": b"hello"}), "text.zip", "text.zip holds no sequence"),
    (b"", "empty.mp4", "empty.mp4 is empty"),
])
def test_read_clip_refuses_what_is_not_one_sequence(data, name, message):
    with pytest.raises(UserError, match=message):
        read_clip(data, name)
