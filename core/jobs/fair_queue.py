"""Which queued run starts next: round-robin across workspaces, so one participant who queues ten runs does not
make everyone else wait.

A participant's second queued run never starts before every other participant's first: a queued run's round is
the number of runs its workspace has had started while others waited (those running now, and those started
since the earliest queued run was submitted), plus its queued runs submitted before it; runs start by round,
then by submission time. So when A queues A1 A2 A3 and then B and C queue theirs, the runs start A1 B1 C1 A2 B2
C2 A3 ..., however quickly each one finishes. A teacher's reordering (the runs' `priority`, higher first) comes
before both. With one workspace (personal mode) this is first come, first served. Pure functions of run records, used by the
job runner to launch and by the pages to show each participant's position and estimated start.
"""
from __future__ import annotations

from collections.abc import Sequence

from core.jobs.store import RunRecord


def launch_order(queued: Sequence[RunRecord], running: Sequence[RunRecord],
                 launched: Sequence[RunRecord] = ()) -> list[RunRecord]:
    """`queued` in the order they will start. `running`: the runs running or stopping now. `launched`: runs the job
    runner started that have ended since (RunStore.launched_since); those started at or after the earliest queued
    run's submission count as their workspace's turns.

    Sorted by (priority, higher first; round; submission time; id): e.g. A submits A1 A2 A3, then B and C one
    each: A1 B1 C1 A2 A3. With A1 already running (or finished after B1 was queued), A2's round is 1, so B1 and
    C1 (round 0) go first.
    """
    since = min((r.created for r in queued), default=0.0)
    counted = {r.id: r for r in running}
    counted.update({r.id: r for r in launched if r.launched is not None and r.launched >= since and r.id not in counted})
    active: dict[str, int] = {}
    for record in counted.values():
        active[record.workspace] = active.get(record.workspace, 0) + 1
    rounds: dict[str, int] = {}
    for record in sorted(queued, key=lambda r: (r.created, r.id)):
        rounds[record.id] = active.get(record.workspace, 0)
        active[record.workspace] = rounds[record.id] + 1
    return sorted(queued, key=lambda r: (-(r.priority or 0.0), rounds[r.id], r.created, r.id))
