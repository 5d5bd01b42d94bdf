"""Playing a sequence (a stored clip, a cine DICOM, a video): an animated preview at the clip's own frame time, a
frame slider with the chosen frame beside it, and the facts (frame count, frame time, frames per second); and the
gallery's strip of evenly spaced frames per clip.

The animation is an animated GIF made with Pillow and shown by st.image, which passes GIF bytes through unchanged
when they are no wider than the page. Browsers hold a GIF frame for at least 20 ms (Chrome and Firefox draw a
shorter delay as 100 ms), so a faster clip plays at 50 frames/s at most, said under the preview.
"""
from __future__ import annotations

import io
import zipfile

import numpy as np
import streamlit as st
from PIL import Image

from core.data.medical_image import MedicalImage, Window
from core.data.readers import read_medical_image
from core.data.store import Dataset
from core.data.windowing import render_8bit
from core.errors import UserError
from core.text import counted
from pages.ui.images import display_image

MIN_DELAY_MS = 20            # the shortest GIF frame delay browsers honour
DEFAULT_FRAME_MS = 100.0     # played at 10 frames/s when the file gives no frame time
SPEEDS = (0.25, 0.5, 1.0, 2.0)
MAX_ANIMATED_FRAMES = 120    # a longer sequence is animated from evenly spaced frames (the slider shows all)
ANIMATION_PIXELS = 320       # small frames are enlarged by pixel repetition to about this size (shown at that size)
MAX_ANIMATION_PIXELS = 384   # larger ones are shrunk to it (st.image must not resize a GIF: that drops the animation)
STRIP_FRAMES = 6
CLIP_COLUMNS = 2
CLIPS_PER_PAGE = 8


def number(value: float) -> str:
    """Three significant digits, never in exponent form: 0.0333, 6.36, 157, 2,500."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def frame_facts(frames: int, frame_time_ms: float | None) -> str:
    """"16 frames · 40 ms a frame (25 frames/s) · 0.64 s" (or "frame time not recorded")."""
    parts = [counted(frames, "frame")]
    if frame_time_ms:
        parts += [f"{number(frame_time_ms)} ms a frame ({number(1000 / frame_time_ms)} frames/s)",
                  f"{number(frames * frame_time_ms / 1000)} s"]
    else:
        parts.append("frame time not recorded")
    return " · ".join(parts)


def strip_indices(total: int, count: int = STRIP_FRAMES) -> np.ndarray:
    """`count` frame indices spread evenly from the first frame to the last (fewer when the clip is shorter)."""
    return np.unique(np.linspace(0, total - 1, min(count, total)).round().astype(int))


def frame_strip(clip: np.ndarray, count: int = STRIP_FRAMES, min_pixels: int = 64) -> np.ndarray:
    """A stored clip (T, H, W, C) uint8/uint16 or float in [0, 1] -> one uint8 picture of `count` evenly spaced
    frames side by side, separated by a 2-pixel white gap: (h, count * w + gaps) grey or (..., 3) colour."""
    frames = [display_image(np.asarray(clip[i]), min_pixels) for i in strip_indices(len(clip), count)]
    gap = np.full((frames[0].shape[0], 2, *frames[0].shape[2:]), 255, np.uint8)
    return np.concatenate([part for frame in frames for part in (frame, gap)][:-1], axis=1)


def playback(frame_time_ms: float | None, speed: float = 1.0) -> tuple[int, str]:
    """(GIF delay in ms, a sentence on how the preview plays) for a clip's frame time at `speed`."""
    own = frame_time_ms or DEFAULT_FRAME_MS
    delay = own / speed
    if delay < MIN_DELAY_MS:
        return MIN_DELAY_MS, (f"Played at {1000 / MIN_DELAY_MS:g} frames/s, the fastest a browser shows an animation; "
                              f"the clip's own rate is {number(1000 * speed / own)} frames/s.")
    rate = f"{number(1000 / delay)} frames/s"
    if not frame_time_ms:
        return round(delay), f"The file gives no frame time: played at {rate}."
    return round(delay), f"Played at {rate}" + (" (real time)." if speed == 1 else f" ({speed:g}× real time).")


