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

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

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


def access_config(secrets: Mapping[str, Any]) -> AccessConfig:
    """The access configuration from the secrets mapping (st.secrets as a dict).

    Raises:
        UserError: a key has the wrong type or value, naming it (e.g. "[workshop] admin_code must differ from
            join_code."), so the app shows one sentence instead of running with half a configuration.
    """
    raise NotImplementedError  # H1


def is_admin_claim(config: AccessConfig, email: str, claims: Mapping[str, Any]) -> bool:
    """Whether an SSO user is an admin: the e-mail is in [access] admins, or the claim holds the value (a string
    equal to it, or a list containing it)."""
    raise NotImplementedError  # H1


def email_allowed(config: AccessConfig, email: str) -> bool:
    """Whether an SSO user may use MedLab: no allow-list allows everyone; "@domain" entries allow a domain."""
    raise NotImplementedError  # H1
