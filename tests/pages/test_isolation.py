"""What is yours stays yours, in the pages and their URLs: a workshop participant's pages list their own datasets
and runs, the class's datasets read-only and the built-in ones, and nobody else's; a link to another participant's
run or dataset is refused with the sentence a missing one gets. Personal mode opens any run by link."""
from __future__ import annotations

from streamlit.testing.v1 import AppTest

from core.access.identity import Identity
from core.jobs.store import RunStore
from pages.ui.identity import IDENTITY_KEY
from tests.fixtures import tiny_dataset
from tests.pages.apptest import APP, texts

WORKSHOP = {"join_code": "lung-42", "admin_code": "teach-9f3"}
ANNA = Identity("anna", "Anna", role="participant", mode="workshop")
BOB = Identity("bob", "Bob", role="participant", mode="workshop")
TEACHER = Identity("class", "Ms Lee", role="admin", mode="workshop")


def as_(identity: Identity | None, page: str, **query) -> AppTest:
    """`page` opened by a session signed in as `identity` (None: personal mode) with `query` in its URL."""
    at = AppTest.from_file(APP, default_timeout=180)
    if identity is not None:
        at.secrets["workshop"] = dict(WORKSHOP)
    at.run()
    if identity is not None:
        at.session_state[IDENTITY_KEY] = identity
    at.query_params.update(query)
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def finished_run(workspace: str, name: str) -> str:
    """A run record that needs no worker (failed at once), named `name`."""
    store = RunStore()
    record = store.create(workspace, {"task": "classification", "dataset": "phantom-64", "model": "small_cnn",
                                      "epochs": 2, "name": name}, "val_loss", status="failed")
    return record.id


def picker_labels(at: AppTest) -> str:
    return " | ".join(at.selectbox(key="dataset-picker").options)


def run_names(at: AppTest) -> list[str]:
    [table] = [frame.value for frame in at.dataframe if "run" in frame.value.columns]  # the runs table
    return [name.removeprefix("▶ ") for name in table["run"]]


def test_a_participant_lists_own_class_and_builtin_datasets_only():
    tiny_dataset("anna", name="anna scans")
    tiny_dataset("bob", name="bob secrets")
    class_id = tiny_dataset("class", name="teacher set")
    at = as_(ANNA, "pages/dataset.py")
    labels = picker_labels(at)
    assert "anna scans" in labels and "teacher set (class (upload))" in labels and "Chest phantom" in labels
    assert "bob secrets" not in labels
    at = as_(ANNA, "pages/train.py")
    assert "bob secrets" not in picker_labels(at) and "teacher set" in picker_labels(at)
    # the class's datasets are read-only: no Delete for them, Delete for the participant's own
    at = as_(ANNA, "pages/dataset.py", dataset=f"class:{class_id}")
    assert not at.error and at.selectbox(key="dataset-picker").value == f"class:{class_id}"
    assert not any(button.label == "Delete dataset" for button in at.button)
    at = as_(ANNA, "pages/dataset.py", dataset=tiny_dataset("anna", name="anna more"))
    assert any(button.label == "Delete dataset" for button in at.button)


def test_the_teacher_sees_and_may_delete_class_datasets():
    class_id = tiny_dataset("class", name="teacher set")
    at = as_(TEACHER, "pages/dataset.py", dataset=class_id)  # the class workspace is the teacher's own
    assert at.selectbox(key="dataset-picker").value == class_id
    assert any(button.label == "Delete dataset" for button in at.button)


def test_a_participant_lists_own_runs_only():
    finished_run("anna", "anna first")
    finished_run("bob", "bob secret run")
    at = as_(ANNA, "pages/train.py")
    assert run_names(at) == ["anna first"]
    assert "bob" not in " ".join(str(c.value) for c in at.sidebar.caption)


