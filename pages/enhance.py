"""Enhance page: make a noisy or low-resolution image clearer with classical filters or trained models, and see
which works best on your own images."""
from __future__ import annotations

import streamlit as st

from core.data.catalog import list_datasets, open_dataset
from core.enhance.run import enhance, is_run_id
from pages.ui.enhance_compare import render_comparison
from pages.ui.enhance_input import choose_input
from pages.ui.enhance_method import choose_method
from pages.ui.enhance_result import render_result
from pages.ui.entry import through_entry_point
from pages.ui.jobs import run_store
from pages.ui.scroll import scroll_anchor, scroll_to
from pages.ui.session import current_workspace, shared_workspace, user_errors

through_entry_point()
st.title("Enhance")
workspace = current_workspace()
store = run_store()
datasets = {info.id: info for info in list_datasets(workspace, shared=shared_workspace())
            if not info.is_sequence}  # images only

single, compare = st.tabs(["One image", "Compare methods"], key="enhance-tab", on_change="rerun")
if single.open:
    with single, user_errors():
        input_col, method_col = st.columns(2)
        with input_col:
            chosen = choose_input(datasets, lambda dataset_id: open_dataset(workspace, dataset_id))
        with method_col:
            method, params, scale = choose_method(store, workspace)
            st.page_link("pages/train.py", label="Train a denoiser or super-resolution model",
                         icon=":material/model_training:")
            pressed = st.button("Enhance", type="primary", key="enhance-run", disabled=chosen is None)
        if chosen is not None:  # the button sits by the method, in sight on arrival; the result spans the page
            request = (chosen.key, method, tuple(sorted(params.items())), scale)
            if pressed:
                with st.spinner("Enhancing"):
                    folder = store.run_folder(method) if is_run_id(method) else None
                    st.session_state["enhance-result"] = (request, enhance(chosen.image, 0, method, params, scale,
                                                                          folder), chosen.reference)
            saved = st.session_state.get("enhance-result")
            if saved and saved[0] == request:  # a result for exactly these settings (kept across reruns)
                anchor = scroll_anchor() if pressed else ""
                render_result(saved[1], saved[2], key="enhance-view", window=chosen.window)
                if pressed:  # the result is drawn below the input picture: bring it into sight
                    scroll_to(anchor)
            elif saved:
                st.caption("Settings changed: press Enhance to see the new result.")
if compare.open:
    with compare, user_errors():
        render_comparison(store, workspace, datasets, lambda dataset_id: open_dataset(workspace, dataset_id))
