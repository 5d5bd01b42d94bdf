"""AppTest: a workshop participant's Train page says how the teacher's limits change the recipe before Start, and
Start applies them (epochs capped, minutes cap set, the queued-runs limit refused with a sentence)."""
from __future__ import annotations

from streamlit.testing.v1 import AppTest

from core.access.identity import Identity
from core.jobs.store import RunStore
from tests.fixtures import tiny_dataset
from tests.pages.apptest import APP, texts

WORKSHOP = {"join_code": "lung-42", "admin_code": "teach-9f3", "max_queued_runs": 1, "max_epochs": 3,
            "max_run_minutes": 5}


def participant_page(identity: Identity, dataset: str) -> AppTest:
    from pages.ui.identity import IDENTITY_KEY

    at = AppTest.from_file(APP, default_timeout=180)
    at.secrets["workshop"] = WORKSHOP
    at.session_state[IDENTITY_KEY] = identity  # signed in (the join flow itself is tested elsewhere)
    at.run()
    at.session_state["dataset_id"] = dataset
    at.switch_page("pages/train.py").run()
    assert not at.exception, at.exception
    return at


def test_a_participant_sees_the_caps_and_start_applies_them(monkeypatch):
    from core.jobs.runner import JobRunner

    monkeypatch.setattr(JobRunner, "start", lambda self: self)  # nothing launches: the run stays queued
    dataset = tiny_dataset("alice")
    at = participant_page(Identity("alice", "Alice", "participant", "workshop"), dataset)
    shown = texts(at)
    assert "This workshop allows at most 3 epochs per run, so this run trains 3, not 6." in shown
    assert "Training stops after 5 minutes (this workshop's cap per run)" in shown
    at.button(key="train-start").click().run()
    assert not at.exception, at.exception
    (run,) = RunStore().list("alice")
    assert (run.epochs, run.max_minutes, run.status) == (3, 5.0, "queued")
    assert "training capped at 5 minutes" in texts(at) and "position 1 of 1 for the CPU" in texts(at)
    at.button(key="train-start").click().run()  # a second run: over the limit of 1 queued or running
    assert ("You have 1 run queued or running, the most this workshop allows: wait for one to finish or stop one."
            in [e.value for e in at.error])
    assert len(RunStore().list("alice")) == 1


def test_the_teacher_has_no_caps(monkeypatch):
    from core.jobs.runner import JobRunner
    from core.settings import CLASS_WORKSPACE

    monkeypatch.setattr(JobRunner, "start", lambda self: self)
    at = participant_page(Identity(CLASS_WORKSPACE, "Teacher", "admin", "workshop"), tiny_dataset(CLASS_WORKSPACE))
    assert "This workshop allows" not in texts(at) and "Training stops after" not in texts(at)
    at.button(key="train-start").click().run()
    (run,) = RunStore().list(CLASS_WORKSPACE)
    assert (run.epochs, run.max_minutes) == (6, 0.0)
