"""``porthub config sample``: print an annotated sample configuration."""

from __future__ import annotations

import argparse
from importlib import resources


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("config", help="configuration helpers", description=__doc__)
    actions = parser.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    sample = actions.add_parser("sample", help="print an annotated sample configuration")
    sample.set_defaults(func=_sample)


def sample_text() -> str:
    return (resources.files("hub") / "sample.yaml").read_text(encoding="utf-8")


def _sample(args: argparse.Namespace) -> int:
    print(sample_text(), end="")
    return 0
