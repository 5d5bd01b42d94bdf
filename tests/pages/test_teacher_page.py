"""AppTest tests of the teacher's view (workshop mode, an admin signed in): participants, the queue in launch
order and what the teacher does to it (stop, move, cap), the workshop's limits; anyone else gets one sentence."""
from __future__ import annotations

import itertools
import subprocess
import sys
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.access.config import access_config
from core.access.identity import Identity
from core.access.sessions import SessionStore
from core.jobs.fair_queue import launch_order
from core.jobs.limits import QueueLimits, effective_limits
from core.jobs.runner import JobRunner
from core.jobs.store import RunStore
from core.settings import CLASS_WORKSPACE, medlab_home
from pages.ui.identity import IDENTITY_KEY, VIEWED_KEY
from pages.ui.teacher_common import REFUSAL
from tests.pages.apptest import APP, texts

PAGE = "pages/teacher.py"
WORKSHOP = {"join_code": "lung-42", "admin_code": "teach-9f3", "max_queued_runs": 3, "max_epochs": 20,
            "max_run_minutes": 15}
RECORD = {"task": "classification", "dataset": "phantom-28", "model": "small_cnn", "epochs": 6, "device": "cpu"}
TEACHER = Identity(CLASS_WORKSPACE, "Dr Lee", role="admin", mode="workshop")


@pytest.fixture(autouse=True)
def runner_launches_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The queue stays as the test made it: the server's job runner starts no run."""
    monkeypatch.setattr(JobRunner, "start", lambda self: self)

SUBMITTED = itertools.count()  # queue()'s calls, numbered


def join(name: str) -> Identity:
    return SessionStore(medlab_home()).join(name, WORKSHOP["join_code"], access_config({"workshop": WORKSHOP}))[1]


def queue(store: RunStore, identity: Identity, name: str, status: str = "queued", **values):
    record = store.create(identity.workspace, {**RECORD, "name": name}, monitor="val_accuracy", status=status)
    # distinct submission times in the order of the calls: the launch order's tie-break is the time, then the id
    store.update(record.id, **{"created": record.created + next(SUBMITTED) * 1e-3, **values})
    return store.get(record.id)


def teacher_page(identity: Identity = TEACHER) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.secrets["workshop"] = WORKSHOP
    at.session_state[IDENTITY_KEY] = identity
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def table(at: AppTest, column: str):
    """The page's table that has `column`."""
    return next(frame.value for frame in at.dataframe if column in frame.value.columns)