def test_a_link_to_another_participants_run_is_refused_with_the_missing_run_sentence():
    bobs = finished_run("bob", "bob secret run")
    finished_run("anna", "anna first")
    for page in ("pages/train.py", "pages/evaluate.py"):
        at = as_(ANNA, page, run=bobs)
        assert f"There is no run '{bobs}' in your workspace." in [e.value for e in at.error]
        assert "bob secret run" not in texts(at)
    at = as_(ANNA, "pages/train.py", run=bobs)
    assert run_names(at) == ["anna first"]  # the page's normal content below the sentence
    at = as_(ANNA, "pages/train.py", run="run-does-not-exist")  # the same sentence: ids cannot be probed
    assert "There is no run 'run-does-not-exist' in your workspace." in [e.value for e in at.error]


def test_a_link_to_an_own_run_opens_it():
    first = finished_run("anna", "anna first")
    finished_run("anna", "anna second")  # the newest: shown without a link
    at = as_(ANNA, "pages/train.py", run=first)
    assert not at.error
    assert "anna first · failed" in texts(at)  # the live panel's heading


def test_a_link_to_another_participants_dataset_is_refused():
    bobs = tiny_dataset("bob", name="bob secrets")
    at = as_(ANNA, "pages/dataset.py", dataset=bobs)
    assert [e.value for e in at.error] == [f"There is no dataset '{bobs}' in your workspace."]
    assert at.title[0].value == "Dataset" and "bob secrets" not in picker_labels(at)


def test_the_teacher_opens_any_participants_run_by_link():
    bobs = finished_run("bob", "bob secret run")
    at = as_(TEACHER, "pages/train.py", run=bobs)
    assert not at.error and "bob secret run · failed" in texts(at)


def test_personal_mode_opens_runs_and_datasets_by_link():
    other = finished_run("ward-7", "ward run")
    at = as_(None, "pages/train.py", run=other)
    assert not at.error and "ward run · failed" in texts(at)
    dataset_id = tiny_dataset("default", name="my scans")
    at = as_(None, "pages/dataset.py", dataset=dataset_id)
    assert at.selectbox(key="dataset-picker").value == dataset_id
    at = as_(None, "pages/dataset.py", dataset="nope")
    assert [e.value for e in at.error] == ["There is no dataset 'nope' in your workspace."]


def test_the_sidebar_queue_shows_a_participant_only_counts_of_the_others_runs():
    from core.jobs.queue_estimate import queue_positions
    from core.jobs.store import ACTIVE
    from pages.ui.sidebar import participant_queue

    store = RunStore()  # no page is open: no job runner starts these
    config = {"task": "classification", "dataset": "phantom-64", "model": "small_cnn", "epochs": 2}
    for workspace, name in (("anna", "anna one"), ("anna", "anna two"), ("bob", "bob one"), ("bob", "bob two"),
                            ("carl", "carl one")):
        store.create(workspace, {**config, "name": name}, "val_loss", status="queued")
    text = participant_queue(ANNA, store.list(statuses=ACTIVE), queue_positions(store, gpus=0, slots=1))
    # round-robin: anna one, bob one, carl one, anna two, bob two
    assert "- queued: anna one · position 1 of 5" in text
    assert "- queued: anna two · position 4 of 5 · 2 runs of other participants ahead" in text
    assert "- other participants: 0 running, 3 queued" in text
    assert "bob" not in text and "carl" not in text


def test_evaluate_opens_a_linked_run_the_identity_may_read_and_refuses_it_otherwise(trained):
    at = as_(TEACHER, "pages/evaluate.py", run=trained.run_id)  # another workspace's run, for the teacher
    assert not at.error
    assert at.selectbox(key="eval-run").value == trained.run_id
    at = as_(ANNA, "pages/evaluate.py", run=trained.run_id)
    assert [e.value for e in at.error] == [f"There is no run '{trained.run_id}' in your workspace."]
    assert "No completed classification runs in this workspace yet" in texts(at)
