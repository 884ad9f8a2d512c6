"""``porthub status``: the hub's links and outbox, from the running hub (its HTTP listener)
or, when it is not running, from its store."""

from __future__ import annotations

import argparse
import json
import urllib.error
import urllib.request

from .common import EXIT_OK, add_config_argument, print_json, with_hub


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("status", help="show links and outbox", description=__doc__)
    parser.add_argument("--json", action="store_true")
    add_config_argument(parser)
    parser.set_defaults(func=with_hub(_status))


async def _status(hub, args: argparse.Namespace) -> int:
    live = None
    if hub.config.http.enabled:
        host, port = hub.config.http.listen.rsplit(":", 1)
        try:
            with urllib.request.urlopen(f"http://{host}:{port}/api/v1/status", timeout=5) as r:
                live = json.loads(r.read())
        except (urllib.error.URLError, OSError, ValueError):
            live = None
    if live is None:
        live = await hub.full_status()
        live["running"] = False
        for info in live["peers"].values():
            info["up"] = None
    else:
        live["running"] = True
    if args.json:
        print_json(live)
        return EXIT_OK
    print(f"hub {live['hub']}: {'running' if live['running'] else 'NOT RUNNING (from its store)'}"
          f", certificate expires {live['certificate_expires']}")
    inbox = live["inbox"]
    if live["running"]:
        print(f"  inbox {inbox['target']}: {'connected' if inbox['connected'] else 'DOWN'}"
              + (f" ({inbox['last_error']})" if inbox["last_error"] else ""))
    for peer, info in sorted(live["peers"].items()):
        state = {True: "up", False: "DOWN", None: "-"}[info["up"]]
        oldest = info["oldest_pending_seconds"]
        print(f"  {peer:<14} {state:<5} queued {info['queued']:>6}  awaiting receipt "
              f"{info['awaiting_receipt']:>6}  oldest {'-' if oldest is None else f'{oldest:.0f}s'}"
              + (f"  last error: {info['last_error']}" if info.get("last_error") else ""))
    return EXIT_OK
