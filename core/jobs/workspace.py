"""A workspace's short status line: what it holds. Datasets and runs are stored per workspace."""
from __future__ import annotations

from dataclasses import dataclass

from core.data.builtin import BUILTIN_IDS
from core.data.store import stored_datasets
from core.jobs.store import ACTIVE, RunStore


@dataclass
class WorkspaceStatus:
    builtin_datasets: int
    stored_datasets: int
    runs: int
    active_runs: int

    def line(self) -> str:
        runs = f"{self.runs} run" + ("" if self.runs == 1 else "s")
        active = f" ({self.active_runs} active)" if self.active_runs else ""
        return f"{self.stored_datasets} imported + {self.builtin_datasets} built-in datasets · {runs}{active}"


def workspace_status(workspace: str, store: RunStore) -> WorkspaceStatus:
    runs = store.list(workspace)
    return WorkspaceStatus(len(BUILTIN_IDS), len(stored_datasets(workspace)), len(runs),
                           sum(r.status in ACTIVE for r in runs))
