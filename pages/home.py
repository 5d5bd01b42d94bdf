"""Home page: what MedLab is and where to start."""
import streamlit as st

from pages.ui.entry import through_entry_point
from pages.ui.identity import access
from pages.ui.lessons import render_lessons, render_quick_start
from pages.ui.session import current_workspace, user_errors

through_entry_point()
workspace = current_workspace()
st.title("MedLab")
st.write("A workbench for deep learning on medical images: bring chest X-rays, DICOM series, NIfTI volumes or "
         "MedMNIST, or start with the built-in chest phantom, and look at your data the way a radiologist and an "
         "ML engineer would.")
st.markdown(f"You are in workspace **{workspace}**: datasets and runs are kept per workspace"
            + (" (change it in the sidebar)." if access().mode == "personal" else "."))
with user_errors():
    render_quick_start(workspace)
with user_errors():
    render_lessons(workspace)
st.subheader("Pages")
st.page_link("pages/dataset.py", label="Dataset: import, browse and view images, set augmentation",
             icon=":material/photo_library:")
st.page_link("pages/train.py", label="Train", icon=":material/model_training:")
st.page_link("pages/evaluate.py", label="Evaluate", icon=":material/analytics:")
st.page_link("pages/enhance.py", label="Enhance", icon=":material/auto_fix_high:")
st.page_link("pages/synthesize.py", label="Synthesize: sample a GAN, VAE or diffusion model, judge its images, "
             "map anomalies, train with synthetic data", icon=":material/blur_on:")
st.caption("Privacy: DICOM files lose their identifying tags (DICOM PS3.15 Annex E basic profile) before "
           "anything is stored or shown. Everything stays on this server.")
