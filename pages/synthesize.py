"""Synthesize page (placeholder until synthesis lands)."""
import streamlit as st

from pages.ui.entry import through_entry_point

through_entry_point()
st.title("Synthesize")
st.info("Synthesis is coming in a later version of MedLab: GANs and autoencoders trained on your images.")
