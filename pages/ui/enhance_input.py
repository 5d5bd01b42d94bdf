"""The Enhance page's input: a sample, a dataset image or an upload; a frame; optionally a simulated
degradation, so the result can be scored against the clean original."""
from __future__ import annotations

import hashlib

import numpy as np
import streamlit as st

from core.data.builtin import TILES_ID
from core.data.medical_image import MedicalImage, image_from_array
from core.data.readers import read_medical_image
from core.data.samples import SAMPLES, load_sample
from core.data.store import Dataset
from core.enhance.degrade import DEGRADATIONS, Degradation
from core.enhance.run import frame_image, simulate

SOURCES = ("Sample image", "Dataset image", "My file")


def choose_input(datasets: dict, open_dataset) -> tuple[MedicalImage, MedicalImage | None, MedicalImage, str] | None:
    """(input frame, clean reference or None, the original frame, a key naming this input) or None."""
    source = st.radio("Image", SOURCES, horizontal=True, key="enhance-source")
    if source == "Sample image":
        sample = st.selectbox("Sample", list(SAMPLES), index=list(SAMPLES).index("ct_jpeg2000"),
                              format_func=lambda s: SAMPLES[s].title, key="enhance-sample")
        image, name = load_sample(sample), sample
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
    with st.expander("Simulate a degradation (for a clean reference to score against)"):
        simulate_it = st.checkbox("Degrade the image first", key="enhance-simulate")
        kind = st.selectbox("Kind", DEGRADATIONS, key="enhance-kind", disabled=not simulate_it)
        sigma = st.slider("Noise level σ (of the image's data range)", 0.0, 0.3, 0.1, 0.01, key="enhance-sigma",
                          disabled=not simulate_it, help="A fraction of the file's full sample range (0..65535 for "
                          "a 16-bit PNG, the stored range in HU for CT), the scale restoration runs train on.")
        blur = st.slider("Blur σ (pixels)", 0.5, 5.0, 1.5, 0.1, key="enhance-blur",
                         disabled=not simulate_it or kind != "blur")
        scale = st.radio("Downsample by", (1, 2, 4), horizontal=True, key="enhance-down", disabled=not simulate_it,
                         format_func=lambda s: "no" if s == 1 else f"×{s}")
    if not simulate_it:
        return original, None, original, f"{name}-{frame}"
    if kind == "poisson" and sigma == 0:
        sigma = 0.01
    degraded, reference = simulate(original, Degradation(kind, sigma, blur, scale))
    return degraded, reference, original, f"{name}-{frame}-{kind}-{sigma}-{blur}-{scale}"
