"""Which queued run starts next: round-robin across workspaces, so one participant who queues ten runs does not
make everyone else wait.

A participant's second queued run never starts before every other participant's first: a queued run's round is
the number of runs its workspace already has running, plus its queued runs submitted before it; runs start by
round, then by submission time. A teacher's reordering (the runs' `priority`, higher first) comes before both.
With one workspace (personal mode) this is first come, first served. Pure functions of run records, used by the
job runner to launch and by the pages to show each participant's position and estimated start.
"""
from __future__ import annotations

from collections.abc import Sequence

from core.jobs.store import RunRecord


def launch_order(queued: Sequence[RunRecord], running: Sequence[RunRecord]) -> list[RunRecord]:
    """`queued` in the order they will start. `running`: the runs running or stopping now."""
    raise NotImplementedError  # H3
