"""Identity: who a browser session acts as, and which workspaces it may read and change."""
from __future__ import annotations

from dataclasses import dataclass

from core.settings import CLASS_WORKSPACE

MODES = ("personal", "workshop", "sso")
ROLES = ("personal", "participant", "admin")


@dataclass(frozen=True)
class Identity:
    """A signed-in (or personal-mode) user.

    workspace: the user's own workspace (an admin's own workspace is the class workspace, where the teacher's
        datasets go); display_name: what the teacher's view and the sidebar show; role: "personal" (one user,
        may do anything), "participant" (own workspace, class workspace read-only) or "admin" (sees and acts on
        every workspace); mode: "personal", "workshop" or "sso"."""

    workspace: str
    display_name: str
    role: str = "personal"
    mode: str = "personal"

    def __post_init__(self) -> None:
        if self.role not in ROLES or self.mode not in MODES:
            raise ValueError(f"programming error: role {self.role!r} / mode {self.mode!r}")

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def sees_everything(self) -> bool:
        """Personal mode (the machine's one user) and admins may open any workspace."""
        return self.role in ("personal", "admin")

    @property
    def class_workspace(self) -> str | None:
        """The shared read-only workspace participants see (None in personal mode)."""
        return None if self.mode == "personal" else CLASS_WORKSPACE

    def can_read(self, workspace: str) -> bool:
        return self.sees_everything or workspace in (self.workspace, self.class_workspace)

    def can_act(self, workspace: str) -> bool:
        """Start, stop, resume or delete runs and import or delete datasets in `workspace`."""
        return self.sees_everything or workspace == self.workspace

