"""Four workshop participants at once on one real server (a scaled-down bench/workshop_load.py).

Each participant is a lightweight client speaking Streamlit's websocket protocol (tests/load_clients.py): half
join through the join form's widgets, half with the session cookie of SessionStore.join; each opens Dataset and
Train, picks a one-epoch recipe on the 28 px phantom and presses Start (the first participant twice: the one who
queues more), then watches (the page's fragments rerun on their timers, and the participant reopens pages) until
the runs end. One job slot on the CPU, so the order in which runs started is the queue's order.
"""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from core.jobs.store import RunStore
from tests.e2e.conftest import _serve
from tests.load_clients import (Participant, order_text, participant_session, round_robin_violations, run_async,
                                workshop_secrets)

SECRETS = workshop_secrets()
PARTICIPANTS = 4
RUNS = [2, 1, 1, 1]  # per participant


@pytest.fixture(scope="module")
def workshop_server(tmp_path_factory: pytest.TempPathFactory, shared_builtin_dir: Path):
    yield from _serve(tmp_path_factory, shared_builtin_dir, secrets_toml=SECRETS,
                      env_extra={"MEDLAB_JOBS_PER_DEVICE": "1"})


@pytest.fixture(scope="module")
def load(workshop_server):
    """The participants after their runs ended, and every run in the server's store."""
    store = RunStore(workshop_server.home)
    participants = [Participant(f"Load {i}", via_form=i % 2 == 0) for i in range(PARTICIPANTS)]

    async def everyone() -> None:
        await asyncio.gather(*(participant_session(workshop_server, workshop_server.home, SECRETS, p, runs, store,
                                                   browse_every_s=4.0) for p, runs in zip(participants, RUNS)))

    run_async(everyone())
    return participants, store.list()


def test_every_participant_gets_a_workspace_and_every_run_completes(load):
    participants, records = load
    workspaces = [p.workspace for p in participants]
    assert len(set(workspaces)) == PARTICIPANTS and all(workspaces)
    for p, runs in zip(participants, RUNS):
        mine = [r for r in records if r.workspace == p.workspace]
        assert sorted(r.id for r in mine) == sorted(p.run_ids) and len(mine) == runs  # none lost, none extra
        assert {r.dataset for r in mine} == {"phantom-28"} and {r.epochs for r in mine} == {1}  # the form's values
    assert [r.status for r in records if r.status != "completed"] == [], [(r.id, r.message) for r in records]


def test_every_interaction_was_answered_without_an_error(load):
    participants, _ = load
    for p, runs in zip(participants, RUNS):
        done = [i.what for i in p.client.interactions]
        assert p.client.exceptions == [], (p.name, p.client.exceptions)
        assert {"open home", "open dataset", "open train", "start"} <= set(done), done
        assert done.count("start") == runs
    assert any(i.what == "join" for p in participants for i in p.client.interactions)  # the form was used
    assert any(i.what == "fragment" for p in participants for i in p.client.interactions)  # watched live


def test_runs_started_round_robin_across_participants(load):
    """The real order: the runner's, read back from the store's `started` times (core.jobs.fair_queue)."""
    _, records = load
    assert round_robin_violations(records) == [], order_text(records)


def _runs(order: list[str]) -> list:
    """A1 A2 A3 submitted, then B1 and C1, all before A1 ends; one slot, each run 10 s; started in `order`."""
    from types import SimpleNamespace

    created = {"A1": 0.0, "A2": 0.1, "A3": 0.2, "B1": 0.3, "C1": 0.4}
    return [SimpleNamespace(id=name, workspace=name[0], created=created[name], launched=1.0 + 10 * i,
                            started=1.5 + 10 * i, finished=10.5 + 10 * i, priority=0.0)
            for i, name in enumerate(order)]


def test_the_fairness_check_tells_round_robin_from_first_come_first_served():
    assert round_robin_violations(_runs(["A1", "B1", "C1", "A2", "A3"])) == []
    assert order_text(_runs(["A1", "B1", "C1", "A2", "A3"])) == "A#1 B#1 C#1 A#2 A#3"
    fifo = round_robin_violations(_runs(["A1", "A2", "A3", "B1", "C1"]))
    assert fifo and fifo[0].startswith("A's run A2 (round 1) started while B's run B1 (round 0) waited")
