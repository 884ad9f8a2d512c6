"""``porthub dlq list|retry|drop``: what needs an operator -- inbound messages the local
system refused, outgoing ones rejected by their recipient or expired without a receipt."""

from __future__ import annotations

import argparse
import json

from ..envelope import Envelope
from ..errors import SubmitError
from ..security import jws
from .common import EXIT_FAILED, EXIT_OK, add_config_argument, print_json, when, with_hub


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("dlq", help="list, retry or drop dead letters", description=__doc__)
    actions = parser.add_subparsers(dest="dlq_command", metavar="ACTION", required=True)
    p = actions.add_parser("list", help="list dead letters, newest first")
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--json", action="store_true")
    add_config_argument(p)
    p.set_defaults(func=with_hub(_list))
    p = actions.add_parser("retry", help="hand an inbound message over again, or resubmit an "
                                         "outgoing one as a new message")
    p.add_argument("message_id", metavar="ID")
    add_config_argument(p)
    p.set_defaults(func=with_hub(_retry))
    p = actions.add_parser("drop", help="close a dead letter for good (kept for the audit)")
    p.add_argument("message_id", metavar="ID")
    add_config_argument(p)
    p.set_defaults(func=with_hub(_drop))


async def _list(hub, args: argparse.Namespace) -> int:
    rows = await hub.store.dead_letters(args.limit)
    if args.json:
        print_json(rows)
        return EXIT_OK
    if not rows:
        print(f"{hub.id}: no dead letters")
    for r in rows:
        print(f"{when(r['updated'])}  {r['direction']:<3} {r['id']}  {r['type']:<18} "
              f"{'to' if r['direction'] == 'out' else 'from'} {r['peer']:<12} {r['state']}: "
              f"{r['reason'] or '-'}")
    return EXIT_OK


async def _retry(hub, args: argparse.Namespace) -> int:
    now = hub.clock()
    if await hub.store.requeue_incoming(args.message_id, now):
        print(f"{args.message_id}: handed to the local system again by the running hub")
        return EXIT_OK
    records = {r["direction"]: r for r in await hub.message(args.message_id)}
    out = records.get("out")
    if out is None or out["state"] not in ("rejected", "expired", "dead_lettered"):
        print(f"{args.message_id} is not a dead letter of {hub.id}")
        return EXIT_FAILED
    # A signed message cannot be sent again once expired: resubmit its content as a new one.
    old = Envelope.from_dict(json.loads(jws.parse(await hub.store.outgoing_jws(args.message_id))
                                        .payload))
    try:
        submitted = await hub.submit(old.type, old.body, to=out["peer"],
                                     correlation_id=old.correlation_id,
                                     content_type=old.content_type)
    except SubmitError as exc:
        print(f"cannot resubmit {args.message_id}: {exc}")
        return EXIT_FAILED
    await hub.store.drop(args.message_id, now, f"resubmitted as {submitted.ids[0]}")
    print(f"{args.message_id}: resubmitted as {submitted.ids[0]}")
    return EXIT_OK


async def _drop(hub, args: argparse.Namespace) -> int:
    if await hub.store.drop(args.message_id, hub.clock()):
        print(f"{args.message_id}: dropped")
        return EXIT_OK
    print(f"{args.message_id} is not a dead letter of {hub.id}")
    return EXIT_FAILED
