"""``porthub demo``: the five-port shipment walk on the embedded in-memory transport."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("demo", help="run five port hubs in one process and walk a shipment",
                            description=__doc__)
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="keep the stores, keys and configs in DIR (must be empty)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..demo import run_demo

    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        if any(args.keep.iterdir()):
            print(f"porthub demo: {args.keep} is not empty", file=sys.stderr)
            return 2
    return run_demo(sys.stdout, args.keep)
