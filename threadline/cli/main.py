"""Entry point of `bin/threadline`.

Each command module exposes `register(subparsers)`, adding its sub-command(s) with a
`handler(args) -> int` set via `set_defaults(handler=...)`. Every command accepts `--json`.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import List, Optional

from threadline.quiet import quiet_library_warnings
from threadline.settings import load_env_file

# Add a module here to add its commands.
COMMAND_MODULES: List[str] = [
    "threadline.cli.info",
    "threadline.cli.tracker",
    "threadline.cli.customers",
    "threadline.cli.agents",
    "threadline.cli.handoffs",
    "threadline.cli.insights",
    "threadline.cli.followups",
    "threadline.cli.serve",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="threadline", description="Threadline operator tools")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="machine-readable output")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers, common)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    quiet_library_warnings()
    load_env_file()
    args = build_parser().parse_args(argv)
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
