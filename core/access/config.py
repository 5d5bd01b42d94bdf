"""The access configuration: which mode MedLab runs in, read from the [workshop], [auth] and [access] tables of
.streamlit/secrets.toml (pages pass st.secrets in as a plain mapping; nothing here imports streamlit).

    [workshop]
    join_code = "lung-42"          # participants enter it once with a display name (required for workshop mode)
    admin_code = "teach-9f3"       # gives the teacher's view (required; must differ from join_code)
    max_queued_runs = 2            # per participant, queued or running (0: no limit)
    max_epochs = 20                # per run (0: no cap); a longer recipe is shortened, and the form says so
    max_run_minutes = 15           # per run (0: no cap); training ends there and the run is evaluated
    session_days = 7               # how long a participant's session cookie lasts

    [auth]                         # Streamlit's own OIDC keys (st.login): redirect_uri, cookie_secret,
    ...                            # client_id, client_secret, server_metadata_url

    [access]                       # who is admin when signed in with [auth]
    admins = ["teacher@example.org"]
    admin_claim = "groups"         # or: a claim ...
    admin_claim_value = "medlab-admins"   # ... holding (or listing) this value
    allowed_emails = []            # optional allow-list of who may sign in ("@example.org" allows a domain)

With [auth] present the mode is "sso" (the [workshop] limits still apply to non-admins); else with a
[workshop] join_code it is "workshop"; else "personal".
"""
from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.errors import UserError
from core.jobs.limits import QueueLimits


@dataclass(frozen=True)
class AccessConfig:
    mode: str = "personal"                       # personal | workshop | sso
    join_code: str = ""
    admin_code: str = ""
    limits: QueueLimits = field(default_factory=QueueLimits)
    session_days: float = 7.0
    admins: tuple[str, ...] = ()                 # e-mails (lower case)
    admin_claim: str = ""
    admin_claim_value: str = ""
    allowed_emails: tuple[str, ...] = ()


MIN_CODE_CHARS = 4
_LIMIT_KEYS = ("max_queued_runs", "max_epochs", "max_run_minutes")
KNOWN_KEYS = {"workshop": ("join_code", "admin_code", *_LIMIT_KEYS, "session_days"),
              "access": ("admins", "admin_claim", "admin_claim_value", "allowed_emails")}


def access_config(secrets: Mapping[str, Any]) -> AccessConfig:
    """The access configuration from the secrets mapping (st.secrets as a dict).

    Raises:
        UserError: a key has the wrong type or value, naming it (e.g. "[workshop] admin_code must differ from
            join_code."), so the app shows one sentence instead of running with half a configuration.
    """
    workshop = _table(secrets, "workshop")
    access = _table(secrets, "access")
    sso = isinstance(secrets.get("auth"), Mapping) and bool(secrets.get("auth"))
    if "auth" in secrets and not isinstance(secrets.get("auth"), Mapping):
        raise UserError("[auth] must be a table of Streamlit's st.login keys (redirect_uri, cookie_secret, "
                        "client_id, client_secret, server_metadata_url).")
    join_code = _code(workshop, "join_code")
    admin_code = _code(workshop, "admin_code")
    if not sso:
        if admin_code and not join_code:
            raise UserError("[workshop] join_code is missing: a workshop needs a join code for participants as well "
                            "as the admin_code.")
        if join_code and not admin_code:
            raise UserError("[workshop] admin_code is missing: a workshop needs an admin code (different from the "
                            "join_code) for the teacher's view.")
    if join_code and admin_code and hmac.compare_digest(join_code.encode(), admin_code.encode()):
        raise UserError("[workshop] admin_code must differ from join_code.")
    limits = {}
    for key in _LIMIT_KEYS:
        if key in workshop:
            limits[key] = _number(workshop, key, integer=key != "max_run_minutes", positive=False)
    session_days = _number(workshop, "session_days", integer=False, positive=True) if "session_days" in workshop \
        else 7.0
    admins = tuple(email.lower() for email in _strings(access, "admins"))
    allowed = tuple(email.lower() for email in _strings(access, "allowed_emails"))
    for entry in admins + allowed:
        if "@" not in entry:
            key = "admins" if entry in admins else "allowed_emails"
            raise UserError(f"[access] {key} holds '{entry}', which is neither an e-mail address nor an "
                            "\"@domain\" entry.")
    for entry in admins:
        if entry.startswith("@"):
            raise UserError(f"[access] admins holds the domain '{entry}': list each admin's e-mail address.")
    admin_claim, admin_claim_value = _text(access, "admin_claim"), _text(access, "admin_claim_value")
    if bool(admin_claim) != bool(admin_claim_value):
        missing = "admin_claim_value" if admin_claim else "admin_claim"
        raise UserError(f"[access] {missing} is missing: admin_claim and admin_claim_value go together.")
    mode = "sso" if sso else "workshop" if join_code else "personal"
    return AccessConfig(mode=mode, join_code=join_code, admin_code=admin_code, limits=QueueLimits(**limits),
                        session_days=session_days, admins=admins, admin_claim=admin_claim,
                        admin_claim_value=admin_claim_value, allowed_emails=allowed)


