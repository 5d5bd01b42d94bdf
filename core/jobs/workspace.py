"""What a workspace holds, in a short status line, and its runs that can be compared as enhancement methods.
Datasets and runs are stored per workspace."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.data.builtin import BUILTIN_IDS
from core.data.store import stored_datasets
from core.jobs.store import ACTIVE, RunStore
from core.tasks.restore import RESTORE_TASKS


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


def restoration_runs(workspace: str, store: RunStore, scale: int) -> dict[str, Path]:
    """The completed restoration runs of `workspace` whose networks work at `scale` (1: denoising; 2 or 4:
    super-resolution by that factor), as {"Trained: name": run folder}, for comparing with classical methods."""
    found: dict[str, Path] = {}
    for record in store.list(workspace, statuses=("completed",)):
        if record.task not in RESTORE_TASKS:
            continue
        run_scale = store.config(record).get("scale", 2) if record.task == "super_resolution" else 1
        if run_scale == scale:
            found[f"Trained: {record.name or record.id}"] = store.run_dir(record)
    return found
