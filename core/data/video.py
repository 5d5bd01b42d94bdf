"""Video files (MP4, AVI, ...: how echocardiography datasets such as EchoNet-Dynamic ship their clips), decoded with
PyAV (FFmpeg's libraries). Nothing of the container's metadata (titles, comments, dates) is kept.

Only the containers `looks_like_video` recognises are opened, each with its own demuxer named (never FFmpeg's
guess, which would also take playlists and other formats that open further files), and every attempt to open
another file or URL from inside the container is refused.
"""
from __future__ import annotations

import io
from fractions import Fraction

import numpy as np

from core.data.medical_image import MedicalImage, Window
from core.data.raster import MAX_VALUES
from core.errors import UserError

_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1", b"avif", b"avis"}
_QUICKTIME_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}
_GREY_SPREAD = 10        # a pixel whose channels differ by more than this is coloured (codecs add +-3 to grey)
_GREY_SHARE = 0.001      # a video is grey when at most this share of its pixels are coloured


def video_container(data: bytes) -> str | None:
    """The FFmpeg demuxer for a video file's content: "mov" (MP4, MOV, M4V), "avi" or "matroska" (MKV, WebM)."""
    if len(data) >= 12 and data[4:8] == b"ftyp":
        return None if data[8:12] in _HEIF_BRANDS else "mov"  # HEIF/AVIF still images share the ISO format
    if len(data) >= 8 and data[4:8] in _QUICKTIME_ATOMS and int.from_bytes(data[:4], "big") >= 8:
        return "mov"
    if data[:4] == b"RIFF" and data[8:12] == b"AVI ":
        return "avi"
    if data[:4] == b"\x1a\x45\xdf\xa3":
        return "matroska"
    return None


def looks_like_video(data: bytes) -> bool:
    """True for an ISO media file (MP4/MOV: 'ftyp' at byte 4), an AVI (RIFF....AVI ) or Matroska/WebM."""
    return video_container(data) is not None


def _no_nested_open(*_args: object, **_kwargs: object) -> None:
    raise PermissionError("MedLab does not let a video open other files")


def _frame_time_ms(stream, pts: list[int]) -> float | None:
    """Milliseconds between frames: from the stream's average rate, else from the frames' own timestamps."""
    for rate in (stream.average_rate, stream.guessed_rate):
        if rate and float(rate) > 0:
            return 1000.0 / float(rate)
    if len(pts) > 1 and stream.time_base and pts[-1] > pts[0]:
        return float((pts[-1] - pts[0]) * Fraction(stream.time_base)) * 1000.0 / (len(pts) - 1)
    return None


def _coloured(rgb: np.ndarray) -> int:
    """How many pixels of an (H, W, 3) uint8 frame have channels more than _GREY_SPREAD apart."""
    r, g, b = (rgb[..., c].astype(np.int16) for c in range(3))
    spread = np.maximum(np.maximum(np.abs(r - g), np.abs(g - b)), np.abs(r - b))
    return int(np.count_nonzero(spread > _GREY_SPREAD))


def read_video(data: bytes, name: str) -> MedicalImage:
    """Every frame of the first video stream: frames float32 (F, H, W) when grey, (F, H, W, 3) RGB 0-255 otherwise,
    format "video", frame_time_ms from the stream's average rate. Raises UserError for an unreadable file."""
    import av  # here: importing PyAV loads FFmpeg's libraries, which nothing else needs

    container_format = video_container(data)
    if container_format is None:
        raise UserError(f"{name} is not a video MedLab reads: use MP4, MOV, AVI, MKV or WebM files.")
    frames: list[np.ndarray] = []
    pts: list[int] = []
    coloured = total = 0
    try:
        with av.open(io.BytesIO(data), mode="r", format=container_format, io_open=_no_nested_open) as container:
            if not container.streams.video:
                raise UserError(f"{name} holds no video stream.")
            stream = container.streams.video[0]
            width, height = int(stream.codec_context.width or 0), int(stream.codec_context.height or 0)
            if width * height * 3 > MAX_VALUES:
                raise UserError(f"{name} is larger than MedLab opens: its frames are {width}x{height} pixels.")
            for frame in container.decode(stream):
                rgb = frame.to_ndarray(format="rgb24")
                if (len(frames) + 1) * rgb.size > MAX_VALUES:
                    raise UserError(f"{name} is larger than MedLab opens: more than {len(frames)} frames of "
                                    f"{rgb.shape[1]}x{rgb.shape[0]} pixels.")
                if frames and rgb.shape != frames[0].shape:
                    raise UserError(f"{name} changes its frame size mid-stream, which MedLab does not read.")
                coloured += _coloured(rgb[::2, ::2])  # every other row and column: a colour region is larger
                total += rgb[::2, ::2, 0].size
                frames.append(rgb)
                if frame.pts is not None:
                    pts.append(int(frame.pts))
            frame_time = _frame_time_ms(stream, pts)
    except UserError:
        raise
    except (av.FFmpegError, PermissionError, ValueError, OSError, MemoryError):
        raise UserError(f"{name} could not be decoded: it is damaged, truncated or uses a codec FFmpeg lacks.") from None
    if not frames:
        raise UserError(f"{name} holds no frame that could be decoded.")
    stack = np.stack(frames)
    grey = coloured <= _GREY_SHARE * total
    if grey:  # the mean of the channels, summed plane by plane (a reduction over the last axis is slow)
        values = (stack[..., 0].astype(np.float32) + stack[..., 1] + stack[..., 2]) / np.float32(3)
    else:
        values = stack.astype(np.float32)
    return MedicalImage(
        name=name, format="video", frames=values, is_color=not grey, bits=8, value_range=(0.0, 255.0),
        default_window=Window(center=127.5, width=255.0, source="full-range"),
        photometric="MONOCHROME2" if grey else "RGB", frame_time_ms=frame_time,
    )
