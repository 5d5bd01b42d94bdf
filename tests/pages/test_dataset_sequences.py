"""AppTest tests of the Dataset page with sequences: the cine phantom's overview, gallery strips and player, the
augmentation preview of a clip, importing videos as clips, and playing a dropped video in the Viewer tab."""
from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from core.data.builtin import CINE_ID
from core.data.cine_phantom import CINE_COUNT, CINE_FRAME_TIME_MS, CINE_FRAMES, CINE_SIZE
from core.data.catalog import list_datasets
from pages.ui.sequence_player import animation, frame_facts, frame_strip, playback, strip_indices
from tests.core.data.sequence_files import frame_pngs, moving_square, multiframe_dicom, nifti_4d, video_bytes
from tests.fixtures import zip_bytes
from tests.pages.apptest import open_page, rerun, texts

PAGE = "pages/dataset.py"


def pictures(at) -> dict[str, str]:
    """caption -> media URL of every picture on the page (the URL ends in the format: .gif, .jpg, .png)."""
    return {image.caption: image.url for element in at.get("image") for image in element.proto.imgs}


def video_zip(per_class: int = 3, frames: int = 10) -> bytes:
    """A ZIP of two class folders of MP4 clips (written with PyAV) that differ only in how fast the square moves."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for label, step in (("slow", 1), ("fast", 3)):
            for i in range(per_class):
                archive.writestr(f"{label}/clip{i}.mp4", video_bytes(moving_square(frames, step=step, top=4 + 2 * i)))
    return buffer.getvalue()


def test_player_pieces():
    assert strip_indices(16, 6).tolist() == [0, 3, 6, 9, 12, 15]
    assert strip_indices(3, 6).tolist() == [0, 1, 2]
    clip = np.zeros((16, 8, 8, 1), np.uint8)
    strip = frame_strip(clip, count=6, min_pixels=8)
    assert strip.shape == (8, 6 * 8 + 5 * 2)  # six frames, five 2-pixel gaps
    assert frame_facts(16, 40.0) == "16 frames · 40 ms a frame (25 frames/s) · 0.64 s"
    assert frame_facts(1, None) == "1 frame · frame time not recorded"
    assert playback(40.0) == (40, "Played at 25 frames/s (real time).")
    assert playback(40.0, 0.5)[0] == 80
    delay, sentence = playback(5.0)  # 200 frames/s: browsers hold a GIF frame at least 20 ms
    assert delay == 20 and "50 frames/s" in sentence and "200 frames/s" in sentence
    assert "no frame time" in playback(None)[1]
    assert frame_facts(8, 2500.0) == "8 frames · 2,500 ms a frame (0.4 frames/s) · 20 s"  # dynamic contrast CT
    assert frame_facts(8, 1000 / 6.36) == "8 frames · 157 ms a frame (6.36 frames/s) · 1.26 s"


def test_animation_is_a_looping_gif_with_every_frame_at_the_frame_time():
    frames = moving_square(7, 16, 16, side=4)
    gif = Image.open(io.BytesIO(animation(frames, 40)))
    assert gif.format == "GIF" and gif.n_frames == 7 and gif.info["loop"] == 0
    assert gif.size == (320, 320)  # 16 px enlarged by pixel repetition
    gif.seek(3)
    assert gif.info["duration"] == 40
    assert np.array_equal(np.asarray(gif.convert("L"))[::20, ::20], frames[3])  # grey levels kept exactly


CLIPS = f"{CINE_COUNT:,} clips"
assert (CINE_FRAMES, CINE_FRAME_TIME_MS) == (16, 100.0)  # the figures written out below


def test_cine_phantom_overview_shows_frames_frame_time_and_policy():
    at = open_page(PAGE, dataset_id=CINE_ID)
    picker = at.selectbox(key="dataset-picker")
    assert f"{CLIPS} of 16 frames" in picker.format_func(picker.value)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Clips"] == f"{CINE_COUNT:,}" and metrics["Frames per clip"] == "16"
    assert metrics["Frame time"] == "100 ms" and metrics["Frame rate"] == "10 frames/s"
    assert metrics["Clip duration"] == "1.6 s"
    assert "Frame policy (uniform).** Frames: 16 per clip, spread evenly" in texts(at)
    assert "Clips per split and class" in texts(at)
    assert f"All {CLIPS} were {CINE_SIZE}×{CINE_SIZE} px before import" in texts(at)


def test_gallery_shows_a_strip_per_clip_and_plays_one():
    at = open_page(PAGE, dataset_id=CINE_ID, **{"dataset-tab": "Gallery"})
    assert f"{CLIPS} match." in texts(at)
    assert "Each strip shows frames 1, 4, 7, 10, 13, 16 of 16." in texts(at)
    assert len(at.get("image")) == 8
    play = [b for b in at.button if b.key and b.key.startswith(f"play-{CINE_ID}-")]
    assert len(play) == 8
    play[0].click().run()
    assert not at.exception, at.exception
    slider = at.slider(key=f"player-{CINE_ID}-{play[0].key.rsplit('-', 1)[1]}-frame")
    assert (slider.min, slider.max, slider.value) == (1, 16, 9)
    assert "16 frames · 100 ms a frame (10 frames/s) · 1.6 s" in texts(at)
    assert "Played at 10 frames/s (real time)." in texts(at)
    assert any("scrollIntoView" in html.proto.body for html in at.get("html"))  # brought into sight
    assert pictures(at)["Animated preview (loops)"].endswith(".gif")
    slider.set_value(16).run()
    assert any(caption.endswith("frame 16 of 16 · 1.5 s") for caption in pictures(at))


def test_augmentation_preview_of_a_clip_augments_its_frames_alike():
    at = open_page(PAGE, dataset_id=CINE_ID, **{"dataset-tab": "Augmentation"})
    assert not at.exception, at.exception
    assert "same flip, rotation, deformation, blur, brightness and contrast" in texts(at)
    assert list(pictures(at)) == ["original", "augmented 1", "augmented 2", "augmented 3"]
    assert at.number_input(key=f"aug-{CINE_ID}-sample").label == "Sample clip"


def test_import_a_zip_of_videos_as_sequences():
    at = open_page(PAGE, **{"dataset-tab": "Import"})
    at.radio(key="import-source").set_value("Upload files").run()
    at.radio(key="import-kind").set_value("sequences").run()
    assert "How clips will be made" in texts(at) and "NIfTI 4D" in texts(at)
    at.radio(key="import-frame-policy").set_value("stride").run()
    at.number_input(key="import-frames").set_value(4).run()
    assert "4 per clip, every 2nd frame from the first" in texts(at)
    assert not [c for c in at.checkbox if c.key == "prep-restoration"]  # no restoration choice for clips
    at.get("file_uploader")[0].set_value(("motion.zip", video_zip(per_class=3), "application/zip")).run()
    at.button(key="import-button").click().run()
    assert not at.exception, at.exception
    assert "Imported 6 clips of 4 frames from 6 files as **motion**" in texts(at)
    assert "Each clip: 4 frames · 80 ms a frame (12.5 frames/s) · 0.32 s. Frames: 4 per clip, every 2nd" in texts(at)
    stored = [info for info in list_datasets("default") if info.name == "motion"]
    assert stored and stored[0].frames == 4 and stored[0].frame_time_ms == 80.0  # 25 frames/s at a stride of 2
    assert stored[0].preprocessing["frame_policy"] == {"mode": "stride", "frames": 4, "stride": 2}
    rerun(at, **{"dataset-tab": "Overview"})
    assert {m.label: m.value for m in at.metric}["Frame time"] == "80 ms"


def test_a_video_dropped_in_the_viewer_plays_with_its_frame_time():
    at = open_page(PAGE, **{"dataset-tab": "Viewer"})
    at.radio(key="viewer-source").set_value("My file").run()
    at.get("file_uploader")[0].set_value(("echo.mp4", video_bytes(moving_square(12)), "video/mp4")).run()
    assert not at.exception, at.exception
    assert "12 frames · 40 ms a frame (25 frames/s) · 0.48 s" in texts(at)
    assert pictures(at)["echo.mp4 · Animated preview (loops)"].endswith(".gif")
    assert [s for s in at.slider if s.label == "Frame"]  # the viewer's own frame slider


@pytest.mark.parametrize("name,data,facts", [
    ("cine.dcm", multiframe_dicom(frames=8, frame_time_ms=33.3),
     "8 frames · 33.3 ms a frame (30 frames/s) · 0.266 s"),
    ("cine.nii.gz", nifti_4d(frames=6, step_ms=50.0), "6 frames · 50 ms a frame (20 frames/s) · 0.3 s"),
    ("frames.zip", zip_bytes(frame_pngs(frames=5)), "5 frames · frame time not recorded"),
])
def test_a_multi_frame_file_in_the_viewer_plays_above_its_viewer(name, data, facts):
    at = open_page(PAGE, **{"dataset-tab": "Viewer"})
    at.radio(key="viewer-source").set_value("My file").run()
    at.get("file_uploader")[0].set_value((name, data, "application/octet-stream")).run()
    assert not at.exception, at.exception
    assert facts in texts(at)
    assert pictures(at)[f"{name} · Animated preview (loops)"].endswith(".gif")
    if name.endswith(".dcm"):  # the viewer's window follows into the animation, its tags are de-identified
        assert any(s.label == "Level (centre)" for s in at.slider)
        assert any(e.label.startswith("DICOM tags, de-identified") for e in at.expander)


def test_the_builtin_list_counts_clips():
    at = open_page(PAGE, **{"dataset-tab": "Import"})
    assert any("Cine phantom" in m.value and f"{CLIPS} of 16 frames" in m.value for m in at.markdown)
