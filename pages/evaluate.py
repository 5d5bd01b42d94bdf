"""Evaluate page (placeholder until evaluation lands)."""
import streamlit as st

from pages.ui.entry import through_entry_point

through_entry_point()
st.title("Evaluate")
st.info("Evaluation is coming in a later version of MedLab: test metrics with confidence intervals, confusion "
        "matrices, ROC curves, Grad-CAM explanations and predictions on your own images.")
