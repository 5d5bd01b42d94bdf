"""Workshop participants and their session tokens, kept in MEDLAB_HOME/access.sqlite (WAL mode).

A participant joins once with a display name and the join code and gets a personal workspace and a random session
token; the browser keeps the token in the SESSION_COOKIE cookie, so a reload or a new tab stays signed in. Only a
SHA-256 of each token is stored. Participants signed in by SSO are recorded too (no token: Streamlit's own auth
cookie holds their session), so the teacher's view lists everyone.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.access.identity import Identity

SESSION_COOKIE = "medlab_session"


@dataclass(frozen=True)
class Participant:
    workspace: str
    display_name: str
    role: str            # participant | admin
    mode: str            # workshop | sso
    joined: float        # unix time
    last_seen: float


class SessionStore:
    def __init__(self, home: Path | None = None) -> None:
        raise NotImplementedError  # H1

    def join(self, display_name: str, code: str, config) -> tuple[str, Identity]:
        """A new session for someone entering `display_name` and `code` (the join code: a participant with a new
        workspace named after the display name, made unique: "anna", "anna-2"; the admin code: the teacher,
        whose workspace is the class workspace). Returns (token for the cookie, identity).

        Raises:
            UserError: wrong code (one sentence that does not say which codes exist), or an unusable name.
        """
        raise NotImplementedError  # H1

    def identity(self, token: str | None, config) -> Identity | None:
        """The identity a cookie's token stands for, or None (unknown, revoked or expired token). Updates last_seen."""
        raise NotImplementedError  # H1

    def leave(self, token: str) -> None:
        """Revoke a token (the participant's workspace and runs stay)."""
        raise NotImplementedError  # H1

    def sso_identity(self, issuer: str, subject: str, email: str, name: str, admin: bool) -> Identity:
        """The identity of an SSO user: a workspace that follows the identity (the same issuer and subject always
        give the same workspace, e.g. "alice-3fa9c1" from alice@example.org), recorded as a participant."""
        raise NotImplementedError  # H1

    def participants(self) -> list[Participant]:
        """Everyone who joined, newest first (for the teacher's view)."""
        raise NotImplementedError  # H1
