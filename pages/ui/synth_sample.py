"""The Synthesize page's Sample tab: N images (per class for a conditional model) from a seed, with the sampler's
temperature or truncation, an interpolation strip between two seeds, and the two ways out: a ZIP of PNGs, or a
new dataset marked synthetic. Every image and file says it is synthetic (core.synthesis.export)."""
from __future__ import annotations

from typing import Any

import streamlit as st

from core.jobs.store import RunRecord
from pages.ui.images import display_image

RESULT_KEY = "synth-samples"
STRIP_KEY = "synth-strip"
ALL = "__all__"
SHOWN_AT_MOST = 64   # images drawn on the page; the ZIP and the dataset hold them all
TEMPERATURE_HELP = {
    "truncation": "The truncation trick (Brock et al. 2019): noise components beyond this threshold are drawn "
                  "again. Lower gives more typical, less varied images.",
    "temperature": "Scales the model's noise: below 1 gives more typical, less varied images, above 1 wilder ones.",
}


def render_sample(workspace: str, record: RunRecord, sampler: Any, trained: Any) -> None:
    """The tab for run `record`, whose model `sampler` (and TrainedRun `trained`) is loaded."""
    classes = list(sampler.classes)
    name = sampler.temperature_name
    n_col, class_col, seed_col, temp_col = st.columns(4)
    n = n_col.number_input("Images per class" if classes else "Images", 1, 512, 16 if not classes else 8,
                           key="synth-n")
    chosen = class_col.selectbox("Class", [ALL, *classes], key="synth-class",
                                 format_func=lambda c: "every class" if c == ALL else c, disabled=not classes,
                                 help=None if classes else "This model is not class-conditional.")
    seed = seed_col.number_input("Seed", 0, 2**31 - 1, 0, key="synth-seed",
                                 help="The same seed and settings always give the same images.")
    temperature = temp_col.slider(name.capitalize(), 0.1, 1.0 if name == "truncation" else 2.0, 1.0, 0.05,
                                  key="synth-temperature", help=TEMPERATURE_HELP.get(name))
    request = (record.id, int(n), chosen, int(seed), float(temperature))
    if st.button("Generate", type="primary", key="synth-generate"):
        from core.synthesis.sampling import draw

        with st.spinner(f"Generating {_total(int(n), classes, chosen):,} images"):
            st.session_state[RESULT_KEY] = (request, draw(sampler, int(n), None if chosen == ALL else chosen,
                                                          int(seed), float(temperature), run=trained))
    saved = st.session_state.get(RESULT_KEY)
    if saved and saved[0] == request:
        _show_samples(workspace, record, saved[1])
    elif saved and saved[0][0] == record.id:
        st.caption("Settings changed: press Generate to draw images with them.")
    st.divider()
    _interpolation(record, sampler, float(temperature))


def _total(n: int, classes: list[str], chosen: str) -> int:
    return n * len(classes) if classes and chosen == ALL else n


def _show_samples(workspace: str, record: RunRecord, samples: Any) -> None:
    """The drawn images (core.synthesis.sampling.Samples) with their classes, a ZIP and a new dataset."""
    shown = samples.images[:SHOWN_AT_MOST]
    names = samples.class_names()[:SHOWN_AT_MOST]
    st.image([display_image(image, 96) for image in shown], caption=names if any(names) else None, width=96)
    if len(samples) > SHOWN_AT_MOST:
        st.caption(f"The first {SHOWN_AT_MOST} of {len(samples):,} images; the ZIP and the dataset hold them all.")
    from core.synthesis.datasets import add_samples
    from core.synthesis.export import samples_zip

    zip_col, name_col, add_col = st.columns([1, 1, 1], vertical_alignment="bottom")
    made = st.session_state.get("synth-zip-bytes")  # built once per set of samples, not on every rerun
    if not made or made[0] is not samples:
        made = st.session_state["synth-zip-bytes"] = (samples, samples_zip(samples))
    zip_col.download_button("Download ZIP of PNGs", data=made[1],
                            file_name=f"{record.name or record.id}-samples.zip".replace(" ", "-"),
                            mime="application/zip", key="synth-zip", icon=":material/download:",
                            help="Each PNG carries a text chunk saying it is synthetic and naming this run.")
    dataset_name = name_col.text_input("New dataset name", f"synthetic {record.name or record.id}",
                                       key="synth-dataset-name")
    if add_col.button("Add to a new dataset (marked synthetic)", key="synth-add"):
        info = add_samples(workspace, dataset_name, samples).info
        st.session_state["synth-added"] = (samples, info.name)
    added = st.session_state.get("synth-added")
    if added and added[0] is samples:  # these very images were added
        st.success(f"Dataset **{added[1]}** was created from these images, marked synthetic: they stay in its "
                   "training split only.")
        st.page_link("pages/dataset.py", label="See it on the Dataset page", icon=":material/photo_library:")


def _interpolation(record: RunRecord, sampler: Any, temperature: float) -> None:
    """A strip of images along the path between the noise of two seeds (spherical interpolation)."""
    st.markdown("**Interpolation between two seeds**")
    classes = list(sampler.classes)
    a_col, b_col, steps_col, class_col = st.columns(4)
    seed_a = a_col.number_input("From seed", 0, 2**31 - 1, 0, key="synth-seed-a")
    seed_b = b_col.number_input("To seed", 0, 2**31 - 1, 1, key="synth-seed-b")
    steps = steps_col.slider("Steps", 3, 16, 8, key="synth-steps")
    label = class_col.selectbox("Class", classes or ["(unconditional)"], key="synth-strip-class",
                                disabled=not classes)
    request = (record.id, int(seed_a), int(seed_b), int(steps), label, temperature)
    if st.button("Interpolate", key="synth-interpolate"):
        with st.spinner("Generating the strip"):
            strip = sampler.interpolate(int(seed_a), int(seed_b), int(steps),
                                        classes.index(label) if classes else None, temperature=temperature)
            st.session_state[STRIP_KEY] = (request, strip.permute(0, 2, 3, 1).numpy())
    saved = st.session_state.get(STRIP_KEY)
    if saved and saved[0] == request:
        st.image([display_image(image, 72) for image in saved[1]], width=72)
        st.caption(f"Seed {seed_a} → seed {seed_b}: a smooth change means the model has learned a continuous "
                   "space rather than a list of images.")
