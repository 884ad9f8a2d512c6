"""``porthub run -c FILE``: run one hub in the foreground (systemd, containers)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("run", help="run a hub in the foreground", description=__doc__)
    parser.add_argument("-c", "--config", type=Path, required=True, metavar="FILE",
                        help="the hub's YAML configuration")
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"],
                        help="overrides log.level of the configuration")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..daemon import run as run_hub

    return run_hub(args.config, args.log_level)
