"""The Enhance page's input: a sample, a dataset image or an upload; a frame; the window it is shown at; optionally a
simulated degradation, so the result can be scored against the clean original. The input is shown as soon as
it is chosen, at the window every picture and score on the page then uses."""
from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass

import numpy as np
import streamlit as st

from core.data.builtin import TILES_ID
from core.data.medical_image import MedicalImage, Window, image_from_array
from core.data.native import DataRange, data_range
from core.data.readers import read_medical_image
from core.data.samples import SAMPLES, anatomy_window, load_sample
from core.data.store import Dataset
from core.data.windowing import render_8bit
from core.enhance.degrade import DEGRADATIONS, Degradation
from core.enhance.run import frame_image, simulate
from pages.ui.viewer import window_choices

SOURCES = ("Sample image", "Dataset image", "My file")
DEFAULT_SAMPLE = "ct_jpeg2000"
NOISE_SCALES = ("display window", "data range")


@dataclass
class EnhanceInput:
    image: MedicalImage               # the frame to enhance (degraded when simulating)
    reference: MedicalImage | None    # the clean frame to score against, when simulating
    original: MedicalImage            # the chosen frame as it was
    key: str                          # names this input and its degradation (a result is kept per key)
    window: Window | None             # the window every picture and the display-scale scores use (None: colour)


@st.cache_resource(show_spinner=False, max_entries=16)
def _sample(sample_id: str) -> MedicalImage:
    """A decoded sample, shared by every session (read-only): decoding a 512×512 JPEG 2000 CT on each rerun of
    the page would take a noticeable part of a second."""
    return load_sample(sample_id)


