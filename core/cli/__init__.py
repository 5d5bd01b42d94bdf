"""Command line: `python -m core COMMAND ...`, calling the same functions as the pages.

A problem the user can fix prints one line on stderr and exits with code 2; `--json` prints machine-readable
results on stdout.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Any, NoReturn

from core.cli import (access_commands, data_commands, enhance_commands, evaluate_commands, synth_commands,
                      train_commands)
from core.errors import UserError
from core.settings import DEFAULT_WORKSPACE, normalise_workspace_name, workspace_name_note

COMMAND_MODULES = (data_commands, train_commands, evaluate_commands, enhance_commands, synth_commands,
                   access_commands)


# A value that starts with '-' and a digit (or '-.' and a digit) is a value, never an option: a negative window
# centre "-600,1500", a number "-0.5" or "-1e-3". Python 3.11's argparse only takes plain "-5" and "-0.5", so
# `--window -600,1500` failed with "expected one argument"; Python 3.13 widened its pattern the same way.
_NEGATIVE_VALUE = re.compile(r"^-\.?\d")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr and exit code 2, like every other user error, and an
    option's value may start with a minus sign (`--window -600,1500`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # argparse's own switch for "this looks like a negative number, so it is an argument" (no option of
        # MedLab's is spelled like a number, so nothing else changes).
        self._negative_number_matcher = _NEGATIVE_VALUE

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a command's own (absent) --workspace must not overwrite one given before the command
    # (`python -m core --workspace ward-7 import ...` used to import into 'default').
    common.add_argument("--workspace", default=argparse.SUPPRESS,
                        help=f"workspace to use (default: $MEDLAB_WORKSPACE or '{DEFAULT_WORKSPACE}')")
    parser = _Parser(prog="python -m core", description="MedLab from the command line.", parents=[common])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(commands, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        typed = getattr(args, "workspace", None) or os.environ.get("MEDLAB_WORKSPACE") or DEFAULT_WORKSPACE
        args.workspace = normalise_workspace_name(typed)  # "Bob Smith" -> bob-smith, said on stderr; "!!!": exit 2
        if note := workspace_name_note(typed, args.workspace):
            print(f"note: {note}", file=sys.stderr)
        return int(args.handler(args) or 0)
    except UserError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `... --json | head`: the reader has gone, which is not an error here
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0

