"""What a session keeps in st.session_state stays small: only the latest prepared model export is held."""
from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _exports() -> None:
    import streamlit as st

    from pages.ui.eval_more import keep_export

    for run_id in ("run-a", "run-b", "run-c"):
        keep_export(run_id, ("onnx", bytes(1_000_000), {}))
    st.session_state["other"] = 1


def test_only_the_latest_export_is_kept_in_the_session():
    at = AppTest.from_function(_exports, default_timeout=60).run()
    assert not at.exception
    assert "export-file-run-c" in at.session_state
    assert "export-file-run-a" not in at.session_state and "export-file-run-b" not in at.session_state
    assert at.session_state["other"] == 1
