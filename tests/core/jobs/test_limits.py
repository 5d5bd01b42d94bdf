"""What a workshop allows each participant: queued runs, epochs and minutes per run; the teacher's saved changes;
and what create_run does with them."""
from __future__ import annotations

import threading

import pytest

from core.errors import UserError
from core.jobs.control import create_run, request_stop, set_run_cap
from core.jobs.cv import submit_cross_validation
from core.jobs.limits import QueueLimits, capped_config, check_queue_limit, effective_limits, save_limits
from core.jobs.store import RunStore

CAPPED_CASES = [
    # config, limits -> epochs after, the notes
    ({"dataset": "d", "epochs": 30}, QueueLimits(max_epochs=10), 10,
     ["This workshop allows at most 10 epochs per run, so this run trains 10, not 30."]),
    ({"dataset": "d", "epochs": 8}, QueueLimits(max_epochs=10), 8, []),
    ({"dataset": "d", "epochs": 30}, QueueLimits(), 30, []),
    ({"dataset": "d"}, QueueLimits(max_epochs=4), 4,  # the recipe's 6 epochs
     ["This workshop allows at most 4 epochs per run, so this run trains 4, not 6."]),
    ({"dataset": "d", "epochs": 3}, QueueLimits(max_run_minutes=15), 3,
     ["Training stops after 15 minutes (this workshop's cap per run); the run is then evaluated from its best "
      "epoch so far."]),
    ({"dataset": "d", "epochs": 3, "workers": 4}, QueueLimits(), 3,
     ["In this workshop each run trains on one worker, so this run uses 1, not 4."]),
]


@pytest.mark.parametrize("config,limits,epochs,notes", CAPPED_CASES)
def test_capped_config_shortens_the_recipe_and_says_so(config, limits, epochs, notes):
    before = dict(config)
    capped, said = capped_config(config, limits)
    assert capped.get("epochs", 6) == epochs and said == notes
    assert capped.get("workers", 1) == 1
    assert config == before  # the caller's dict is left alone


def test_the_teachers_saved_limits_win_over_the_configured_ones():
    store = RunStore()
    configured = QueueLimits(max_queued_runs=2, max_epochs=20, max_run_minutes=15)
    assert effective_limits(store, configured) == configured
    save_limits(store, QueueLimits(max_queued_runs=3, max_epochs=5, max_run_minutes=0))
    assert effective_limits(RunStore(), configured) == QueueLimits(3, 5, 0)  # another process reads them too


def test_limits_are_numbers_of_at_least_zero():
    with pytest.raises(UserError, match="max_epochs"):
        QueueLimits(max_epochs=-1)


def test_a_participant_at_the_queue_limit_is_refused_with_a_sentence():
    store = RunStore()
    limits = QueueLimits(max_queued_runs=2)
    config = {"dataset": "phantom-64", "epochs": 1}
    first = create_run(store, "alice", config, limits=limits)
    create_run(store, "alice", config, limits=limits)
    create_run(store, "bob", config, limits=limits)  # another participant's runs do not count against alice
    with pytest.raises(UserError, match=r"^You have 2 runs queued or running, the most this workshop allows: wait "
                                        r"for one to finish or stop one\.$"):
        create_run(store, "alice", config, limits=limits)
    assert len(store.list("alice")) == 2
    create_run(store, "alice", config)  # no limits (personal mode, an admin, the CLI)
    request_stop(store, first.id)  # a stopped run no longer counts
    check_queue_limit(store, "bob", limits)
    with pytest.raises(UserError, match="You have 2 runs"):
        check_queue_limit(store, "alice", limits)


def test_two_starts_at_the_same_moment_cannot_both_pass_the_limit(monkeypatch):
    """Two tabs press Start together: both counts see room (the check before the insert is passed over here, as if
    both ran it before either inserted), but the count inside the insert's transaction admits only one."""
    import core.jobs.control as control
    monkeypatch.setattr(control, "check_queue_limit", lambda *args, **kwargs: None)
    store = RunStore()
    limits = QueueLimits(max_queued_runs=1)
    gate = threading.Barrier(4)
    outcomes: list[str] = []

    def start() -> None:
        gate.wait()
        try:
            outcomes.append(create_run(store, "alice", {"dataset": "phantom-64", "epochs": 1}, limits=limits).id)
        except UserError as error:
            outcomes.append(error.message)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(store.list("alice")) == 1 and sum(o.startswith("run-") for o in outcomes) == 1
    assert [o for o in outcomes if not o.startswith("run-")] == ["You have 1 run queued or running, the most this workshop allows: wait for "
                                    "one to finish or stop one."] * 3
    runs_folder = store.run_dir(store.list("alice")[0]).parent
    assert [p.name for p in runs_folder.iterdir()] == [store.list("alice")[0].id]  # no folder of a refused run


def test_create_run_caps_epochs_and_sets_the_minutes_cap():
    store = RunStore()
    record = create_run(store, "alice", {"dataset": "phantom-64", "epochs": 30},
                        limits=QueueLimits(max_epochs=10, max_run_minutes=15))
    assert record.epochs == 10 and store.config(record)["epochs"] == 10 and record.max_minutes == 15.0
    assert create_run(store, "alice", {"dataset": "phantom-64", "epochs": 30}).max_minutes == 0.0
    assert set_run_cap(store, record.id, 5).max_minutes == 5.0  # the teacher changes it
    with pytest.raises(UserError, match="at least 0"):
        set_run_cap(store, record.id, -1)


def test_cross_validation_is_refused_whole_when_its_folds_do_not_fit():
    store = RunStore()
    create_run(store, "alice", {"dataset": "phantom-64", "epochs": 1})
    with pytest.raises(UserError, match=r"^This queues 3 runs, but this workshop allows 2 queued or running per "
                                        r"participant and you have 1"):
        submit_cross_validation(store, "alice", {"dataset": "phantom-64"}, 3, limits=QueueLimits(max_queued_runs=2))
    assert len(store.list("alice")) == 1
    folds = submit_cross_validation(store, "alice", {"dataset": "phantom-64", "epochs": 9}, 2,
                                    limits=QueueLimits(max_queued_runs=3, max_epochs=2))
    assert [r.epochs for r in folds] == [2, 2]


def test_resuming_counts_against_the_queue_limit_and_never_trains_past_the_epoch_cap():
    from core.jobs.control import prepare_resume

    store = RunStore()
    limits = QueueLimits(max_queued_runs=1, max_epochs=4)
    first = create_run(store, "alice", {"dataset": "phantom-64", "epochs": 2}, limits=limits)
    request_stop(store, first.id)
    store.update(first.id, status="completed", epoch=2)
    with pytest.raises(UserError, match=r"^This workshop allows at most 4 epochs per run, so this run cannot train "
                                        r"to epoch 6\.$"):
        prepare_resume(store, first.id, epochs=6, limits=limits)
    assert prepare_resume(store, first.id, epochs=4, limits=limits).status == "queued"
    second = create_run(store, "alice", {"dataset": "phantom-64", "epochs": 2})  # no limits: e.g. from the CLI
    request_stop(store, second.id)
    with pytest.raises(UserError, match="^You have 1 run queued or running"):
        prepare_resume(store, second.id, limits=limits)
