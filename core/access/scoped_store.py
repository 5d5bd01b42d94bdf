"""The run store as one identity sees it: every page reads and acts on runs through this, so isolation is
structural instead of a check each page must remember.

`ScopedRunStore(identity)` is a RunStore whose reads see only the workspaces `identity.can_read`, and whose writes
(create, update, transition, delete, and so the control functions stop/resume/delete built on them) touch only
the workspaces `identity.can_act`. A run id of another workspace gets exactly the sentence a missing id gets
("There is no run 'X' in your workspace."), so ids cannot be probed; a class-workspace run a participant may
read but not change gets "Run 'X' belongs to the class workspace: you can look at it but not change it."
The job runner and workers use the plain RunStore.
"""
from __future__ import annotations

from core.access.identity import Identity
from core.jobs.store import RunStore


class ScopedRunStore(RunStore):
    def __init__(self, identity: Identity, base: RunStore) -> None:
        # `base` has opened (and if needed created or migrated) the database; a scoped view is made per page run,
        # so it only shares the paths instead of opening the schema again.
        self.home, self.db_path, self.identity = base.home, base.db_path, identity
    # H1: override get, list, run_folder, create, update, transition, delete (and anything else that takes a run id)
