"""Command line: `python -m core COMMAND ...`, calling the same functions as the pages.

A problem the user can fix prints one line on stderr and exits with code 2; `--json` prints machine-readable
results on stdout.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, NoReturn

from core.cli import data_commands, enhance_commands, evaluate_commands, train_commands
from core.errors import UserError
from core.settings import DEFAULT_WORKSPACE, check_workspace_name

COMMAND_MODULES = (data_commands, train_commands, evaluate_commands, enhance_commands)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr and exit code 2, like every other user error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--workspace", default=None,
                        help=f"workspace to use (default: $MEDLAB_WORKSPACE or '{DEFAULT_WORKSPACE}')")
    parser = _Parser(prog="python -m core", description="MedLab from the command line.", parents=[common])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(commands, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.workspace = check_workspace_name(args.workspace or os.environ.get("MEDLAB_WORKSPACE") or DEFAULT_WORKSPACE)
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


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))
