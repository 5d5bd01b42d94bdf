"""The access configuration read from .streamlit/secrets.toml: the mode, the workshop's codes and limits, and who
is admin or may sign in with SSO."""
from __future__ import annotations

import pytest

from core.access.config import AccessConfig, access_config, email_allowed, is_admin_claim
from core.errors import UserError
from core.jobs.limits import QueueLimits

WORKSHOP = {"join_code": "lung-42", "admin_code": "teach-9f3"}
AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "s3cret", "client_id": "medlab",
        "client_secret": "x", "server_metadata_url": "http://localhost:9400/.well-known/openid-configuration"}


def test_no_secrets_is_personal_mode():
    assert access_config({}) == AccessConfig()
    assert access_config({}).mode == "personal"


def test_a_join_code_makes_a_workshop_with_its_limits():
    config = access_config({"workshop": {**WORKSHOP, "max_queued_runs": 2, "max_epochs": 10, "max_run_minutes": 7.5,
                                         "session_days": 3}})
    assert config.mode == "workshop"
    assert (config.join_code, config.admin_code, config.session_days) == ("lung-42", "teach-9f3", 3.0)
    assert config.limits == QueueLimits(max_queued_runs=2, max_epochs=10, max_run_minutes=7.5)


def test_auth_makes_sso_mode_and_workshop_limits_still_apply():
    config = access_config({"auth": AUTH, "workshop": {"max_epochs": 5},
                            "access": {"admins": ["Teacher@Example.org"], "allowed_emails": ["@example.org"]}})
    assert config.mode == "sso" and config.limits.max_epochs == 5
    assert config.admins == ("teacher@example.org",)


@pytest.mark.parametrize("secrets, key", [
    ({"workshop": {"join_code": "lung-42", "admin_code": "lung-42"}}, "[workshop] admin_code must differ from join_code."),
    ({"workshop": {"join_code": "lung-42"}}, "[workshop] admin_code is missing"),
    ({"workshop": {"admin_code": "teach-9f3"}}, "[workshop] join_code is missing"),
    ({"workshop": {"join_code": "abc", "admin_code": "teach-9f3"}}, "[workshop] join_code must be at least 4"),
    ({"workshop": {"join_code": "lung-42", "admin_code": "ab"}}, "[workshop] admin_code must be at least 4"),
    ({"workshop": {"join_code": 4242, "admin_code": "teach-9f3"}}, "[workshop] join_code must be text"),
    ({"workshop": {**WORKSHOP, "max_queued_runs": -1}}, "[workshop] max_queued_runs must be a whole number"),
    ({"workshop": {**WORKSHOP, "max_epochs": 2.5}}, "[workshop] max_epochs must be a whole number"),
    ({"workshop": {**WORKSHOP, "max_run_minutes": "ten"}}, "[workshop] max_run_minutes must be a number"),
    ({"workshop": {**WORKSHOP, "max_epochs": True}}, "[workshop] max_epochs must be a whole number"),
    ({"workshop": {**WORKSHOP, "session_days": 0}}, "[workshop] session_days must be a number of more than 0"),
    ({"workshop": {**WORKSHOP, "join-code": "x"}}, "[workshop] has no key 'join-code'"),
    ({"workshop": "lung-42"}, "[workshop] must be a table"),
    ({"auth": AUTH, "access": {"admins": "nobody"}}, "[access] admins holds 'nobody'"),
    ({"auth": AUTH, "access": {"admins": ["@example.org"]}}, "[access] admins holds the domain"),
    ({"auth": AUTH, "access": {"admins": [1]}}, "[access] admins must be a list"),
    ({"auth": AUTH, "access": {"admin_claim": "groups"}}, "[access] admin_claim_value is missing"),
    ({"auth": AUTH, "access": {"allowed_emails": ["example.org"]}}, "[access] allowed_emails holds 'example.org'"),
])
def test_a_bad_key_is_one_sentence_naming_it(secrets, key):
    with pytest.raises(UserError) as error:
        access_config(secrets)
    message = str(error.value)
    assert message.startswith(key) and message.endswith(".") and message.count(". ") == 0
    for code in ("lung-42", "teach-9f3"):  # a code is never echoed in an error
        assert code not in message.replace("[workshop]", "")


def test_codes_are_stripped_and_compared_whole():
    config = access_config({"workshop": {"join_code": "  lung-42 ", "admin_code": "teach-9f3"}})
    assert config.join_code == "lung-42"


def test_admins_by_email_or_by_claim():
    config = access_config({"auth": AUTH, "access": {"admins": ["teacher@example.org"], "admin_claim": "groups",
                                                     "admin_claim_value": "medlab-admins"}})
    assert is_admin_claim(config, "Teacher@Example.org", {})
    assert is_admin_claim(config, "ann@example.org", {"groups": ["staff", "medlab-admins"]})
    assert is_admin_claim(config, "ann@example.org", {"groups": "medlab-admins"})
    assert not is_admin_claim(config, "ann@example.org", {"groups": ["medlab-admins-not"]})
    assert not is_admin_claim(config, "ann@example.org", {"groups": "medlab"})
    assert not is_admin_claim(config, "ann@example.org", {})
    assert not is_admin_claim(config, "", {"roles": ["medlab-admins"]})
    plain = access_config({"auth": AUTH})
    assert not is_admin_claim(plain, "teacher@example.org", {"groups": ["medlab-admins"]})


def test_allowed_emails_by_address_or_domain_ignoring_case():
    open_door = access_config({"auth": AUTH})
    assert email_allowed(open_door, "anyone@anywhere.net") and email_allowed(open_door, "")
    config = access_config({"auth": AUTH, "access": {"allowed_emails": ["@Example.org", "guest@other.net"]}})
    assert email_allowed(config, "Ann@EXAMPLE.org")
    assert email_allowed(config, "guest@other.net")
    assert not email_allowed(config, "host@other.net")
    assert not email_allowed(config, "ann@sub.example.org")
    assert not email_allowed(config, "ann@example.org.evil.net")
    assert not email_allowed(config, "")
