"""Access commands for the server's operator: `participants` (everyone who joined the workshop or signed in with
SSO) and `revoke` (sign out every browser of a participant). They read MEDLAB_HOME/access.sqlite
(core.access.sessions) and never print a code or a token."""
from __future__ import annotations

import argparse
import time
from dataclasses import asdict

from core.cli.output import print_json
from core.errors import UserError


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    people = commands.add_parser("participants", parents=[common],
                                 help="list the workshop's participants and admins (newest first)")
    people.add_argument("--json", action="store_true", help="print a JSON list")
    people.set_defaults(handler=run_participants)
    revoke = commands.add_parser("revoke", parents=[common],
                                 help="sign out every browser of a workshop participant (their runs stay)")
    revoke.add_argument("participant_workspace", metavar="WORKSPACE", help="the participant's workspace")
    revoke.set_defaults(handler=run_revoke)


def run_participants(args: argparse.Namespace) -> int:
    from core.access.sessions import SessionStore

    people = SessionStore().participants()
    if args.json:
        print_json([asdict(person) for person in people])
        return 0
    if not people:
        print("nobody has joined yet")
    for person in people:
        joined = time.strftime("%Y-%m-%d %H:%M", time.localtime(person.joined))
        seen = time.strftime("%Y-%m-%d %H:%M", time.localtime(person.last_seen))
        print(f"{person.workspace:28} {person.role:11} {person.mode:8} joined {joined}  last seen {seen}  "
              f"{person.display_name}")
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    from core.access.sessions import SessionStore

    store = SessionStore()
    if args.participant_workspace not in store.participant_workspaces():
        raise UserError(f"No workshop participant has the workspace '{args.participant_workspace}'; "
                        "`python -m core participants` lists them.")
    count = store.revoke_workspace(args.participant_workspace)
    print(f"revoked {count} session{'s' if count != 1 else ''} of '{args.participant_workspace}'")
    return 0
