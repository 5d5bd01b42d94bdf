"""Where MedLab keeps its data, and the settings read from the environment.

MEDLAB_HOME (default: ~/.medlab) holds everything MedLab writes:

    workspaces/<name>/datasets/<id>/   datasets imported into a workspace
    workspaces/<name>/runs/<id>/       training runs of a workspace
    workspaces/class/                  workshop and SSO modes: the teacher's workspace, read-only to participants
    workspaces/<name>/secret           per-workspace key for pseudonymous DICOM UIDs and patient keys
    builtin/<id>/                      built-in datasets, generated on first use, shared by all workspaces
                                       (MEDLAB_BUILTIN_DIR puts them elsewhere)
    access.sqlite                      workshop participants and session tokens (core.access.sessions)
    cache/                             downloads (MedMNIST files, pretrained weights)

Tests point MEDLAB_HOME at a temporary folder.
"""
from __future__ import annotations

import os
import re
import secrets
import tempfile
import unicodedata
from pathlib import Path

from core.errors import UserError

DEFAULT_WORKSPACE = "default"
CLASS_WORKSPACE = "class"  # workshop and SSO modes: the teacher's datasets, read-only to participants
_WORKSPACE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


def medlab_home() -> Path:
    """The root folder for all MedLab data (created on first use)."""
    home = Path(os.environ.get("MEDLAB_HOME") or Path.home() / ".medlab").expanduser()
    home.mkdir(parents=True, exist_ok=True)
    return home


def cache_dir(*parts: str) -> Path:
    """A folder under MEDLAB_HOME/cache for downloads, e.g. cache_dir("medmnist")."""
    path = medlab_home().joinpath("cache", *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def builtin_dir() -> Path:
    """Built-in datasets, generated on first use. MEDLAB_BUILTIN_DIR moves them (e.g. to share one copy)."""
    path = Path(os.environ["MEDLAB_BUILTIN_DIR"]) if os.environ.get("MEDLAB_BUILTIN_DIR") else medlab_home() / "builtin"
    path.mkdir(parents=True, exist_ok=True)
    return path


_NAME_RULE = "1-40 lower-case letters, digits, '-' or '_', starting with a letter or digit"


def check_workspace_name(name: str) -> str:
    """Return the workspace name if it is usable as a folder name, else raise a UserError."""
    name = name.strip().lower()
    if not _WORKSPACE_NAME.match(name):
        raise UserError(f"'{name}' is not a usable workspace name: use {_NAME_RULE}.")
    return name


def normalise_workspace_name(name: str) -> str:
    """The usable workspace name a typed one stands for: "Bob Smith" -> "bob-smith", "Jürgen" -> "jurgen".

    A usable name comes back unchanged (apart from surrounding spaces and upper case). Otherwise accents are
    dropped (Unicode NFKD), every run of other characters becomes one '-', leading '-'/'_' and trailing '-' go
    and the name is cut to 40 characters. Callers say so whenever the result differs from what was typed
    (see `workspace_name_note`), so a name is never replaced without the user seeing it.

    Raises:
        UserError: nothing usable is left (e.g. "!!!" or a name in a non-Latin script).
    """
    try:
        return check_workspace_name(name)
    except UserError:
        pass
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    candidate = re.sub(r"[^a-z0-9_-]+", "-", ascii_name)
    candidate = re.sub(r"-{2,}", "-", candidate).lstrip("-_")[:40].rstrip("-")
    if not _WORKSPACE_NAME.match(candidate):
        raise UserError(f"'{name.strip()}' is not a usable workspace name: use {_NAME_RULE}.")
    return candidate


def workspace_name_note(typed: str, used: str) -> str | None:
    """One sentence saying that `typed` was changed into the workspace name `used`, or None if it was not."""
    if typed.strip() == used:
        return None
    return (f"Workspace names use lower-case letters, digits, '-' and '_' (1-40, starting with a letter or digit), "
            f"so '{typed.strip()}' is the workspace '{used}'.")


def workspace_dir(workspace: str) -> Path:
    path = medlab_home() / "workspaces" / check_workspace_name(workspace)
    path.mkdir(parents=True, exist_ok=True)
    return path


def list_workspaces() -> list[str]:
    root = medlab_home() / "workspaces"
    names = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.exists() else []
    return names or [DEFAULT_WORKSPACE]


def workspace_secret(workspace: str) -> bytes:
    """A random key kept per workspace, so pseudonyms stay consistent across imports but cannot be reversed
    by anyone without the key."""
    path = workspace_dir(workspace) / "secret"
    if not path.exists():
        # Two imports starting at once must end with one key, never two: each writes its own temporary file and
        # links it into place, which fails if the other got there first (then its key is the workspace's).
        descriptor, tmp = tempfile.mkstemp(prefix=".secret-", dir=path.parent)
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(secrets.token_bytes(32))
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    return path.read_bytes()
