"""Workshop participants and their session tokens, kept in MEDLAB_HOME/access.sqlite (WAL mode).

A participant joins once with a display name and the join code and gets a personal workspace and a random session
token; the browser keeps the token in the SESSION_COOKIE cookie, so a reload or a new tab stays signed in. Only a
SHA-256 of each token is stored, and the codes are never stored at all. Participants signed in by SSO are recorded
too (no token: Streamlit's own auth cookie holds their session), so the teacher's view lists everyone.

    participants   one row per person: workspace (unique among participants), display name, role, mode, when they
                   joined and were last seen, and for SSO users a SHA-256 of issuer and subject (OIDC "iss", "sub")
    sessions       one row per workshop token: its SHA-256, whose it is, when it expires, when it was revoked
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from core.access.identity import Identity
from core.errors import UserError
from core.settings import CLASS_WORKSPACE, DEFAULT_WORKSPACE, medlab_home, normalise_workspace_name

SESSION_COOKIE = "medlab_session"
DB_NAME = "access.sqlite"
RESERVED_WORKSPACES = (CLASS_WORKSPACE, DEFAULT_WORKSPACE)  # never a participant's
MAX_DISPLAY_NAME = 40
LAST_SEEN_EVERY_S = 60.0   # last_seen is written at most this often per person (identity runs on every page run)
WRONG_CODE = "That code is not this workshop's join code."

SCHEMA = """
CREATE TABLE IF NOT EXISTS participants (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace TEXT NOT NULL,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL,                    -- participant | admin
    mode TEXT NOT NULL,                    -- workshop | sso
    joined REAL NOT NULL,
    last_seen REAL NOT NULL,
    sso_key TEXT UNIQUE,                   -- SHA-256 of issuer + "\\n" + subject (SSO users only)
    sso_workspace TEXT                     -- an SSO user's own workspace, chosen at the first sign-in, kept for good
);
CREATE UNIQUE INDEX IF NOT EXISTS participant_workspaces ON participants (workspace) WHERE role = 'participant';
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,           -- SHA-256 of the token (hex); the token itself is never stored
    participant INTEGER NOT NULL REFERENCES participants (id),
    created REAL NOT NULL,
    expires REAL NOT NULL,
    revoked REAL,                          -- when "Leave" revoked it (NULL: valid until it expires)
    code_tag TEXT                          -- admin sessions: HMAC-SHA256 keyed by the token of the admin code, so a
                                           -- changed admin code ends them (the code itself is never stored)
);
"""

_ready: set[Path] = set()   # databases whose schema this process has made sure of (a store is made per page run)
_ready_lock = threading.Lock()


@dataclass(frozen=True)
class Participant:
    workspace: str
    display_name: str
    role: str            # participant | admin
    mode: str            # workshop | sso
    joined: float        # unix time
    last_seen: float


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_display_name(name: str) -> str:
    """The display name without surrounding spaces, or UserError unless it is 1 to 40 printable characters."""
    name = (name or "").strip() if isinstance(name, str) else ""
    if not name or len(name) > MAX_DISPLAY_NAME or not name.isprintable():
        raise UserError(f"A display name is 1 to {MAX_DISPLAY_NAME} printable characters, e.g. your first name.")
    return name


def code_tag(token: str, code: str) -> str:
    """HMAC-SHA256 (RFC 2104) of `code` keyed by `token`: ties an admin session to the admin code it was opened
    with, without storing anything from which the code could be guessed without the token."""
    return hmac.new(token.encode("utf-8"), code.encode("utf-8"), hashlib.sha256).hexdigest()


def _same(typed: str, code: str) -> bool:
    """Constant-time comparison of a typed code with a configured one (hmac.compare_digest on UTF-8 bytes)."""
    return bool(code) and hmac.compare_digest(typed.encode("utf-8"), code.encode("utf-8"))


def _base_name(text: str, fallback: str, room: int) -> str:
    """A workspace-name stem made from `text` (core.settings.normalise_workspace_name), at most `room` characters,
    `fallback` when nothing usable is left (e.g. a name in a non-Latin script)."""
    try:
        base = normalise_workspace_name(text)
    except UserError:
        base = fallback
    return base[:room].rstrip("-_") or fallback


class SessionStore:
    """Participants and sessions in `home`/access.sqlite (default MEDLAB_HOME). Cheap to make: the schema is made
    once per process and database."""

    def __init__(self, home: Path | None = None) -> None:
        self.home = home or medlab_home()
        self.db_path = self.home / DB_NAME
        if self.db_path not in _ready or not self.db_path.exists():
            with _ready_lock:
                self.home.mkdir(parents=True, exist_ok=True)
                with self._connect() as db:
                    db.execute("PRAGMA journal_mode=WAL")
                    db.executescript(SCHEMA)
                _ready.add(self.db_path)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)  # autocommit; explicit BEGIN when needed
        try:
            db.execute("PRAGMA busy_timeout=30000")
            db.row_factory = sqlite3.Row
            yield db
        finally:
            db.close()

    # --- workshop mode ----------------------------------------------------------------------------------------
    def join(self, display_name: str, code: str, config) -> tuple[str, Identity]:
        """A new session for someone entering `display_name` and `code` (the join code: a participant with a new
        workspace named after the display name, made unique: "anna", "anna-2"; the admin code: the teacher,
        whose workspace is the class workspace). Returns (token for the cookie, identity).

        Raises:
            UserError: wrong code (one sentence that does not say which codes exist), or an unusable name.
        """
        if config.mode != "workshop":
            raise UserError("This MedLab is not running a workshop, so there is nothing to join.")
        typed = (code or "").strip() if isinstance(code, str) else ""
        is_admin, is_participant = _same(typed, config.admin_code), _same(typed, config.join_code)
        if not (is_admin or is_participant):
            raise UserError(WRONG_CODE)
        name = check_display_name(display_name)
        now = time.time()
        token = secrets.token_urlsafe(32)
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")  # one join at a time chooses a workspace name (across processes too)
            try:
                if is_admin:
                    person = self._admin_row(db, name, now)
                    identity = Identity(CLASS_WORKSPACE, name, role="admin", mode="workshop")
                else:
                    workspace = self._free_workspace(db, name)
                    person = db.execute(
                        "INSERT INTO participants (workspace, display_name, role, mode, joined, last_seen)"
                        " VALUES (?, ?, 'participant', 'workshop', ?, ?)", (workspace, name, now, now)).lastrowid
                    identity = Identity(workspace, name, role="participant", mode="workshop")
                db.execute("INSERT INTO sessions (token_hash, participant, created, expires, code_tag)"
                           " VALUES (?, ?, ?, ?, ?)", (token_hash(token), person, now,
                                                       now + float(config.session_days) * 86400,
                                                       code_tag(token, config.admin_code) if is_admin else None))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return token, identity

    def _admin_row(self, db: sqlite3.Connection, name: str, now: float) -> int:
        """The teacher's row (one per display name: joining again from another browser is the same person)."""
        row = db.execute("SELECT id FROM participants WHERE role = 'admin' AND mode = 'workshop'"
                         " AND display_name = ?", (name,)).fetchone()
        if row is not None:
            db.execute("UPDATE participants SET last_seen = ? WHERE id = ?", (now, row["id"]))
            return int(row["id"])
        return int(db.execute("INSERT INTO participants (workspace, display_name, role, mode, joined, last_seen)"
                              " VALUES (?, ?, 'admin', 'workshop', ?, ?)", (CLASS_WORKSPACE, name, now, now)).lastrowid)

    def _free_workspace(self, db: sqlite3.Connection, name: str) -> str:
        """The first of "anna", "anna-2", "anna-3", ... that no participant has and no workspace folder holds (and
        never a reserved name). Called inside the join's write transaction, so two joins never pick the same."""
        base = _base_name(name, "participant", 40)
        folders = self.home / "workspaces"
        number = 1
        while True:
            suffix = "" if number == 1 else f"-{number}"
            candidate = base[:40 - len(suffix)].rstrip("-_") + suffix
            if candidate not in RESERVED_WORKSPACES and not (folders / candidate).exists() and db.execute(
                    "SELECT 1 FROM participants WHERE workspace = ?", (candidate,)).fetchone() is None:
                return candidate
            number += 1

    def identity(self, token: str | None, config) -> Identity | None:
        """The identity a cookie's token stands for, or None (unknown, revoked or expired token, an admin session
        opened with an admin code that has since changed, or a server no longer in workshop mode). Updates
        last_seen at most once a LAST_SEEN_EVERY_S."""
        if not token or not isinstance(token, str) or config.mode != "workshop":
            return None
        now = time.time()
        with self._connect() as db:
            row = db.execute(
                "SELECT p.id, p.workspace, p.display_name, p.role, p.last_seen, s.expires, s.revoked, s.code_tag"
                " FROM sessions s JOIN participants p ON p.id = s.participant WHERE s.token_hash = ?",
                (token_hash(token),)).fetchone()
            if row is None or row["revoked"] is not None or row["expires"] <= now:
                return None
            if row["role"] == "admin" and not hmac.compare_digest(row["code_tag"] or "",
                                                                  code_tag(token, config.admin_code)):
                return None
            if now - row["last_seen"] >= LAST_SEEN_EVERY_S:
                db.execute("UPDATE participants SET last_seen = ? WHERE id = ?", (now, row["id"]))
        return Identity(row["workspace"], row["display_name"], role=row["role"], mode="workshop")

    def leave(self, token: str) -> None:
        """Revoke a token (the participant's workspace and runs stay)."""
        if not token:
            return
        with self._connect() as db:
            db.execute("UPDATE sessions SET revoked = ? WHERE token_hash = ? AND revoked IS NULL",
                       (time.time(), token_hash(token)))

    def revoke_workspace(self, workspace: str) -> int:
        """Revoke every workshop session of `workspace`'s participant (e.g. a participant who shared their
        cookie); returns how many were valid. They can join again with the code (and get a new workspace)."""
        with self._connect() as db:
            return db.execute(
                "UPDATE sessions SET revoked = ? WHERE revoked IS NULL AND expires > ? AND participant IN"
                " (SELECT id FROM participants WHERE workspace = ? AND role = 'participant')",
                (time.time(), time.time(), workspace)).rowcount

    def forget_expired(self, older_than_days: float = 30.0) -> int:
        """Delete session rows that expired or were revoked more than `older_than_days` ago; returns how many."""
        cutoff = time.time() - older_than_days * 86400
        with self._connect() as db:
            return db.execute("DELETE FROM sessions WHERE expires < ? OR revoked < ?", (cutoff, cutoff)).rowcount

    # --- single sign-on ---------------------------------------------------------------------------------------
    def sso_identity(self, issuer: str, subject: str, email: str, name: str, admin: bool) -> Identity:
        """The identity of an SSO user: a workspace that follows the identity (the same issuer and subject always
        give the same workspace, e.g. "alice-3fa9c1" from alice@example.org), recorded as a participant. An admin's
        workspace is the class workspace (as a workshop teacher's). OIDC: issuer and subject are the "iss" and
        "sub" claims, which together identify an account for good (an e-mail address may change)."""
        if not subject:
            raise ValueError("programming error: an SSO identity needs the subject claim")
        key = hashlib.sha256(f"{issuer}\n{subject}".encode("utf-8")).hexdigest()
        local = (email or "").partition("@")[0] or name or "user"
        own = f"{_base_name(local, 'user', 33)}-{key[:6]}"   # a first sign-in's; a later e-mail change keeps it
        display = (name or "").strip()[:MAX_DISPLAY_NAME].strip()
        if not display or not display.isprintable():
            display = (email or own)[:MAX_DISPLAY_NAME]
        role = "admin" if admin else "participant"
        now = time.time()
        with self._connect() as db:
            row = db.execute("SELECT id, workspace, display_name, role, last_seen, sso_workspace FROM participants"
                             " WHERE sso_key = ?", (key,)).fetchone()
            own = row["sso_workspace"] if row is not None and row["sso_workspace"] else own
            workspace = CLASS_WORKSPACE if admin else own
            if row is None:
                db.execute("INSERT INTO participants (workspace, display_name, role, mode, joined, last_seen, sso_key,"
                           " sso_workspace) VALUES (?, ?, ?, 'sso', ?, ?, ?, ?) ON CONFLICT (sso_key) DO NOTHING",
                           (workspace, display, role, now, now, key, own))
            elif (row["workspace"], row["display_name"], row["role"]) != (workspace, display, role) \
                    or now - row["last_seen"] >= LAST_SEEN_EVERY_S:
                db.execute("UPDATE participants SET workspace = ?, display_name = ?, role = ?, last_seen = ?"
                           " WHERE id = ?", (workspace, display, role, now, row["id"]))
        return Identity(workspace, display, role=role, mode="sso")

    # --- the teacher's view -----------------------------------------------------------------------------------
    def participants(self) -> list[Participant]:
        """Everyone who joined (participants and admins, workshop and SSO), newest first (for the teacher's view)."""
        with self._connect() as db:
            rows = db.execute("SELECT workspace, display_name, role, mode, joined, last_seen FROM participants"
                              " ORDER BY joined DESC, id DESC").fetchall()
        return [Participant(**dict(row)) for row in rows]

    def participant_workspaces(self) -> list[str]:
        """The workspaces of everyone who is not an admin, newest participant first."""
        return [p.workspace for p in self.participants() if p.role == "participant"]
