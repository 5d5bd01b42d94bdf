"""The image viewer: window/level presets and sliders, frame slider, zoom and pan, de-identified DICOM tags."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from core.data.medical_image import MedicalImage, Window
from core.data.windowing import PRESETS, frame_window, render_8bit

DEFAULT_CHOICE = "Default"
CUSTOM_CHOICE = "Custom"
ZOOMS = (1, 1.5, 2, 3, 4, 6, 8)


def window_choices(image: MedicalImage) -> dict[str, Window]:
    """The windows offered for `image`, by label: its default, each window the file names, then the presets."""
    default = image.default_window
    choices = {f"{DEFAULT_CHOICE}: {_source_label(default)} (W {default.width:g} / L {default.center:g})": default}
    for number, window in enumerate(image.file_windows, start=1):
        if window != image.default_window:  # e.g. a sample first shown at another window keeps the file's on offer
            label = "File window" if len(image.file_windows) == 1 else f"File window {number}"
            choices[f"{label} (W {window.width:g} / L {window.center:g})"] = window
    choices.update({name.replace("_", " ").title(): window for name, window in PRESETS.items()})
    return choices


SOURCE_LABELS = {"file": "the file's own", "auto": "automatic", "auto (scan field)": "automatic, inside the scan field",
                 "full-range": "full range", "file-lut": "the file's VOI LUT"}


def _source_label(window: Window) -> str:
    """Where a window came from, in words: "preset:soft_tissue" -> "soft tissue", "file" -> "the file's own"."""
    return SOURCE_LABELS.get(window.source, window.source.removeprefix("preset:").replace("_", " "))


def _apply_choice(key: str, choices: dict[str, Window]) -> None:
    """Move the level/width sliders to the chosen preset (runs before the rerun draws them)."""
    window = choices.get(st.session_state[f"{key}-choice"])
    if window is not None:
        st.session_state[f"{key}-level"] = float(window.center)
        st.session_state[f"{key}-width"] = float(window.width)


def render_viewer(image: MedicalImage, key: str) -> None:
    """Show one image with its controls. `key` must be unique per image so controls reset when it changes."""
    picture, controls = st.columns([3, 1])
    with controls:
        frame = 0
        if image.frame_count > 1:
            frame = st.slider("Frame", 1, image.frame_count, image.frame_count // 2 + 1, key=f"{key}-frame") - 1
        window = None if image.is_color else _window_controls(image, key)
        zoom = st.select_slider("Zoom", ZOOMS, value=1, key=f"{key}-zoom", format_func=lambda z: f"{z:g}×")
        centre = (0.5, 0.5)
        if zoom > 1:
            centre = (st.slider("Pan left-right", 0.0, 1.0, 0.5, key=f"{key}-panx"),
                      st.slider("Pan up-down", 0.0, 1.0, 0.5, key=f"{key}-pany"))
    with picture:
        pixels = _zoomed(render_8bit(image, frame, window), zoom, centre)
        caption = f"{image.name} · {image.width}×{image.height}"
        if image.frame_count > 1:
            caption += f" · frame {frame + 1}/{image.frame_count}"
        if window is not None:  # the window this frame really gets (a file may window each frame its own way)
            used = frame_window(image, frame, window)
            caption += f" · W {used.width:g} / L {used.center:g}"
            caption += {"SIGMOID": " (sigmoid)", "LUT": " (the file's VOI LUT)"}.get(used.function, "")
        st.image(pixels, caption=caption, width="stretch" if zoom > 1 or image.width < 256 else "content")
    for warning in image.warnings:  # attributes the file names but MedLab could not honour, and why
        st.warning(warning)
    _details(image)


def _window_controls(image: MedicalImage, key: str) -> Window:
    choices = window_choices(image)
    if f"{key}-level" not in st.session_state:
        st.session_state[f"{key}-level"] = float(image.default_window.center)
        st.session_state[f"{key}-width"] = float(image.default_window.width)
    st.selectbox("Window preset", [*choices, CUSTOM_CHOICE], key=f"{key}-choice",
                 on_change=_apply_choice, args=(key, choices),
                 help="Presets are width/level pairs in Hounsfield units, meant for CT.")
    low, high = image.value_range
    span = max(high - low, 1.0)
    level_range = (min(low - span / 2, st.session_state[f"{key}-level"]),
                   max(high + span / 2, st.session_state[f"{key}-level"]))
    level = st.slider("Level (centre)", float(level_range[0]), float(level_range[1]), key=f"{key}-level")
    width = st.slider("Width", 1.0, float(max(2 * span, st.session_state[f"{key}-width"])), key=f"{key}-width")
    chosen = st.session_state[f"{key}-choice"]
    source = choices[chosen].source if chosen in choices and choices[chosen].center == level \
        and choices[chosen].width == width else "manual"
    return Window(level, width, source)


def _zoomed(pixels: np.ndarray, zoom: float, centre: tuple[float, float]) -> np.ndarray:
    """Crop a 1/zoom region around `centre` (fractions of width and height) and enlarge it by repetition,
    so single pixels stay crisp."""
    if zoom <= 1:
        return pixels
    height, width = pixels.shape[:2]
    crop_h, crop_w = max(1, int(height / zoom)), max(1, int(width / zoom))
    top = int(np.clip(centre[1] * height - crop_h / 2, 0, height - crop_h))
    left = int(np.clip(centre[0] * width - crop_w / 2, 0, width - crop_w))
    region = pixels[top:top + crop_h, left:left + crop_w]
    factor = max(1, int(np.ceil(512 / max(crop_h, crop_w))))
    return region.repeat(factor, axis=0).repeat(factor, axis=1)


def _details(image: MedicalImage) -> None:
    facts = {"Format": image.format.upper(), "Size": f"{image.width} × {image.height}",
             "Frames": image.frame_count, "Bits": image.bits, "Photometric": image.photometric}
    if image.modality:
        facts["Modality"] = image.modality
    if image.spacing:
        facts["Pixel spacing (mm)"] = f"{image.spacing[0]:g} × {image.spacing[1]:g}"
    st.caption(" · ".join(f"{name}: {value}" for name, value in facts.items()))
    if image.tags:
        with st.expander(f"DICOM tags, de-identified ({len(image.tags)})"):
            st.dataframe(pd.DataFrame(image.tags), hide_index=True, width="stretch")
