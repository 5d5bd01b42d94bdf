"""Every page opens from the navigation, and the sidebar shows workspace, device and status."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.pages.apptest import APP, open_page, texts


def test_home_and_sidebar():
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    assert at.title[0].value == "MedLab"
    assert at.sidebar.text_input[0].value == "default"
    sidebar = " ".join(c.value for c in at.sidebar.caption)
    assert "CPU" in sidebar and "built-in datasets" in sidebar and "0 runs" in sidebar


def test_synthesize_says_it_comes_later():
    at = open_page("pages/synthesize.py")
    assert at.title[0].value == "Synthesize"
    assert "coming in a later version" in texts(at)


def test_typing_a_workspace_switches_the_status_line():
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.sidebar.text_input[0].set_value("ward-7").run()
    assert not at.exception
    assert "ward-7" in " ".join(c.value for c in at.sidebar.caption)


def test_bad_workspace_name_is_one_sentence():
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.sidebar.text_input[0].set_value("Bad Name!").run()
    assert not at.exception
    assert "not a usable workspace name" in at.sidebar.error[0].value
