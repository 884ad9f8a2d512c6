"""The ``porthub`` command: one sub-command per module in ``hub/commands``."""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__

# Each module exposes register(subparsers); the parser it adds sets ``func(args) -> int``.
COMMANDS = ("demo", "run", "check", "config", "status", "trace", "send", "dlq", "audit", "pki")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="porthub", description="Message hub of the Trans-Caspian sister seaports.")
    parser.add_argument("--version", action="version", version=f"porthub {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"hub.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