@pytest.fixture
def worker():
    """A live process standing in for a running run's worker (the store's liveness rule sees it alive)."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    yield process
    process.kill()
    process.wait()


def test_a_participant_gets_one_sentence_and_nothing_else():
    """The navigation lists the page for admins only; opened anyway (its URL typed), the page itself refuses."""
    at = AppTest.from_file(str(Path(APP).parent / PAGE), default_timeout=180)
    at.secrets["workshop"] = WORKSHOP
    at.session_state[IDENTITY_KEY] = join("Anna")
    at.run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == [REFUSAL]
    assert not at.title and not at.dataframe and not at.button


def test_participants_are_listed_with_their_runs(worker):
    from core.jobs.liveness import worker_identity

    anna, bob = join("Anna"), join("Bob")
    store = RunStore()
    queue(store, anna, "anna live", status="running", started=time.time() - 90, device_used="cpu",
          **worker_identity(worker.pid))
    queue(store, anna, "anna next")
    queue(store, anna, "anna done", status="completed")
    at = teacher_page()
    people = table(at, "participant")
    rows = {row["participant"]: row for row in people.to_dict("records")}
    assert set(rows) == {"Anna", "Bob"}  # the teacher is not a participant
    assert (rows["Anna"]["workspace"], rows["Anna"]["runs"], rows["Anna"]["active"], rows["Anna"]["completed"]) == (
        anna.workspace, 3, 2, 1)
    assert (rows["Bob"]["runs"], rows["Bob"]["active"]) == (0, 0)
    assert rows["Bob"]["joined"] == "just now" and rows["Bob"]["last seen"] == "just now"
    # looking at a participant's workspace: the admin's pages show it (the Train page opens with their runs)
    at.selectbox(key="teacher-participant").set_value(bob.workspace)
    at.button(key="teacher-look").click().run()
    assert not at.exception, at.exception
    assert at.session_state[VIEWED_KEY] == bob.workspace
    assert at.title[0].value == "Train"


def test_the_queue_is_shown_in_launch_order_and_the_teacher_acts_on_it(worker):
    from core.jobs.liveness import worker_identity

    anna, bob, cara = join("Anna"), join("Bob"), join("Cara")
    store = RunStore()
    began = time.time() - 65
    live = queue(store, anna, "anna 1", status="running", started=began, stretch_started=began, device_used="cpu",
                 epoch=2, phase="training", **worker_identity(worker.pid))
    anna2, anna3 = queue(store, anna, "anna 2"), queue(store, anna, "anna 3")
    bob1 = queue(store, bob, "bob 1")
    cara1 = queue(store, cara, "cara 1")
    at = teacher_page()
    shown = table(at, "place")
    assert shown["run"].tolist() == ["anna 1", "bob 1", "cara 1", "anna 2", "anna 3"]  # round-robin across people
    assert shown["place"].tolist() == ["running", "1", "2", "3", "4"]
    assert shown["participant"].tolist() == ["Anna", "Bob", "Cara", "Anna", "Anna"]
    assert shown["progress"].tolist()[:2] == ["epoch 3/6", "0/6 epochs"]
    assert shown["device"].tolist()[0] == "cpu" and shown["elapsed"].tolist()[0].startswith("1 min")

    def act(run_id: str, button: str) -> AppTest:
        at.selectbox(key="teacher-run").set_value(run_id).run()  # the buttons follow the picked run
        at.button(key=button).click().run()
        assert not at.exception, at.exception
        return at

    act(anna3.id, "teacher-front")  # the teacher's reordering beats the round-robin
    assert table(at, "place")["run"].tolist() == ["anna 1", "anna 3", "bob 1", "cara 1", "anna 2"]
    assert table(at, "place")["place"].tolist()[1] == "1 ↑"
    assert "Moved Anna's run anna 3 to the front of the queue." in texts(at)
    act(bob1.id, "teacher-back")
    assert [r.name for r in launch_order(store.list(statuses=("queued",)), [store.get(live.id)])] == [
        "anna 3", "cara 1", "anna 2", "bob 1"]
    assert table(at, "place")["run"].tolist()[1:] == ["anna 3", "cara 1", "anna 2", "bob 1"]

    at.selectbox(key="teacher-run").set_value(live.id).run()
    at.number_input(key=f"teacher-cap-{live.id}").set_value(10.0)
    at.button(key="teacher-set-cap").click().run()
    assert store.get(live.id).max_minutes == 10.0
    assert table(at, "place")["cap"].tolist()[0] == "10 min"
    assert "Anna's run anna 1 may train for at most 10 minutes." in texts(at)

    act(cara1.id, "teacher-stop")  # a queued run stops at once
    assert store.get(cara1.id).status == "stopped"
    act(live.id, "teacher-stop")  # a running one is asked to stop
    assert store.get(live.id).status == "stopping"
    assert "cara 1" not in table(at, "place")["run"].tolist()
    assert anna2.id in {r.id for r in store.list(statuses=("queued",))}


def test_the_workshop_limits_are_shown_and_saved():
    at = teacher_page()
    assert [n.value for n in at.number_input if n.key is None or not n.key.startswith("teacher-cap")][:3] == [
        3, 20, 15.0]
    at.number_input[0].set_value(1)
    at.number_input[1].set_value(5)
    at.number_input[2].set_value(2.5)
    at.button[[b.label for b in at.button].index("Save limits")].click().run()
    assert not at.exception, at.exception
    assert effective_limits(RunStore(), QueueLimits(3, 20, 15.0)) == QueueLimits(1, 5, 2.5)
    assert "Saved: 1 run per participant, 5 epochs and 2.5 minutes per run." in texts(at)
    assert [n.value for n in teacher_page().number_input][:3] == [1, 5, 2.5]  # a new session reads them back


def test_the_class_workspace_lists_the_teachers_datasets():
    from tests.fixtures import tiny_dataset

    at = teacher_page()
    assert "No datasets in the class workspace yet" in texts(at)
    tiny_dataset(workspace=CLASS_WORKSPACE, name="chest demo")
    at = teacher_page()
    shared = table(at, "classes")
    assert shared["dataset"].tolist() == ["chest demo"] and shared["id"].tolist()[0].startswith("class:")
    assert "read-only" in texts(at)
    at.button(key="teacher-class-import").click().run()
    assert at.session_state[VIEWED_KEY] == CLASS_WORKSPACE and at.title[0].value == "Dataset"
