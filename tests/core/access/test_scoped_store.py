"""A run store scoped to an identity: a participant reads and acts on their own runs, reads the class workspace's,
and gets the missing-run sentence for everyone else's; admins and personal mode see everything."""
from __future__ import annotations

import json

import pytest

from core.access.identity import Identity
from core.access.scoped_store import ScopedRunStore
from core.errors import UserError
from core.jobs import control
from core.jobs.store import RunStore
from core.settings import CLASS_WORKSPACE

CONFIG = {"task": "classification", "dataset": "phantom-28", "model": "small_cnn", "epochs": 3}
ANNA = Identity("anna", "Anna", role="participant", mode="workshop")
BOB = Identity("bob", "Bob", role="participant", mode="workshop")
TEACHER = Identity(CLASS_WORKSPACE, "Dr Lee", role="admin", mode="workshop")
PERSONAL = Identity("default", "default")


@pytest.fixture
def runs():
    """A plain store holding runs of anna, bob and the class workspace (stopped, so each may be resumed or
    deleted), plus a queued one of bob's."""
    base = RunStore()
    made = {}
    for workspace in ("anna", "bob", CLASS_WORKSPACE):
        record = base.create(workspace, {**CONFIG, "name": workspace}, monitor="val_accuracy", status="stopped")
        made[workspace] = record.id
    made["bob-queued"] = base.create("bob", CONFIG, monitor="val_accuracy").id
    return base, made


def missing(run_id: str) -> str:
    return f"There is no run '{run_id}' in your workspace."


def test_a_participant_lists_own_and_class_runs_only(runs):
    base, made = runs
    anna = ScopedRunStore(ANNA, base)
    assert {r.id for r in anna.list()} == {made["anna"], made[CLASS_WORKSPACE]}
    assert [r.id for r in anna.list("anna")] == [made["anna"]]
    assert anna.list("bob") == [] and anna.list("bob", statuses=("queued",)) == []
    assert {r.id for r in anna.list(statuses=("stopped",))} == {made["anna"], made[CLASS_WORKSPACE]}
    assert anna.list(statuses=("queued",)) == []


def test_another_participants_run_reads_exactly_like_a_missing_one(runs):
    base, made = runs
    anna = ScopedRunStore(ANNA, base)
    for run_id in (made["bob"], "run-000000-000000-dead"):
        for read in (anna.get, anna.run_folder):
            with pytest.raises(UserError) as error:
                read(run_id)
            assert str(error.value) == missing(run_id)
    with pytest.raises(UserError, match="There is no run"):  # a record got elsewhere opens no files either
        anna.config(base.get(made["bob"]))
    with pytest.raises(UserError, match="There is no run"):
        anna.events(base.get(made["bob"]))
    assert anna.get(made["anna"]).workspace == "anna"
    assert anna.config(anna.get(made[CLASS_WORKSPACE]))["name"] == CLASS_WORKSPACE


def test_a_participant_cannot_stop_resume_or_delete_anothers_run_through_the_control_functions(runs):
    base, made = runs
    anna = ScopedRunStore(ANNA, base)
    before = {r.id: (r.status, r.epochs) for r in base.list()}
    for act in (lambda i: control.request_stop(anna, i), lambda i: control.prepare_resume(anna, i),
                lambda i: control.prepare_resume(anna, i, epochs=9), lambda i: control.delete_run(anna, i)):
        for run_id in (made["bob"], made["bob-queued"]):
            with pytest.raises(UserError) as error:
                act(run_id)
            assert str(error.value) == missing(run_id)
    assert {r.id: (r.status, r.epochs) for r in base.list()} == before
    assert json.loads((base.run_folder(made["bob"]) / "config.json").read_text())["epochs"] == 3
    for write in (lambda: anna.update(made["bob"], status="failed"),
                  lambda: anna.transition(made["bob"], ("stopped",), status="queued"),
                  lambda: anna.delete(made["bob"])):
        with pytest.raises(UserError, match="There is no run"):
            write()
    assert {r.id: (r.status, r.epochs) for r in base.list()} == before


def test_a_participant_reads_but_cannot_change_a_class_run(runs):
    base, made = runs
    anna = ScopedRunStore(ANNA, base)
    class_run = made[CLASS_WORKSPACE]
    read_only = f"Run '{class_run}' belongs to the class workspace: you can look at it but not change it."
    assert anna.get(class_run).status == "stopped"
    assert anna.run_folder(class_run).is_dir()
    config_before = base.config(base.get(class_run))
    for act in (lambda: control.prepare_resume(anna, class_run), lambda: control.delete_run(anna, class_run),
                lambda: control.prepare_resume(anna, class_run, epochs=9),
                lambda: anna.update(class_run, name="mine now"), lambda: anna.delete(class_run)):
        with pytest.raises(UserError) as error:
            act()
        assert str(error.value) == read_only
    with pytest.raises(UserError, match="belongs to the class workspace"):
        anna.append_events(anna.get(class_run), [{"epoch": 1}])
    assert base.get(class_run).status == "stopped" and base.run_folder(class_run).is_dir()
    assert base.config(base.get(class_run)) == config_before  # a refused resume wrote nothing either