def is_admin_claim(config: AccessConfig, email: str, claims: Mapping[str, Any]) -> bool:
    """Whether an SSO user is an admin: the e-mail is in [access] admins, or the claim holds the value (a string
    equal to it, or a list containing it)."""
    email = (email or "").strip().lower()
    if email and email in config.admins:
        return True
    if not config.admin_claim:
        return False
    held = (claims or {}).get(config.admin_claim)
    if isinstance(held, str):
        return held == config.admin_claim_value
    if isinstance(held, (list, tuple, set, frozenset)):
        return any(isinstance(item, str) and item == config.admin_claim_value for item in held)
    return False


def email_allowed(config: AccessConfig, email: str) -> bool:
    """Whether an SSO user may use MedLab: no allow-list allows everyone; "@domain" entries allow a domain."""
    if not config.allowed_emails:
        return True
    email = (email or "").strip().lower()
    if "@" not in email:
        return False
    domain = "@" + email.rpartition("@")[2]
    return email in config.allowed_emails or domain in config.allowed_emails


# --- reading the tables ---------------------------------------------------------------------------------------
def _table(secrets: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    table = secrets.get(name, {})
    if not isinstance(table, Mapping):
        raise UserError(f"[{name}] must be a table of keys in .streamlit/secrets.toml.")
    unknown = sorted(str(key) for key in table if key not in KNOWN_KEYS[name])
    if unknown:  # a misspelt join_code would otherwise quietly leave the server in personal mode
        raise UserError(f"[{name}] has no key '{unknown[0]}'; its keys are {', '.join(KNOWN_KEYS[name])}.")
    return table


def _text(table: Mapping[str, Any], key: str) -> str:
    value = table.get(key, "")
    if not isinstance(value, str):
        raise UserError(f"[access] {key} must be text, not {value!r}.")
    return value.strip()


def _code(workshop: Mapping[str, Any], key: str) -> str:
    """A join or admin code: text of at least MIN_CODE_CHARS printable characters (the value is never echoed)."""
    if key not in workshop:
        return ""
    value = workshop[key]
    if not isinstance(value, str):
        raise UserError(f"[workshop] {key} must be text in quotes.")
    value = value.strip()
    if len(value) < MIN_CODE_CHARS or not value.isprintable():
        raise UserError(f"[workshop] {key} must be at least {MIN_CODE_CHARS} printable characters.")
    return value


def _number(workshop: Mapping[str, Any], key: str, integer: bool, positive: bool) -> float:
    value = workshop[key]
    kind = "a whole number" if integer else "a number"
    bound = "more than 0" if positive else "at least 0 (0: no limit)"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)) \
            or value != value or value in (float("inf"), float("-inf")) or value < 0 or (positive and value == 0):
        raise UserError(f"[workshop] {key} must be {kind} of {bound}, not {value!r}.")
    return int(value) if integer else float(value)


def _strings(access: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = access.get(key, [])
    if isinstance(value, str):  # one address written without brackets
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) for item in value):
        raise UserError(f"[access] {key} must be a list of e-mail addresses in quotes.")
    return tuple(item.strip() for item in value if item.strip())
