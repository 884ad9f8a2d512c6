"""``porthub trace ID``: every state change of a message, on this hub's side and, as far as
its signed receipt tells, on the peer's."""

from __future__ import annotations

import argparse
import json

from ..envelope import parse_time
from ..security import jws
from .common import EXIT_FAILED, EXIT_OK, add_config_argument, print_json, when, with_hub


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("trace", help="show a message's history", description=__doc__)
    parser.add_argument("message_id", metavar="ID")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    add_config_argument(parser)
    parser.set_defaults(func=with_hub(_trace))


async def _trace(hub, args: argparse.Namespace) -> int:
    records = await hub.message(args.message_id)
    if not records:
        print(f"{hub.id} knows no message {args.message_id}")
        return EXIT_FAILED
    for record in records:
        receipt = await hub.store.receipt(record["direction"], args.message_id)
        if receipt:  # one signed receipt may answer many messages: show this one's entry
            envelope = json.loads(jws.parse(receipt).payload)
            entry = next((e for e in envelope["body"]["entries"]
                          if e["message_id"] == args.message_id), None)
            if entry is not None:
                record["receipt"] = {"signed_by": envelope["from"], "receipt_id":
                                     envelope["id"], **entry}
    if args.json:
        print_json(records)
        return EXIT_OK
    for r in records:
        arrow = f"{hub.id} → {r['peer']}" if r["direction"] == "out" else f"{r['peer']} → {hub.id}"
        print(f"{r['id']}  {r['type']}  {arrow}  correlation {r['correlation_id'] or '-'}")
        print(f"  now {r['state']}" + (f" ({r['reason']})" if r["reason"] else "")
              + f", expires {when(r['expires'])}")
        for h in r["history"]:
            reason = f"  {h['reason']}" if h["reason"] else ""
            detail = f"  [{h['detail']}]" if h["detail"] else ""
            print(f"  {when(h['at'])}  {hub.id:<12} {h['state']}{reason}{detail}")
        receipt = r.get("receipt")
        if receipt:
            at = parse_time(receipt["received_at"]).timestamp()
            who = receipt["signed_by"]
            print(f"  {when(at)}  {who:<12} {receipt['outcome']} (signed receipt"
                  + (f", {receipt['reason']}" if receipt["reason"] else "")
                  + f", digest {receipt['digest'][:20]}…)")
    return EXIT_OK
