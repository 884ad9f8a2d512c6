"""``porthub send``: sign and queue one message from the command line (tests, manual
corrections). The running hub sends it within seconds; without a running hub it waits in the
outbox."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import SubmitError
from .common import EXIT_FAILED, EXIT_OK, add_config_argument, with_hub


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("send", help="sign and queue one message", description=__doc__)
    parser.add_argument("--type", required=True, help="canonical type, e.g. shipment.status")
    parser.add_argument("--to", action="append",
                        help="recipient hub id (repeat for several, 'all' for every peer); "
                             "default: the configured route")
    parser.add_argument("--correlation-id")
    parser.add_argument("--ttl", type=float, help="seconds until it expires")
    parser.add_argument("--body", required=True, metavar="JSON|@FILE|-",
                        help="the body as JSON, @file.json, or - for standard input")
    add_config_argument(parser)
    parser.set_defaults(func=with_hub(_send))


def _body(text: str):
    if text == "-":
        text = sys.stdin.read()
    elif text.startswith("@"):
        text = Path(text[1:]).read_text(encoding="utf-8")
    return json.loads(text)


async def _send(hub, args: argparse.Namespace) -> int:
    try:
        body = _body(args.body)
    except (OSError, ValueError) as exc:
        print(f"porthub: the body is not readable JSON: {exc}", file=sys.stderr)
        return EXIT_FAILED
    to = None if not args.to else ("all" if args.to == ["all"] else args.to)
    try:
        submitted = await hub.submit(args.type, body, to=to, correlation_id=args.correlation_id,
                                     ttl=args.ttl)
    except SubmitError as exc:
        print(f"porthub: {exc}", file=sys.stderr)
        return EXIT_FAILED
    for message_id, peer in zip(submitted.ids, submitted.recipients):
        print(f"{message_id} queued for {peer}")
    return EXIT_OK
