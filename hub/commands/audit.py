"""``porthub audit verify``: recompute the hash chain of the hub's audit log."""

from __future__ import annotations

import argparse

from .common import EXIT_FAILED, EXIT_OK, add_config_argument, with_hub


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("audit", help="check the audit log", description=__doc__)
    actions = parser.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    verify = actions.add_parser("verify", help="recompute the hash chain; exit 1 if broken")
    add_config_argument(verify)
    verify.set_defaults(func=with_hub(_verify))


async def _verify(hub, args: argparse.Namespace) -> int:
    result = await hub.store.verify_audit()
    if result.ok:
        print(f"audit log of {hub.id}: {result.entries} entries, chain intact")
        return EXIT_OK
    print(f"audit log of {hub.id}: BROKEN at entry {result.first_bad}: {result.problem} "
          f"({result.entries} entries before it are intact)")
    return EXIT_FAILED