def animation(frames: np.ndarray, delay_ms: int) -> bytes:
    """uint8 frames (T, H, W) or (T, H, W, 3) -> an endlessly looping animated GIF, each frame shown `delay_ms`."""
    side = max(frames.shape[1:3])
    factor = max(1, ANIMATION_PIXELS // side)
    pictures = [Image.fromarray(frame.repeat(factor, axis=0).repeat(factor, axis=1)) for frame in frames]
    if side > MAX_ANIMATION_PIXELS:
        scale = MAX_ANIMATION_PIXELS / side
        size = (max(1, round(frames.shape[2] * scale)), max(1, round(frames.shape[1] * scale)))
        pictures = [picture.resize(size, Image.Resampling.BILINEAR) for picture in pictures]
    buffer = io.BytesIO()
    pictures[0].save(buffer, format="GIF", save_all=True, append_images=pictures[1:], duration=delay_ms, loop=0)
    return buffer.getvalue()


@st.cache_resource(max_entries=32, show_spinner=False)
def _animation(_frames: np.ndarray, identity: str, delay_ms: int) -> bytes:
    """`animation`, made once per clip (`identity` names it) and speed, shared by every session (bytes: read-only)."""
    return animation(_frames, delay_ms)


def _as_uint8(frames: np.ndarray) -> np.ndarray:
    """Stored clip frames (T, H, W[, C]) of any MedLab dtype -> uint8 (T, H, W) grey or (T, H, W, 3) colour."""
    frames = np.asarray(frames)
    if frames.dtype == np.uint16:
        frames = (frames >> 8).astype(np.uint8)
    elif frames.dtype != np.uint8:
        frames = (np.clip(frames, 0, 1) * 255).round().astype(np.uint8)
    return frames[..., 0] if frames.ndim == 4 and frames.shape[-1] == 1 else frames


def render_player(frames: np.ndarray, frame_time_ms: float | None, key: str, name: str = "",
                  identity: str | None = None, slider: bool = True) -> int:
    """The player for one clip: frames (T, H, W[, C]) uint8/uint16 or float in [0, 1] at `frame_time_ms` between
    frames (None: not recorded). Left the animated preview with a speed control, right a frame slider and that
    frame (without `slider`: the speed control only, for a viewer that has its own); the facts below. Returns the
    index of the frame the slider shows (the middle one without it). `key` must be unique per clip; `identity`
    (default `key`) names its frames for the cached animation, so it must change when they do."""
    pixels = _as_uint8(frames)
    total = len(pixels)
    animated, animated_ms = pixels, frame_time_ms
    if total > MAX_ANIMATED_FRAMES:  # evenly spaced frames, each held for the time it stands for
        animated = pixels[np.linspace(0, total - 1, MAX_ANIMATED_FRAMES).round().astype(int)]
        animated_ms = frame_time_ms * (total - 1) / (MAX_ANIMATED_FRAMES - 1) if frame_time_ms else None
    play_col, frame_col = st.columns(2 if slider else [3, 1])
    frame = total // 2
    with play_col if slider else frame_col:
        speed = st.select_slider("Speed", SPEEDS, value=1.0, key=f"{key}-speed", format_func=lambda s: f"{s:g}×",
                                 help="Slow motion helps to see when in the cycle a wall moves late or little.")
    if slider:
        with frame_col:
            frame = st.slider("Frame", 1, total, total // 2 + 1, key=f"{key}-frame") - 1 if total > 1 else 0
            stamp = f" · {number(frame * frame_time_ms / 1000)} s" if frame_time_ms else ""
            st.image(display_image(pixels[frame], ANIMATION_PIXELS), width="content",
                     caption=f"{name + ' · ' if name else ''}frame {frame + 1} of {total}{stamp}")
    with play_col:
        delay, how = playback(animated_ms, speed)
        st.image(_animation(animated, identity or key, delay), width="content",
                 caption=f"{name + ' · ' if name and not slider else ''}Animated preview (loops)")
        st.caption(how + (f" Animated from {MAX_ANIMATED_FRAMES} evenly spaced frames of {total}."
                          if total > MAX_ANIMATED_FRAMES else ""))
    st.caption(frame_facts(total, frame_time_ms))
    return frame


def render_clip_grid(dataset: Dataset, shown: np.ndarray, viewing_key: str) -> None:
    """The gallery of a sequence dataset: per clip a strip of evenly spaced frames, its label and split, and a Play
    button that opens the player below (sets st.session_state[viewing_key] to the clip's index)."""
    info, items, clips = dataset.info, dataset.items, dataset.images
    picked = strip_indices(info.frames)
    st.caption(f"Each strip shows frames {', '.join(str(i + 1) for i in picked)} of {info.frames}.")
    for row_start in range(0, len(shown), CLIP_COLUMNS):
        for column, index in zip(st.columns(CLIP_COLUMNS), shown[row_start:row_start + CLIP_COLUMNS]):
            label = items["label"].iloc[index].replace("|", ", ") or "unlabelled"
            column.image(frame_strip(np.asarray(clips[index])), width="stretch",
                         caption=f"{items['name'].iloc[index]} · {label} · {items['split'].iloc[index]}")
            if column.button("Play", key=f"play-{info.id}-{index}", icon=":material/play_arrow:"):
                st.session_state[viewing_key] = int(index)
                st.session_state["gallery-scroll"] = True


def read_viewer_file(data: bytes, name: str) -> MedicalImage:
    """A file dropped on the Viewer tab: a video, a ZIP of frames or a 4D NIfTI as a clip (core.data.clips.read_clip:
    a 4D NIfTI's middle slice over time), anything else (PNG, DICOM incl. multi-frame, a 3-D NIfTI's slices) as an
    image. DICOM is de-identified on reading. Raises UserError for a file neither reader takes."""
    from core.data.clips import read_clip
    from core.data.video import looks_like_video

    if looks_like_video(data) or zipfile.is_zipfile(io.BytesIO(data)):
        return read_clip(data, name)
    if name.lower().endswith((".nii", ".nii.gz")):
        try:
            return read_clip(data, name)
        except UserError:  # a volume without time points: its slices, as images are viewed
            pass
    return read_medical_image(data, name)


def viewer_window(image: MedicalImage, key: str) -> Window | None:
    """The window the viewer (pages/ui/viewer.render_viewer with the same `key`) has set for `image`, so the
    animation shows what the still does; its default before the viewer has drawn, None for colour images."""
    if image.is_color:
        return None
    level, width = st.session_state.get(f"{key}-level"), st.session_state.get(f"{key}-width")
    default = image.default_window
    if level is None or width is None or (level, width) == (default.center, default.width):
        return default  # with its own function (a file's sigmoid window, VOI LUT)
    return Window(level, width, "manual")


@st.cache_resource(max_entries=2, show_spinner="Preparing the frames")
def _windowed_frames(_image: MedicalImage, identity: str, window: Window | None) -> np.ndarray:
    """Every frame of `_image` as uint8 at `window` ((T, H, W) or (T, H, W, 3)); `identity` names the image.
    Shared by every session: treat as read-only."""
    return np.stack([render_8bit(_image, frame, window) for frame in range(_image.frame_count)])


def render_file_player(image: MedicalImage, key: str) -> None:
    """The animated preview of a multi-frame file in the Viewer tab, at the window its viewer (drawn below with the
    same `key`, with the frame slider) shows."""
    window = viewer_window(image, key)
    frames = _windowed_frames(image, key, window)
    render_player(frames, image.frame_time_ms, f"{key}-player", image.name, identity=f"{key}-{window}", slider=False)