def test_a_participant_acts_on_own_runs(runs):
    base, made = runs
    anna = ScopedRunStore(ANNA, base)
    assert control.prepare_resume(anna, made["anna"]).status == "queued"
    assert control.request_stop(anna, made["anna"]).status == "stopped"
    control.delete_run(anna, made["anna"])
    with pytest.raises(UserError, match="There is no run"):
        base.get(made["anna"])
    record = anna.create("anna", CONFIG, monitor="val_accuracy", max_minutes=5)
    assert record.workspace == "anna" and record.max_minutes == 5


def test_a_participant_creates_runs_only_in_their_own_workspace(runs):
    base, _ = runs
    anna = ScopedRunStore(ANNA, base)
    for workspace in ("bob", CLASS_WORKSPACE):
        with pytest.raises(UserError, match="only in your own workspace, 'anna'"):
            anna.create(workspace, CONFIG, monitor="val_accuracy")
    assert {r.workspace for r in base.list()} == {"anna", "bob", CLASS_WORKSPACE} and len(base.list()) == 4


def test_a_participant_cannot_reorder_the_queue_or_change_settings(runs):
    base, made = runs
    bob = ScopedRunStore(BOB, base)
    with pytest.raises(UserError, match="Only the teacher"):
        control.move_to_front(bob, made["bob-queued"])
    with pytest.raises(UserError, match="Only the teacher can change a run's minutes cap"):
        control.set_run_cap(bob, made["bob-queued"], 0)
    with pytest.raises(UserError, match="Only the teacher"):
        bob.save_setting("queue_limits", {"max_queued_runs": 0})
    record = base.get(made["bob-queued"])
    assert (record.priority, record.max_minutes) == (0, 0) and base.setting("queue_limits") is None


@pytest.mark.parametrize("identity", [TEACHER, PERSONAL])
def test_admins_and_personal_mode_see_and_act_on_everything(runs, identity):
    base, made = runs
    scoped = ScopedRunStore(identity, base)
    assert {r.id for r in scoped.list()} == set(made.values())
    assert [r.id for r in scoped.list("bob", statuses=("queued",))] == [made["bob-queued"]]
    with pytest.raises(UserError) as error:
        scoped.get("run-000000-000000-dead")
    assert str(error.value) == str(pytest.raises(UserError, base.get, "run-000000-000000-dead").value)
    assert control.move_to_front(scoped, made["bob-queued"]).priority > 0
    assert control.request_stop(scoped, made["bob-queued"]).status == "stopped"
    control.delete_run(scoped, made["bob"])
    control.delete_run(scoped, made[CLASS_WORKSPACE])
    assert {r.id for r in base.list()} == {made["anna"], made["bob-queued"]}


def test_an_sso_participant_is_scoped_the_same_way(runs):
    base, made = runs
    sso = ScopedRunStore(Identity("anna", "Anna", role="participant", mode="sso"), base)
    assert {r.id for r in sso.list()} == {made["anna"], made[CLASS_WORKSPACE]}
    with pytest.raises(UserError, match="There is no run"):
        control.delete_run(sso, made["bob"])


def test_changeable_says_which_runs_an_identity_may_change(runs):
    base, made = runs
    anna = ScopedRunStore(ANNA, base)
    assert anna.changeable(made["anna"]).id == made["anna"]
    with pytest.raises(UserError, match="belongs to the class workspace"):
        anna.changeable(made[CLASS_WORKSPACE])
    with pytest.raises(UserError, match="There is no run"):
        anna.changeable(made["bob"])
    assert ScopedRunStore(TEACHER, base).changeable(made["bob"]).id == made["bob"]


def test_every_list_of_runs_is_scoped(runs):
    base, made = runs
    for run_id in made.values():
        base.update(run_id, launched=1.0)
    anna = ScopedRunStore(ANNA, base)
    assert {r.id for r in anna.launched_since(0.0)} == {made["anna"], made[CLASS_WORKSPACE]}
    assert {r.id for r in ScopedRunStore(TEACHER, base).launched_since(0.0)} == {
        made["anna"], made["bob"], made[CLASS_WORKSPACE]}  # the queued one has not ended


def test_every_run_store_method_is_scoped_or_built_on_scoped_ones():
    """A method added to RunStore later is unscoped until ScopedRunStore overrides it (or it is listed here as built
    only on scoped methods), so this fails until someone decides."""
    built_on_scoped = {"run_folder", "config", "events", "run_dir_for", "setting"}
    public = {name for name in vars(RunStore) if not name.startswith("_") and callable(getattr(RunStore, name))}
    overridden = {name for name in vars(ScopedRunStore) if not name.startswith("_")}
    assert public - overridden - built_on_scoped == set()
