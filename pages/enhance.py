"""Enhance page (placeholder until enhancement lands)."""
import streamlit as st

from pages.ui.entry import through_entry_point

through_entry_point()
st.title("Enhance")
st.info("Enhancement is coming in a later version of MedLab: denoising, super-resolution and contrast "
        "methods, classical and learned, compared on your own images.")