def choose_input(datasets: dict, open_dataset) -> EnhanceInput | None:
    """The chosen input, shown at once (no button), or None while an upload is still to be chosen."""
    source = st.radio("Image", SOURCES, horizontal=True, key="enhance-source")
    if source == "Sample image":
        sample = st.selectbox("Sample", list(SAMPLES), index=list(SAMPLES).index(DEFAULT_SAMPLE),
                              format_func=lambda s: SAMPLES[s].title, key="enhance-sample")
        st.caption(SAMPLES[sample].description)
        image, name = _sample(sample), sample
    elif source == "Dataset image":
        dataset_id = st.selectbox("Dataset", list(datasets), format_func=lambda i: datasets[i].name,
                                  index=list(datasets).index(TILES_ID) if TILES_ID in datasets else 0,
                                  key="enhance-dataset")
        dataset: Dataset = open_dataset(dataset_id)
        index = st.number_input("Image number", 0, dataset.info.num_images - 1, 0, key="enhance-index")
        original = dataset.original_file(int(index))
        image = read_medical_image(original.read_bytes(), original.name) if original and original.exists() else \
            image_from_array(dataset.items["name"].iloc[int(index)], np.asarray(dataset.images[int(index)]))
        name = f"{dataset_id}-{index}"
    else:
        upload = st.file_uploader("PNG, JPEG, TIFF, BMP or DICOM (de-identified on reading; not stored)",
                                  key="enhance-upload")
        if upload is None:
            return None
        data = upload.getvalue()
        image, name = read_medical_image(data, upload.name), hashlib.sha1(data).hexdigest()[:12]
    frame = 0
    if image.frame_count > 1:
        frame = st.slider("Frame", 1, image.frame_count, image.frame_count // 2 + 1, key=f"enhance-frame-{name}") - 1
    original = frame_image(image, frame)
    window = _window(original, name)
    degradation = _degradation_form(original, window)
    if degradation is None:
        _show(original, window, None)
        return EnhanceInput(original, None, original, f"{name}-{frame}", window)
    degraded, reference = simulate(original, degradation)
    _show(degraded, window, original)
    key = f"{name}-{frame}-{degradation.kind}-{degradation.sigma:.6g}-{degradation.blur}-{degradation.scale}"
    return EnhanceInput(degraded, reference, original, key, window)


def _window(image: MedicalImage, name: str) -> Window | None:
    """The display window: the image's own default, except a CT whose file names none, which opens at the window
    its values fit (soft tissue, else the range of the values inside the scan field) instead of one stretched
    over the air outside the body."""
    if image.is_color:
        return None
    default = image.default_window
    if image.modality == "CT" and default.source == "auto":
        default = anatomy_window(image)
    choices = window_choices(dataclasses.replace(image, default_window=default))
    label = st.selectbox("Window", list(choices), key=f"enhance-window-{name}",
                         help="The window (width / level) the input, the result and the difference map are shown "
                              "at; the scores marked 'as shown' are computed on it too.")
    return choices[label]


def _degradation_form(image: MedicalImage, window: Window | None) -> Degradation | None:
    """The simulated degradation, or None. The noise level is a fraction of what the picture shows (the display
    window's width) unless the user measures it on the image's full data range, the scale restoration runs train
    on; the caption gives it in the image's own units and on the other scale."""
    rng = data_range(image)
    with st.expander("Simulate a degradation (for a clean reference to score against)"):
        simulate_it = st.checkbox("Degrade the image first", key="enhance-simulate")
        kind = st.selectbox("Kind", DEGRADATIONS, key="enhance-kind", disabled=not simulate_it)
        scale_of = "data range"
        if window is not None:
            scale_of = st.radio("Noise level σ is a fraction of", NOISE_SCALES, horizontal=True,
                                key="enhance-noise-scale", disabled=not simulate_it,
                                format_func=lambda s: f"the display window (W {window.width:g})" if s == NOISE_SCALES[0]
                                else f"the data range ({rng.low:g}..{rng.high:g})",
                                help="The display window: noise you can see at the window shown. The data range "
                                     "(all values the file can hold): the scale restoration runs train on.")
        sigma = st.slider("Noise level σ", 0.0, 0.3, 0.1, 0.01, key="enhance-sigma", disabled=not simulate_it)
        blur = st.slider("Blur σ (pixels)", 0.5, 5.0, 1.5, 0.1, key="enhance-blur",
                         disabled=not simulate_it or kind != "blur")
        scale = st.radio("Downsample by", (1, 2, 4), horizontal=True, key="enhance-down", disabled=not simulate_it,
                         format_func=lambda s: "no" if s == 1 else f"×{s}")
        if kind == "poisson" and sigma == 0:
            sigma = 0.01
        span = window.width if window is not None and scale_of == NOISE_SCALES[0] else rng.span
        on_range = min(1.0, sigma * span / rng.span)  # what core.enhance.degrade takes: a fraction of the data range
        if simulate_it:
            st.caption(_noise_caption(kind, sigma * span, on_range, rng, image))
    if not simulate_it:
        return None
    return Degradation(kind, on_range if kind != "poisson" else max(on_range, 1e-4), blur, scale)


def _noise_caption(kind: str, units: float, on_range: float, rng: DataRange, image: MedicalImage) -> str:
    unit = " HU" if image.modality == "CT" and "HU" in rng.basis else ""
    where = " at mid-grey of the data range" if kind == "poisson" else ""
    return (f"σ = {units:.4g}{unit}{where}, i.e. {on_range:.4g} of the data range {rng.describe()}.")


def _show(shown: MedicalImage, window: Window | None, clean: MedicalImage | None) -> None:
    """The input as it will be enhanced, next to the clean original when it was degraded."""
    at = f" · W {window.width:g} / L {window.center:g}" if window is not None else ""
    if clean is None:
        st.image(render_8bit(shown, 0, window), width="stretch",
                 caption=f"Input: {shown.name} · {shown.width}×{shown.height}{at}")
        return
    left, right = st.columns(2)
    left.image(render_8bit(clean, 0, window), width="stretch", caption=f"Clean original{at}")
    right.image(render_8bit(shown, 0, window), width="stretch",
                caption=f"Degraded input · {shown.width}×{shown.height}{at}")
