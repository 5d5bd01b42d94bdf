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


def test_synthesize_without_generative_runs_says_how_to_get_one():
    at = open_page("pages/synthesize.py")
    assert at.title[0].value == "Synthesize"
    assert "python -m core train --config gan.json" in texts(at)
    assert any(button.label == "Train a GAN" for button in at.button)


def test_typing_a_workspace_switches_the_status_line():
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.sidebar.text_input[0].set_value("ward-7").run()
    assert not at.exception
    assert "ward-7" in " ".join(c.value for c in at.sidebar.caption)


def test_an_unusable_workspace_name_is_normalised_visibly():
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.sidebar.text_input[0].set_value("Bob Smith").run()
    assert not at.exception
    assert [w.value for w in at.sidebar.warning] == [
        "Workspace names use lower-case letters, digits, '-' and '_' (1-40, starting with a letter or digit), "
        "so 'Bob Smith' is the workspace 'bob-smith'."]
    assert "**bob-smith**:" in " ".join(c.value for c in at.sidebar.caption)
    assert "You are in workspace **bob-smith**" in texts(at)  # the page acts on it too, not on 'default'
    at.switch_page("pages/dataset.py").run()
    assert not at.exception and at.sidebar.warning  # said on every page


def test_a_workspace_name_with_nothing_usable_stops_the_pages():
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.sidebar.text_input[0].set_value("!!!").run()
    assert not at.exception
    message = ("'!!!' is not a usable workspace name: use 1-40 lower-case letters, digits, '-' or '_', starting "
               "with a letter or digit.")
    assert [e.value for e in at.sidebar.error] == [message]
    assert [e.value for e in at.main.error] == [message + " Fix the workspace name in the sidebar to go on."]
    assert not at.title  # no page ran on some other workspace
    at.sidebar.text_input[0].set_value("ward-7").run()
    assert at.title[0].value == "MedLab" and not at.error and not at.sidebar.warning


def test_a_shared_link_with_an_unusable_name_is_normalised_too():
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["workspace"] = "Ward 7"
    at.run()
    assert not at.exception
    assert "so 'Ward 7' is the workspace 'ward-7'" in at.sidebar.warning[0].value
    assert "You are in workspace **ward-7**" in texts(at)
