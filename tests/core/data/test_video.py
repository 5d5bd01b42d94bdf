"""Videos decoded with PyAV: MP4 and AVI files written here, read back frame by frame in order."""
from __future__ import annotations

import av
import numpy as np
import pytest

from core.data.readers import read_medical_image, sniff_format
from core.data.video import looks_like_video, read_video
from core.errors import UserError
from tests.core.data.sequence_files import BRIGHT, DARK, moving_square, square_column, video_bytes
from tests.fixtures import blob_png

MP4_CODEC = "libx264" if "libx264" in av.codecs_available else "mpeg4"
CASES = [("mp4", MP4_CODEC, "clip.mp4"), ("avi", "mjpeg", "clip.avi"), ("avi", "mpeg4", "clip.avi")]


@pytest.mark.parametrize(("container", "codec", "name"), CASES)
def test_every_frame_in_order_with_frame_time_and_values(container, codec, name, tmp_path):
    frames = moving_square(12, height=32, width=48, step=3)
    path = tmp_path / name
    path.write_bytes(video_bytes(frames, container, codec, fps=20))
    image = read_video(path.read_bytes(), name)
    assert image.format == "video" and not image.is_color and image.frames.shape == (12, 32, 48)
    assert image.frame_count == 12 and image.frame_time_ms == pytest.approx(50.0)
    error = np.abs(image.frames - frames)
    assert error.mean() < 2.0 and error.max() < 16  # lossy codecs, near-lossless settings
    columns = [square_column(frame) for frame in image.frames]
    assert np.allclose(np.diff(columns), 3.0, atol=0.5)  # the square moves one step per frame: order kept
    assert image.default_window.source == "full-range" and image.value_range == (0.0, 255.0)


def test_colour_video_stays_rgb():
    frames = np.zeros((6, 32, 32, 3), dtype=np.uint8)
    frames[..., 2] = 160  # blue background
    for k in range(6):
        frames[k, 8:16, 2 + 3 * k:10 + 3 * k] = (230, 20, 20)  # a red square moving right
    image = read_video(video_bytes(frames, "mp4", MP4_CODEC, fps=25), "doppler.mp4")
    assert image.is_color and image.frames.shape == (6, 32, 32, 3) and image.photometric == "RGB"
    assert image.frame_time_ms == pytest.approx(40.0)
    red = image.frames[3, 12, 2 + 9 + 4]
    assert red[0] > 180 and red[2] < 80


def test_container_metadata_is_never_kept():
    data = video_bytes(moving_square(4), "mp4", MP4_CODEC, metadata={"title": "Doe^Jane", "comment": "MRN-0042"})
    assert b"Doe^Jane" in data
    image = read_video(data, "echo.mp4")
    assert image.tags == [] and image.dicom is None and image.patient_key is None
    assert "Doe" not in repr(image.__dict__.get("warnings")) and "Doe" not in image.name


def test_content_decides_and_suffixes_catch_mistakes():
    mp4 = video_bytes(moving_square(4), "mp4", MP4_CODEC)
    avi = video_bytes(moving_square(4), "avi", "mjpeg")
    assert looks_like_video(mp4) and looks_like_video(avi) and looks_like_video(b"\x1a\x45\xdf\xa3" + bytes(40))
    assert sniff_format(mp4) == "video" and sniff_format(avi) == "video"
    assert not looks_like_video(b"\x00\x00\x00\x18ftypheic" + bytes(40))  # a HEIF still image
    assert not looks_like_video(b"RIFF\x10\x00\x00\x00WEBPVP8 " + bytes(40))
    assert read_medical_image(avi, "echo.avi").frame_count == 4
    renamed = read_medical_image(mp4, "echo.png")
    assert renamed.format == "video" and any("actually a video" in w for w in renamed.warnings)
    with pytest.raises(UserError, match="echo.mp4 is a PNG image, not a video"):
        read_medical_image(blob_png(), "echo.mp4")
    with pytest.raises(UserError) as caught:
        read_medical_image(b"RIFF\x10\x00\x00\x00WEBPVP8 " + bytes(40), "x.webp")
    assert "AVI" in caught.value.message and "does not read" in caught.value.message
    assert "WebP" in caught.value.message


@pytest.mark.parametrize("damage", ["truncated", "garbled"])
def test_damaged_video_is_one_sentence(damage):
    data = video_bytes(moving_square(8, 64, 64), "avi", "mjpeg")
    if damage == "truncated":
        data = data[:200]
    else:
        data = data[:12] + np.random.default_rng(0).bytes(len(data) - 12)
    with pytest.raises(UserError) as caught:
        read_video(data, "broken.avi")
    assert caught.value.message.startswith("broken.avi") and "\n" not in caught.value.message


def test_grey_check_tolerates_codec_noise():
    image = read_video(video_bytes(moving_square(6, bright=BRIGHT, dark=DARK), "avi", "mpeg4"), "grey.avi")
    assert not image.is_color and image.frames.ndim == 3
